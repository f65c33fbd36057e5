//! Targets that drive the real first-party provider components through the
//! host's plugin API (`ProviderPlugin`), as the request path calls them.
//!
//! Input layouts (the first bytes choose the call, the rest is the body):
//!
//! | target | layout |
//! |---|---|
//! | `plugin_decode_request` | provider, flags (bits 0-1 operation, bit 2 stream, bit 3 path model), [model len, model], body |
//! | `plugin_summarize` | provider, flags (bits 0-1 operation, bit 2 want text, bit 3 rename the model in `edit`), body |
//! | `plugin_decode_response` | provider, flags (bits 0-1 operation), body |
//! | `plugin_decode_error` | provider, status (u16 BE), body |
//! | `plugin_stream_decoder` | provider, flags (bit 0 with content), n, n chunk lengths, body |
//!
//! `provider` is an index into [`PROVIDERS`] (mod 7); operation 0 and 3 are
//! `chat`, 1 `count-tokens`, 2 `list-models`.

use std::sync::OnceLock;

use futures::executor::block_on;
use tollgate::plugin::{
    ApiResult, Operation, PluginError, ProviderPlugin, RequestEdits, StreamEvent,
};

use crate::fixture::{self, PROVIDERS};
use crate::input::Input;
use crate::seeds::{self, Dialect};

/// Set `TOLLGATE_FUZZ_ALLOW_TRAPS=1` to accept plugin traps, timeouts and
/// out-of-memory as long as they come back as a `PluginError` and do not poison
/// later calls (to look for other bugs past a known plugin panic). By default a
/// trap is a finding: a guest panicking on bad input should have answered with
/// an `api-error` instead.
fn allow_traps() -> bool {
    static ALLOW: OnceLock<bool> = OnceLock::new();
    *ALLOW.get_or_init(|| {
        std::env::var_os("TOLLGATE_FUZZ_ALLOW_TRAPS").is_some_and(|v| !v.is_empty() && v != "0")
    })
}

/// A plugin call failed with a `PluginError` (not a dialect error).
fn plugin_failed(what: &str, provider: &str, e: &PluginError) {
    let tolerated = allow_traps()
        && matches!(
            e,
            PluginError::Trap(_) | PluginError::Timeout(_) | PluginError::OutOfMemory(_)
        );
    if !tolerated {
        panic!("plugin `{provider}` {what}: {e}");
    }
}

/// Settle a call whose dialect error is an acceptable answer to bad input.
fn settle<T>(what: &str, provider: &str, r: ApiResult<T>) -> Option<T> {
    match r {
        Ok(Ok(v)) => Some(v),
        Ok(Err(_api_error)) => None,
        Err(e) => {
            plugin_failed(what, provider, &e);
            None
        }
    }
}

/// A call on a known-good input must succeed.
fn must<T>(what: &str, provider: &str, r: ApiResult<T>) -> T {
    match r {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!(
            "plugin `{provider}` rejected a known-good input after a fuzz input ({what}): {} {}",
            e.status, e.message
        ),
        Err(e) => panic!(
            "plugin `{provider}` failed on a known-good input after a fuzz input ({what}): {e} \
             — an earlier call poisoned the instance or the pool"
        ),
    }
}

fn operation(flags: u8) -> Operation {
    match flags & 3 {
        1 => Operation::CountTokens,
        2 => Operation::ListModels,
        _ => Operation::Chat,
    }
}

fn provider(i: usize) -> (&'static str, &'static ProviderPlugin) {
    let f = fixture::get();
    (PROVIDERS[i], &f.providers[i])
}

fn pick(input: &mut Input<'_>) -> usize {
    usize::from(input.byte()) % PROVIDERS.len()
}

// ----- known-good checks (the poisoning test) -----

fn good_path_model(i: usize) -> Option<String> {
    seeds::path_model(i).map(str::to_string)
}

fn check_good_request(i: usize) {
    let (id, p) = provider(i);
    let body = seeds::good_request(seeds::dialect(i)).as_bytes();
    must(
        "decode-request",
        id,
        block_on(p.decode_request(Operation::Chat, body, good_path_model(i), false)),
    );
}

