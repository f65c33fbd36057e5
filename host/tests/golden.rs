//! Golden translation tests: any front door → any upstream dialect, through the
//! real built-in WebAssembly provider plugins.
//!
//! - **requests**: one rich client request per front-door dialect
//!   (`golden/fixtures/requests/<front>.json`) is decoded by the front-door plugin
//!   and encoded by every upstream plugin; the upstream request (method, path,
//!   headers without secrets, body) is compared with
//!   `golden/requests/<front>__to__<upstream>.json`. The canonical request is
//!   snapshotted too (`golden/canonical/<front>.txt`).
//! - **responses**: one rich upstream answer per upstream dialect
//!   (`golden/fixtures/responses/<upstream>.json`) is decoded by that plugin and
//!   encoded by every front door → `golden/responses/<upstream>__to__<front>.json`.
//! - **streams**: one recorded upstream stream per upstream dialect
//!   (`golden/fixtures/streams/`) is decoded whole, one byte at a time and split in
//!   two at every byte offset (so mid-event and mid-UTF-8 splits are all covered);
//!   the canonical events must be identical for every split. The events are then
//!   encoded by every front-door stream encoder → `golden/streams/<upstream>__to__<front>.txt`,
//!   and each dialect's stream invariants are checked on the parsed output. Two
//!   extra client variants: `gemini-array` (Gemini without `alt=sse`: the JSON-array
//!   form) and `openai-no-usage` (a Chat client that did not ask for
//!   `stream_options.include_usage`; `openai` asks for it, as its fixture does).
//! - **errors**: upstream error bodies per dialect are decoded and re-encoded in
//!   every front-door dialect → `golden/errors/<upstream>__to__<front>.json`.
//!
//! Snapshot workflow: a missing snapshot is written and the test fails saying so;
//! `UPDATE_GOLDEN=1` rewrites every snapshot (and passes); otherwise a mismatch
//! fails with the first differing lines.
//!
//! Normalization: none is needed today. The plugins run with a frozen clock and no
//! randomness, so generated ids and timestamps are deterministic; [`normalize`] is
//! the one place to mask a value that becomes genuinely non-deterministic.
//!
//! Run: `cargo test --release -p tollgate --test golden`
//! Update: `UPDATE_GOLDEN=1 cargo test --release -p tollgate --test golden`

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use futures::executor::block_on;
use serde_json::{json, Value};
use tollgate::plugin::bindings::types::{ApiError, StreamEvent};
use tollgate::plugin::{
    CallLimits, Operation, PluginEngine, PluginSet, ProviderPlugin, QuarantinePolicy, TargetInfo,
};

// ======================================================================
// Setup
// ======================================================================

struct Plugins {
    // Kept alive for the set's sake.
    _engine: PluginEngine,
    set: PluginSet,
}

fn plugins() -> &'static Plugins {
    static P: OnceLock<Plugins> = OnceLock::new();
    P.get_or_init(|| {
        // Generous deadline: the machine running the tests may be busy.
        let limits = CallLimits {
            timeout: Duration::from_secs(10),
            ..CallLimits::default()
        };
        let engine = PluginEngine::new(None, limits).expect("engine");
        let set = PluginSet::load(&engine, limits, QuarantinePolicy::default(), None, None);
        Plugins {
            _engine: engine,
            set,
        }
    })
}

