//! A faithful multi-dialect LLM upstream on loopback: records every request as
//! received and answers like the real services (JSON and streams), each dialect at its
//! standard path, with the same scripted behaviour in every dialect:
//!
//! | dialect | paths |
//! |---|---|
//! | Anthropic Messages ([`anthropic`]) | `POST /v1/messages`, `POST /v1/messages/count_tokens` |
//! | OpenAI Chat Completions ([`openai`]) | `POST /v1/chat/completions` |
//! | OpenAI Responses ([`responses`]) | `POST /v1/responses` |
//! | Gemini ([`gemini`]) | `POST /v1beta/models/{m}:generateContent`, `:streamGenerateContent` (`?alt=sse` or the JSON-array form), `:countTokens` (also under `/v1/`) |
//! | model lists | `GET /v1/models[/{id}]` (one body valid as Anthropic's and OpenAI's list; Gemini's when the request carries a Gemini key), `GET /v1beta/models[/{m}]` |
//!
//! The script, by request (the same in every dialect):
//! - model `mock-error-NNN` → status NNN with the dialect's error body;
//!   `mock-truncate` → the stream dies after the first content delta;
//!   `mock-stall` → the first event, then nothing for 60 s;
//!   `mock-slow-first-byte` → 2 s before the response head;
//!   `mock-garbage` → 200 with a body that is not JSON / not a valid stream;
//!   `bench` or `bench-N` (Anthropic and Chat Completions only) → a fixed small answer
//!   from precomputed bytes (streaming: `x-mock-chunks` deltas, else N, else 20; the
//!   `-N` form carries the count through a gateway that translates the request and
//!   so drops the control headers).
//! - the request ends with tool results → `Tool said: <their text>`.
//! - a shell-like tool is offered (Claude Code's `Bash`, Gemini CLI's
//!   `run_shell_command`, Codex's `shell` / `shell_command` / `exec_command` /
//!   `local_shell`, or any function with a `command` parameter, or a function whose
//!   one parameter is the string `input`) and the last user
//!   message contains `TOLLGATE_TOOL_TEST` → a text and a call of that tool running
//!   [`TOOL_TEST_COMMAND`] (each call the mock issues is kept: [`MockUpstream::issued_tool_calls`]).
//! - JSON output asked for with a schema → a JSON object that fits the schema.
//! - thinking asked for (Anthropic `thinking`, Responses `reasoning.summary`, Gemini
//!   `thinkingConfig.includeThoughts`) → a thinking part before the text.
//! - otherwise the text `Hello from the mock upstream.` (or the `x-mock-reply` header).
//!
//! Usage: input tokens = body bytes / 4, output tokens = answer characters / 4 (each at
//! least 1), reported in each dialect's own fields.
//!
//! Control headers: `x-mock-reply` (answer text), `x-mock-chunks` (bench deltas),
//! `x-mock-chunk-delay-ms` (pause between stream events, default 2, bench 0),
//! `x-mock-split-events: true` (each stream event is cut into two body chunks),
//! `x-mock-usage: {json}` (merged into the reported usage object),
//! `x-mock-stamp: true` (bench streams only: each delta's text is `t<ns> `, the wall
//! clock in nanoseconds since the Unix epoch when the mock handed it to the socket, so a
//! client on the same machine can measure each chunk's one-way delivery time).

pub mod anthropic;
pub mod gemini;
pub mod openai;
pub mod responses;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::serve::ListenerExt;
use axum::Router;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use parking_lot::Mutex;
use serde_json::{json, Map, Value};

pub use anthropic::error_type_for;

