//! A faithful Anthropic Messages API upstream on loopback: records every request as
//! received and answers like the real service (JSON and SSE), with fault modes chosen
//! by the requested model name and a cheap fast path for benchmarks.
//!
//! Behaviour, by request:
//! - model `mock-error-NNN` → status NNN with an Anthropic error body;
//!   `mock-truncate` → the stream dies after a `content_block_delta`;
//!   `mock-stall` → `message_start`, then nothing for 60 s;
//!   `mock-slow-first-byte` → 2 s before the response head;
//!   `mock-garbage` → 200 with a body that is not JSON / not SSE;
//!   `bench` → a fixed small answer (streaming: `x-mock-chunks` deltas, default 20).
//! - last user message holds a `tool_result` → `Tool said: <its text>`.
//! - a tool named `Bash` is declared and the last user message contains
//!   `TOLLGATE_TOOL_TEST` → a text block and a `Bash` `tool_use` block.
//! - `thinking: {type: enabled}` → a thinking block (with signature) before the text.
//! - otherwise the text `Hello from the mock upstream.` (or the `x-mock-reply` header).
//!
//! Control headers: `x-mock-reply` (answer text), `x-mock-chunks` (bench deltas),
//! `x-mock-chunk-delay-ms` (pause between SSE events, default 2, bench 0),
//! `x-mock-split-events: true` (each SSE event is cut into two body chunks),
//! `x-mock-usage: {json}` (merged into the reported usage),
//! `x-mock-stamp: true` (bench streams only: each delta's text is `t<ns> `, the wall
//! clock in nanoseconds since the Unix epoch when the mock handed it to the socket, so a
//! client on the same machine can measure each chunk's one-way delivery time).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::serve::ListenerExt;
use axum::Router;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The text the mock answers with unless told otherwise.
pub const DEFAULT_REPLY: &str = "Hello from the mock upstream.";
/// The marker that makes the mock ask for a `Bash` tool call.
pub const TOOL_TEST_MARKER: &str = "TOLLGATE_TOOL_TEST";
/// The command the mock asks the client to run in the tool round trip.
pub const TOOL_TEST_COMMAND: &str = "echo tollgate-roundtrip-ok";
/// What that command prints.
pub const TOOL_TEST_OUTPUT: &str = "tollgate-roundtrip-ok";
/// The prefix of the answer once a tool result comes back.
pub const TOOL_RESULT_PREFIX: &str = "Tool said: ";

const MAX_BODY: usize = 64 * 1024 * 1024;
const THINKING_TEXT: &str =
    "The user wants a short answer. I will greet them from the mock upstream.";
const DEFAULT_BENCH_CHUNKS: usize = 20;

/// One request exactly as the mock received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RecordedRequest {
    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// A header's value as text (the first one, if repeated).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `model` field of a JSON body.
    pub fn model(&self) -> Option<String> {
        self.json()?.get("model")?.as_str().map(str::to_owned)
    }

    /// Whether the JSON body asks for a stream.
    pub fn is_stream(&self) -> bool {
        self.json()
            .and_then(|v| v.get("stream").and_then(Value::as_bool))
            .unwrap_or(false)
    }

    /// Whether this is a `POST /v1/messages`.
    pub fn is_messages(&self) -> bool {
        self.method == Method::POST && self.path == "/v1/messages"
    }
}

/// Options for [`MockUpstream::start_with`].
#[derive(Debug, Clone)]
pub struct MockOptions {
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Keep every request for [`MockUpstream::requests`] (turn off for long benchmarks).
    pub record: bool,
    /// Write every request (method, path, query, headers, body) to stderr as a JSON line.
    pub log: bool,
}

impl Default for MockOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            record: true,
            log: false,
        }
    }
}

struct Shared {
    record: bool,
    log: bool,
    requests: Mutex<Vec<RecordedRequest>>,
}

/// A running mock upstream; it stops when dropped.
pub struct MockUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl MockUpstream {
    /// Starts a recording mock on `127.0.0.1:0` inside the current tokio runtime.
    pub async fn start() -> MockUpstream {
        Self::start_with(MockOptions::default())
            .await
            .expect("mock upstream: bind 127.0.0.1:0")
    }