fn check_good_summary(i: usize) {
    let (id, p) = provider(i);
    let body = seeds::good_request(seeds::dialect(i)).as_bytes();
    must(
        "summarize",
        id,
        block_on(p.summarize(Operation::Chat, body, true)),
    );
}

fn check_good_response(i: usize) {
    let (id, p) = provider(i);
    let body = seeds::good_response(seeds::dialect(i)).as_bytes();
    must(
        "decode-response",
        id,
        block_on(p.decode_response(Operation::Chat, body)),
    );
    must(
        "summarize-response",
        id,
        block_on(p.summarize_response(Operation::Chat, body)),
    );
}

fn check_good_error(i: usize) {
    let (id, p) = provider(i);
    let (status, body) = seeds::errors(seeds::dialect(i))[0];
    if let Err(e) = block_on(p.decode_error(status, body.as_bytes())) {
        panic!("plugin `{id}` failed on a known-good error body after a fuzz input: {e}");
    }
}

/// Decode a whole stream (in two chunks), expecting success.
fn check_good_stream(i: usize) {
    let (id, p) = provider(i);
    let bytes = &good_streams()[i];
    let mut d = match block_on(p.stream_decoder(true)) {
        Ok(d) => d,
        Err(e) => panic!("plugin `{id}`: opening a stream decoder after a fuzz input: {e}"),
    };
    let (a, b) = bytes.split_at(bytes.len() / 2);
    let mut events = must("stream feed", id, block_on(d.feed(a)));
    events.extend(must("stream feed", id, block_on(d.feed(b))));
    events.extend(must("stream finish", id, block_on(d.finish())));
    block_on(d.close());
    assert!(
        events.iter().any(|e| matches!(e, StreamEvent::Finish(_))),
        "plugin `{id}`: a known-good stream decoded without a finish event: {events:?}"
    );
}

/// Canonical events of the Anthropic seed stream, decoded by the Anthropic plugin.
fn canonical_events() -> Vec<StreamEvent> {
    let (id, p) = provider(0);
    let stream = seeds::stream(Dialect::Anthropic).unwrap_or_default();
    let mut d = match block_on(p.stream_decoder(true)) {
        Ok(d) => d,
        Err(e) => panic!("plugin `{id}`: opening a stream decoder: {e}"),
    };
    let mut events = must("stream feed", id, block_on(d.feed(stream.as_bytes())));
    events.extend(must("stream finish", id, block_on(d.finish())));
    block_on(d.close());
    events
}

/// Encode canonical events as provider `i`'s stream (`query`: the client's
/// query, e.g. Gemini's `alt=sse`).
pub fn encode_stream(i: usize, events: &[StreamEvent], query: &str) -> Vec<u8> {
    let (id, p) = provider(i);
    let mut e = match block_on(p.stream_encoder("fuzz-model", query)) {
        Ok(e) => e,
        Err(err) => panic!("plugin `{id}`: opening a stream encoder: {err}"),
    };
    let mut out = must("stream encode", id, block_on(e.encode(events)));
    match block_on(e.finish()) {
        Ok(tail) => out.extend(tail),
        Err(err) => panic!("plugin `{id}`: finishing a stream encoder: {err}"),
    }
    block_on(e.close());
    out
}

/// A complete, valid upstream stream for every provider: the canonical events
/// of the Anthropic seed stream through that provider's own stream encoder
/// (this is how Bedrock's binary event stream is made).
pub fn good_streams() -> &'static [Vec<u8>] {
    static STREAMS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    STREAMS.get_or_init(|| {
        let events = canonical_events();
        (0..PROVIDERS.len())
            .map(|i| {
                let query = if seeds::dialect(i) == Dialect::Gemini {
                    "alt=sse"
                } else {
                    ""
                };
                encode_stream(i, &events, query)
            })
            .collect()
    })
}

// ----- targets -----

