//! AWS Signature Version 4 for upstream requests to providers whose auth scheme is
//! `aws-sigv4(service)` (Bedrock): pure functions of the request, the credentials and a
//! clock reading, no I/O.
//!
//! What is signed: the `host` header (always taken from the URL, with the port when it
//! is not the scheme's default), `content-type`, every `x-amz-*` header, and the
//! SHA-256 of the body. Other headers travel unsigned, so a proxy or the HTTP client may
//! add or rewrite them (`user-agent`, `content-length`, `accept`) without breaking the
//! signature.
//!
//! The canonical URI follows the rules of every AWS service but S3: the path as sent on
//! the wire is normalized (`.`/`..` segments and empty segments removed) and each
//! segment is percent-encoded once more, so a Bedrock model id sent as
//! `/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse` signs as `…v1%253A0…`,
//! and the same id sent with a raw `:` signs as `…v1%3A0…`, exactly as the service
//! computes it.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// The algorithm name in the string to sign and the `authorization` header.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// AWS credentials. `Debug` never prints the secret or the session token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Present for temporary (STS) credentials; sent as `x-amz-security-token`.
    pub session_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Credentials {
    /// Credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and (optionally)
    /// `AWS_SESSION_TOKEN`, read through `env` (e.g. `|k| std::env::var(k).ok()`).
    /// `None` unless both keys are set and non-empty; an empty token counts as none.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Option<Credentials> {
        let get = |k: &str| {
            env(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Some(Credentials {
            access_key_id: get("AWS_ACCESS_KEY_ID")?,
            secret_access_key: get("AWS_SECRET_ACCESS_KEY")?,
            session_token: get("AWS_SESSION_TOKEN"),
        })
    }
}

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The URL is not an absolute `http`/`https` URL with a host.
    #[error("cannot sign the request to `{url}`: {reason}")]
    InvalidUrl { url: String, reason: &'static str },
    /// A header to sign has a value that cannot be sent (control characters).
    #[error("cannot sign the request: header `{name}` has a control character in its value")]
    InvalidHeader { name: String },
    /// Region, service or access key id is empty.
    #[error("cannot sign the request: the {0} is empty")]
    MissingScope(&'static str),
    /// The clock reads before 1970.
    #[error("cannot sign the request: the system clock is before 1970")]
    Clock,
}

/// The region of an AWS endpoint host, e.g. `us-east-1` for
/// `bedrock-runtime.us-east-1.amazonaws.com` (also FIPS, VPC-endpoint and China hosts,
/// with or without a port). `None` for hosts that are not AWS endpoints or name no
/// region; the caller then needs the region from configuration.
pub fn region_from_host(host: &str) -> Option<String> {
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    // Accept a bare host, host:port, or a whole URL.
    let host = host
        .split_once("://")
        .map_or(host.as_str(), |(_, rest)| rest);
    let host = host.split(['/', '?', '#']).next().unwrap_or(host);
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let aws = [".amazonaws.com", ".amazonaws.com.cn", ".api.aws"];
    if !aws.iter().any(|suffix| host.ends_with(suffix)) {
        return None;
    }
    host.split('.')
        .find(|label| is_region(label))
        .map(str::to_string)
}

/// `us-east-1`, `us-gov-west-1`, `ap-southeast-2`, `cn-north-1`: letters, one or more
/// dash-separated words, then a number.
fn is_region(label: &str) -> bool {
    let parts: Vec<&str> = label.split('-').collect();
    let Some((last, words)) = parts.split_last() else {
        return false;
    };
    words.len() >= 2
        && words[0].len() == 2
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
}

/// Sign a request. Returns the headers to add to it, replacing any of the same name:
/// `x-amz-date`, `x-amz-security-token` (with session credentials),
/// `x-amz-content-sha256` and `authorization`. `headers` are the request's other headers;
/// of them `content-type` and `x-amz-*` are signed (a `host` among them is ignored: the
/// host is taken from `url`, and the HTTP client must send that same value).
#[expect(
    clippy::too_many_arguments,
    reason = "one argument per SigV4 input; the call site names each"
)]
pub fn sign(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    creds: &Credentials,
    region: &str,
    service: &str,
    now: SystemTime,
) -> Result<Vec<(String, String)>, SignError> {
    let req = Request {
        method,
        url,
        headers,
        body,
    };
    let scope = Scope {
        creds,
        region,
        service,
        now,
    };
    Ok(compute(&req, &scope, true)?.add)
}

/// The request being signed.
struct Request<'a> {
    method: &'a str,
    url: &'a str,
    headers: &'a [(String, String)],
    body: &'a [u8],
}

