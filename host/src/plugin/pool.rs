//! Reusable plugin instances and the health of each plugin.
//!
//! Instantiating a component costs microseconds to milliseconds; calling into a
//! live instance costs about one. So each plugin keeps a pool of idle instances,
//! each in its own `Store`, instantiated from the `InstancePre` built at load.
//! A call takes an instance, sets its deadline, calls, and gives it back. An
//! instance that trapped can never be entered again: it is dropped and the next
//! call instantiates a fresh one. A plugin that keeps failing is quarantined.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use parking_lot::Mutex;
use wasmtime::Store;

use super::engine::{CallLimits, HostState, PluginEngine};
use super::PluginError;

/// Idle instances kept per plugin beyond which returned ones are dropped.
const MAX_IDLE: usize = 256;

/// A world's generated bindings, instantiable from a pre-linked component.
pub trait World: Sized + Send + Sync + 'static {
    /// The world's `*Pre` type.
    type Pre: Send + Sync + 'static;
    /// Instantiate into `store`.
    fn instantiate<'a>(
        pre: &'a Self::Pre,
        store: &'a mut Store<HostState>,
    ) -> BoxFuture<'a, wasmtime::Result<Self>>;
}

/// When to quarantine a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarantinePolicy {
    /// Consecutive failed calls that quarantine the plugin.
    pub after_failures: u32,
    /// How long a quarantine lasts before one trial call is let through.
    pub cooldown: Duration,
}

impl Default for QuarantinePolicy {
    fn default() -> Self {
        Self {
            after_failures: 5,
            cooldown: Duration::from_secs(30),
        }
    }
}

/// Live health of one loaded plugin; shared by all its instances.
#[derive(Debug, Default)]
pub struct Health {
    calls: AtomicU64,
    failures: AtomicU64,
    consecutive: AtomicU32,
    quarantined_until: Mutex<Option<Instant>>,
    last_error: Mutex<Option<String>>,
}

/// A point-in-time copy of [`Health`] for reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HealthReport {
    pub calls: u64,
    pub failures: u64,
    pub consecutive_failures: u32,
    pub quarantined: bool,
    pub quarantine_remaining_ms: Option<u64>,
    pub last_error: Option<String>,
}

impl Health {
    /// Copy for a report.
    pub fn report(&self) -> HealthReport {
        let remaining = (*self.quarantined_until.lock())
            .and_then(|until| until.checked_duration_since(Instant::now()));
        HealthReport {
            calls: self.calls.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            consecutive_failures: self.consecutive.load(Ordering::Relaxed),
            quarantined: remaining.is_some(),
            quarantine_remaining_ms: remaining
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            last_error: self.last_error.lock().clone(),
        }
    }

    fn check(&self) -> Result<(), PluginError> {
        let mut until = self.quarantined_until.lock();
        match *until {
            Some(t) if Instant::now() < t => Err(PluginError::Quarantined),
            Some(_) => {
                // Cool-down over: let calls through; the next failure re-arms it
                // at once because `consecutive` is still at the threshold.
                *until = None;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Count a good call; returns the failure streak it ended.
    fn success(&self) -> u32 {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.consecutive.load(Ordering::Relaxed) != 0 {
            self.consecutive.swap(0, Ordering::Relaxed)
        } else {
            0
        }
    }

    fn failure(&self, error: &PluginError, policy: QuarantinePolicy, plugin: &str) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.note_failure(error, policy, plugin, None);
    }

    /// Count a failure; `streak` restores a streak that a call which returned
    /// but answered garbage had ended.
    fn note_failure(
        &self,
        error: &PluginError,
        policy: QuarantinePolicy,
        plugin: &str,
        streak: Option<u32>,
    ) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock() = Some(error.to_string());
        let n = match streak {
            Some(prev) => {
                let n = prev + 1;
                self.consecutive.store(n, Ordering::Relaxed);
                n
            }
            None => self.consecutive.fetch_add(1, Ordering::Relaxed) + 1,
        };
        if n >= policy.after_failures {
            let mut until = self.quarantined_until.lock();
            if until.is_none() {
                tracing::error!(plugin, failures = n, cooldown_s = policy.cooldown.as_secs(), last_error = %error, "plugin quarantined");
                *until = Some(Instant::now() + policy.cooldown);
            }
        }
    }
}

/// One instance in its store.
pub struct Slot<W> {
    pub store: Store<HostState>,
    pub bindings: W,
}

/// The instances of one plugin.
pub struct Pool<W: World> {
    name: Arc<str>,
    engine: PluginEngine,
    pre: W::Pre,
    idle: Mutex<Vec<Slot<W>>>,
    limits: CallLimits,
    policy: QuarantinePolicy,
    pub(crate) health: Arc<Health>,
}

impl<W: World> Pool<W> {
    pub fn new(
        name: Arc<str>,
        engine: PluginEngine,
        pre: W::Pre,
        limits: CallLimits,
        policy: QuarantinePolicy,
    ) -> Self {
        Self {
            name,
            engine,
            pre,
            idle: Mutex::new(Vec::new()),
            limits,
            policy,
            health: Arc::new(Health::default()),
        }
    }