/// The text the mock answers with unless told otherwise.
pub const DEFAULT_REPLY: &str = "Hello from the mock upstream.";
/// The marker that makes the mock ask for a shell tool call.
pub const TOOL_TEST_MARKER: &str = "TOLLGATE_TOOL_TEST";
/// The command the mock asks the client to run in the tool round trip.
pub const TOOL_TEST_COMMAND: &str = "echo tollgate-roundtrip-ok";
/// What that command prints.
pub const TOOL_TEST_OUTPUT: &str = "tollgate-roundtrip-ok";
/// The prefix of the answer once a tool result comes back.
pub const TOOL_RESULT_PREFIX: &str = "Tool said: ";
/// The text the mock says before its tool call.
pub const TOOL_CALL_TEXT: &str = "I will run the command now.";
/// The thinking text (when thinking is asked for).
pub const THINKING_TEXT: &str =
    "The user wants a short answer. I will greet them from the mock upstream.";

const MAX_BODY: usize = 64 * 1024 * 1024;

/// The wire dialect of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Anthropic Messages (`/v1/messages…`).
    Anthropic,
    /// OpenAI Chat Completions (`/v1/chat/completions`).
    OpenAiChat,
    /// OpenAI Responses (`/v1/responses`).
    OpenAiResponses,
    /// Gemini (`/v1beta/models/{m}:…`, `/v1/models/{m}:…`).
    Gemini,
}

impl Dialect {
    /// The dialect of a request, from its method, path and (for the shared
    /// `/v1/models` list) headers and query. `None` for paths no dialect serves.
    pub fn of(
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Option<Self> {
        match (method, path) {
            (&Method::POST, "/v1/messages" | "/v1/messages/count_tokens") => Some(Self::Anthropic),
            (&Method::POST, "/v1/chat/completions") => Some(Self::OpenAiChat),
            (&Method::POST, "/v1/responses") => Some(Self::OpenAiResponses),
            _ if gemini::parse_path(path).is_some() => Some(Self::Gemini),
            (&Method::GET, p) if p == "/v1/models" || p.starts_with("/v1/models/") => {
                if gemini::has_key(headers, query) {
                    Some(Self::Gemini)
                } else if headers.contains_key("anthropic-version") {
                    Some(Self::Anthropic)
                } else {
                    Some(Self::OpenAiChat)
                }
            }
            _ => None,
        }
    }
}

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

    /// The path, without the query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// A query parameter's value (not percent-decoded).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .as_deref()?
            .split('&')
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// Which dialect this request speaks (see [`Dialect::of`]).
    pub fn dialect(&self) -> Option<Dialect> {
        Dialect::of(
            &self.method,
            &self.path,
            &self.headers,
            self.query.as_deref(),
        )
    }

    /// The requested model: the body's `model` field, or for Gemini the model in the
    /// path (`/v1beta/models/{model}:…`).
    pub fn model(&self) -> Option<String> {
        if let Some((model, _)) = gemini::parse_path(&self.path) {
            return Some(model.to_owned());
        }
        self.json()?.get("model")?.as_str().map(str::to_owned)
    }

    /// Whether the request asks for a stream: the body's `stream: true`, or Gemini's
    /// `:streamGenerateContent`.
    pub fn is_stream(&self) -> bool {
        if let Some((_, action)) = gemini::parse_path(&self.path) {
            return action == "streamGenerateContent";
        }
        self.json()
            .and_then(|v| v.get("stream").and_then(Value::as_bool))
            .unwrap_or(false)
    }

    /// Whether this is a `POST /v1/messages`.
    pub fn is_messages(&self) -> bool {
        self.method == Method::POST && self.path == "/v1/messages"
    }

    /// Whether this is a `POST /v1/chat/completions`.
    pub fn is_chat_completions(&self) -> bool {
        self.method == Method::POST && self.path == "/v1/chat/completions"
    }

    /// Whether this is a `POST /v1/responses`.
    pub fn is_responses(&self) -> bool {
        self.method == Method::POST && self.path == "/v1/responses"
    }

    /// Whether this is a Gemini `generateContent` or `streamGenerateContent`.
    pub fn is_gemini_generate(&self) -> bool {
        self.method == Method::POST
            && gemini::parse_path(&self.path).is_some_and(|(_, action)| {
                action == "generateContent" || action == "streamGenerateContent"
            })
    }

