//! The embedded store (sled): one record per request, written off the request
//! path by a writer thread and flushed on shutdown so nothing recorded is lost.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// What the gateway remembers about one request.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RequestRecord {
    /// Time-ordered id: `<unix-ns hex>-<counter hex>`.
    pub id: String,
    /// Unix time the request arrived, ms.
    pub ts_ms: u64,
    pub endpoint: String,
    /// Front-door provider id (the client's dialect).
    pub front_door: String,
    /// `chat`, `count-tokens` or `list-models`.
    pub operation: String,
    pub path: String,
    /// Model the client asked for.
    pub model: String,
    /// Target that answered (or last tried).
    pub target: Option<String>,
    pub provider: Option<String>,
    /// Model sent upstream.
    pub upstream_model: Option<String>,
    /// Status returned to the client.
    pub status: u16,
    pub stream: bool,
    /// Targets tried.
    pub attempts: u32,
    /// Total time until the last byte went to the client, ms.
    pub latency_ms: f64,
    /// Time until the first response byte went to the client, ms.
    pub ttfb_ms: Option<f64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_read_tokens: Option<u64>,
    pub cache_write_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
    /// Price from the cost model; `None` when unknown.
    pub cost_usd: Option<f64>,
    pub stop_reason: Option<String>,
    pub request_bytes: u64,
    pub response_bytes: u64,
    /// Guardrail outcome, e.g. `blocked:policy:test by guardrail-test`.
    pub guardrail: Option<String>,
    pub error: Option<String>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new time-ordered record id, and the time it stands for in ms.
pub fn new_id() -> (String, u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff;
    (
        format!("{:016x}-{n:08x}", now.as_nanos() as u64),
        now.as_millis() as u64,
    )
}

enum Msg {
    Record(Box<RequestRecord>),
    Flush(mpsc::Sender<()>),
}

/// The store handle.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    requests: sled::Tree,
    tx: Arc<Mutex<Option<mpsc::Sender<Msg>>>>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Store {
    /// Open (or create) the store in `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<Store> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating data dir {}", dir.display()))?;
        let db = sled::Config::new()
            .path(dir.join("db"))
            .flush_every_ms(Some(500))
            .open()
            .with_context(|| {
                format!(
                    "opening the store in {} (is another tollgate using it?)",
                    dir.display()
                )
            })?;
        let requests = db.open_tree("requests")?;
        let (tx, rx) = mpsc::channel::<Msg>();
        let tree = requests.clone();
        let writer = std::thread::Builder::new()
            .name("tollgate-store".into())
            .spawn(move || write_loop(&tree, &rx))?;
        Ok(Store {
            db,
            requests,
            tx: Arc::new(Mutex::new(Some(tx))),
            writer: Arc::new(Mutex::new(Some(writer))),
        })
    }

    /// Queue a record for writing; never blocks the caller.
    pub fn record(&self, rec: RequestRecord) {
        if let Some(tx) = self.tx.lock().as_ref() {
            if tx.send(Msg::Record(Box::new(rec))).is_err() {
                tracing::error!("store writer is gone; request record lost");
            }
        }
    }

    /// Wait until every queued record is written and durable.
    pub fn flush(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        let sent = self
            .tx
            .lock()
            .as_ref()
            .map(|tx| tx.send(Msg::Flush(done_tx)).is_ok());
        if sent == Some(true) {
            let _ = done_rx.recv_timeout(Duration::from_secs(30));
        }
    }

    /// Stop the writer after it has written everything, and flush to disk.
    pub fn close(&self) {
        drop(self.tx.lock().take());
        if let Some(handle) = self.writer.lock().take() {
            let _ = handle.join();
        }
        if let Err(e) = self.db.flush() {
            tracing::error!(error = %e, "flushing the store");
        }
    }

    /// The newest `limit` records, newest first.
    pub fn recent(&self, limit: usize) -> Vec<RequestRecord> {
        self.requests
            .iter()
            .rev()
            .filter_map(|kv| kv.ok())
            .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
            .take(limit)
            .collect()
    }

    /// How many records the store holds.
    pub fn count(&self) -> usize {
        self.requests.len()
    }
}

fn write_loop(tree: &sled::Tree, rx: &mpsc::Receiver<Msg>) {
    let write = |rec: &RequestRecord| match serde_json::to_vec(rec) {
        Ok(v) => {
            if let Err(e) = tree.insert(rec.id.as_bytes(), v) {
                tracing::error!(error = %e, "writing a request record");
            }
        }
        Err(e) => tracing::error!(error = %e, "encoding a request record"),
    };
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Record(rec) => write(&rec),
            Msg::Flush(done) => {
                if let Err(e) = tree.flush() {
                    tracing::error!(error = %e, "flushing the store");
                }
                let _ = done.send(());
            }
        }
    }
    if let Err(e) = tree.flush() {
        tracing::error!(error = %e, "flushing the store");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_close_and_reopen() {
        let dir = std::env::temp_dir().join(format!("tollgate-store-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        for i in 0..100 {
            let (id, ts) = new_id();
            store.record(RequestRecord {
                id,
                ts_ms: ts,
                model: format!("m{i}"),
                status: 200,
                ..Default::default()
            });
        }
        store.close();
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.count(), 100);
        assert_eq!(store.recent(1)[0].model, "m99");
        store.close();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