fn provider(id: &str) -> std::sync::Arc<ProviderPlugin> {
    plugins()
        .set
        .provider(id)
        .unwrap_or_else(|| panic!("built-in provider `{id}` is not loaded"))
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn fixture(rel: &str) -> Vec<u8> {
    let p = golden_dir().join("fixtures").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

fn fixture_json(rel: &str) -> Value {
    serde_json::from_slice(&fixture(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
}

/// A front door: the client dialect, how its fixture reaches the gateway.
struct Front {
    /// Provider id of the front-door plugin.
    id: &'static str,
    /// Snapshot name (the Gemini front appears twice: SSE and JSON-array streams).
    name: &'static str,
    /// Model named in the path (Gemini).
    path_model: Option<&'static str>,
    /// Whether the route itself means streaming (Gemini `streamGenerateContent`).
    route_stream: bool,
    /// The model the client asked for (the host gives it to encoders).
    client_model: &'static str,
    /// The client's query string (Gemini CLI streams with `alt=sse`).
    query: &'static str,
    /// Whether the client asked for usage in the stream (OpenAI
    /// `stream_options.include_usage`; the fixture asks for it).
    include_usage: bool,
}

const FRONTS: &[Front] = &[
    Front {
        id: "anthropic",
        name: "anthropic",
        path_model: None,
        route_stream: false,
        client_model: "claude-sonnet-4-5-20250929",
        query: "",
        include_usage: false,
    },
    Front {
        id: "openai",
        name: "openai",
        path_model: None,
        route_stream: false,
        client_model: "gpt-5",
        query: "",
        include_usage: true,
    },
    Front {
        id: "openai-responses",
        name: "openai-responses",
        path_model: None,
        route_stream: false,
        client_model: "gpt-5-codex",
        query: "",
        include_usage: false,
    },
    Front {
        id: "gemini",
        name: "gemini",
        path_model: Some("gemini-2.5-pro"),
        route_stream: true,
        client_model: "gemini-2.5-pro",
        query: "alt=sse",
        include_usage: false,
    },
];

/// The Gemini front again, streaming in the JSON-array form (no `alt=sse`).
const GEMINI_ARRAY: Front = Front {
    id: "gemini",
    name: "gemini-array",
    path_model: Some("gemini-2.5-pro"),
    route_stream: true,
    client_model: "gemini-2.5-pro",
    query: "",
    include_usage: false,
};

/// The Chat Completions front again, for a client that did not ask for usage.
const OPENAI_NO_USAGE: Front = Front {
    id: "openai",
    name: "openai-no-usage",
    path_model: None,
    route_stream: false,
    client_model: "gpt-5",
    query: "",
    include_usage: false,
};

/// Upstreams: (provider id, model the target asks for, target options).
const UPSTREAMS: &[(&str, &str, &str)] = &[
    ("anthropic", "claude-sonnet-4-5-20250929", "{}"),
    ("openai", "gpt-5", "{}"),
    ("openai-responses", "gpt-5-codex", "{}"),
    ("gemini", "gemini-2.5-pro", "{}"),
    (
        "bedrock",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "{}",
    ),
    ("azure-openai", "gpt-5-prod", "{}"),
    ("openai-compatible", "qwen3-coder-480b", "{}"),
];

// ======================================================================
// Snapshots
// ======================================================================

/// Mask values that are genuinely non-deterministic. None are today (frozen
/// clock, no randomness in the plugins); see the module docs.
fn normalize(s: String) -> String {
    s
}

fn update_mode() -> bool {
    std::env::var("UPDATE_GOLDEN").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Compare `actual` with the snapshot at `rel` (under `tests/golden/`); push a
/// failure message on mismatch or when a new snapshot had to be written.
fn check_snapshot(rel: &str, actual: &str, failures: &mut Vec<String>) {
    let path = golden_dir().join(rel);
    let actual = normalize(actual.to_string());
    let existing = std::fs::read_to_string(&path).ok();
    let write = |p: &Path| {
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, &actual).expect("write snapshot");
    };
    match existing {
        None => {
            write(&path);
            if !update_mode() {
                failures.push(format!(
                    "{rel}: no snapshot existed; a new one was written — review it and rerun"
                ));
            }
        }
        Some(old) if old == actual => {}
        Some(old) => {
            if update_mode() {
                write(&path);
            } else {
                failures.push(format!(
                    "{rel}: differs from the snapshot (UPDATE_GOLDEN=1 to accept)\n{}",
                    diff(&old, &actual)
                ));
            }
        }
    }
}

/// The first differing lines of two texts.
fn diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let mut out = String::new();
    let mut shown = 0;
    for i in 0..e.len().max(a.len()) {
        let (x, y) = (e.get(i), a.get(i));
        if x != y {
            let _ = writeln!(out, "  line {}:", i + 1);
            let _ = writeln!(out, "    - {}", x.copied().unwrap_or("<end of snapshot>"));
            let _ = writeln!(out, "    + {}", y.copied().unwrap_or("<end of output>"));
            shown += 1;
            if shown == 8 {
                let _ = writeln!(out, "  …");
                break;
            }
        }
    }
    out
}

fn finish(test: &str, failures: Vec<String>) {
    if !failures.is_empty() {
        panic!(
            "{test}: {} failure(s):\n\n{}",
            failures.len(),
            failures.join("\n\n")
        );
    }
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("json");
    s.push('\n');
    s
}

fn error_json(e: &ApiError) -> Value {
    json!({
        "kind": format!("{:?}", e.kind),
        "status": e.status,
        "message": e.message,
        "provider_type": e.provider_type,
    })
}

/// A body as JSON when it is JSON, else as text.
fn body_json(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "x-amz-security-token",
];

// ======================================================================
// 1. Requests
// ======================================================================

#[test]
fn requests_translate_from_every_front_door_to_every_upstream() {
    let mut failures = Vec::new();
    for front in FRONTS {
        let body = fixture(&format!("requests/{}.json", front.id));
        let fp = provider(front.id);
        let canonical = block_on(fp.decode_request(
            Operation::Chat,
            &body,
            front.path_model.map(str::to_string),
            front.route_stream,
        ))
        .expect("plugin call")
        .unwrap_or_else(|e| panic!("{} front door rejected its fixture: {e:?}", front.id));
        check_snapshot(
            &format!("canonical/{}.txt", front.id),
            &format!("{canonical:#?}\n"),
            &mut failures,
        );
        for (up, model, options) in UPSTREAMS {
            let target = TargetInfo {
                model: (*model).to_string(),
                options: (*options).to_string(),
            };
            let out = block_on(provider(up).encode_request(Operation::Chat, &canonical, &target))
                .expect("plugin call");
            let snap = match out {
                Ok(req) => {
                    let headers: Vec<Value> = req
                        .headers
                        .iter()
                        .filter(|h| !SECRET_HEADERS.contains(&h.name.to_ascii_lowercase().as_str()))
                        .map(|h| json!([h.name, h.value]))
                        .collect();
                    json!({
                        "method": req.method,
                        "path": req.path,
                        "stream": req.stream,
                        "headers": headers,
                        "body": body_json(&req.body),
                    })
                }
                Err(e) => json!({ "error": error_json(&e) }),
            };
            check_snapshot(
                &format!("requests/{}__to__{up}.json", front.id),
                &pretty(&snap),
                &mut failures,
            );
        }
    }
    finish("requests", failures);
}

// ======================================================================
// 2. Responses
// ======================================================================

/// Upstream dialects with a response / stream fixture.
const RESPONSE_UPSTREAMS: &[&str] = &[
    "anthropic",
    "openai",
    "openai-compatible",
    "openai-responses",
    "gemini",
    "bedrock",
];

#[test]
fn responses_translate_from_every_upstream_to_every_front_door() {
    let mut failures = Vec::new();
    for up in RESPONSE_UPSTREAMS {
        let body = fixture(&format!("responses/{up}.json"));
        let decoded = block_on(provider(up).decode_response(Operation::Chat, &body))
            .expect("plugin call")
            .unwrap_or_else(|e| panic!("{up} could not decode its response fixture: {e:?}"));
        check_snapshot(
            &format!("canonical/response__{up}.txt"),
            &format!("{decoded:#?}\n"),
            &mut failures,
        );
        for front in FRONTS {
            // As the host does: the client sees the model it asked for.
            let mut answer = decoded.clone();
            answer.model = front.client_model.to_string();
            let out = block_on(provider(front.id).encode_response(&answer)).expect("plugin call");
            let snap = match out {
                Ok(bytes) => json!({ "body": body_json(&bytes) }),
                Err(e) => json!({ "error": error_json(&e) }),
            };
            check_snapshot(
                &format!("responses/{up}__to__{}.json", front.id),
                &pretty(&snap),
                &mut failures,
            );
        }
    }
    finish("responses", failures);
}

// ======================================================================
// 3. Streams
// ======================================================================

/// (snapshot name, provider id, fixture bytes).
fn stream_fixtures() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    vec![
        ("anthropic", "anthropic", fixture("streams/anthropic.sse")),
        ("openai", "openai", fixture("streams/openai.sse")),
        (
            "openai-compatible",
            "openai-compatible",
            fixture("streams/openai-compatible.sse"),
        ),
        (
            "openai-responses",
            "openai-responses",
            fixture("streams/openai-responses.sse"),
        ),
        ("gemini", "gemini", fixture("streams/gemini.sse")),
        (
            "gemini-array",
            "gemini",
            fixture("streams/gemini-array.json"),
        ),
        ("bedrock", "bedrock", bedrock_stream()),
    ]
}

/// The Bedrock ConverseStream fixture, as AWS event-stream binary frames built
/// from `streams/bedrock.json` (a list of `[event-type, payload]`).
fn bedrock_stream() -> Vec<u8> {
    let events = fixture_json("streams/bedrock.json");
    let mut out = Vec::new();
    for ev in events.as_array().expect("array") {
        let name = ev[0].as_str().expect("event type");
        let payload = serde_json::to_vec(&ev[1]).expect("payload");
        write_frame(
            &mut out,
            &[
                (":event-type", name),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ],
            &payload,
        );
    }
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// One AWS event-stream frame with string headers.
fn write_frame(out: &mut Vec<u8>, headers: &[(&str, &str)], payload: &[u8]) {
    let mut hdr = Vec::new();
    for (name, value) in headers {
        hdr.push(u8::try_from(name.len()).expect("short name"));
        hdr.extend_from_slice(name.as_bytes());
        hdr.push(7);
        hdr.extend_from_slice(&u16::try_from(value.len()).expect("short").to_be_bytes());
        hdr.extend_from_slice(value.as_bytes());
    }
    let total = u32::try_from(16 + hdr.len() + payload.len()).expect("small frame");
    let start = out.len();
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&u32::try_from(hdr.len()).expect("small").to_be_bytes());
    let prelude_crc = crc32(&out[start..start + 8]);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&hdr);
    out.extend_from_slice(payload);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// Decode `bytes` fed as `chunks`, returning every event (feed results in order,
/// then finish) and the batches as the decoder returned them.
fn decode_chunks(p: &ProviderPlugin, chunks: &[&[u8]]) -> Result<Vec<Vec<StreamEvent>>, String> {
    block_on(async {
        let mut d = p.stream_decoder(true).await.map_err(|e| e.to_string())?;
        let mut batches = Vec::new();
        for c in chunks {
            match d.feed(c).await {
                Ok(Ok(evs)) => batches.push(evs),
                Ok(Err(e)) => return Err(format!("feed: {e:?}")),
                Err(e) => return Err(format!("feed trapped: {e}")),
            }
        }
        match d.finish().await {
            Ok(Ok(evs)) => batches.push(evs),
            Ok(Err(e)) => return Err(format!("finish: {e:?}")),
            Err(e) => return Err(format!("finish trapped: {e}")),
        }
        d.close().await;
        Ok(batches)
    })
}

fn flatten(batches: &[Vec<StreamEvent>]) -> Vec<StreamEvent> {
    batches.iter().flatten().cloned().collect()
}

fn events_text(evs: &[StreamEvent]) -> String {
    evs.iter().map(|e| format!("{e:?}\n")).collect()
}

/// Encode `batches` with a fresh encoder of `front`.
fn encode_stream(front: &Front, batches: &[Vec<StreamEvent>]) -> Result<Vec<u8>, String> {
    block_on(async {
        let mut enc = provider(front.id)
            .stream_encoder_with_usage(front.client_model, front.query, front.include_usage)
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for b in batches {
            match enc.encode(b).await {
                Ok(Ok(bytes)) => out.extend(bytes),
                Ok(Err(e)) => return Err(format!("encode: {e:?}")),
                Err(e) => return Err(format!("encode trapped: {e}")),
            }
        }
        out.extend(enc.finish().await.map_err(|e| e.to_string())?);
        enc.close().await;
        Ok(out)
    })
}

#[test]
fn streams_decode_identically_for_every_split_and_encode_for_every_front_door() {
    let mut failures = Vec::new();
    for (name, id, bytes) in stream_fixtures() {
        let p = provider(id);
        // The fixtures carry multi-byte characters so some splits fall mid-UTF-8.
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains('é') && text.contains("日本") && text.contains('🗾'),
            "{name}: stream fixture lacks the multi-byte characters"
        );
        let whole = decode_chunks(&p, &[&bytes])
            .unwrap_or_else(|e| panic!("{name}: decoding the whole stream failed: {e}"));
        let reference = flatten(&whole);
        let reference_text = events_text(&reference);
        check_snapshot(
            &format!("canonical/stream__{name}.txt"),
            &reference_text,
            &mut failures,
        );

        // (b) One byte at a time.
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        let b = decode_chunks(&p, &bytewise)
            .unwrap_or_else(|e| panic!("{name}: byte-at-a-time decoding failed: {e}"));
        let b = events_text(&flatten(&b));
        assert!(
            b == reference_text,
            "{name}: byte-at-a-time decoding differs from whole decoding\n{}",
            diff(&reference_text, &b)
        );

        // (c) Two chunks, split at every offset: every mid-event and mid-UTF-8
        // boundary is among them.
        let mut mid_char = 0;
        for at in 1..bytes.len() {
            if (bytes[at] & 0xC0) == 0x80 {
                mid_char += 1;
            }
            let (x, y) = bytes.split_at(at);
            let evs = decode_chunks(&p, &[x, y])
                .unwrap_or_else(|e| panic!("{name}: split at byte {at} failed: {e}"));
            let t = events_text(&flatten(&evs));
            assert!(
                t == reference_text,
                "{name}: split at byte {at} decodes differently\n{}",
                diff(&reference_text, &t)
            );
        }
        assert!(mid_char > 0, "{name}: no split fell inside a character");

        // Encode for every front door, one event per `encode` call (as a live
        // stream mostly arrives). For the SSE dialects whose encoders write per
        // event, batching must not matter: the events as the decoder batched them
        // give the same bytes. The Gemini encoder writes one chunk per `encode`
        // call (a Gemini chunk is a whole `GenerateContentResponse`), so there the
        // batched output is only checked against the dialect's invariants.
        let one_by_one: Vec<Vec<StreamEvent>> = reference.iter().map(|e| vec![e.clone()]).collect();
        for front in FRONTS.iter().chain([&GEMINI_ARRAY, &OPENAI_NO_USAGE]) {
            let out = match encode_stream(front, &one_by_one) {
                Ok(out) => out,
                Err(e) => {
                    failures.push(format!("{name} → {}: {e}", front.name));
                    continue;
                }
            };
            match encode_stream(front, &whole) {
                Ok(o) if front.id == "gemini" => {
                    let t = String::from_utf8_lossy(&o);
                    if let Err(e) = check_invariants(front, &t, &reference) {
                        failures.push(format!(
                            "{name} → {} (batched): dialect invariant broken: {e}",
                            front.name
                        ));
                    }
                }
                Ok(o) if o == out => {}
                Ok(o) => failures.push(format!(
                    "{name} → {}: encoding batched events differs from one by one\n{}",
                    front.name,
                    diff(&String::from_utf8_lossy(&out), &String::from_utf8_lossy(&o))
                )),
                Err(e) => failures.push(format!("{name} → {} (batched): {e}", front.name)),
            }
            let text = String::from_utf8(out).unwrap_or_else(|e| {
                panic!("{name} → {}: encoder wrote invalid UTF-8: {e}", front.name)
            });
            if let Err(e) = check_invariants(front, &text, &reference) {
                failures.push(format!(
                    "{name} → {}: dialect invariant broken: {e}",
                    front.name
                ));
            }
            check_snapshot(
                &format!("streams/{name}__to__{}.txt", front.name),
                &text,
                &mut failures,
            );
        }
    }
    finish("streams", failures);
}

// ----- stream invariants -----

/// SSE events of a text: (event name, data).
fn parse_sse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let norm = text.replace("\r\n", "\n");
    if !norm.is_empty() && !norm.ends_with("\n\n") {
        return Err("stream does not end with a blank line".into());
    }
    for block in norm.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut event = String::new();
        let mut data: Vec<&str> = Vec::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v));
            } else if line.starts_with(':') {
            } else {
                return Err(format!("unexpected SSE line {line:?}"));
            }
        }
        // Comment-only blocks (`: ping` keep-alives) carry no event.
        if !data.is_empty() {
            out.push((event, data.join("\n")));
        }
    }
    Ok(out)
}

