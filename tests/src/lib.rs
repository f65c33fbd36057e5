//! Shared pieces of the end-to-end tests: the Anthropic mock upstream, the real
//! `tollgate` binary as a child process, the real clients (Python SDK, Claude Code)
//! installed by `scripts/test`, and scratch directories.

pub mod mock;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use mock::{MockUpstream, RecordedRequest};

/// How long the gateway may take to print its listening line.
pub const GATEWAY_START_TIMEOUT: Duration = Duration::from_secs(30);

const SETUP_HINT: &str = "run `scripts/test` (it installs the test clients into target/clients/ \
     and exports TOLLGATE_TEST_PYTHON / TOLLGATE_TEST_CLAUDE)";

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
    // Declared last: removed after the child is gone.
    dir: TempDir,
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
        })
    }

    /// A gateway with the built-in default config whose Anthropic upstream is `mock`.
    pub fn with_upstream(mock: &MockUpstream) -> Gateway {
        GatewayConfig::default().upstream(mock).start()
    }

    pub fn start_with(config: GatewayConfig) -> Gateway {
        let bin = tollgate_bin();
        let dir = TempDir::new("gateway");
        let data_dir = dir.path().join("data");
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
            dir,
        }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The gateway's `--data-dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
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
