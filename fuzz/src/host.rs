//! Targets for the host's own parsers of untrusted input.
//!
//! | target | layout |
//! |---|---|
//! | `host_client_input` | line 1: the query string (as in `/path?<query>`); other lines: `name: value` headers |
//! | `host_route` | line 1: method; line 2: request target (`/path?query`); other lines: headers |
//! | `host_sigv4` | lines: method, URL, region, service, headers until an empty line; then the body |
//! | `host_config` | the whole input: a TOML config file |

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue};
use tollgate::config::{interpolate_str, Config};
use tollgate::runtime::Runtime;
use tollgate::server::proxy::{add_query_param, caller_key, query_param, query_without_key};
use tollgate::sigv4::{region_from_host, sign, Credentials};

use crate::fixture;
use crate::input::lines;

/// Headers from `name: value` lines; lines that are not a valid header are
/// skipped (hyper would have refused the request).
fn headers<'a>(lines: impl Iterator<Item = &'a [u8]>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            map.append(n, v);
        }
    }
    map
}

/// Caller-key extraction (`x-api-key`, `x-goog-api-key`, `api-key`,
/// `Authorization: Bearer`, `?key=`) and the query helpers the request path
/// uses to move credentials between a client's query and an upstream URL.
pub fn client_input(data: &[u8]) {
    let mut it = lines(data);
    // The query as the server sees it: hyper has parsed the request target.
    let uri = it
        .next()
        .and_then(|l| http::Uri::try_from([b"/v1/x?".as_slice(), l].concat()).ok());
    let query = uri.as_ref().and_then(|u| u.query());
    let h = headers(it);
    if let Some(k) = caller_key(&h, query) {
        assert!(
            !k.is_empty() && k.trim() == k,
            "caller_key returned an untrimmed or empty key {k:?}"
        );
    }
    let Some(q) = query else {
        return;
    };
    let _ = query_param(q, "key");
    let _ = query_param(q, "alt");
    let stripped = query_without_key(q);
    assert!(
        query_param(&stripped, "key").is_none(),
        "query_without_key({q:?}) = {stripped:?} still has a key"
    );
    assert!(
        caller_key(&HeaderMap::new(), Some(&stripped)).is_none(),
        "a caller key survived query_without_key({q:?})"
    );
    // An upstream URL with the query and a credential added to it.
    let mut url = format!("https://upstream.example/v1beta/models/m:generateContent?{stripped}");
    add_query_param(&mut url, "key", q);
    let Some((_, added)) = url.rsplit_once("key=") else {
        panic!("add_query_param added nothing: {url:?}");
    };
    assert!(
        added
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
        "add_query_param did not escape {q:?}: {added:?}"
    );
    assert!(
        http::Uri::try_from(url.as_str()).is_ok(),
        "add_query_param produced an invalid URI {url:?}"
    );
}

/// The route table of a real generation: method, path, headers and query →
/// endpoint, route, model from the path, and what the request path does next
/// with them (the upstream path after the endpoint prefix, a model rename in
/// the path, the model map).
pub fn route(data: &[u8]) {
    let mut it = lines(data);
    let method = it.next().unwrap_or_default();
    let target = it.next().unwrap_or_default();
    let Ok(method) = http::Method::from_bytes(method) else {
        return;
    };
    let Ok(uri) = http::Uri::try_from(target) else {
        return;
    };
    let h = headers(it);
    let rt: &Runtime = &fixture::get().runtime;
    let path = uri.path();
    let Some(m) = rt.routes.lookup(method.as_str(), path, &h, uri.query()) else {
        return;
    };
    let ep = rt.endpoints.get(m.entry.endpoint).unwrap_or_else(|| {
        panic!(
            "route names endpoint {} of {}",
            m.entry.endpoint,
            rt.endpoints.len()
        )
    });
    assert!(
        ep.front.info.routes.get(m.entry.route).is_some(),
        "route index {} out of range for `{}`",
        m.entry.route,
        ep.front.info.id
    );
    // As `proxy::handle` slices it.
    let upstream_path = &path[m.entry.strip.min(path.len())..];
    if let Some(model) = &m.path_model {
        assert!(!model.is_empty(), "empty model from path {path:?}");
        let _ = ep.models.lookup(model);
        let renamed = upstream_path.replacen(&format!("/{model}"), "/fuzz-renamed-model", 1);
        let _ = http::Uri::try_from(format!("https://upstream.example{renamed}"));
    }
    if let Some(q) = uri.query() {
        let _ = query_without_key(q);
    }
    let _ = caller_key(&h, uri.query());
}

