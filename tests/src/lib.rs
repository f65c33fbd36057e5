//! Shared pieces of the end-to-end tests: the Anthropic mock upstream, the real
//! `tollgate` binary as a child process, the real clients (Python SDK, Claude Code,
//! Codex, Gemini CLI) installed by `scripts/test`, and scratch directories.

pub mod mock;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use mock::{Dialect, IssuedToolCall, MockUpstream, RecordedRequest};

/// How long the gateway may take to print its listening line.
pub const GATEWAY_START_TIMEOUT: Duration = Duration::from_secs(30);

const SETUP_HINT: &str = "run `scripts/test` (it installs the test clients into target/clients/ \
     and exports TOLLGATE_TEST_PYTHON / TOLLGATE_TEST_CLAUDE / TOLLGATE_TEST_CODEX / \
     TOLLGATE_TEST_GEMINI)";

fn client_from_env(var: &str, what: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            assert!(
                path.exists(),
                "{var}={} does not exist; {SETUP_HINT}",
                path.display()
            );
            path
        }
        _ => panic!("{var} is not set, so the {what} is not available; {SETUP_HINT}"),
    }
}

/// The Python interpreter of the venv holding the official `anthropic` SDK.
pub fn python() -> PathBuf {
    client_from_env("TOLLGATE_TEST_PYTHON", "Python venv with the anthropic SDK")
}

/// The native Claude Code CLI binary.
pub fn claude() -> PathBuf {
    client_from_env("TOLLGATE_TEST_CLAUDE", "Claude Code CLI")
}

/// The native Codex CLI binary (`@openai/codex`'s per-platform package).
pub fn codex() -> PathBuf {
    client_from_env("TOLLGATE_TEST_CODEX", "Codex CLI")
}

/// The Gemini CLI entry script (`@google/gemini-cli`'s `bundle/gemini.js`, run by node).
pub fn gemini() -> PathBuf {
    client_from_env("TOLLGATE_TEST_GEMINI", "Gemini CLI")
}

