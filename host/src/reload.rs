//! Hot reload: watch the plugin directory and the config file, prepare a new
//! generation off the request path, and swap it in atomically. In-flight
//! requests keep the generation they started with; a bad file or config is
//! reported and the previous generation keeps serving.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};
use parking_lot::Mutex;

use crate::config::Config;
use crate::plugin::PluginEngine;
use crate::runtime::{Runtime, Settings, StatsRegistry};

/// The outcome of the last reloads, for `/admin/reload` and `tollgate plugins`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReloadStatus {
    pub generation: u64,
    pub reloads: u64,
    pub failed_reloads: u64,
    /// Unix ms of the last successful swap.
    pub last_swap_ms: u64,
    /// Why the last attempt failed, if it did (cleared by a success).
    pub last_error: Option<String>,
    /// Plugin files that failed to load in the serving generation.
    pub plugin_errors: Vec<(String, String)>,
}

/// Owns the serving generation.
pub struct Reloader {
    engine: PluginEngine,
    pub settings: Settings,
    current: ArcSwap<Runtime>,
    stats: StatsRegistry,
    generation: AtomicU64,
    status: Mutex<ReloadStatus>,
    serial: Mutex<()>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Reloader {
    /// Build the first generation; fails if it cannot be built.
    pub fn start(engine: PluginEngine, settings: Settings) -> anyhow::Result<Arc<Reloader>> {
        let config = match &settings.config_path {
            Some(p) => Some(Config::load(p)?),
            None => None,
        };
        let stats = StatsRegistry::default();
        let runtime = Runtime::prepare(&engine, &settings, config, None, &stats, 1)?;
        let status = ReloadStatus {
            generation: 1,
            last_swap_ms: now_ms(),
            plugin_errors: runtime.plugins.load_errors(),
            ..Default::default()
        };
        Ok(Arc::new(Reloader {
            engine,
            settings,
            current: ArcSwap::from_pointee(runtime),
            stats,
            generation: AtomicU64::new(1),
            status: Mutex::new(status),
            serial: Mutex::new(()),
        }))
    }

    /// The serving generation. Hold the `Arc` for the whole request.
    pub fn current(&self) -> Arc<Runtime> {
        self.current.load_full()
    }

    pub fn status(&self) -> ReloadStatus {
        self.status.lock().clone()
    }

    /// Prepare a new generation from disk and swap it in. On error the serving
    /// generation is untouched.
    pub fn reload(&self) -> Result<u64, String> {
        let _serial = self.serial.lock();
        let started = std::time::Instant::now();
        let prepared = (|| {
            let config = match &self.settings.config_path {
                Some(p) => Some(Config::load(p)?),
                None => None,
            };
            let previous = self.current.load_full();
            let generation = self.generation.load(Ordering::SeqCst) + 1;
            Runtime::prepare(
                &self.engine,
                &self.settings,
                config,
                Some(&previous),
                &self.stats,
                generation,
            )
        })();
        let mut status = self.status.lock();
        status.reloads += 1;
        match prepared {
            Ok(runtime) => {
                let generation = runtime.generation;
                self.generation.store(generation, Ordering::SeqCst);
                status.plugin_errors = runtime.plugins.load_errors();
                for (name, err) in &status.plugin_errors {
                    tracing::error!(plugin = %name, error = %err, "plugin not loaded; previous version (if any) keeps serving");
                }
                self.current.store(Arc::new(runtime));
                status.generation = generation;
                status.last_swap_ms = now_ms();
                status.last_error = None;
                tracing::info!(
                    generation,
                    ms = started.elapsed().as_millis() as u64,
                    "reloaded"
                );
                Ok(generation)
            }
            Err(e) => {
                let msg = format!("{e:#}");
                tracing::error!(error = %msg, "reload failed; the previous configuration keeps serving");
                status.failed_reloads += 1;
                status.last_error = Some(msg.clone());
                Err(msg)
            }
        }
    }

    /// Watch the plugin directory and the config file; reload after changes
    /// settle for 100 ms. The returned watcher must be kept alive.
    pub fn watch(self: &Arc<Self>) -> anyhow::Result<notify::RecommendedWatcher> {
        let (tx, rx) = mpsc::channel::<()>();
        let config_name = self
            .settings
            .config_path
            .as_ref()
            .and_then(|p| p.file_name().map(|n| n.to_os_string()));
        let plugin_dir = self.settings.plugin_dir.clone();
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                let Ok(event) = res else { return };
                if matches!(event.kind, notify::EventKind::Access(_)) {
                    return;
                }
                let relevant = event.paths.iter().any(|p| {
                    p.parent() == Some(plugin_dir.as_path())
                        && p.extension().is_some_and(|e| e == "wasm")
                        || config_name
                            .as_deref()
                            .is_some_and(|n| p.file_name() == Some(n))
                });
                if relevant {
                    let _ = tx.send(());
                }
            })?;
        std::fs::create_dir_all(&self.settings.plugin_dir)?;
        watcher.watch(&self.settings.plugin_dir, RecursiveMode::NonRecursive)?;
        if let Some(cfg) = &self.settings.config_path {
            let dir = cfg
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
        }
        let me = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("tollgate-reload".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    // Let a burst of events (a copy in progress, an editor's save) settle.
                    while rx.recv_timeout(Duration::from_millis(100)).is_ok() {}
                    let Some(me) = me.upgrade() else { break };
                    let _ = me.reload();
                }
            })?;
        Ok(watcher)
    }
}