    /// Whether this asks any dialect for a model answer (not a count or a list).
    pub fn is_generation(&self) -> bool {
        self.is_messages()
            || self.is_chat_completions()
            || self.is_responses()
            || self.is_gemini_generate()
    }

    /// The names of the tools the request offers, in the request's dialect
    /// (Responses built-ins such as `local_shell` by their type).
    pub fn tool_names(&self) -> Vec<String> {
        let (Some(dialect), Some(body)) = (self.dialect(), self.json()) else {
            return Vec::new();
        };
        read_turn(dialect, &body)
            .tools
            .into_iter()
            .map(|t| t.name)
            .collect()
    }

    /// The tool results the request ends with, in the request's dialect: (the call id
    /// they answer — for Gemini the `functionResponse.id`, else its name —, their
    /// trimmed text).
    pub fn tool_results(&self) -> Vec<(String, String)> {
        let (Some(dialect), Some(body)) = (self.dialect(), self.json()) else {
            return Vec::new();
        };
        read_turn(dialect, &body).tool_results
    }

    /// The text of the last user message, in the request's dialect.
    pub fn last_user_text(&self) -> String {
        let (Some(dialect), Some(body)) = (self.dialect(), self.json()) else {
            return String::new();
        };
        read_turn(dialect, &body).user_text
    }
}

/// A tool call the mock asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuedToolCall {
    pub dialect: Dialect,
    /// The call id the mock gave it (`None` for Gemini, whose calls carry no id).
    pub id: Option<String>,
    pub name: String,
    /// The arguments, as a JSON object (for `local_shell`: its `action`).
    pub input: Value,
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

pub(crate) struct Shared {
    record: bool,
    log: bool,
    requests: Mutex<Vec<RecordedRequest>>,
    issued: Mutex<Vec<IssuedToolCall>>,
}

impl Shared {
    pub(crate) fn issued(&self, call: IssuedToolCall) {
        if self.record {
            self.issued.lock().push(call);
        }
    }
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
            issued: Mutex::new(Vec::new()),
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

    /// The requests asking any dialect for a model answer, oldest first.
    pub fn generation_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(RecordedRequest::is_generation)
            .collect()
    }

    /// The requests of one dialect, oldest first.
    pub fn requests_in(&self, dialect: Dialect) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.dialect() == Some(dialect))
            .collect()
    }

    /// Every tool call the mock asked for, oldest first.
    pub fn issued_tool_calls(&self) -> Vec<IssuedToolCall> {
        self.shared.issued.lock().clone()
    }

    /// Forgets the recorded requests and issued tool calls.
    pub fn clear(&self) {
        self.shared.requests.lock().clear();
        self.shared.issued.lock().clear();
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
            return anthropic::error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                &format!("could not read request body: {err}"),
            )
        }
    };
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    if shared.log {
        log_request(&parts, &body);
    }
    if shared.record {
        shared.requests.lock().push(RecordedRequest {
            method: parts.method.clone(),
            path: path.clone(),
            query: query.clone(),
            headers: parts.headers.clone(),
            body: body.clone(),
        });
    }
    let headers = &parts.headers;
    let method = &parts.method;
    match (method, path.as_str()) {
        (&Method::POST, "/v1/messages") => anthropic::messages(&shared, headers, &body).await,
        (&Method::POST, "/v1/messages/count_tokens") => anthropic::count_tokens(&body),
        (&Method::POST, "/v1/chat/completions") => {
            openai::chat_completions(&shared, headers, &body).await
        }
        (&Method::POST, "/v1/responses") => responses::create(&shared, headers, &body).await,
        (_, "/v1/messages" | "/v1/messages/count_tokens") => anthropic::error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            &format!("Method {method} not allowed for {path}"),
        ),
        (_, "/v1/chat/completions" | "/v1/responses") => openai::error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("Method {method} not allowed for {path}"),
        ),
        _ if path.starts_with("/v1beta/")
            || gemini::parse_path(&path).is_some()
            || (path.starts_with("/v1/models") && gemini::has_key(headers, query.as_deref())) =>
        {
            gemini::handle(&shared, method, &path, query.as_deref(), headers, &body).await
        }
        (&Method::GET, "/v1/models") => json_response(StatusCode::OK, models_list()),
        (&Method::GET, p) if p.starts_with("/v1/models/") => {
            let id = &p["/v1/models/".len()..];
            match model_entry(id) {
                Some(m) => json_response(StatusCode::OK, m),
                None => anthropic::error_response(
                    StatusCode::NOT_FOUND,
                    "not_found_error",
                    &format!("model: {id}"),
                ),
            }
        }
        (_, "/v1/models") => anthropic::error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            &format!("Method {method} not allowed for {path}"),
        ),
        _ => anthropic::error_response(StatusCode::NOT_FOUND, "not_found_error", "Not found"),
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
// Model lists