fn json_of(data: &str) -> Result<Value, String> {
    serde_json::from_str(data).map_err(|e| format!("data is not JSON ({e}): {data}"))
}

fn check_invariants(front: &Front, text: &str, events: &[StreamEvent]) -> Result<(), String> {
    let tool_calls = events
        .iter()
        .filter(|e| {
            matches!(e, StreamEvent::BlockStart(b)
                if matches!(b.block, tollgate::plugin::bindings::types::ContentBlock::ToolCall(_)))
        })
        .count();
    match front.name {
        "anthropic" => anthropic_invariants(text, tool_calls),
        "openai" | "openai-no-usage" => chat_invariants(text, tool_calls, front.include_usage),
        "openai-responses" => responses_invariants(text, tool_calls),
        "gemini" => {
            let chunks = parse_sse(text)?
                .into_iter()
                .map(|(_, d)| json_of(&d))
                .collect::<Result<Vec<_>, _>>()?;
            gemini_invariants(&chunks, tool_calls)
        }
        "gemini-array" => {
            let v = json_of(text)?;
            let chunks = v.as_array().ok_or("the JSON-array form is not an array")?;
            gemini_invariants(chunks, tool_calls)
        }
        other => Err(format!("no invariants for {other}")),
    }
}

fn anthropic_invariants(text: &str, tool_calls: usize) -> Result<(), String> {
    let evs = parse_sse(text)?;
    let first = evs.first().ok_or("empty stream")?;
    if first.0 != "message_start" {
        return Err(format!("first event is {}, not message_start", first.0));
    }
    let start = json_of(&first.1)?;
    let usage = &start["message"]["usage"];
    if !usage["input_tokens"].is_u64() || !usage["output_tokens"].is_u64() {
        return Err(format!("message_start usage lacks token counts: {usage}"));
    }
    let last = evs.last().ok_or("empty stream")?;
    if last.0 != "message_stop" {
        return Err(format!("last event is {}, not message_stop", last.0));
    }
    let mut open: BTreeMap<u64, String> = BTreeMap::new();
    let mut next_index = 0u64;
    let mut saw_delta_usage = false;
    let mut tools = 0;
    for (name, data) in &evs {
        let v = json_of(data)?;
        if v["type"].as_str() != Some(name.as_str()) {
            return Err(format!("event {name} carries type {}", v["type"]));
        }
        match name.as_str() {
            "content_block_start" => {
                let i = v["index"].as_u64().ok_or("block start without index")?;
                if i != next_index {
                    return Err(format!(
                        "content_block_start index {i}, expected {next_index} (reuse or gap)"
                    ));
                }
                next_index += 1;
                let ty = v["content_block"]["type"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                if ty == "tool_use" {
                    tools += 1;
                }
                open.insert(i, ty);
            }
            "content_block_delta" => {
                let i = v["index"].as_u64().ok_or("delta without index")?;
                let ty = open
                    .get(&i)
                    .ok_or(format!("delta for block {i}, which is not open"))?;
                let dt = v["delta"]["type"].as_str().unwrap_or("");
                let ok = match dt {
                    "text_delta" => ty == "text",
                    "thinking_delta" | "signature_delta" => ty == "thinking",
                    "input_json_delta" => ty == "tool_use",
                    _ => false,
                };
                if !ok {
                    return Err(format!("{dt} inside a {ty} block"));
                }
            }
            "content_block_stop" => {
                let i = v["index"].as_u64().ok_or("stop without index")?;
                open.remove(&i)
                    .ok_or(format!("stop for block {i}, which is not open"))?;
            }
            "message_delta" => {
                if !open.is_empty() {
                    return Err(format!("message_delta with blocks open: {open:?}"));
                }
                if !v["usage"]["output_tokens"].is_u64() {
                    return Err(format!("message_delta usage lacks output_tokens: {v}"));
                }
                if !v["delta"]["stop_reason"].is_string() {
                    return Err(format!("message_delta without stop_reason: {v}"));
                }
                saw_delta_usage = true;
            }
            "message_start" | "message_stop" | "ping" => {}
            other => return Err(format!("unexpected event {other}")),
        }
    }
    if !saw_delta_usage {
        return Err("no message_delta".into());
    }
    if tools != tool_calls {
        return Err(format!(
            "{tools} tool_use blocks for {tool_calls} tool calls"
        ));
    }
    Ok(())
}

/// With `include_usage` the usage comes as OpenAI sends it: a last chunk with
/// empty `choices` before `[DONE]`.
fn chat_invariants(text: &str, tool_calls: usize, include_usage: bool) -> Result<(), String> {
    let evs = parse_sse(text)?;
    let (last, body) = evs.split_last().ok_or("empty stream")?;
    if last.1 != "[DONE]" {
        return Err(format!("last event is {:?}, not [DONE]", last.1));
    }
    let mut finishes = 0;
    let mut ids: BTreeMap<u64, String> = BTreeMap::new();
    let mut stream_id: Option<String> = None;
    for (_, data) in body {
        let v = json_of(data)?;
        if v["object"] != "chat.completion.chunk" {
            return Err(format!("chunk object is {}", v["object"]));
        }
        let id = v["id"].as_str().unwrap_or("").to_string();
        if stream_id.get_or_insert(id.clone()) != &id {
            return Err("chunk ids change mid-stream".into());
        }
        if finishes > 0 && !v["choices"].as_array().is_some_and(Vec::is_empty) {
            return Err("a choice chunk after finish_reason".into());
        }
        if v["usage"].is_object() {
            let u = &v["usage"];
            if !u["prompt_tokens"].is_u64() || !u["completion_tokens"].is_u64() {
                return Err(format!("usage lacks token counts: {u}"));
            }
        }
        for c in v["choices"].as_array().ok_or("chunk without choices")? {
            if c["index"] != 0 {
                return Err("choice index is not 0".into());
            }
            if c["finish_reason"].is_string() {
                finishes += 1;
            }
            for tc in c["delta"]["tool_calls"].as_array().into_iter().flatten() {
                let i = tc["index"]
                    .as_u64()
                    .ok_or("tool call delta without index")?;
                if let Some(id) = tc["id"].as_str() {
                    if ids.insert(i, id.to_string()).is_some() {
                        return Err(format!("tool call index {i} started twice"));
                    }
                    if !tc["function"]["name"].is_string() {
                        return Err("first tool call delta without a name".into());
                    }
                } else if !ids.contains_key(&i) {
                    return Err(format!("arguments for tool call {i} before its id"));
                }
            }
        }
    }
    if finishes != 1 {
        return Err(format!("{finishes} finish_reason chunks"));
    }
    if include_usage {
        let (_, data) = body.last().ok_or("no chunks")?;
        let v = json_of(data)?;
        if !v["choices"].as_array().is_some_and(Vec::is_empty) || !v["usage"].is_object() {
            return Err(format!(
                "include_usage was asked but the last chunk is not a usage chunk: {v}"
            ));
        }
    }
    if ids.len() != tool_calls || ids.keys().copied().ne(0..tool_calls as u64) {
        return Err(format!(
            "tool call indexes {:?} for {tool_calls} calls",
            ids.keys()
        ));
    }
    Ok(())
}

fn responses_invariants(text: &str, tool_calls: usize) -> Result<(), String> {
    let evs = parse_sse(text)?;
    let last = evs.last().ok_or("empty stream")?;
    if last.0 != "response.completed" {
        return Err(format!("last event is {}, not response.completed", last.0));
    }
    let done = json_of(&last.1)?;
    let u = &done["response"]["usage"];
    if !u["input_tokens"].is_u64() || !u["output_tokens"].is_u64() {
        return Err(format!("response.completed usage lacks token counts: {u}"));
    }
    let mut added: Vec<(String, bool)> = Vec::new(); // (type, done)
    let mut seq = None;
    for (name, data) in &evs {
        let v = json_of(data)?;
        if v["type"].as_str() != Some(name.as_str()) {
            return Err(format!("event {name} carries type {}", v["type"]));
        }
        if let Some(n) = v["sequence_number"].as_u64() {
            if seq.is_some_and(|s| n != s + 1) {
                return Err(format!("sequence_number {n} after {seq:?}"));
            }
            seq = Some(n);
        }
        let Some(oi) = v["output_index"].as_u64() else {
            continue;
        };
        let oi = usize::try_from(oi).expect("small");
        match name.as_str() {
            "response.output_item.added" => {
                if oi != added.len() {
                    return Err(format!(
                        "output_item.added at {oi}, expected {}",
                        added.len()
                    ));
                }
                added.push((v["item"]["type"].as_str().unwrap_or("").to_string(), false));
            }
            "response.output_item.done" => {
                let slot = added
                    .get_mut(oi)
                    .ok_or(format!("output_item.done for unknown index {oi}"))?;
                if slot.1 {
                    return Err(format!("output item {oi} done twice"));
                }
                if v["item"]["type"].as_str() != Some(slot.0.as_str()) {
                    return Err(format!("output item {oi} changed type"));
                }
                slot.1 = true;
            }
            _ => {
                let slot = added
                    .get(oi)
                    .ok_or(format!("{name} for unknown output index {oi}"))?;
                if slot.1 {
                    return Err(format!("{name} for output item {oi} after it was done"));
                }
            }
        }
    }
    if let Some(i) = added.iter().position(|a| !a.1) {
        return Err(format!("output item {i} never done"));
    }
    let output = done["response"]["output"]
        .as_array()
        .ok_or("response.completed without output")?;
    let types: Vec<&str> = output
        .iter()
        .map(|o| o["type"].as_str().unwrap_or(""))
        .collect();
    let streamed: Vec<&str> = added.iter().map(|a| a.0.as_str()).collect();
    if types != streamed {
        return Err(format!(
            "completed output {types:?} differs from the streamed items {streamed:?}"
        ));
    }
    let calls = types
        .iter()
        .filter(|t| **t == "function_call" || **t == "custom_tool_call")
        .count();
    if calls != tool_calls {
        return Err(format!(
            "{calls} function calls for {tool_calls} tool calls"
        ));
    }
    Ok(())
}

fn gemini_invariants(chunks: &[Value], tool_calls: usize) -> Result<(), String> {
    let (last, rest) = chunks.split_last().ok_or("empty stream")?;
    for c in rest {
        if c["candidates"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|cand| !cand["finishReason"].is_null())
        {
            return Err(format!("finishReason before the last chunk: {c}"));
        }
    }
    if !last["candidates"][0]["finishReason"].is_string() {
        return Err(format!("the last chunk has no finishReason: {last}"));
    }
    if !last["usageMetadata"]["promptTokenCount"].is_u64() {
        return Err(format!("the last chunk has no usageMetadata: {last}"));
    }
    let calls = chunks
        .iter()
        .flat_map(|c| c["candidates"][0]["content"]["parts"].as_array().cloned())
        .flatten()
        .filter(|p| p.get("functionCall").is_some())
        .count();
    if calls != tool_calls {
        return Err(format!(
            "{calls} functionCall parts for {tool_calls} tool calls"
        ));
    }
    Ok(())
}

// ======================================================================
// 4. Errors
// ======================================================================

#[test]
fn errors_translate_from_every_upstream_to_every_front_door() {
    let mut failures = Vec::new();
    let cases = fixture_json("errors.json");
    for (up, list) in cases.as_object().expect("object") {
        let mut decoded = Vec::new();
        for case in list.as_array().expect("array") {
            let status = u16::try_from(case["status"].as_u64().expect("status")).expect("u16");
            let body = match &case["body"] {
                Value::String(s) => s.clone().into_bytes(),
                v => serde_json::to_vec(v).expect("json"),
            };
            let e = block_on(provider(up).decode_error(status, &body)).expect("plugin call");
            decoded.push((status, e));
        }
        for front in FRONTS {
            let mut snap = Vec::new();
            for (status, e) in &decoded {
                let r = block_on(provider(front.id).encode_error(e)).expect("plugin call");
                let headers: Vec<Value> =
                    r.headers.iter().map(|h| json!([h.name, h.value])).collect();
                snap.push(json!({
                    "upstream_status": status,
                    "canonical": error_json(e),
                    "status": r.status,
                    "headers": headers,
                    "body": body_json(&r.body),
                }));
            }
            check_snapshot(
                &format!("errors/{up}__to__{}.json", front.id),
                &pretty(&Value::Array(snap)),
                &mut failures,
            );
        }
    }
    finish("errors", failures);
}