/// The `tests/clients` directory (scripts the client tests run).
pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// A scratch directory removed on drop (kept when `TOLLGATE_TEST_KEEP=1`).
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh, unique directory under the system temp dir.
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let path = std::env::temp_dir().join(format!(
            "tollgate-{label}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("create temp dir {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("TOLLGATE_TEST_KEEP").is_none_or(|v| v != "1") {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Where the `tollgate` binary is: `$TOLLGATE_BIN`, else next to the test executable
/// (`target/<profile>/deps/<test>` → `target/<profile>/tollgate`).
pub fn tollgate_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("TOLLGATE_BIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current test executable path");
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    let bin = dir.join(format!("tollgate{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "tollgate binary not found at {} (set TOLLGATE_BIN, or build it: \
         `cargo build --release -p tollgate`; {SETUP_HINT})",
        bin.display()
    );
    bin
}

/// How to start a gateway: extra arguments and environment on top of
/// `serve --listen 127.0.0.1:0 --data-dir <tempdir>`.
#[derive(Debug, Default, Clone)]
pub struct GatewayConfig {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// `--data-dir` to use instead of a fresh one (to restart on the same state).
    pub data_dir: Option<PathBuf>,
}

impl GatewayConfig {
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs on this `--data-dir` (kept after the gateway stops) instead of a fresh one.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// `--config <path>`.
    pub fn config(self, path: &Path) -> Self {
        self.arg("--config").arg(path.display().to_string())
    }

    /// `--plugin-dir <path>`.
    pub fn plugin_dir(self, path: &Path) -> Self {
        self.arg("--plugin-dir").arg(path.display().to_string())
    }

    /// Points the built-in default Anthropic passthrough at `mock`.
    pub fn upstream(self, mock: &MockUpstream) -> Self {
        self.env("TOLLGATE_ANTHROPIC_BASE_URL", mock.base_url())
    }

    pub fn start(self) -> Gateway {
        Gateway::start_with(self)
    }
}

/// A running `tollgate serve` child process, killed on drop.
pub struct Gateway {
    child: Child,
    url: String,
    stderr_path: PathBuf,
    data_dir: PathBuf,
    // Declared last: removed after the child is gone.
    _dir: TempDir,
}

impl Gateway {
    /// Starts `tollgate serve` with `args` appended and `env` set.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Gateway {
        Gateway::start_with(GatewayConfig {
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            data_dir: None,
        })
    }

    /// A gateway with the built-in default config whose Anthropic upstream is `mock`.
    pub fn with_upstream(mock: &MockUpstream) -> Gateway {
        GatewayConfig::default().upstream(mock).start()
    }

    pub fn start_with(config: GatewayConfig) -> Gateway {
        let bin = tollgate_bin();
        let dir = TempDir::new("gateway");
        let data_dir = config
            .data_dir
            .clone()
            .unwrap_or_else(|| dir.path().join("data"));
        std::fs::create_dir_all(&data_dir).expect("create gateway data dir");
        let stderr_path = dir.path().join("stderr.log");
        let stderr = File::create(&stderr_path).expect("create gateway stderr log");

        let mut command = Command::new(&bin);
        command
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&data_dir)
            .args(&config.args)
            .env("RUST_BACKTRACE", "1")
            // One compiled-plugin cache for every test gateway: each compiles
            // the built-in plugins once per build, not once per start.
            .env("TOLLGATE_CACHE_DIR", shared_plugin_cache())
            .env("NO_PROXY", "127.0.0.1,localhost,::1")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("ALL_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("all_proxy")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        for (key, value) in &config.env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));

        let stdout = child.stdout.take().expect("gateway stdout is piped");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) > 0 {
                let _ = tx.send(line);
            }
            // Keep draining so the gateway never blocks on a full pipe.
            let mut sink = [0u8; 8192];
            while reader.read(&mut sink).unwrap_or(0) > 0 {}
        });

        let first = rx.recv_timeout(GATEWAY_START_TIMEOUT);
        let line = match first {
            Ok(line) => line,
            Err(_) => {
                let status = child.try_wait().ok().flatten();
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "tollgate did not print its listening line within {:?} (exit status: {:?}).\n\
                     --- stderr ---\n{}",
                    GATEWAY_START_TIMEOUT,
                    status,
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
        };
        let url = line
            .trim()
            .strip_prefix("tollgate listening on ")
            .map(|u| u.trim_end_matches('/').to_owned());
        let Some(url) = url else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "unexpected first stdout line from tollgate: {line:?} \
                 (expected `tollgate listening on http://127.0.0.1:PORT`).\n--- stderr ---\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        };
        Gateway {
            child,
            url,
            stderr_path,
            data_dir,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The gateway's `--data-dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone()
    }

    /// The process id of the gateway.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` if the gateway process has exited.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("poll the gateway process")
    }

    /// Sends SIGTERM (graceful shutdown) and waits up to `timeout` for the process to
    /// exit; returns its exit status.
    pub fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run `kill -TERM`");
        assert!(status.success(), "kill -TERM {pid} failed: {status}");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "tollgate did not exit within {timeout:?} of SIGTERM.\n--- stderr ---\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `GET <path>` on the gateway (an admin endpoint), parsed as JSON; panics unless 2xx.
    pub async fn admin_get(&self, path: &str) -> serde_json::Value {
        let url = format!("{}{path}", self.url);
        let response = http_client()
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "GET {url} → {status}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {text}"))
    }

    /// `GET /admin/plugins`: one object per plugin.
    pub async fn admin_plugins(&self) -> Vec<serde_json::Value> {
        match self.admin_get("/admin/plugins").await {
            serde_json::Value::Array(list) => list,
            other => panic!("/admin/plugins is not a JSON array: {other}"),
        }
    }

    /// The `/admin/plugins` entry named `name`, if any.
    pub async fn admin_plugin(&self, name: &str) -> Option<serde_json::Value> {
        self.admin_plugins()
            .await
            .into_iter()
            .find(|p| p["name"] == name)
    }

    /// `GET /admin/reload`: generation, reloads, failed_reloads, last_error, plugin_errors.
    pub async fn admin_reload(&self) -> serde_json::Value {
        self.admin_get("/admin/reload").await
    }

    /// Everything the gateway wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// `GET /admin/requests?limit=N` once: the request records, newest first.
    pub async fn admin_requests(&self, limit: usize) -> Vec<serde_json::Value> {
        let url = format!("{}/admin/requests?limit={limit}", self.url);
        let response = reqwest::get(&url)
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "GET {url} → {status}: {text}");
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("GET {url}: not a JSON array ({e}): {text}"))
    }

    /// Polls `/admin/requests` until at least `count` records exist (records are
    /// written asynchronously), for up to `timeout`. Returns them newest first.
    pub async fn wait_for_records(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let records = self.admin_requests(count.max(50)).await;
            if records.len() >= count || Instant::now() >= deadline {
                assert!(
                    records.len() >= count,
                    "expected at least {count} request records within {timeout:?}, got {}: {records:#?}\n--- gateway stderr ---\n{}",
                    records.len(),
                    self.stderr()
                );
                return records;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- tollgate stderr ({}) ---\n{}",
                self.stderr_path.display(),
                self.stderr()
            );
        }
    }
}

