//! The one wasmtime `Engine` of the process, the per-store host state that gives
//! plugins nothing (no files, network, environment or clock), and the epoch ticker
//! that enforces call deadlines.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// How often the epoch advances. A call's deadline is rounded up to whole ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// How many bytes of a plugin's stderr are kept to explain a trap.
const STDERR_CAPTURE: usize = 4096;

/// Limits applied to every plugin call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// Wall-clock deadline for one call.
    pub timeout: Duration,
    /// Maximum linear memory of one instance, in bytes.
    pub memory_bytes: usize,
}

impl Default for CallLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(250),
            memory_bytes: 64 << 20,
        }
    }
}

impl CallLimits {
    /// The deadline in epoch ticks (at least one full tick after now).
    pub fn deadline_ticks(&self) -> u64 {
        let ticks = self.timeout.as_micros().div_ceil(EPOCH_TICK.as_micros());
        u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1)
    }
}

/// State of one plugin store: an empty WASI context and the store's limits.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: wasmtime::StoreLimits,
    stderr: MemoryOutputPipe,
}

impl HostState {
    /// The tail of what the plugin wrote to stderr (a Rust panic message, say).
    pub fn stderr_tail(&self) -> String {
        let bytes = self.stderr.contents();
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim();
        let start = text.len().saturating_sub(600);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(text.len());
        text[start..].to_string()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A clock stopped at the epoch: plugins get time only as arguments.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// The process-wide plugin engine.
#[derive(Clone)]
pub struct PluginEngine {
    pub(crate) engine: Engine,
    pub(crate) linker: Arc<Linker<HostState>>,
}

impl PluginEngine {
    /// Build the engine: component model, epoch interruption, pooling allocator,
    /// and the compiled-code cache in `cache_dir` (keyed by content hash and engine
    /// settings, so a changed wasmtime or config never loads a stale artifact).
    pub fn new(cache_dir: Option<&Path>, limits: CallLimits) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.parallel_compilation(true);
        // `TOLLGATE_PERF_MAP=1` names the plugins' compiled functions for `perf`
        // (writes /tmp/perf-<pid>.map); for profiling only.
        if std::env::var_os("TOLLGATE_PERF_MAP").is_some_and(|v| !v.is_empty() && v != "0") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if let Some(dir) = cache_dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating plugin cache {}", dir.display()))?;
            let mut cache_config = wasmtime::CacheConfig::new();
            cache_config.with_directory(dir);
            match wasmtime::Cache::new(cache_config) {
                Ok(cache) => {
                    config.cache(Some(cache));
                }
                Err(e) => tracing::warn!(error = %e, "plugin compile cache disabled"),
            }
        }
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(1000)
            .total_stacks(1000)
            .total_core_instances(2000)
            .total_memories(2000)
            .total_tables(2000)
            .max_memory_size(limits.memory_bytes)
            .max_component_instance_size(1 << 20)
            .max_core_instance_size(1 << 20)
            .max_tables_per_component(64)
            .max_memories_per_component(8)
            .table_elements(100_000);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool.clone()));
        let engine = match Engine::new(&config) {
            Ok(engine) => engine,
            Err(e) => {
                // Some sandboxes refuse the address-space reservation the pool
                // needs; serve with on-demand allocation rather than not at all.
                tracing::warn!(error = %e, "pooling allocator unavailable, using on-demand allocation");
                config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
                Engine::new(&config).map_err(|e| anyhow::anyhow!("creating wasm engine: {e}"))?
            }
        };
        let mut linker = Linker::new(&engine);
        // Calls run on fibers (async exports): a plugin's WASI calls (a panic
        // message written to stderr, a debug print) then never block or panic a
        // tokio worker thread.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("linking WASI: {e}"))?;
        start_epoch_ticker(&engine);
        Ok(Self {
            engine,
            linker: Arc::new(linker),
        })
    }

    /// The wasmtime engine (for tools and benchmarks that compile components).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker with WASI (granting nothing) already added.
    pub fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }

    /// A fresh store with the given limits and a sandbox that grants nothing.
    pub fn new_store(&self, limits: CallLimits) -> Store<HostState> {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
        let mut wasi = WasiCtx::builder();
        wasi.stderr(stderr.clone())
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let state = HostState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limits: wasmtime::StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .instances(64)
                .tables(64)
                .memories(16)
                .trap_on_grow_failure(true)
                .build(),
            stderr,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(u64::MAX / 2);
        store
    }
}

/// Advance the engine's epoch every [`EPOCH_TICK`] on a background thread for the
/// life of the process. Holds only a weak handle, so it stops with the engine.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("tollgate-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the epoch ticker: plugin deadlines are not enforced");
    }
}