/// Anthropic's models (id, display name).
pub(crate) const ANTHROPIC_MODELS: &[(&str, &str)] = &[
    ("claude-opus-5-5", "Claude Opus 5.5"),
    ("claude-sonnet-5-5", "Claude Sonnet 5.5"),
    ("claude-haiku-5-5", "Claude Haiku 5.5"),
    ("claude-opus-4-8", "Claude Opus 4.8"),
    ("claude-sonnet-4-6", "Claude Sonnet 4.6"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5"),
];

/// OpenAI's models (id, display name).
pub(crate) const OPENAI_MODELS: &[(&str, &str)] = &[
    ("gpt-5.2", "GPT-5.2"),
    ("gpt-5.2-mini", "GPT-5.2 mini"),
    ("gpt-5.1-codex", "GPT-5.1 Codex"),
    ("gpt-4.1", "GPT-4.1"),
    ("o4-mini", "o4-mini"),
];

/// `GET /v1/models` entry: valid as Anthropic's model object and OpenAI's at once.
fn model_json((id, name): &(&str, &str), owner: &str) -> Value {
    json!({
        "type": "model",
        "id": id,
        "display_name": name,
        "created_at": "2025-01-01T00:00:00Z",
        "object": "model",
        "created": 1_735_689_600,
        "owned_by": owner,
    })
}

fn all_models() -> Vec<Value> {
    ANTHROPIC_MODELS
        .iter()
        .map(|m| model_json(m, "anthropic"))
        .chain(OPENAI_MODELS.iter().map(|m| model_json(m, "openai")))
        .collect()
}

/// `GET /v1/models`: one body that is both Anthropic's list and OpenAI's.
fn models_list() -> Value {
    let data = all_models();
    json!({
        "object": "list",
        "first_id": data.first().map(|m| m["id"].clone()),
        "last_id": data.last().map(|m| m["id"].clone()),
        "data": data,
        "has_more": false,
    })
}

fn model_entry(id: &str) -> Option<Value> {
    all_models().into_iter().find(|m| m["id"] == id)
}

// ---------------------------------------------------------------------------------
// Shared response helpers

/// A fresh id: `prefix` + `01` + 22 random-looking base62 characters.
pub(crate) fn new_id(prefix: &str) -> String {
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

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) fn base_response(
    status: StatusCode,
    content_type: &'static str,
    body: Body,
) -> Response {
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

pub(crate) fn json_response(status: StatusCode, value: Value) -> Response {
    base_response(
        status,
        "application/json",
        Body::from(serde_json::to_vec(&value).unwrap_or_default()),
    )
}

pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// An SSE event with a name: `event: NAME\ndata: JSON\n\n`.
pub(crate) fn sse_event(name: &str, data: &Value) -> Bytes {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Serializing a Value cannot fail.
    let _ = serde_json::to_writer(&mut out, data);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// An unnamed SSE event: `data: JSON` + `eol` twice.
pub(crate) fn sse_data(data: &Value, eol: &str) -> Bytes {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"data: ");
    let _ = serde_json::to_writer(&mut out, data);
    out.extend_from_slice(eol.as_bytes());
    out.extend_from_slice(eol.as_bytes());
    Bytes::from(out)
}

/// The benchmark fast path's stream length for `model`: `None` unless the model is
/// `bench` or `bench-N`; then the `x-mock-chunks` header, else N, else `default`.
pub(crate) fn bench_chunks(model: &str, headers: &HeaderMap, default: usize) -> Option<usize> {
    let from_name = match model.strip_prefix("bench") {
        Some("") => None,
        Some(rest) => Some(rest.strip_prefix('-')?.parse::<usize>().ok()?),
        None => return None,
    };
    Some(
        header_str(headers, "x-mock-chunks")
            .and_then(|v| v.parse::<usize>().ok())
            .or(from_name)
            .unwrap_or(default),
    )
}

/// One step of a streamed body.
pub(crate) enum Step {
    Chunk(Bytes),
    /// A bench `content_block_delta` whose text is stamped with the send time.
    StampedDelta,
    Sleep(Duration),
    /// Abort the connection (no terminating chunk).
    Fail,
}

pub(crate) fn stream_response(steps: VecDeque<Step>, content_type: &'static str) -> Response {
    let stream = futures::stream::unfold(steps, |mut steps| async move {
        loop {
            match steps.pop_front()? {
                Step::Chunk(bytes) => return Some((Ok::<Bytes, std::io::Error>(bytes), steps)),
                Step::StampedDelta => return Some((Ok(anthropic::stamped_delta()), steps)),
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
    let mut response = base_response(StatusCode::OK, content_type, Body::from_stream(stream));
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    response
}

/// What a stream frame is, for the fault modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A content delta (`mock-truncate` cuts the stream after the first).
    Delta,
    /// Anything else.
    Other,
}

/// The steps of a scripted stream: the frames with the `x-mock-chunk-delay-ms` pause
/// between them, each cut in two with `x-mock-split-events`, and the `mock-truncate` /
/// `mock-stall` faults applied.
pub(crate) fn stream_steps(
    frames: Vec<(Bytes, Frame)>,
    headers: &HeaderMap,
    fault: Option<Fault>,
) -> VecDeque<Step> {
    let delay = header_str(headers, "x-mock-chunk-delay-ms")
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_millis(2), Duration::from_millis);
    let split = header_str(headers, "x-mock-split-events").is_some_and(|v| v == "true");
    let mut steps = VecDeque::new();
    for (i, (bytes, kind)) in frames.into_iter().enumerate() {
        if i > 0 && !delay.is_zero() {
            steps.push_back(Step::Sleep(delay));
        }
        if split && bytes.len() > 1 {
            let mid = bytes.len() / 2;
            steps.push_back(Step::Chunk(bytes.slice(..mid)));
            steps.push_back(Step::Chunk(bytes.slice(mid..)));
        } else {
            steps.push_back(Step::Chunk(bytes));
        }
        match fault {
            Some(Fault::Truncate) if kind == Frame::Delta => {
                steps.push_back(Step::Sleep(Duration::from_millis(20)));
                steps.push_back(Step::Fail);
                break;
            }
            Some(Fault::Stall) => {
                steps.push_back(Step::Sleep(Duration::from_secs(60)));
                steps.push_back(Step::Fail);
                break;
            }
            _ => {}
        }
    }
    steps
}

// ---------------------------------------------------------------------------------
// The script, shared by every dialect

/// A fault mode chosen by the model name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// `mock-error-NNN`.
    Error(StatusCode),
    /// `mock-truncate`.
    Truncate,
    /// `mock-stall`.
    Stall,
    /// `mock-slow-first-byte`.
    SlowFirstByte,
    /// `mock-garbage`.
    Garbage,
}

impl Fault {
    pub(crate) fn of(model: &str) -> Option<Fault> {
        if let Some(code) = model.strip_prefix("mock-error-") {
            let status = code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::BAD_REQUEST);
            return Some(Fault::Error(status));
        }
        match model {
            "mock-truncate" => Some(Fault::Truncate),
            "mock-stall" => Some(Fault::Stall),
            "mock-slow-first-byte" => Some(Fault::SlowFirstByte),
            "mock-garbage" => Some(Fault::Garbage),
            _ => None,
        }
    }

    /// The message of a forced error.
    pub(crate) fn error_message(status: StatusCode) -> String {
        format!("mock upstream: forced error {}", status.as_u16())
    }
}

/// How an offered tool is declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToolKind {
    /// A function with a JSON-schema for its arguments (every dialect).
    Function,
    /// The Responses built-in `{"type": "local_shell"}`.
    LocalShell,
}

/// A tool the request offers.
#[derive(Debug, Clone)]
pub(crate) struct OfferedTool {
    pub name: String,
    pub kind: ToolKind,
    /// The arguments' JSON schema (`Null` when none).
    pub parameters: Value,
}

/// What the script reads from a request of any dialect.
#[derive(Debug, Clone, Default)]
pub(crate) struct Turn {
    /// The text of the last user message.
    pub user_text: String,
    /// The tool results the request ends with: (call id, or Gemini function name
    /// when it has no id; text).
    pub tool_results: Vec<(String, String)>,
    pub tools: Vec<OfferedTool>,
    pub thinking: bool,
    /// The schema of the JSON output asked for (`{}` for JSON without a schema).
    pub json_schema: Option<Value>,
}

/// Reads the [`Turn`] of a request body in `dialect`.
pub(crate) fn read_turn(dialect: Dialect, body: &Value) -> Turn {
    match dialect {
        Dialect::Anthropic => anthropic::read_turn(body),
        Dialect::OpenAiChat => openai::read_turn(body),
        Dialect::OpenAiResponses => responses::read_turn(body),
        Dialect::Gemini => gemini::read_turn(body),
    }
}

/// A tool call in the script (the dialect gives it an id).
#[derive(Debug, Clone)]
pub(crate) struct ScriptCall {
    pub name: String,
    pub kind: ToolKind,
    /// The arguments (for `local_shell`, the `action`).
    pub input: Value,
}

/// The scripted answer, before a dialect renders it.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    pub thinking: Option<String>,
    pub text: String,
    pub call: Option<ScriptCall>,
    pub input_tokens: u64,
    /// The `x-mock-usage` header: merged into the reported usage object.
    pub usage_extra: Map<String, Value>,
}