/// SigV4 signing of an upstream request (the URL carries the client's path and
/// query; Bedrock puts the client's model id in it).
pub fn sigv4(data: &[u8]) {
    let mut rest = data;
    let mut next_line = || {
        let (line, tail) = match rest.iter().position(|b| *b == b'\n') {
            Some(n) => (&rest[..n], &rest[n + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = tail;
        String::from_utf8_lossy(line).into_owned()
    };
    let method = next_line();
    let url = next_line();
    let region = next_line();
    let service = next_line();
    let mut pairs = Vec::new();
    loop {
        let line = next_line();
        if line.is_empty() {
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            pairs.push((n.to_string(), v.trim_start().to_string()));
        }
    }
    let body = rest;
    let _ = region_from_host(&url);
    let creds = Credentials {
        access_key_id: "AKIDEXAMPLE".to_string(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_string(),
        session_token: (body.len() % 2 == 1).then(|| "session/token=".to_string()),
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    let signed = sign(&method, &url, &pairs, body, &creds, &region, &service, now);
    if let Ok(signed) = &signed {
        let auth = signed
            .iter()
            .find(|(n, _)| n == "authorization")
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("signed headers without authorization: {signed:?}"));
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "odd authorization {auth:?}"
        );
        let again = sign(&method, &url, &pairs, body, &creds, &region, &service, now);
        assert_eq!(
            again.ok().as_ref(),
            Some(signed),
            "signing is not deterministic"
        );
    }
}

/// The config file: TOML, `${VAR}` interpolation, checks; a config that parses
/// is resolved into a generation against the fixture's plugins (as a reload
/// does), and its route table is asked for a few paths.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let env = |k: &str| match k {
        "HOME" => Some("/home/fuzz".to_string()),
        "EMPTY" => Some(String::new()),
        "KEY" => Some("sk-${NESTED}".to_string()),
        _ => None,
    };
    let _ = interpolate_str(&text, &env);
    let Ok(mut config) = Config::parse(&text, env) else {
        return;
    };
    let f = fixture::get();
    // Same limits as the fixture: the reload reuses its compiled plugins instead
    // of compiling all of them again.
    config.limits = f.runtime.config.limits.clone();
    let Ok(rt) = Runtime::prepare(
        &f.engine,
        &f.settings,
        Some(config),
        Some(&f.runtime),
        &f.stats,
        2,
    ) else {
        return;
    };
    let h = HeaderMap::new();
    for (method, path) in [
        ("POST", "/v1/messages"),
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
        (
            "POST",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        ),
        ("POST", "/model/anthropic.claude-v2/converse"),
    ] {
        if let Some(m) = rt.routes.lookup(method, path, &h, Some("alt=sse")) {
            let ep = rt
                .endpoints
                .get(m.entry.endpoint)
                .unwrap_or_else(|| panic!("route names a missing endpoint"));
            let _ = &path[m.entry.strip.min(path.len())..];
            if let Some(model) = &m.path_model {
                let _ = ep.models.lookup(model);
            }
        }
    }
}

/// Seed inputs of a host target: (file name, bytes).
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let s = |name: &str, text: &str| (name.to_string(), text.as_bytes().to_vec());
    match target {
        "host_client_input" => vec![
            s("anthropic", "\nx-api-key: sk-ant-api03-abc\nanthropic-version: 2023-06-01\ncontent-type: application/json"),
            s("bearer", "\nauthorization: Bearer sk-proj-abc \nopenai-organization: org-1"),
            s("gemini-query", "alt=sse&key=AIzaSy-abc%20def&x=1"),
            s("gemini-header", "alt=sse\nx-goog-api-key: AIzaSy-abc"),
            s("azure", "api-version=2024-10-21\napi-key: azk"),
            s("empty-key", "key=&key=second\nauthorization: bearer \nx-api-key:  "),
            s("odd-query", "key&=&&key==x&%00=\u{e9}&key=a b#c"),
        ],
        "host_route" => vec![
            s("anthropic", "POST\n/v1/messages?beta=true\nanthropic-version: 2023-06-01\nx-api-key: k"),
            s("anthropic-id", "POST\n/anthropic/v1/messages/count_tokens\nx-api-key: k"),
            s("models-shared", "GET\n/v1/models\nx-goog-api-key: g"),
            s("models-anthropic", "GET\n/v1/models\nanthropic-version: 2023-06-01"),
            s("openai", "POST\n/v1/chat/completions\nauthorization: Bearer sk"),
            s("compatible", "POST\n/local/v1/chat/completions"),
            s("azure", "POST\n/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21\napi-key: k"),
            s("responses", "POST\n/v1/responses\nauthorization: Bearer sk"),
            s("gemini", "POST\n/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=k"),
            s("gemini-count", "POST\n/gemini/v1/models/gemini-2.5-pro:countTokens"),
            s("bedrock", "POST\n/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream"),
            s("bedrock-count", "POST\n/bedrock/model/us.anthropic.claude-sonnet-4-5-v1:0/count-tokens"),
            s("team", "POST\n/team/a/anthropic/v1/messages"),
            s("websocket", "GET\n/v1/responses\nupgrade: websocket\nconnection: Upgrade"),
        ],
        "host_sigv4" => vec![
            s("bedrock", "POST\nhttps://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-5-haiku-20241022-v1:0/converse\nus-east-1\nbedrock\ncontent-type: application/json\naccept: application/json\n\n{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"hi\"}]}]}"),
            s("stream", "POST\nhttps://bedrock-runtime.eu-west-3.amazonaws.com:8443/model/x%2Fy/converse-stream?a=1&b=%20&a=0\neu-west-3\nbedrock\ncontent-type: application/json\nx-amz-date: 1\n\n{}"),
            s("get", "GET\nhttps://example.amazonaws.com/-_.~/%7E/a b/..//?Param2=value2&Param1=value1\nus-east-1\nservice\nmy-header1:    value4\nMy-Header1: value1\n\n"),
            s("ipv6", "PUT\nhttp://[::1]:9000/p\nus-gov-west-1\ns3\n\nbody"),
        ],
        "host_config" => vec![
            s("fixture", fixture::CONFIG),
            s("interpolated", "client_keys = [\"${KEY}\", \"$${literal}\", \"${UNSET:-fallback}\"]\nadmin_token = \"${HOME}\"\n[limits]\nmax_body_mb = 1\n[[endpoints]]\nname = \"e\"\nfront_door = \"anthropic\"\nprefix = \"/x\"\nrouter_config = { weights = { a = 2 } }\n[[endpoints.targets]]\nname = \"a\"\nprovider = \"anthropic\"\nbase_url = \"http://127.0.0.1:1\"\nmodel = \"claude-haiku-4-5\"\ndefaults = { max_tokens = 1000, max_tokens_cap = 4000, reasoning_effort = \"low\", thinking_budget = 1024, temperature = 0.5 }\n[[endpoints.targets]]\nname = \"g\"\nprovider = \"gemini\"\napi_key = \"k\"\n"),
            s("models", "[[endpoints]]\nname = \"m\"\nfront_door = \"openai\"\n[endpoints.models]\n\"gpt-*\" = \"o\"\n\"*\" = [\"o/gpt-4o\", \"b\"]\n\"claude-3\u{e9}\" = \"b\"\n[[endpoints.targets]]\nname = \"o\"\nprovider = \"openai\"\n[[endpoints.targets]]\nname = \"b\"\nprovider = \"bedrock\"\nbase_url = \"https://bedrock-runtime.us-west-2.amazonaws.com\"\naws = { access_key_id = \"a\", secret_access_key = \"b\", session_token = \"c\" }\n"),
        ],
        _ => Vec::new(),
    }
}