/// `decode-request` (the translated path's front door).
pub fn decode_request(data: &[u8]) {
    let mut input = Input::new(data);
    let i = pick(&mut input);
    let flags = input.byte();
    let path_model = (flags & 8 != 0).then(|| input.short_str(64));
    let body = input.rest();
    let (id, p) = provider(i);
    settle(
        "decode-request",
        id,
        block_on(p.decode_request(operation(flags), body, path_model, flags & 4 != 0)),
    );
    check_good_request(i);
}

/// `summarize` (every request's first plugin call) and, on success, `edit` with
/// a model rename and replacement of the text parts it returned (what model
/// mapping and guardrail redaction do); the edited body must summarize again.
pub fn summarize(data: &[u8]) {
    let mut input = Input::new(data);
    let i = pick(&mut input);
    let flags = input.byte();
    let body = input.rest();
    let (id, p) = provider(i);
    let op = operation(flags);
    let want_text = flags & 4 != 0;
    let rename = flags & 8 != 0;
    let Some(summary) = settle("summarize", id, block_on(p.summarize(op, body, want_text))) else {
        check_good_summary(i);
        return;
    };
    let texts: Vec<(u32, String)> = (0..summary.text_parts.len())
        .filter(|n| n % 2 == 0)
        .filter_map(|n| u32::try_from(n).ok())
        .map(|n| {
            (
                n,
                format!("[redacted {n}] \u{1F512} \"quoted\" \\ </script>"),
            )
        })
        .collect();
    if rename || !texts.is_empty() {
        let edits = RequestEdits {
            model: rename.then(|| "fuzz-renamed/model:v1".to_string()),
            texts,
        };
        if let Some(edited) = settle("edit", id, block_on(p.edit(op, body, &edits))) {
            let again = block_on(p.summarize(op, &edited, want_text));
            match again {
                Ok(Ok(s2)) => {
                    if rename && !summary.model.is_empty() {
                        assert_eq!(
                            s2.model, "fuzz-renamed/model:v1",
                            "plugin `{id}`: `edit` renamed the model but `summarize` reads {:?}",
                            s2.model
                        );
                    }
                    assert_eq!(
                        s2.stream, summary.stream,
                        "plugin `{id}`: `edit` changed the stream flag"
                    );
                }
                Ok(Err(e)) => panic!(
                    "plugin `{id}`: a body `edit` produced no longer summarizes: {} {}\nedited: {}",
                    e.status,
                    e.message,
                    String::from_utf8_lossy(&edited)
                ),
                Err(e) => plugin_failed("summarize (of an edited body)", id, &e),
            }
        }
    }
    check_good_summary(i);
}

/// `decode-response` and `summarize-response` of an upstream body.
pub fn decode_response(data: &[u8]) {
    let mut input = Input::new(data);
    let i = pick(&mut input);
    let flags = input.byte();
    let body = input.rest();
    let (id, p) = provider(i);
    let op = operation(flags);
    settle("decode-response", id, block_on(p.decode_response(op, body)));
    settle(
        "summarize-response",
        id,
        block_on(p.summarize_response(op, body)),
    );
    check_good_response(i);
}

/// `decode-error` of an upstream error body.
pub fn decode_error(data: &[u8]) {
    let mut input = Input::new(data);
    let i = pick(&mut input);
    let status = input.u16();
    let body = input.rest();
    let (id, p) = provider(i);
    if let Err(e) = block_on(p.decode_error(status, body)) {
        plugin_failed("decode-error", id, &e);
    }
    check_good_error(i);
}