/// A reqwest client that never uses a proxy.
/// The compiled-plugin cache shared by test gateways (`target/test-plugin-cache`).
pub fn shared_plugin_cache() -> PathBuf {
    tollgate_bin()
        .parent()
        .and_then(Path::parent)
        .map(|target| target.join("test-plugin-cache"))
        .unwrap_or_else(|| std::env::temp_dir().join("tollgate-test-plugin-cache"))
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest client")
}

/// Polls `check` every 50 ms until it returns `Some`, for up to `timeout`; panics with
/// `what` and the last observation otherwise.
pub async fn poll_until<T, O, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    O: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, O>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) => {
                assert!(
                    Instant::now() < deadline,
                    "timed out after {timeout:?} waiting for {what}; last seen: {last:#?}"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The directory the host build puts the test guest components in
/// (`<target>/guests/wasm32-wasip2/release`): under `$CARGO_TARGET_DIR` if set, else the
/// target dir holding the test executable (`<target>/release/deps/<test>`).
pub fn guest_dir() -> PathBuf {
    const SUBDIR: &str = "guests/wasm32-wasip2/release";
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        candidates.push(PathBuf::from(dir).join(SUBDIR));
    }
    if let Ok(exe) = std::env::current_exe() {
        // target/<profile>/deps/<exe> → target
        if let Some(target) = exe.ancestors().nth(3) {
            candidates.push(target.join(SUBDIR));
        }
    }
    candidates.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target")
            .join(SUBDIR),
    );
    candidates
        .iter()
        .find(|d| d.is_dir())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "test guest components not found (looked in {candidates:?}); build the host \
                 (`cargo build --release --workspace --bins`), whose build script builds them"
            )
        })
}

/// A test guest component, e.g. `guest_wasm("guardrail_test")`.
pub fn guest_wasm(name: &str) -> PathBuf {
    let path = guest_dir().join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} not found; build the host (`cargo build --release --workspace --bins`)",
        path.display()
    );
    path
}

/// Environment variables that would send a client anywhere but loopback.
pub const PROXY_VARS: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

/// One server-sent event: its `event:` name and its `data:` parsed as JSON
/// (`Value::String` of the raw data when it is not JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub data: serde_json::Value,
}

/// Parses a whole SSE body (`event: NAME\ndata: JSON\n\n` …), tolerating `\r\n`.
pub fn parse_sse(body: &str) -> Vec<SseEvent> {
    let body = body.replace("\r\n", "\n");
    let mut events = Vec::new();
    for frame in body.split("\n\n") {
        let mut event = String::new();
        let mut data = Vec::new();
        for line in frame.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim_start().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
            }
        }
        if event.is_empty() && data.is_empty() {
            continue;
        }
        let raw = data.join("\n");
        let data = serde_json::from_str(&raw).unwrap_or(serde_json::Value::String(raw));
        events.push(SseEvent { event, data });
    }
    events
}

/// The concatenated `text_delta` text of an Anthropic event stream.
pub fn sse_text(events: &[SseEvent]) -> String {
    events
        .iter()
        .filter(|e| e.event == "content_block_delta")
        .filter_map(|e| e.data.pointer("/delta/text").and_then(|t| t.as_str()))
        .collect()
}

/// Runs a client command to completion with a deadline; on timeout the child is killed
/// and the test fails with what it printed so far.
pub async fn run_client(
    mut command: tokio::process::Command,
    timeout: Duration,
) -> std::process::Output {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let description = format!("{:?}", command.as_std());
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {description}: {e}"));
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(output) => output.unwrap_or_else(|e| panic!("wait for {description}: {e}")),
        Err(_) => panic!("{description} did not finish within {timeout:?}"),
    }
}