/// Who signs, where and when.
struct Scope<'a> {
    creds: &'a Credentials,
    region: &'a str,
    service: &'a str,
    now: SystemTime,
}

/// Everything a signature is made of (the intermediate strings are kept for tests).
#[derive(Debug)]
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "the intermediate strings are read by the tests")
)]
struct Signed {
    canonical_request: String,
    string_to_sign: String,
    signature: String,
    /// Headers to add to the request.
    add: Vec<(String, String)>,
}

/// Headers the signer sets itself; the caller's copies are replaced.
const OWN_HEADERS: &[&str] = &[
    "host",
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

fn compute(
    req: &Request<'_>,
    scope: &Scope<'_>,
    content_sha256: bool,
) -> Result<Signed, SignError> {
    for (what, value) in [
        ("region", scope.region),
        ("service", scope.service),
        ("access key id", scope.creds.access_key_id.as_str()),
    ] {
        if value.trim().is_empty() {
            return Err(SignError::MissingScope(what));
        }
    }
    let url = parse_url(req.url)?;
    let amz_date = amz_date(scope.now)?;
    let date = &amz_date[..8];
    let payload_hash = hex::encode(Sha256::digest(req.body));

    // The headers to sign, lowercased, values trimmed with inner spaces collapsed;
    // repeated names join their values with commas, in order.
    let mut signed: Vec<(String, String)> = Vec::new();
    let mut push = |name: &str, value: &str| -> Result<(), SignError> {
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(SignError::InvalidHeader {
                name: name.to_string(),
            });
        }
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        match signed.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => {
                v.push(',');
                v.push_str(&value);
            }
            None => signed.push((name.to_string(), value)),
        }
        Ok(())
    };
    push("host", &url.host)?;
    for (name, value) in req.headers {
        let name = name.trim().to_ascii_lowercase();
        if OWN_HEADERS.contains(&name.as_str()) {
            continue;
        }
        if name == "content-type" || name.starts_with("x-amz-") {
            push(&name, value)?;
        }
    }
    let mut add = vec![("x-amz-date".to_string(), amz_date.clone())];
    if let Some(token) = scope.creds.session_token.as_deref() {
        add.push(("x-amz-security-token".to_string(), token.to_string()));
    }
    if content_sha256 {
        add.push(("x-amz-content-sha256".to_string(), payload_hash.clone()));
    }
    for (name, value) in &add {
        push(name, value)?;
    }
    signed.sort_by(|a, b| a.0.cmp(&b.0));

    let signed_headers = signed
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let mut canonical_request = String::with_capacity(256);
    canonical_request.push_str(&req.method.trim().to_ascii_uppercase());
    canonical_request.push('\n');
    canonical_request.push_str(&canonical_uri(url.path));
    canonical_request.push('\n');
    canonical_request.push_str(&canonical_query(url.query));
    canonical_request.push('\n');
    for (name, value) in &signed {
        canonical_request.push_str(name);
        canonical_request.push(':');
        canonical_request.push_str(value);
        canonical_request.push('\n');
    }
    canonical_request.push('\n');
    canonical_request.push_str(&signed_headers);
    canonical_request.push('\n');
    canonical_request.push_str(&payload_hash);

    let credential_scope = format!("{date}/{}/{}/aws4_request", scope.region, scope.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{credential_scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac_sha256(
        format!("AWS4{}", scope.creds.secret_access_key).as_bytes(),
        date.as_bytes(),
    );
    for part in [scope.region, scope.service, "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));
    add.push((
        "authorization".to_string(),
        format!(
            "{ALGORITHM} Credential={}/{credential_scope}, SignedHeaders={signed_headers}, Signature={signature}",
            scope.creds.access_key_id
        ),
    ));
    Ok(Signed {
        canonical_request,
        string_to_sign,
        signature,
        add,
    })
}

/// The parts of an absolute URL that signing needs.
struct Url<'a> {
    /// `host` or `host:port` (non-default port), lowercase.
    host: String,
    /// The path as on the wire, `/` when empty.
    path: &'a str,
    /// The query without `?`.
    query: &'a str,
}

fn parse_url(url: &str) -> Result<Url<'_>, SignError> {
    let bad = |reason| SignError::InvalidUrl {
        url: url.to_string(),
        reason,
    };
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("not an absolute URL"))?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return Err(bad("the scheme is not http or https")),
    };
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_query) = rest.split_at(end);
    if authority.contains('@') {
        return Err(bad("credentials in the URL are not supported"));
    }
    // Split the port off, minding IPv6 literals (`[::1]:8080`).
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    };
    if host.is_empty() {
        return Err(bad("the URL has no host"));
    }
    let host = host.to_ascii_lowercase();
    let host = match port {
        None | Some("") => host,
        Some(p) if !p.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(bad("the port is not a number"))
        }
        Some(p) if p == default_port => host,
        Some(p) => format!("{host}:{p}"),
    };
    let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
    Ok(Url {
        host,
        path: if path.is_empty() { "/" } else { path },
        query,
    })
}

