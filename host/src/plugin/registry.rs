//! Loading plugins: the built-in first-party components and every `.wasm` in the
//! plugin directory. Each is compiled once (through the on-disk cache), checked
//! (instantiated and described), and kept with its health. A reload reuses what
//! did not change and keeps the previous version of anything that fails to load.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::executor::block_on;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use super::bindings;
use super::pool::{Health, HealthReport, Pool};
use super::{
    CallLimits, ConfiguredCostModel, ConfiguredGuardrail, ConfiguredRouter, CostModelPlugin,
    GuardrailPlugin, PluginEngine, PluginKind, ProviderPlugin, QuarantinePolicy, RouterPlugin,
    Stage,
};

mod builtin {
    //! First-party plugins compiled from `plugins/` by the build script.
    include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));
}

/// The first-party plugins embedded in the binary: (name, component bytes).
pub fn builtin_plugins() -> &'static [(&'static str, &'static [u8])] {
    builtin::BUILTIN_PLUGINS
}

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "type", content = "path")]
pub enum Source {
    /// Embedded in the `tollgate` binary.
    Builtin,
    /// A `.wasm` file in the plugin directory.
    File(PathBuf),
}

/// A report line for `tollgate plugins` and `GET /admin/plugins`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub kind: Option<PluginKind>,
    pub id: Option<String>,
    pub version: Option<String>,
    /// SHA-256 of the component bytes.
    pub hash: String,
    pub size: usize,
    pub source: Source,
    /// `ok`, `quarantined`, or `failed` (did not load; `last_error` says why).
    pub status: String,
    pub last_error: Option<String>,
    /// When a newer file failed to load, the previous version keeps serving.
    pub serving_previous: bool,
    pub health: Option<HealthReport>,
}

/// A compiled, checked component.
#[derive(Clone)]
struct Entry {
    name: Arc<str>,
    kind: PluginKind,
    id: String,
    version: String,
    hash: String,
    size: usize,
    source: Source,
    loaded: Loaded,
}

#[derive(Clone)]
enum Loaded {
    Provider(Arc<ProviderPlugin>),
    Guardrail {
        pre: bindings::guardrail::GuardrailPre<super::HostState>,
        stages: Vec<Stage>,
    },
    Router(bindings::router::RouterPre<super::HostState>),
    CostModel(bindings::cost_model::CostModelPre<super::HostState>),
}

#[derive(Clone)]
struct Failure {
    name: String,
    hash: String,
    size: usize,
    source: Source,
    error: String,
}

/// Configured instances of a guardrail, router or cost model, keyed by
/// (name, hash, config) so a reload with the same plugin and config keeps them.
#[derive(Clone)]
enum Configured {
    Guardrail(Arc<GuardrailPlugin>),
    Router(Arc<RouterPlugin>),
    CostModel(Arc<CostModelPlugin>),
}

/// Every loaded plugin of one generation.
pub struct PluginSet {
    engine: PluginEngine,
    limits: CallLimits,
    policy: QuarantinePolicy,
    entries: BTreeMap<String, Entry>,
    failures: Vec<Failure>,
    configured: Mutex<HashMap<(String, String, String), Configured>>,
}