impl Script {
    /// What the mock answers to `turn` (a request body of `body_len` bytes).
    pub(crate) fn for_turn(turn: &Turn, headers: &HeaderMap, body_len: usize) -> Script {
        let reply = header_str(headers, "x-mock-reply")
            .map(str::to_owned)
            .unwrap_or_else(|| DEFAULT_REPLY.to_owned());
        let usage_extra = header_str(headers, "x-mock-usage")
            .and_then(|v| serde_json::from_str::<Map<String, Value>>(v).ok())
            .unwrap_or_default();
        let mut script = Script {
            thinking: None,
            text: reply,
            call: None,
            input_tokens: (body_len as u64 / 4).max(1),
            usage_extra,
        };
        if !turn.tool_results.is_empty() {
            let texts: Vec<&str> = turn.tool_results.iter().map(|(_, t)| t.as_str()).collect();
            script.text = format!("{TOOL_RESULT_PREFIX}{}", texts.join("\n"));
        } else if let Some(call) = turn
            .user_text
            .contains(TOOL_TEST_MARKER)
            .then(|| shell_call(&turn.tools))
            .flatten()
        {
            script.text = TOOL_CALL_TEXT.to_owned();
            script.call = Some(call);
        } else if let Some(schema) = &turn.json_schema {
            script.text = value_for_schema(schema).to_string();
        } else if turn.thinking {
            script.thinking = Some(THINKING_TEXT.to_owned());
        }
        script
    }