/// RFC 3986 percent-encoding of everything but unreserved characters, uppercase hex.
fn uri_encode(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// The canonical URI of a non-S3 service: the normalized wire path with each segment
/// encoded (again).
fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 16);
    for seg in &segments {
        out.push('/');
        uri_encode(seg.as_bytes(), &mut out);
    }
    let trailing = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if out.is_empty() || (trailing && !segments.is_empty()) {
        out.push('/');
    }
    out
}

/// Decode `%XX` escapes and `+` (as form encoding does); malformed escapes stay as text.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// The canonical query string: each name and value decoded and re-encoded, sorted by
/// name then value, joined with `&`.
fn canonical_query(query: &str) -> String {
    let mut params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let mut key = String::new();
            uri_encode(&percent_decode(k), &mut key);
            let mut value = String::new();
            uri_encode(&percent_decode(v), &mut value);
            (key, value)
        })
        .collect();
    params.sort();
    params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `YYYYMMDD'T'HHMMSS'Z'` in UTC.
fn amz_date(now: SystemTime) -> Result<String, SignError> {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| SignError::Clock)?
        .as_secs();
    let days = i64::try_from(secs / 86_400).map_err(|_| SignError::Clock)?;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Ok(format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    ))
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// 2015-08-30T12:36:00Z, the test suite's clock.
    fn suite_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    fn suite_creds(token: Option<&str>) -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: token.map(str::to_string),
        }
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Sign as the official suite does: no `x-amz-content-sha256` header.
    fn suite(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        token: Option<&str>,
    ) -> Signed {
        let creds = suite_creds(token);
        let headers = h(headers);
        let req = Request {
            method,
            url,
            headers: &headers,
            body,
        };
        let scope = Scope {
            creds: &creds,
            region: "us-east-1",
            service: "service",
            now: suite_time(),
        };
        compute(&req, &scope, false).unwrap()
    }

    fn authz(s: &Signed) -> &str {
        &s.add.iter().find(|(n, _)| n == "authorization").unwrap().1
    }

    const SCOPE: &str =
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";
    const EMPTY_SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn get_vanilla_step_by_step() {
        let s = suite("GET", "https://example.amazonaws.com/", &[], b"", None);
        assert_eq!(
            s.canonical_request,
            format!("GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{EMPTY_SHA}")
        );
        assert_eq!(
            s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
        assert_eq!(
            authz(&s),
            format!("{SCOPE}, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        );
        assert_eq!(
            s.add[0],
            ("x-amz-date".to_string(), "20150830T123600Z".to_string())
        );
    }

    #[test]
    fn official_suite_vectors() {
        // (name, method, url, signature) with SignedHeaders=host;x-amz-date.
        let cases = [
            ("get-vanilla-query-order-key-case", "GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1",
             "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
            ("get-vanilla-utf8-query", "GET", "https://example.amazonaws.com/?ሴ=bar",
             "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
            ("post-vanilla", "POST", "https://example.amazonaws.com/",
             "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
            ("get-utf8", "GET", "https://example.amazonaws.com/ሴ",
             "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
            ("get-space", "GET", "https://example.amazonaws.com/example space/",
             "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"),
            ("get-unreserved", "GET",
             "https://example.amazonaws.com/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
             "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
            ("get-slashes", "GET", "https://example.amazonaws.com//example//",
             "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"),
            ("get-slash-pointless-dot", "GET", "https://example.amazonaws.com/./example",
             "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"),
            ("get-relative-relative", "GET", "https://example.amazonaws.com/example1/example2/../..",
             "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            ("default port dropped", "GET", "HTTPS://Example.AmazonAWS.com:443/#fragment",
             "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        ];
        for (name, method, url, sig) in cases {
            let s = suite(method, url, &[("User-Agent", "not signed")], b"", None);
            assert_eq!(
                authz(&s),
                format!("{SCOPE}, SignedHeaders=host;x-amz-date, Signature={sig}"),
                "{name}\n{}",
                s.canonical_request
            );
        }
    }

    #[test]
    fn post_x_www_form_urlencoded_signs_content_type_and_body() {
        let s = suite(
            "POST",
            "https://example.amazonaws.com/",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"Param1=value1",
            None,
        );
        assert_eq!(
            s.canonical_request,
            "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
        );
        assert_eq!(
            authz(&s),
            format!("{SCOPE}, SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a")
        );
    }

    #[test]
    fn post_sts_header_before_signs_the_session_token() {
        let token = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
        let s = suite(
            "POST",
            "https://example.amazonaws.com/",
            &[],
            b"",
            Some(token),
        );
        assert_eq!(
            authz(&s),
            format!("{SCOPE}, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead")
        );
        assert!(s
            .add
            .contains(&("x-amz-security-token".to_string(), token.to_string())));
    }

    #[test]
    fn colons_in_a_path_segment_are_encoded_in_the_canonical_uri() {
        // aws-sdk-rust's double-url-encode vector: a Lambda ARN sent percent-encoded
        // signs double-encoded.
        let creds = suite_creds(None);
        let req = Request {
            method: "POST",
            url: "https://lambda.us-east-2.amazonaws.com/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-west-2%3A892717189312%3Afunction%3Amy-rusty-fun/invocations",
            headers: &[],
            body: b"",
        };
        let scope = Scope {
            creds: &creds,
            region: "us-east-2",
            service: "lambda",
            now: UNIX_EPOCH + Duration::from_secs(1_620_747_645), // 2021-05-11T15:40:45Z
        };
        let s = compute(&req, &scope, false).unwrap();
        assert_eq!(
            s.canonical_request,
            format!("POST\n/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-west-2%253A892717189312%253Afunction%253Amy-rusty-fun/invocations\n\nhost:lambda.us-east-2.amazonaws.com\nx-amz-date:20210511T154045Z\n\nhost;x-amz-date\n{EMPTY_SHA}")
        );
        assert_eq!(
            s.signature,
            "4b93abbcc68be32bd64c18e2c71150660ab4c29bbd6c32a383a7517a88fc1804"
        );
        // A raw `:` on the wire is encoded once.
        let raw = suite(
            "POST",
            "https://example.amazonaws.com/model/anthropic.claude-v2:1/converse",
            &[],
            b"",
            None,
        );
        assert!(raw
            .canonical_request
            .starts_with("POST\n/model/anthropic.claude-v2%3A1/converse\n"));
    }

    #[test]
    fn bedrock_request_signs_body_hash_and_content_type() {
        let body = br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;
        let creds = suite_creds(Some("tok"));
        let headers = h(&[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
            ("host", "ignored.example.com"),
            ("X-Amz-Date", "ignored"),
            ("Authorization", "Bearer ignored"),
        ]);
        let add = sign(
            "post",
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse",
            &headers,
            body,
            &creds,
            "us-east-1",
            "bedrock",
            suite_time(),
        )
        .unwrap();
        let names: Vec<&str> = add.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "x-amz-date",
                "x-amz-security-token",
                "x-amz-content-sha256",
                "authorization"
            ]
        );
        let body_hash = hex::encode(Sha256::digest(body));
        assert_eq!(add[2].1, body_hash);
        // Recompute from the canonical request written out by hand.
        let canonical = format!(
            "POST\n/model/anthropic.claude-3-5-haiku-20241022-v1%253A0/converse\n\n\
             content-type:application/json\nhost:bedrock-runtime.us-east-1.amazonaws.com\n\
             x-amz-content-sha256:{body_hash}\nx-amz-date:20150830T123600Z\nx-amz-security-token:tok\n\n\
             content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token\n{body_hash}"
        );
        let sts = format!(
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/bedrock/aws4_request\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut key = hmac_sha256(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", b"20150830");
        for p in ["us-east-1", "bedrock", "aws4_request"] {
            key = hmac_sha256(&key, p.as_bytes());
        }
        let sig = hex::encode(hmac_sha256(&key, sts.as_bytes()));
        assert_eq!(
            add[3].1,
            format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature={sig}")
        );
    }

    #[test]
    fn host_keeps_a_non_default_port_and_headers_are_normalized() {
        let s = suite(
            "GET",
            "http://127.0.0.1:8080/a/b/?x=1&x=0&y",
            &[("X-Amz-Target", "  a   b "), ("x-amz-target", "c")],
            b"",
            None,
        );
        assert_eq!(
            s.canonical_request,
            format!("GET\n/a/b/\nx=0&x=1&y=\nhost:127.0.0.1:8080\nx-amz-date:20150830T123600Z\nx-amz-target:a b,c\n\nhost;x-amz-date;x-amz-target\n{EMPTY_SHA}")
        );
        let s = suite("GET", "https://[::1]:443/", &[], b"", None);
        assert!(s.canonical_request.contains("\nhost:[::1]\n"));
        let s = suite("GET", "https://[::1]:9000", &[], b"", None);
        assert!(s
            .canonical_request
            .starts_with("GET\n/\n\nhost:[::1]:9000\n"));
    }

    #[test]
    fn errors_are_clear() {
        let creds = suite_creds(None);
        let err = |url: &str, region: &str| {
            sign(
                "GET",
                url,
                &[],
                b"",
                &creds,
                region,
                "bedrock",
                suite_time(),
            )
            .unwrap_err()
        };
        assert!(matches!(
            err("bedrock-runtime.us-east-1.amazonaws.com/x", "us-east-1"),
            SignError::InvalidUrl { .. }
        ));
        assert!(matches!(
            err("ftp://h/", "us-east-1"),
            SignError::InvalidUrl { .. }
        ));
        assert!(matches!(
            err("https://u:p@h/", "us-east-1"),
            SignError::InvalidUrl { .. }
        ));
        assert!(matches!(
            err("https://h:x/", "us-east-1"),
            SignError::InvalidUrl { .. }
        ));
        assert!(matches!(
            err("https:///x", "us-east-1"),
            SignError::InvalidUrl { .. }
        ));
        assert_eq!(err("https://h/", " "), SignError::MissingScope("region"));
        let bad_header = sign(
            "GET",
            "https://h/",
            &h(&[("x-amz-meta", "a\nb")]),
            b"",
            &creds,
            "r",
            "s",
            suite_time(),
        )
        .unwrap_err();
        assert_eq!(
            bad_header,
            SignError::InvalidHeader {
                name: "x-amz-meta".into()
            }
        );
        let before = sign(
            "GET",
            "https://h/",
            &[],
            b"",
            &creds,
            "r",
            "s",
            UNIX_EPOCH - Duration::from_secs(1),
        );
        assert_eq!(before.unwrap_err(), SignError::Clock);
        assert!(err("ftp://h/", "r").to_string().contains("ftp://h/"));
    }

    #[test]
    fn dates_format_in_utc() {
        for (secs, want) in [
            (0, "19700101T000000Z"),
            (951_782_400, "20000229T000000Z"),
            (1_440_938_160, "20150830T123600Z"),
            (4_102_444_799, "20991231T235959Z"),
        ] {
            assert_eq!(
                amz_date(UNIX_EPOCH + Duration::from_secs(secs)).unwrap(),
                want
            );
        }
    }

    #[test]
    fn credentials_from_env_and_debug_redacts() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = Credentials::from_env(env(&[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", ""),
        ]))
        .unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.session_token.as_deref()),
            ("AKID", None)
        );
        let c = Credentials::from_env(env(&[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "s3cr3t-value"),
            ("AWS_SESSION_TOKEN", "t0ken-value"),
        ]))
        .unwrap();
        assert_eq!(c.session_token.as_deref(), Some("t0ken-value"));
        let shown = format!("{c:?}");
        assert!(shown.contains("AKID") && !shown.contains("s3cr3t") && !shown.contains("t0ken"));
        assert!(Credentials::from_env(env(&[("AWS_ACCESS_KEY_ID", "AKID")])).is_none());
        assert!(Credentials::from_env(env(&[
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", "s")
        ]))
        .is_none());
    }

    #[test]
    fn regions_from_hosts() {
        for (host, want) in [
            ("bedrock-runtime.us-east-1.amazonaws.com", Some("us-east-1")),
            (
                "https://bedrock-runtime.eu-central-1.amazonaws.com/model/x/converse",
                Some("eu-central-1"),
            ),
            (
                "bedrock-runtime-fips.us-gov-west-1.amazonaws.com:443",
                Some("us-gov-west-1"),
            ),
            (
                "vpce-0abc-1234.bedrock-runtime.ap-southeast-2.vpce.amazonaws.com",
                Some("ap-southeast-2"),
            ),
            (
                "bedrock-runtime.cn-north-1.amazonaws.com.cn",
                Some("cn-north-1"),
            ),
            (
                "BEDROCK-RUNTIME.US-WEST-2.AMAZONAWS.COM.",
                Some("us-west-2"),
            ),
            ("bedrock.amazonaws.com", None),
            ("127.0.0.1:8080", None),
            ("us-east-1.example.com", None),
        ] {
            assert_eq!(region_from_host(host).as_deref(), want, "{host}");
        }
    }
}