/// The stream decoder over the body split at fuzzer-chosen points, then
/// `finish`.
pub fn stream_decoder(data: &[u8]) {
    let mut input = Input::new(data);
    let i = pick(&mut input);
    let flags = input.byte();
    let n = usize::from(input.byte() % 17);
    let lens: Vec<usize> = input.take(n).iter().map(|b| usize::from(*b)).collect();
    let mut body = input.rest();
    let (id, p) = provider(i);
    let mut d = match block_on(p.stream_decoder(flags & 1 != 0)) {
        Ok(d) => d,
        Err(e) => {
            plugin_failed("stream-decoder constructor", id, &e);
            check_good_stream(i);
            return;
        }
    };
    let mut ok = true;
    for len in lens {
        let (chunk, rest) = body.split_at(len.min(body.len()));
        body = rest;
        match block_on(d.feed(chunk)) {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => {
                ok = false;
                break;
            }
            Err(e) => {
                plugin_failed("stream feed", id, &e);
                ok = false;
                break;
            }
        }
    }
    if ok {
        match block_on(d.feed(body)) {
            Ok(Ok(_)) => {
                if let Err(e) = block_on(d.finish()) {
                    plugin_failed("stream finish", id, &e);
                }
            }
            Ok(Err(_)) => {}
            Err(e) => plugin_failed("stream feed", id, &e),
        }
    }
    block_on(d.close());
    check_good_stream(i);
}

// ----- seeds -----

fn with_prefix(prefix: &[u8], body: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.extend_from_slice(body);
    v
}

fn provider_byte(i: usize) -> u8 {
    u8::try_from(i).unwrap_or(0)
}

/// Seed inputs of a plugin target: (file name, bytes).
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, id) in PROVIDERS.iter().enumerate() {
        let d = seeds::dialect(i);
        let pb = provider_byte(i);
        let mut requests: Vec<&str> = vec![seeds::good_request(d)];
        requests.extend(seeds::rich_requests(d));
        match target {
            "plugin_decode_request" => {
                for (n, r) in requests.iter().enumerate() {
                    let mut prefix = vec![pb, 4];
                    if let Some(m) = seeds::path_model(i) {
                        prefix[1] |= 8;
                        prefix.push(provider_byte(m.len()));
                        prefix.extend_from_slice(m.as_bytes());
                    }
                    out.push((format!("{id}-chat-{n}"), with_prefix(&prefix, r.as_bytes())));
                }
                let ct = seeds::count_tokens_request(d);
                out.push((format!("{id}-count"), with_prefix(&[pb, 1], ct.as_bytes())));
            }
            "plugin_summarize" => {
                for (n, r) in requests.iter().enumerate() {
                    let flags = if n % 2 == 0 { 4 | 8 } else { 4 };
                    out.push((
                        format!("{id}-chat-{n}"),
                        with_prefix(&[pb, flags], r.as_bytes()),
                    ));
                }
                let ct = seeds::count_tokens_request(d);
                out.push((
                    format!("{id}-count"),
                    with_prefix(&[pb, 1 | 4], ct.as_bytes()),
                ));
            }
            "plugin_decode_response" => {
                let mut responses = vec![seeds::good_response(d)];
                responses.extend(seeds::rich_responses(d));
                for (n, r) in responses.iter().enumerate() {
                    out.push((format!("{id}-{n}"), with_prefix(&[pb, 0], r.as_bytes())));
                }
            }
            "plugin_decode_error" => {
                for (n, (status, body)) in seeds::errors(d).iter().enumerate() {
                    let [hi, lo] = status.to_be_bytes();
                    out.push((
                        format!("{id}-{n}"),
                        with_prefix(&[pb, hi, lo], body.as_bytes()),
                    ));
                }
            }
            "plugin_stream_decoder" => {
                let mut streams: Vec<Vec<u8>> = vec![good_streams()[i].clone()];
                if let Some(s) = seeds::stream(d) {
                    streams.push(s.as_bytes().to_vec());
                }
                if let Some(e) = seeds::stream_error(d) {
                    streams.push(e.as_bytes().to_vec());
                }
                if d == Dialect::Gemini {
                    streams.push(seeds::GEMINI_ARRAY_STREAM.as_bytes().to_vec());
                }
                for (n, s) in streams.iter().enumerate() {
                    // Whole, and split at awkward places (mid-line, mid-UTF-8).
                    out.push((format!("{id}-{n}-whole"), with_prefix(&[pb, 1, 0], s)));
                    out.push((
                        format!("{id}-{n}-split"),
                        with_prefix(&[pb, 0, 6, 1, 7, 0, 33, 250, 3], s),
                    ));
                }
            }
            _ => {}
        }
    }
    out
}
