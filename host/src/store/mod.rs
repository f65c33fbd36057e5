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

/// Records waiting for the writer. The request path only pushes under a short
/// lock; the writer drains the buffer every [`WRITE_INTERVAL`] (or when asked to
/// flush), so no request pays a thread wake-up.
#[derive(Default)]
struct Pending {
    records: Vec<RequestRecord>,
    /// Flush requests waiting for the next drain.
    flushes: Vec<mpsc::Sender<()>>,
    closing: bool,
}

/// How often the writer drains the buffer.
const WRITE_INTERVAL: Duration = Duration::from_millis(20);

/// The store handle.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    requests: sled::Tree,
    pending: Arc<(Mutex<Pending>, parking_lot::Condvar)>,
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
        let pending: Arc<(Mutex<Pending>, parking_lot::Condvar)> = Arc::default();
        let tree = requests.clone();
        let shared = Arc::clone(&pending);
        let writer = std::thread::Builder::new()
            .name("tollgate-store".into())
            .spawn(move || write_loop(&tree, &shared))?;
        Ok(Store {
            db,
            requests,
            pending,
            writer: Arc::new(Mutex::new(Some(writer))),
        })
    }

    /// Queue a record for writing; never blocks on I/O.
    pub fn record(&self, rec: RequestRecord) {
        let mut p = self.pending.0.lock();
        if p.closing {
            drop(p);
            // After shutdown began: write directly rather than lose it.
            write_one(&self.requests, &rec);
            return;
        }
        p.records.push(rec);
    }

    /// Wait until every queued record is written and durable.
    pub fn flush(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        {
            let mut p = self.pending.0.lock();
            if p.closing {
                return;
            }
            p.flushes.push(done_tx);
        }
        self.pending.1.notify_one();
        let _ = done_rx.recv_timeout(Duration::from_secs(30));
    }

    /// Stop the writer after it has written everything, and flush to disk.
    pub fn close(&self) {
        self.pending.0.lock().closing = true;
        self.pending.1.notify_one();
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

fn write_one(tree: &sled::Tree, rec: &RequestRecord) {
    match serde_json::to_vec(rec) {
        Ok(v) => {
            if let Err(e) = tree.insert(rec.id.as_bytes(), v) {
                tracing::error!(error = %e, "writing a request record");
            }
        }
        Err(e) => tracing::error!(error = %e, "encoding a request record"),
    }
}

fn write_loop(tree: &sled::Tree, pending: &(Mutex<Pending>, parking_lot::Condvar)) {
    let (lock, wake) = pending;
    loop {
        let (records, flushes, closing) = {
            let mut p = lock.lock();
            if p.records.is_empty() && p.flushes.is_empty() && !p.closing {
                wake.wait_for(&mut p, WRITE_INTERVAL);
            }
            (
                std::mem::take(&mut p.records),
                std::mem::take(&mut p.flushes),
                p.closing,
            )
        };
        if !records.is_empty() {
            let mut batch = sled::Batch::default();
            for rec in &records {
                match serde_json::to_vec(rec) {
                    Ok(v) => batch.insert(rec.id.as_bytes(), v),
                    Err(e) => tracing::error!(error = %e, "encoding a request record"),
                }
            }
            if let Err(e) = tree.apply_batch(batch) {
                tracing::error!(error = %e, records = records.len(), "writing request records");
            }
        }
        if !flushes.is_empty() || closing {
            if let Err(e) = tree.flush() {
                tracing::error!(error = %e, "flushing the store");
            }
            for done in flushes {
                let _ = done.send(());
            }
        }
        if closing && lock.lock().records.is_empty() {
            break;
        }
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