fn hash_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl PluginSet {
    /// Load the built-in plugins and every `*.wasm` in `dir` (a file overrides the
    /// built-in of the same name). Reuses unchanged plugins of `previous` and keeps
    /// the previous version of any plugin whose new file fails to load.
    pub fn load(
        engine: &PluginEngine,
        limits: CallLimits,
        policy: QuarantinePolicy,
        dir: Option<&Path>,
        previous: Option<&PluginSet>,
    ) -> PluginSet {
        let mut sources: BTreeMap<String, (Source, Vec<u8>)> = BTreeMap::new();
        let mut failures = Vec::new();
        for (name, bytes) in builtin_plugins() {
            sources.insert((*name).to_string(), (Source::Builtin, bytes.to_vec()));
        }
        if let Some(dir) = dir {
            match std::fs::read_dir(dir) {
                Ok(rd) => {
                    let mut paths: Vec<PathBuf> = rd
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|x| x == "wasm") && p.is_file())
                        .collect();
                    paths.sort();
                    for path in paths {
                        let Some(name) = path
                            .file_stem()
                            .and_then(|s| s.to_str())
                            .map(str::to_string)
                        else {
                            continue;
                        };
                        match std::fs::read(&path) {
                            Ok(bytes) => {
                                sources.insert(name, (Source::File(path), bytes));
                            }
                            Err(e) => failures.push(Failure {
                                name,
                                hash: String::new(),
                                size: 0,
                                source: Source::File(path),
                                error: format!("reading file: {e}"),
                            }),
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot read plugin directory")
                }
            }
        }

        let mut entries = BTreeMap::new();
        for (name, (source, bytes)) in sources {
            let hash = hash_hex(&bytes);
            if let Some(prev) = previous.and_then(|p| p.entries.get(&name)) {
                if prev.hash == hash {
                    let mut e = prev.clone();
                    e.source = source;
                    entries.insert(name, e);
                    continue;
                }
            }
            let started = std::time::Instant::now();
            match load_entry(engine, limits, policy, &name, &bytes) {
                Ok(loaded) => {
                    tracing::info!(plugin = %name, kind = %loaded.0, id = %loaded.1, hash = &hash[..12], ms = started.elapsed().as_millis() as u64, "plugin loaded");
                    let (kind, id, version, loaded) = loaded;
                    entries.insert(
                        name.clone(),
                        Entry {
                            name: name.as_str().into(),
                            kind,
                            id,
                            version,
                            hash,
                            size: bytes.len(),
                            source,
                            loaded,
                        },
                    );
                }
                Err(error) => {
                    tracing::error!(plugin = %name, error = %error, "plugin failed to load");
                    failures.push(Failure {
                        name: name.clone(),
                        hash,
                        size: bytes.len(),
                        source,
                        error: error.to_string(),
                    });
                    if let Some(prev) = previous.and_then(|p| p.entries.get(&name)) {
                        entries.insert(name, prev.clone());
                    }
                }
            }
        }

        // Configured instances carry over when their plugin did not change.
        let configured = previous
            .map(|p| {
                p.configured
                    .lock()
                    .iter()
                    .filter(|((name, hash, _), _)| {
                        entries.get(name).is_some_and(|e| &e.hash == hash)
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();

        PluginSet {
            engine: engine.clone(),
            limits,
            policy,
            entries,
            failures,
            configured: Mutex::new(configured),
        }
    }

    /// The provider plugin with this plugin name or provider id.
    pub fn provider(&self, name_or_id: &str) -> Option<Arc<ProviderPlugin>> {
        let by_name = self.entries.get(name_or_id);
        let entry = by_name.or_else(|| {
            self.entries
                .values()
                .find(|e| e.kind == PluginKind::Provider && e.id == name_or_id)
        })?;
        match &entry.loaded {
            Loaded::Provider(p) => Some(Arc::clone(p)),
            _ => None,
        }
    }

    /// Every provider plugin.
    pub fn providers(&self) -> Vec<Arc<ProviderPlugin>> {
        self.entries
            .values()
            .filter_map(|e| match &e.loaded {
                Loaded::Provider(p) => Some(Arc::clone(p)),
                _ => None,
            })
            .collect()
    }

    fn find(&self, name_or_id: &str, kind: PluginKind) -> anyhow::Result<&Entry> {
        let entry = self
            .entries
            .get(name_or_id)
            .filter(|e| e.kind == kind)
            .or_else(|| {
                self.entries
                    .values()
                    .find(|e| e.kind == kind && e.id == name_or_id)
            });
        match entry {
            Some(e) => Ok(e),
            None => {
                let known: Vec<&str> = self
                    .entries
                    .values()
                    .filter(|e| e.kind == kind)
                    .map(|e| &*e.name)
                    .collect();
                anyhow::bail!(
                    "no {kind} plugin named `{name_or_id}` (loaded {kind} plugins: {})",
                    known.join(", ")
                )
            }
        }
    }

    fn configured(
        &self,
        entry: &Entry,
        config: &serde_json::Value,
        make: impl FnOnce(String) -> anyhow::Result<Configured>,
    ) -> anyhow::Result<Configured> {
        let config = config.to_string();
        let key = (entry.name.to_string(), entry.hash.clone(), config.clone());
        if let Some(c) = self.configured.lock().get(&key) {
            return Ok(c.clone());
        }
        let made = make(config)?;
        self.configured.lock().insert(key, made.clone());
        Ok(made)
    }

    /// A guardrail configured with `config` (checked by instantiating it now).
    pub fn guardrail(
        &self,
        name: &str,
        config: &serde_json::Value,
    ) -> anyhow::Result<Arc<GuardrailPlugin>> {
        let entry = self.find(name, PluginKind::Guardrail)?;
        let Loaded::Guardrail { pre, stages } = &entry.loaded else {
            anyhow::bail!("`{name}` is not a guardrail");
        };
        let made = self.configured(entry, config, |cfg| {
            let pool = Arc::new(Pool::<ConfiguredGuardrail>::new(
                entry.name.clone(),
                self.engine.clone(),
                (pre.clone(), cfg),
                self.limits,
                self.policy,
            ));
            pool.warm(1)
                .map_err(|e| anyhow::anyhow!("guardrail `{name}`: {e}"))?;
            Ok(Configured::Guardrail(Arc::new(GuardrailPlugin {
                name: entry.name.clone(),
                id: entry.id.clone(),
                stages: stages.clone(),
                pool,
            })))
        })?;
        match made {
            Configured::Guardrail(g) => Ok(g),
            _ => anyhow::bail!("`{name}` is not a guardrail"),
        }
    }

    /// A router configured with `config`.
    pub fn router(
        &self,
        name: &str,
        config: &serde_json::Value,
    ) -> anyhow::Result<Arc<RouterPlugin>> {
        let entry = self.find(name, PluginKind::Router)?;
        let Loaded::Router(pre) = &entry.loaded else {
            anyhow::bail!("`{name}` is not a router");
        };
        let made = self.configured(entry, config, |cfg| {
            let pool = Arc::new(Pool::<ConfiguredRouter>::new(
                entry.name.clone(),
                self.engine.clone(),
                (pre.clone(), cfg),
                self.limits,
                self.policy,
            ));
            pool.warm(1)
                .map_err(|e| anyhow::anyhow!("router `{name}`: {e}"))?;
            Ok(Configured::Router(Arc::new(RouterPlugin {
                name: entry.name.clone(),
                pool,
            })))
        })?;
        match made {
            Configured::Router(r) => Ok(r),
            _ => anyhow::bail!("`{name}` is not a router"),
        }
    }

    /// A cost model configured with `config`.
    pub fn cost_model(
        &self,
        name: &str,
        config: &serde_json::Value,
    ) -> anyhow::Result<Arc<CostModelPlugin>> {
        let entry = self.find(name, PluginKind::CostModel)?;
        let Loaded::CostModel(pre) = &entry.loaded else {
            anyhow::bail!("`{name}` is not a cost model");
        };
        let made = self.configured(entry, config, |cfg| {
            let pool = Arc::new(Pool::<ConfiguredCostModel>::new(
                entry.name.clone(),
                self.engine.clone(),
                (pre.clone(), cfg),
                self.limits,
                self.policy,
            ));
            pool.warm(1)
                .map_err(|e| anyhow::anyhow!("cost model `{name}`: {e}"))?;
            Ok(Configured::CostModel(Arc::new(CostModelPlugin {
                name: entry.name.clone(),
                pool,
            })))
        })?;
        match made {
            Configured::CostModel(c) => Ok(c),
            _ => anyhow::bail!("`{name}` is not a cost model"),
        }
    }

    /// Report every plugin: loaded ones with their health, and failed loads.
    pub fn report(&self) -> Vec<PluginInfo> {
        let mut out = Vec::new();
        let configured = self.configured.lock();
        for e in self.entries.values() {
            // Health of configured kinds lives on their configured pools; report
            // the worst of them (a guardrail used by two endpoints has two pools).
            let healths: Vec<Arc<Health>> = match &e.loaded {
                Loaded::Provider(p) => vec![Arc::clone(&p.pool.health)],
                _ => configured
                    .iter()
                    .filter(|((n, h, _), _)| *n == *e.name && *h == e.hash)
                    .map(|(_, c)| match c {
                        Configured::Guardrail(g) => Arc::clone(&g.pool.health),
                        Configured::Router(r) => Arc::clone(&r.pool.health),
                        Configured::CostModel(c) => Arc::clone(&c.pool.health),
                    })
                    .collect(),
            };
            let health = merge_health(healths.iter().map(|h| h.report()));
            let failure = self.failures.iter().find(|f| f.name == *e.name);
            let quarantined = health.as_ref().is_some_and(|h| h.quarantined);
            out.push(PluginInfo {
                name: e.name.to_string(),
                kind: Some(e.kind),
                id: Some(e.id.clone()),
                version: Some(e.version.clone()),
                hash: e.hash.clone(),
                size: e.size,
                source: e.source.clone(),
                status: if quarantined { "quarantined" } else { "ok" }.to_string(),
                last_error: failure
                    .map(|f| f.error.clone())
                    .or_else(|| health.as_ref().and_then(|h| h.last_error.clone())),
                serving_previous: failure.is_some(),
                health,
            });
        }
        for f in &self.failures {
            if self.entries.contains_key(&f.name) {
                continue;
            }
            out.push(PluginInfo {
                name: f.name.clone(),
                kind: None,
                id: None,
                version: None,
                hash: f.hash.clone(),
                size: f.size,
                source: f.source.clone(),
                status: "failed".to_string(),
                last_error: Some(f.error.clone()),
                serving_previous: false,
                health: None,
            });
        }
        out
    }

    /// Load errors of this generation: (plugin name, error).
    pub fn load_errors(&self) -> Vec<(String, String)> {
        self.failures
            .iter()
            .map(|f| (f.name.clone(), f.error.clone()))
            .collect()
    }
}

fn merge_health(reports: impl Iterator<Item = HealthReport>) -> Option<HealthReport> {
    reports.reduce(|a, b| HealthReport {
        calls: a.calls + b.calls,
        failures: a.failures + b.failures,
        consecutive_failures: a.consecutive_failures.max(b.consecutive_failures),
        quarantined: a.quarantined || b.quarantined,
        quarantine_remaining_ms: a.quarantine_remaining_ms.max(b.quarantine_remaining_ms),
        last_error: a.last_error.or(b.last_error),
    })
}

/// An error's whole chain on one line, for reports.
fn one_line(text: &str) -> String {
    let joined: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "Caused by:" && !l.starts_with("Stack backtrace"))
        .collect();
    let mut s = joined.join("; ");
    if s.len() > 500 {
        let cut = (0..=500)
            .rev()
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(0);
        s.truncate(cut);
    }
    s
}

/// Compile, detect the kind, pre-link, and self-check one component. Runs at
/// load time on the reload thread; async calls are driven by `block_on`.
fn load_entry(
    engine: &PluginEngine,
    limits: CallLimits,
    policy: QuarantinePolicy,
    name: &str,
    bytes: &[u8],
) -> anyhow::Result<(PluginKind, String, String, Loaded)> {
    let component = Component::new(&engine.engine, bytes)
        .map_err(|e| anyhow::anyhow!("not a valid component: {}", one_line(&format!("{e:#}"))))?;
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(&engine.engine)
        .map(|(n, _)| n.to_string())
        .collect();
    let kind = PluginKind::ALL
        .into_iter()
        .find(|k| exports.iter().any(|e| e == k.export_name()))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "exports none of the tollgate:plugin@0.1.0 interfaces (it exports: {})",
                if exports.is_empty() {
                    "nothing".to_string()
                } else {
                    exports.join(", ")
                }
            )
        })?;
    let instance_pre = engine.linker.instantiate_pre(&component).map_err(|e| {
        anyhow::anyhow!(
            "cannot link (a plugin may import only WASI 0.2 interfaces that grant nothing): {e}"
        )
    })?;
    let name: Arc<str> = name.into();
    let mut store = engine.new_store(limits);
    store.set_epoch_deadline(limits.deadline_ticks().max(200));
    let fail = |e: wasmtime::Error| anyhow::anyhow!("self-check failed: {e:?}");
    match kind {
        PluginKind::Provider => {
            let pre = bindings::provider::ProviderPre::new(instance_pre).map_err(fail)?;
            let inst = block_on(pre.instantiate_async(&mut store)).map_err(fail)?;
            let info = block_on(
                inst.tollgate_plugin_provider_api()
                    .call_describe(&mut store),
            )
            .map_err(fail)?;
            for route in &info.routes {
                if !route.path.starts_with('/') {
                    anyhow::bail!("route `{}` must start with `/`", route.path);
                }
            }
            let (id, version) = (info.id.clone(), info.version.clone());
            let pool = Arc::new(Pool::new(name.clone(), engine.clone(), pre, limits, policy));
            pool.warm(1)
                .map_err(|e| anyhow::anyhow!("self-check failed: {e}"))?;
            Ok((
                kind,
                id,
                version,
                Loaded::Provider(Arc::new(ProviderPlugin { name, info, pool })),
            ))
        }
        PluginKind::Guardrail => {
            let pre = bindings::guardrail::GuardrailPre::new(instance_pre).map_err(fail)?;
            let inst = block_on(pre.instantiate_async(&mut store)).map_err(fail)?;
            let info = block_on(
                inst.tollgate_plugin_guardrail_api()
                    .call_describe(&mut store),
            )
            .map_err(fail)?;
            Ok((
                kind,
                info.id,
                info.version,
                Loaded::Guardrail {
                    pre,
                    stages: info.stages,
                },
            ))
        }
        PluginKind::Router => {
            let pre = bindings::router::RouterPre::new(instance_pre).map_err(fail)?;
            let inst = block_on(pre.instantiate_async(&mut store)).map_err(fail)?;
            let info = block_on(inst.tollgate_plugin_router_api().call_describe(&mut store))
                .map_err(fail)?;
            Ok((kind, info.id, info.version, Loaded::Router(pre)))
        }
        PluginKind::CostModel => {
            let pre = bindings::cost_model::CostModelPre::new(instance_pre).map_err(fail)?;
            let inst = block_on(pre.instantiate_async(&mut store)).map_err(fail)?;
            let info = block_on(
                inst.tollgate_plugin_cost_model_api()
                    .call_describe(&mut store),
            )
            .map_err(fail)?;
            Ok((kind, info.id, info.version, Loaded::CostModel(pre)))
        }
    }
}