    /// Instantiate a fresh slot.
    async fn fresh(&self) -> Result<Slot<W>, PluginError> {
        let mut store = self.engine.new_store(self.limits);
        store.set_epoch_deadline(self.limits.deadline_ticks());
        let instantiated = W::instantiate(&self.pre, &mut store).await;
        let bindings =
            instantiated.map_err(|e| PluginError::from_wasmtime(&e, &store, self.limits))?;
        Ok(Slot { store, bindings })
    }

    /// Take an instance (idle or new) for exclusive use, e.g. for the life of a
    /// stream. It returns to the pool when dropped, unless it failed.
    pub async fn checkout(self: &Arc<Self>) -> Result<Checkout<W>, PluginError> {
        self.health.check()?;
        let idle = self.idle.lock().pop();
        let slot = match idle {
            Some(slot) => slot,
            None => match self.fresh().await {
                Ok(slot) => slot,
                Err(e) => {
                    self.health.failure(&e, self.policy, &self.name);
                    return Err(e);
                }
            },
        };
        Ok(Checkout {
            pool: Arc::clone(self),
            slot: Some(slot),
            streak: 0,
        })
    }

    /// Pre-create instances so the first requests pay no instantiation. Blocks:
    /// for load time, off the request path.
    pub fn warm(self: &Arc<Self>, n: usize) -> Result<(), PluginError> {
        let mut slots = Vec::with_capacity(n);
        for _ in 0..n {
            slots.push(futures::executor::block_on(self.fresh())?);
        }
        self.idle.lock().extend(slots);
        Ok(())
    }

    /// The plugin's name, for logs.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// An instance held for exclusive use.
pub struct Checkout<W: World> {
    pool: Arc<Pool<W>>,
    slot: Option<Slot<W>>,
    /// The failure streak the last successful call ended.
    streak: u32,
}

impl<W: World> Checkout<W> {
    /// Start a call: arm the deadline and lend out the instance. Use through
    /// [`plugin_call!`], which settles the result.
    pub fn begin(&mut self) -> Result<(&W, &mut Store<HostState>), PluginError> {
        let deadline = self.pool.limits.deadline_ticks();
        let Some(slot) = self.slot.as_mut() else {
            return Err(PluginError::Poisoned);
        };
        slot.store.set_epoch_deadline(deadline);
        Ok((&slot.bindings, &mut slot.store))
    }

    /// Finish a call. On failure (trap, timeout, out of memory, or a panic in a
    /// host function the plugin called) the instance is discarded — it may be
    /// in a broken state — and the failure counts towards quarantine.
    pub fn settle<R>(
        &mut self,
        called: std::thread::Result<wasmtime::Result<R>>,
    ) -> Result<R, PluginError> {
        let pool = Arc::clone(&self.pool);
        let err = match called {
            Ok(Ok(r)) => {
                self.streak = pool.health.success();
                return Ok(r);
            }
            Ok(Err(e)) => match self.slot.as_ref() {
                Some(slot) => PluginError::from_wasmtime(&e, &slot.store, pool.limits),
                None => PluginError::Trap(e.to_string()),
            },
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let first: String = what
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect();
                PluginError::Trap(format!("a host call made by the plugin panicked: {first}"))
            }
        };
        pool.health.failure(&err, pool.policy, &pool.name);
        self.slot = None;
        Err(err)
    }

    /// Drop the instance instead of returning it to the pool.
    pub fn discard(&mut self) {
        self.slot = None;
    }

    /// Record a failure the host found in the plugin's output (malformed
    /// output), counting towards quarantine, and discard the instance.
    pub fn reject(&mut self, error: &PluginError) {
        self.pool
            .health
            .note_failure(error, self.pool.policy, &self.pool.name, Some(self.streak));
        self.slot = None;
    }
}

impl<W: World> Drop for Checkout<W> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            let mut idle = self.pool.idle.lock();
            if idle.len() < MAX_IDLE {
                idle.push(slot);
            }
        }
    }
}