/// A client command with a clean environment: only `PATH`, `HOME`, `LANG`, and no proxy.
pub fn client_command(program: &Path, home: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("LANG", "C.UTF-8")
        .env("NO_PROXY", "127.0.0.1,localhost,::1")
        .current_dir(home);
    command
}

/// Formats a finished client's output for a failure message.
pub fn describe_output(output: &std::process::Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// SHA-256 of `bytes`, lowercase hex (what `/admin/plugins` reports as `hash`).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A response read off a raw socket.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked when `transfer-encoding: chunked`.
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `request` (a complete HTTP/1.1 request, which should say `Connection: close`)
/// over a fresh TCP connection to `url`'s host and reads the response until the server
/// closes. For requests no HTTP client library would send as they are.
pub async fn raw_http(url: &str, request: &[u8]) -> RawResponse {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream.write_all(request).await.expect("write raw request");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .expect("raw response within 30 s")
        .expect("read raw response");
    parse_raw_response(&raw)
}

fn parse_raw_response(raw: &[u8]) -> RawResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let size_text = String::from_utf8_lossy(&rest[..eol]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .unwrap_or_else(|e| panic!("bad chunk size {size_text:?}: {e}"));
            rest = &rest[eol + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[..size.min(rest.len())]);
            rest = &rest[(size + 2).min(rest.len())..];
        }
        body = out;
    }
    RawResponse {
        status,
        headers,
        body,
    }
}

/// An Anthropic-shaped error answer: `{"type":"error","error":{"type":..,"message":..}}`.
#[derive(Debug, Clone)]
pub struct AnthropicError {
    pub status: u16,
    /// `error.type`, e.g. `invalid_request_error`.
    pub kind: String,
    pub message: String,
    pub body: serde_json::Value,
}

/// Reads `response` and asserts it is an error in Anthropic's shape (JSON content type,
/// `type: error`, a string `error.type` and a non-empty `error.message`).
pub async fn anthropic_error(response: reqwest::Response) -> AnthropicError {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("error body");
    assert!(
        !(200..300).contains(&status),
        "expected an error status, got {status}: {text}"
    );
    assert!(
        content_type.starts_with("application/json"),
        "error content-type {content_type:?} (status {status}): {text}"
    );
    let body: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("error body is not JSON ({e}), status {status}: {text}"));
    assert_eq!(body["type"], "error", "status {status}: {body}");
    let kind = body["error"]["type"]
        .as_str()
        .unwrap_or_else(|| panic!("error.type missing, status {status}: {body}"))
        .to_owned();
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("error.message missing, status {status}: {body}"))
        .to_owned();
    assert!(!message.is_empty(), "empty error message: {body}");
    AnthropicError {
        status,
        kind,
        message,
        body,
    }
}

/// A minimal valid Messages request body.
pub fn chat_body(model: &str, text: &str, stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": model,
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    })
}