    /// Starts a mock with the given options inside the current tokio runtime.
    pub async fn start_with(options: MockOptions) -> std::io::Result<MockUpstream> {
        let listener = tokio::net::TcpListener::bind(options.listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            record: options.record,
            log: options.log,
            requests: Mutex::new(Vec::new()),
        });
        let app = router(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let listener = listener.tap_io(|tcp| {
            // Best effort: a socket that refuses NODELAY still serves.
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(MockUpstream {
            addr,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Runs until the task is cancelled (for the `mock-upstream` binary).
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` with no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().clone()
    }

    /// Only the `POST /v1/messages` requests, oldest first.
    pub fn messages_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(RecordedRequest::is_messages)
            .collect()
    }

    /// Forgets the recorded requests.
    pub fn clear(&self) {
        self.shared.requests.lock().clear();
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(err) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                &format!("could not read request body: {err}"),
            )
        }
    };
    let path = parts.uri.path().to_owned();
    if shared.log {
        log_request(&parts, &body);
    }
    if shared.record {
        shared.requests.lock().push(RecordedRequest {
            method: parts.method.clone(),
            path: path.clone(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers.clone(),
            body: body.clone(),
        });
    }
    match (&parts.method, path.as_str()) {
        (&Method::POST, "/v1/messages") => messages(&parts.headers, &body).await,
        (&Method::POST, "/v1/messages/count_tokens") => count_tokens(&body),
        (&Method::GET, "/v1/models") => json_response(StatusCode::OK, models_list()),
        (&Method::GET, p) if p.starts_with("/v1/models/") => {
            let id = &p["/v1/models/".len()..];
            match MODELS.iter().find(|(mid, _)| *mid == id) {
                Some(m) => json_response(StatusCode::OK, model_json(m)),
                None => error_response(
                    StatusCode::NOT_FOUND,
                    "not_found_error",
                    &format!("model: {id}"),
                ),
            }
        }
        (_, "/v1/messages" | "/v1/messages/count_tokens" | "/v1/models") => error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            &format!("Method {} not allowed for {path}", parts.method),
        ),
        _ => error_response(StatusCode::NOT_FOUND, "not_found_error", "Not found"),
    }
}

fn log_request(parts: &http::request::Parts, body: &Bytes) {
    let headers: Map<String, Value> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            )
        })
        .collect();
    let body = serde_json::from_slice::<Value>(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
    let line = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body": body,
    });
    eprintln!("{line}");
}

// ---------------------------------------------------------------------------------
// Responses

fn new_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // splitmix64 over (pid, counter): unique per process, random-looking.
    let mut state = n ^ (u64::from(std::process::id()) << 32);
    let mut out = String::with_capacity(prefix.len() + 24);
    out.push_str(prefix);
    out.push_str("01");
    for _ in 0..22 {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.push(char::from(ALPHABET[(z % 62) as usize]));
    }
    out
}

fn base_response(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    if let Ok(v) = HeaderValue::from_str(&new_id("req_")) {
        headers.insert("request-id", v);
    }
    response
}

fn json_response(status: StatusCode, value: Value) -> Response {
    base_response(
        status,
        "application/json",
        Body::from(serde_json::to_vec(&value).unwrap_or_default()),
    )
}

/// The Anthropic error type for an HTTP status.
pub fn error_type_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

fn error_response(status: StatusCode, kind: &str, message: &str) -> Response {
    let request_id = new_id("req_");
    let mut response = json_response(
        status,
        json!({
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": request_id,
        }),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("request-id", v);
    }
    if status == StatusCode::TOO_MANY_REQUESTS || status.as_u16() == 529 {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
    }
    response
}

fn invalid(message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

const MODELS: &[(&str, &str)] = &[
    ("claude-opus-5-5", "Claude Opus 5.5"),
    ("claude-sonnet-5-5", "Claude Sonnet 5.5"),
    ("claude-haiku-5-5", "Claude Haiku 5.5"),
    ("claude-opus-4-8", "Claude Opus 4.8"),
    ("claude-sonnet-4-6", "Claude Sonnet 4.6"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5"),
];

fn model_json((id, name): &(&str, &str)) -> Value {
    json!({"type": "model", "id": id, "display_name": name, "created_at": "2025-01-01T00:00:00Z"})
}

fn models_list() -> Value {
    let data: Vec<Value> = MODELS.iter().map(model_json).collect();
    json!({
        "data": data,
        "has_more": false,
        "first_id": MODELS.first().map(|m| m.0),
        "last_id": MODELS.last().map(|m| m.0),
    })
}

fn count_tokens(body: &Bytes) -> Response {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) => {
            if !obj.get("model").is_some_and(Value::is_string) {
                return invalid("model: Field required");
            }
            if !obj.get("messages").is_some_and(Value::is_array) {
                return invalid("messages: Field required");
            }
            json_response(
                StatusCode::OK,
                json!({"input_tokens": (body.len() / 4).max(1)}),
            )
        }
        Ok(_) => invalid("request body must be a JSON object"),
        Err(err) => invalid(&format!("There was an error parsing the body: {err}")),
    }
}

/// What the mock will answer: a list of content blocks and a stop reason.
#[derive(Debug, Clone)]
enum Block {
    Thinking {
        thinking: String,
        signature: String,
    },
    Text(String),
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
}

impl Block {
    fn full_json(&self) -> Value {
        match self {
            Block::Thinking {
                thinking,
                signature,
            } => json!({"type": "thinking", "thinking": thinking, "signature": signature}),
            Block::Text(text) => json!({"type": "text", "text": text}),
            Block::ToolUse { id, name, input } => {
                json!({"type": "tool_use", "id": id, "name": name, "input": input})
            }
        }
    }

    fn start_json(&self) -> Value {
        match self {
            Block::Thinking { .. } => json!({"type": "thinking", "thinking": "", "signature": ""}),
            Block::Text(_) => json!({"type": "text", "text": ""}),
            Block::ToolUse { id, name, .. } => {
                json!({"type": "tool_use", "id": id, "name": name, "input": {}})
            }
        }
    }

    fn deltas(&self) -> Vec<Value> {
        match self {
            Block::Thinking {
                thinking,
                signature,
            } => {
                let mut out: Vec<Value> = split_words(thinking, 3)
                    .into_iter()
                    .map(|t| json!({"type": "thinking_delta", "thinking": t}))
                    .collect();
                out.push(json!({"type": "signature_delta", "signature": signature}));
                out
            }
            Block::Text(text) => split_words(text, 2)
                .into_iter()
                .map(|t| json!({"type": "text_delta", "text": t}))
                .collect(),
            Block::ToolUse { input, .. } => {
                let raw = serde_json::to_string(input).unwrap_or_default();
                // Like the real service: an empty first piece, then the JSON in pieces.
                let mut out = vec![json!({"type": "input_json_delta", "partial_json": ""})];
                out.extend(
                    split_chars(&raw, 4)
                        .into_iter()
                        .map(|p| json!({"type": "input_json_delta", "partial_json": p})),
                );
                out
            }
        }
    }

    fn output_chars(&self) -> usize {
        match self {
            Block::Thinking { thinking, .. } => thinking.len(),
            Block::Text(t) => t.len(),
            Block::ToolUse { input, .. } => input.to_string().len(),
        }
    }
}

/// Splits text into pieces of `words` words each (leading spaces kept on the pieces).
fn split_words(text: &str, words: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut count = 0;
    for (i, word) in text.split_inclusive(' ').enumerate() {
        if i > 0 && count == words {
            pieces.push(std::mem::take(&mut current));
            count = 0;
        }
        current.push_str(word);
        count += 1;
    }
    if !current.is_empty() || pieces.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// Splits text into `n` pieces of about equal length on char boundaries.
fn split_chars(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(n.max(1)).max(1);
    chars
        .chunks(size)
        .map(|c| c.iter().collect::<String>())
        .collect()
}

/// The few request fields read before deciding anything (cheap on large bodies).
#[derive(Deserialize)]
struct Head {
    model: Option<String>,
    stream: Option<bool>,
}

struct Plan {
    model: String,
    blocks: Vec<Block>,
    stop_reason: &'static str,
    input_tokens: u64,
    usage_extra: Map<String, Value>,
}

impl Plan {
    fn output_tokens(&self) -> u64 {
        let chars: usize = self.blocks.iter().map(Block::output_chars).sum();
        (chars as u64 / 4).max(1)
    }

    fn usage(&self, output_tokens: u64) -> Value {
        let mut usage = json!({
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": output_tokens,
            "service_tier": "standard",
        });
        if let Value::Object(obj) = &mut usage {
            for (k, v) in &self.usage_extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        usage
    }

    fn message(&self, id: &str) -> Value {
        let content: Vec<Value> = self.blocks.iter().map(Block::full_json).collect();
        json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": self.stop_reason,
            "stop_sequence": null,
            "usage": self.usage(self.output_tokens()),
        })
    }

    /// The SSE events in order: (name, data).
    fn events(&self, id: &str) -> Vec<(&'static str, Value)> {
        let mut events = Vec::new();
        events.push((
            "message_start",
            json!({"type": "message_start", "message": {
                "id": id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": self.usage(1),
            }}),
        ));
        events.push(("ping", json!({"type": "ping"})));
        for (index, block) in self.blocks.iter().enumerate() {
            events.push((
                "content_block_start",
                json!({"type": "content_block_start", "index": index, "content_block": block.start_json()}),
            ));
            for delta in block.deltas() {
                events.push((
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index, "delta": delta}),
                ));
            }
            events.push((
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ));
        }
        events.push((
            "message_delta",
            json!({
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason, "stop_sequence": null},
                "usage": {"output_tokens": self.output_tokens()},
            }),
        ));
        events.push(("message_stop", json!({"type": "message_stop"})));
        events
    }
}

fn sse_event(name: &str, data: &Value) -> Bytes {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Serializing a Value cannot fail.
    let _ = serde_json::to_writer(&mut out, data);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// One step of a streamed body.
enum Step {
    Chunk(Bytes),
    /// A bench `content_block_delta` whose text is stamped with the send time.
    StampedDelta,
    Sleep(Duration),
    /// Abort the connection (no terminating chunk).
    Fail,
}

fn stream_response(steps: VecDeque<Step>) -> Response {
    let stream = futures::stream::unfold(steps, |mut steps| async move {
        loop {
            match steps.pop_front()? {
                Step::Chunk(bytes) => return Some((Ok::<Bytes, std::io::Error>(bytes), steps)),
                Step::StampedDelta => return Some((Ok(stamped_delta()), steps)),
                Step::Sleep(d) => tokio::time::sleep(d).await,
                Step::Fail => {
                    return Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionAborted,
                            "mock: stream cut on purpose",
                        )),
                        VecDeque::new(),
                    ))
                }
            }
        }
    });
    let mut response = base_response(
        StatusCode::OK,
        "text/event-stream; charset=utf-8",
        Body::from_stream(stream),
    );
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    response
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn messages(headers: &HeaderMap, body: &Bytes) -> Response {
    let head: Head = match serde_json::from_slice(body) {
        Ok(head) => head,
        Err(err) => return invalid(&format!("There was an error parsing the body: {err}")),
    };
    let Some(model) = head.model else {
        return invalid("model: Field required");
    };
    let stream = head.stream.unwrap_or(false);
    if model == "bench" {
        return bench(headers, stream);
    }

    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(err) => return invalid(&format!("There was an error parsing the body: {err}")),
    };
    if !request.get("messages").is_some_and(Value::is_array) {
        return invalid("messages: Field required");
    }
    if !request.get("max_tokens").is_some_and(Value::is_u64) {
        return invalid("max_tokens: Field required");
    }

    // Fault modes.
    if let Some(code) = model.strip_prefix("mock-error-") {
        let status = code
            .parse::<u16>()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::BAD_REQUEST);
        return error_response(
            status,
            error_type_for(status),
            &format!("mock upstream: forced error {}", status.as_u16()),
        );
    }
    if model == "mock-garbage" {
        return if stream {
            stream_response(VecDeque::from([
                Step::Chunk(Bytes::from_static(
                    b"event: message_start\ndata: {this is not json\n\n",
                )),
                Step::Chunk(Bytes::from_static(b"\x00\x01garbage without framing")),
            ]))
        } else {
            base_response(
                StatusCode::OK,
                "application/json",
                Body::from("<html>this is not json</html>"),
            )
        };
    }
    if model == "mock-slow-first-byte" {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    let plan = plan_for(&model, &request, headers, body.len());
    let id = new_id("msg_");
    if !stream {
        return json_response(StatusCode::OK, plan.message(&id));
    }

    let delay = header_str(headers, "x-mock-chunk-delay-ms")
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_millis(2), Duration::from_millis);
    let split = header_str(headers, "x-mock-split-events").is_some_and(|v| v == "true");
    let mut steps = VecDeque::new();
    let events = plan.events(&id);
    for (i, (name, data)) in events.iter().enumerate() {
        if i > 0 && !delay.is_zero() {
            steps.push_back(Step::Sleep(delay));
        }
        let bytes = sse_event(name, data);
        if split && bytes.len() > 1 {
            let mid = bytes.len() / 2;
            steps.push_back(Step::Chunk(bytes.slice(..mid)));
            steps.push_back(Step::Chunk(bytes.slice(mid..)));
        } else {
            steps.push_back(Step::Chunk(bytes));
        }
        match model.as_str() {
            "mock-truncate" if *name == "content_block_delta" => {
                steps.push_back(Step::Sleep(Duration::from_millis(20)));
                steps.push_back(Step::Fail);
                break;
            }
            "mock-stall" if *name == "message_start" => {
                steps.push_back(Step::Sleep(Duration::from_secs(60)));
                steps.push_back(Step::Fail);
                break;
            }
            _ => {}
        }
    }
    stream_response(steps)
}

fn plan_for(model: &str, request: &Value, headers: &HeaderMap, body_len: usize) -> Plan {
    let reply = header_str(headers, "x-mock-reply")
        .map(str::to_owned)
        .unwrap_or_else(|| DEFAULT_REPLY.to_owned());
    let usage_extra = header_str(headers, "x-mock-usage")
        .and_then(|v| serde_json::from_str::<Map<String, Value>>(v).ok())
        .unwrap_or_default();
    let last_user = request
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| {
            m.iter()
                .rev()
                .find(|msg| msg.get("role").and_then(Value::as_str) == Some("user"))
        });
    let tool_results = last_user.map(tool_result_texts).unwrap_or_default();
    let declares_bash = request
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|tools| {
            tools
                .iter()
                .any(|t| t.get("name").and_then(Value::as_str) == Some("Bash"))
        });
    let asks_tool = last_user.is_some_and(|m| message_text(m).contains(TOOL_TEST_MARKER));

    let (blocks, stop_reason) = if !tool_results.is_empty() {
        (
            vec![Block::Text(format!(
                "{TOOL_RESULT_PREFIX}{}",
                tool_results.join("\n")
            ))],
            "end_turn",
        )
    } else if declares_bash && asks_tool {
        (
            vec![
                Block::Text("I will run the command now.".to_owned()),
                Block::ToolUse {
                    id: new_id("toolu_"),
                    name: "Bash".to_owned(),
                    input: json!({"command": TOOL_TEST_COMMAND, "description": "Print a marker"}),
                },
            ],
            "tool_use",
        )
    } else {
        let thinking = request
            .get("thinking")
            .and_then(|t| t.get("type"))
            .and_then(Value::as_str)
            .is_some_and(|t| t == "enabled" || t == "adaptive");
        let mut blocks = Vec::new();
        if thinking {
            blocks.push(Block::Thinking {
                thinking: THINKING_TEXT.to_owned(),
                signature: "EqQBCkYIBxgCKkBtb2NrLXNpZ25hdHVyZS1mb3ItdGhpbmtpbmctYmxvY2s="
                    .to_owned(),
            });
        }
        blocks.push(Block::Text(reply));
        (blocks, "end_turn")
    };
    Plan {
        model: model.to_owned(),
        blocks,
        stop_reason,
        input_tokens: (body_len as u64 / 4).max(1),
        usage_extra,
    }
}

/// All text in a message: a string content, or its text blocks.
fn message_text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The text of every `tool_result` block in a message.
fn tool_result_texts(message: &Value) -> Vec<String> {
    let Some(Value::Array(blocks)) = message.get("content") else {
        return Vec::new();
    };
    blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
        .map(|b| match b.get("content") {
            Some(Value::String(s)) => s.trim().to_owned(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .map(str::trim)
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// Benchmark fast path: everything precomputed once, cloned as cheap `Bytes`.

struct BenchBytes {
    message: Bytes,
    head: Bytes,
    delta: Bytes,
    tail: Bytes,
}

fn bench_bytes() -> &'static BenchBytes {
    static BENCH: OnceLock<BenchBytes> = OnceLock::new();
    BENCH.get_or_init(|| {
        let plan = Plan {
            model: "bench".to_owned(),
            blocks: vec![Block::Text("ok".to_owned())],
            stop_reason: "end_turn",
            input_tokens: 10,
            usage_extra: Map::new(),
        };
        let id = "msg_01benchbenchbenchbenchbe";
        let message = Bytes::from(serde_json::to_vec(&plan.message(id)).unwrap_or_default());
        let mut head = Vec::new();
        for (name, data) in [
            (
                "message_start",
                json!({"type": "message_start", "message": {
                    "id": id, "type": "message", "role": "assistant", "model": "bench",
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": plan.usage(1),
                }}),
            ),
            ("ping", json!({"type": "ping"})),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
        ] {
            head.extend_from_slice(&sse_event(name, &data));
        }
        let delta = sse_event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "tok "}}),
        );
        let mut tail = Vec::new();
        for (name, data) in [
            (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            (
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 20}}),
            ),
            ("message_stop", json!({"type": "message_stop"})),
        ] {
            tail.extend_from_slice(&sse_event(name, &data));
        }
        BenchBytes {
            message,
            head: Bytes::from(head),
            delta,
            tail: Bytes::from(tail),
        }
    })
}

fn bench(headers: &HeaderMap, stream: bool) -> Response {
    let bytes = bench_bytes();
    if !stream {
        return base_response(
            StatusCode::OK,
            "application/json",
            Body::from(bytes.message.clone()),
        );
    }
    let chunks = header_str(headers, "x-mock-chunks")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(DEFAULT_BENCH_CHUNKS);
    let delay = header_str(headers, "x-mock-chunk-delay-ms")
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_millis);
    let stamp = header_str(headers, "x-mock-stamp").is_some_and(|v| v == "true");
    let mut steps = VecDeque::with_capacity(chunks * 2 + 2);
    steps.push_back(Step::Chunk(bytes.head.clone()));
    for _ in 0..chunks {
        if !delay.is_zero() {
            steps.push_back(Step::Sleep(delay));
        }
        steps.push_back(if stamp {
            Step::StampedDelta
        } else {
            Step::Chunk(bytes.delta.clone())
        });
    }
    steps.push_back(Step::Chunk(bytes.tail.clone()));
    stream_response(steps)
}

/// A bench delta whose text is `t<ns since the Unix epoch> `, taken now.
fn stamped_delta() -> Bytes {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    Bytes::from(format!(
        "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"t{ns} \"}}}}\n\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamped_delta_is_an_sse_event() {
        let bytes = stamped_delta();
        let text = std::str::from_utf8(&bytes).expect("utf-8");
        let data = text
            .strip_prefix("event: content_block_delta\ndata: ")
            .and_then(|t| t.strip_suffix("\n\n"))
            .expect("one SSE event");
        let v: Value = serde_json::from_str(data).expect("JSON");
        let stamp = v["delta"]["text"].as_str().expect("text");
        assert!(stamp.starts_with('t') && stamp.ends_with(' '));
        assert!(stamp[1..stamp.len() - 1].parse::<u128>().expect("digits") > 0);
    }

    #[test]
    fn split_words_keeps_text() {
        let pieces = split_words(DEFAULT_REPLY, 2);
        assert!(pieces.len() >= 3);
        assert_eq!(pieces.concat(), DEFAULT_REPLY);
        assert_eq!(split_words("", 2), vec![String::new()]);
    }

    #[test]
    fn split_chars_keeps_text() {
        let s = r#"{"command":"echo tollgate-roundtrip-ok"}"#;
        assert_eq!(split_chars(s, 4).concat(), s);
        assert_eq!(split_chars(s, 4).len(), 4);
    }

    #[test]
    fn ids_look_real() {
        let a = new_id("msg_");
        let b = new_id("msg_");
        assert!(a.starts_with("msg_01"));
        assert_eq!(a.len(), "msg_01".len() + 22);
        assert_ne!(a, b);
    }
}