    /// Output tokens: the answer's characters / 4, at least 1.
    pub(crate) fn output_tokens(&self) -> u64 {
        let chars = self.thinking.as_ref().map_or(0, String::len)
            + self.text.len()
            + self.call.as_ref().map_or(0, |c| c.input.to_string().len());
        (chars as u64 / 4).max(1)
    }

    /// Reasoning tokens (the thinking's share of the output tokens).
    pub(crate) fn thinking_tokens(&self) -> u64 {
        self.thinking.as_ref().map_or(0, |t| t.len() as u64 / 4)
    }

    /// `usage` with the `x-mock-usage` fields merged in.
    pub(crate) fn merge_usage(&self, mut usage: Value) -> Value {
        if let Value::Object(obj) = &mut usage {
            for (k, v) in &self.usage_extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        usage
    }
}

/// The call of the first shell-like tool offered, running [`TOOL_TEST_COMMAND`].
pub(crate) fn shell_call(tools: &[OfferedTool]) -> Option<ScriptCall> {
    let argv = json!(["bash", "-lc", TOOL_TEST_COMMAND]);
    let known = |name: &str| tools.iter().find(|t| t.name == name);
    let function = |tool: &OfferedTool, input: Value| ScriptCall {
        name: tool.name.clone(),
        kind: ToolKind::Function,
        input,
    };
    if let Some(t) = known("Bash") {
        return Some(function(
            t,
            json!({"command": TOOL_TEST_COMMAND, "description": "Print a marker"}),
        ));
    }
    if let Some(t) = known("run_shell_command") {
        return Some(function(
            t,
            json!({"command": TOOL_TEST_COMMAND, "description": "Print a marker"}),
        ));
    }
    if let Some(t) = known("shell_command") {
        return Some(function(t, json!({"command": TOOL_TEST_COMMAND})));
    }
    if let Some(t) = known("exec_command") {
        return Some(function(t, json!({"cmd": TOOL_TEST_COMMAND})));
    }
    if let Some(t) = tools.iter().find(|t| t.kind == ToolKind::LocalShell) {
        return Some(ScriptCall {
            name: t.name.clone(),
            kind: ToolKind::LocalShell,
            input: json!({"type": "exec", "command": argv, "env": {}, "timeout_ms": null,
                          "user": null, "working_directory": null}),
        });
    }
    // `shell` (Codex: `command` is an argv array) and any function with a `command`
    // parameter, shaped by that parameter's type.
    let candidates = known("shell").into_iter().chain(tools.iter());
    for tool in candidates.filter(|t| t.kind == ToolKind::Function) {
        let props = tool.parameters.get("properties").and_then(Value::as_object);
        // `input`: a free-form (custom) tool offered as a function taking one
        // string, as the gateway offers Codex's custom tools to dialects without them.
        let Some(command) = props.and_then(|p| {
            p.get("command")
                .or_else(|| p.get("cmd"))
                .or_else(|| p.get("input").filter(|_| p.len() == 1))
        }) else {
            continue;
        };
        let key = ["command", "cmd", "input"]
            .into_iter()
            .find(|k| props.is_some_and(|p| p.contains_key(*k)))
            .unwrap_or("command");
        let is_array = command.get("type").and_then(Value::as_str) == Some("array")
            || command
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("array"));
        let value = if is_array {
            argv.clone()
        } else {
            json!(TOOL_TEST_COMMAND)
        };
        let mut input = Map::new();
        input.insert(key.to_owned(), value);
        return Some(function(tool, Value::Object(input)));
    }
    None
}