/// Checks a successful Messages answer: 200, and either a JSON message with the mock's
/// text or a complete event stream (`message_start` … `message_stop`, no `error` event)
/// with it. Returns why not, on failure.
pub async fn check_complete_answer(
    response: reqwest::Result<reqwest::Response>,
    stream: bool,
) -> Result<(), String> {
    let response = response.map_err(|e| format!("request failed: {e:?}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| format!("{status}: reading the body failed: {e:?}"))?;
    if status != 200 {
        return Err(format!("status {status}: {text}"));
    }
    if stream {
        let events = parse_sse(&text);
        let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
        if names.first() != Some(&"message_start")
            || names.last() != Some(&"message_stop")
            || names.contains(&"error")
        {
            return Err(format!("incomplete stream {names:?}: {text}"));
        }
        let got = sse_text(&events);
        if got != mock::DEFAULT_REPLY {
            return Err(format!("stream text {got:?}: {text}"));
        }
    } else {
        let message: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text}"))?;
        if message["content"][0]["text"] != mock::DEFAULT_REPLY {
            return Err(format!("unexpected message: {text}"));
        }
    }
    Ok(())
}

/// Background clients sending Messages requests in a loop until stopped, each checking
/// that every answer is complete (see [`check_complete_answer`]).
pub struct Traffic {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<(u64, Vec<String>)>>,
}

/// What the clients of a [`Traffic`] saw.
#[derive(Debug)]
pub struct TrafficReport {
    pub ok: u64,
    /// Fewest good answers any one client got.
    pub min_per_client: u64,
    pub failures: Vec<String>,
}

impl Traffic {
    /// `clients` concurrent loops POSTing to `url` (a `/v1/messages` URL); with `mix`,
    /// every other request streams. `headers` go on every request.
    pub fn start(url: &str, clients: usize, mix: bool, headers: &[(&str, &str)]) -> Traffic {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(clients)
            .build()
            .expect("reqwest client");
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let tasks = (0..clients)
            .map(|i| {
                let stop = stop.clone();
                let http = http.clone();
                let url = url.to_owned();
                let headers = headers.clone();
                tokio::spawn(async move {
                    let mut ok = 0u64;
                    let mut failures = Vec::new();
                    let mut n = i;
                    while !stop.load(Ordering::Relaxed) {
                        let stream = mix && n % 2 == 0;
                        n += 1;
                        let mut request = http
                            .post(&url)
                            .header("x-api-key", "sk-ant-test")
                            .header("anthropic-version", "2023-06-01")
                            .json(&chat_body("claude-sonnet-5-5", "hello", stream));
                        for (k, v) in &headers {
                            request = request.header(k, v);
                        }
                        match check_complete_answer(request.send().await, stream).await {
                            Ok(()) => ok += 1,
                            Err(e) => failures.push(format!("client {i} (stream={stream}): {e}")),
                        }
                    }
                    (ok, failures)
                })
            })
            .collect();
        Traffic { stop, tasks }
    }

    /// Stops the clients (each finishes its request in flight) and reports.
    pub async fn stop(self) -> TrafficReport {
        self.stop.store(true, Ordering::Relaxed);
        let mut report = TrafficReport {
            ok: 0,
            min_per_client: u64::MAX,
            failures: Vec::new(),
        };
        for task in self.tasks {
            let (ok, failures) = task.await.expect("traffic client task");
            report.ok += ok;
            report.min_per_client = report.min_per_client.min(ok);
            report.failures.extend(failures);
        }
        report
    }
}

/// A gateway config translating between dialects: one endpoint per front door (named
/// after it), each with the single target `mock` of `provider` at `base_url`, whose
/// credential is `api_key`, and the model mappings `(client model, upstream model)`
/// (`"client" = "mock/upstream"`). Models not mapped reach the upstream unchanged.
pub fn translated_config(
    front_doors: &[&str],
    provider: &str,
    base_url: &str,
    api_key: &str,
    models: &[(&str, &str)],
) -> String {
    let mut toml = String::new();
    for door in front_doors {
        toml.push_str(&format!(
            "[[endpoints]]\nname = \"{door}\"\nfront_door = \"{door}\"\n"
        ));
        if !models.is_empty() {
            toml.push_str("[endpoints.models]\n");
            for (client, upstream) in models {
                toml.push_str(&format!("\"{client}\" = \"mock/{upstream}\"\n"));
            }
        }
        toml.push_str(&format!(
            "[[endpoints.targets]]\nname = \"mock\"\nprovider = \"{provider}\"\n\
             base_url = \"{base_url}\"\napi_key = \"{api_key}\"\n\n"
        ));
    }
    toml
}

/// Runs `tests/clients/<script>` with the test venv's Python, `GATEWAY_URL=base_url`
/// and `env`, in a scratch home, with a deadline.
pub async fn run_python_check(
    script: &str,
    base_url: &str,
    env: &[(&str, &str)],
    timeout: Duration,
) -> std::process::Output {
    let home = TempDir::new("python-home");
    let mut command = client_command(&python(), home.path());
    command
        .arg(clients_dir().join(script))
        .env("GATEWAY_URL", base_url)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONWARNINGS", "ignore");
    for (k, v) in env {
        command.env(k, v);
    }
    run_client(command, timeout).await
}

/// The last line of a client's stdout that parses as a JSON object (a check script's
/// summary), or `Null`.
pub fn last_json_line(output: &std::process::Output) -> serde_json::Value {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or(serde_json::Value::Null)
}