/// A JSON value that fits `schema` (required properties, first enum value; for a
/// `next_speaker` choice, `user`, so an agent loop stops).
pub(crate) fn value_for_schema(schema: &Value) -> Value {
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if options.iter().any(|o| o == "user") {
            return json!("user");
        }
        return options.first().cloned().unwrap_or(Value::Null);
    }
    if let Some(first) = schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return value_for_schema(first);
    }
    let kind = match schema.get("type") {
        Some(Value::String(t)) => t.to_ascii_lowercase(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null")
            .to_ascii_lowercase(),
        _ if schema.get("properties").is_some() => "object".to_owned(),
        _ => "object".to_owned(),
    };
    match kind.as_str() {
        "string" => json!("mock"),
        "integer" | "number" => json!(0),
        "boolean" => json!(false),
        "array" => json!([]),
        "null" => Value::Null,
        _ => {
            let mut out = Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, sub) in props {
                    out.insert(name.clone(), value_for_schema(sub));
                }
            }
            Value::Object(out)
        }
    }
}

/// Splits text into pieces of `words` words each (leading spaces kept on the pieces).
pub(crate) fn split_words(text: &str, words: usize) -> Vec<String> {
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
pub(crate) fn split_chars(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(n.max(1)).max(1);
    chars
        .chunks(size)
        .map(|c| c.iter().collect::<String>())
        .collect()
}

/// The text of a content value: a string, or the `text` of each part of an array.
pub(crate) fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| match p {
                Value::String(s) => Some(s.as_str()),
                _ => p.get("text").and_then(Value::as_str),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The garbage body of `mock-garbage` when not streaming.
pub(crate) fn garbage_json() -> Response {
    base_response(
        StatusCode::OK,
        "application/json",
        Body::from("<html>this is not json</html>"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_models() {
        let none = HeaderMap::new();
        assert_eq!(bench_chunks("bench", &none, 20), Some(20));
        assert_eq!(bench_chunks("bench-200", &none, 20), Some(200));
        assert_eq!(bench_chunks("bench-x", &none, 20), None);
        assert_eq!(bench_chunks("benchmark", &none, 20), None);
        assert_eq!(bench_chunks("claude", &none, 20), None);
        let mut h = HeaderMap::new();
        h.insert("x-mock-chunks", HeaderValue::from_static("7"));
        assert_eq!(bench_chunks("bench-200", &h, 20), Some(7));
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

    fn tool(name: &str, parameters: Value) -> OfferedTool {
        OfferedTool {
            name: name.to_owned(),
            kind: ToolKind::Function,
            parameters,
        }
    }

    #[test]
    fn shell_call_picks_the_shell_tool() {
        let read = tool(
            "read_file",
            json!({"properties": {"path": {"type": "string"}}}),
        );
        assert!(shell_call(std::slice::from_ref(&read)).is_none());
        let call = shell_call(&[read.clone(), tool("Bash", json!({}))]).expect("Bash");
        assert_eq!(call.input["command"], TOOL_TEST_COMMAND);
        let call = shell_call(&[tool(
            "shell",
            json!({"properties": {"command": {"type": "array"}}}),
        )])
        .expect("shell");
        assert_eq!(call.input["command"][2], TOOL_TEST_COMMAND);
        let call = shell_call(&[tool("exec_command", json!({}))]).expect("exec_command");
        assert_eq!(call.input["cmd"], TOOL_TEST_COMMAND);
        let call = shell_call(&[
            read,
            tool(
                "run",
                json!({"properties": {"command": {"type": "STRING"}}}),
            ),
        ])
        .expect("generic");
        assert_eq!(call.name, "run");
        assert_eq!(call.input["command"], TOOL_TEST_COMMAND);
        let call = shell_call(&[OfferedTool {
            name: "local_shell".to_owned(),
            kind: ToolKind::LocalShell,
            parameters: Value::Null,
        }])
        .expect("local_shell");
        assert_eq!(call.input["type"], "exec");
    }

    #[test]
    fn schema_values_fit() {
        let schema = json!({"type": "object", "properties": {
            "reasoning": {"type": "string"},
            "next_speaker": {"type": "string", "enum": ["user", "model"]},
            "n": {"type": ["integer", "null"]},
        }, "required": ["reasoning", "next_speaker"]});
        assert_eq!(
            value_for_schema(&schema),
            json!({"reasoning": "mock", "next_speaker": "user", "n": 0})
        );
    }
}
