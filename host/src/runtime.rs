//! One generation of serving state: the plugins, the checked config, the
//! endpoints with their resolved plugins, and the route table. Built off the
//! request path by `prepare`, swapped in whole by the reloader.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::{toml_to_json, Config};
use crate::plugin::{
    CallLimits, CostModelPlugin, GuardrailPlugin, Operation, PluginEngine, PluginSet,
    ProviderPlugin, QuarantinePolicy, RouterPlugin, Stage,
};

/// Startup settings that a reload does not change.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub plugin_dir: PathBuf,
    pub config_path: Option<PathBuf>,
}

/// A guardrail as an endpoint uses it.
pub struct GuardrailUse {
    pub plugin: Arc<GuardrailPlugin>,
    pub fail_open: bool,
}

/// Live health of a target, kept across reloads (keyed by endpoint and target).
#[derive(Debug, Default)]
pub struct TargetStats {
    pub in_flight: AtomicU32,
    consecutive_failures: AtomicU32,
    down_until: Mutex<Option<Instant>>,
    /// Exponentially weighted time to first byte, µs.
    latency_us: AtomicU64,
    /// Exponentially weighted error rate × 10 000.
    error_rate: AtomicU32,
}

impl TargetStats {
    pub fn healthy(&self) -> bool {
        match *self.down_until.lock() {
            Some(t) => Instant::now() >= t,
            None => true,
        }
    }

    pub fn latency_us(&self) -> u64 {
        self.latency_us.load(Ordering::Relaxed)
    }

    pub fn error_rate(&self) -> f32 {
        self.error_rate.load(Ordering::Relaxed) as f32 / 10_000.0
    }

    fn update_rate(&self, failed: bool) {
        let old = self.error_rate.load(Ordering::Relaxed);
        let sample = if failed { 10_000 } else { 0 };
        // EWMA with alpha 1/10.
        let new = (old * 9 + sample) / 10;
        self.error_rate.store(new, Ordering::Relaxed);
    }

    pub fn success(&self, first_byte: Duration) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
        *self.down_until.lock() = None;
        self.update_rate(false);
        let us = u64::try_from(first_byte.as_micros()).unwrap_or(u64::MAX);
        let old = self.latency_us.load(Ordering::Relaxed);
        let new = if old == 0 { us } else { (old * 7 + us) / 8 };
        self.latency_us.store(new, Ordering::Relaxed);
    }

    pub fn failure(&self, unhealthy_after: u32, cooldown: Duration) {
        self.update_rate(true);
        let n = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= unhealthy_after {
            *self.down_until.lock() = Some(Instant::now() + cooldown);
        }
    }
}

/// An upstream target, resolved.
pub struct Target {
    pub name: String,
    pub provider: Arc<ProviderPlugin>,
    /// Base URL without a trailing slash.
    pub base_url: String,
    pub model: Option<String>,
    pub api_key: Option<String>,
    pub weight: u32,
    pub options: serde_json::Value,
    /// Always go through the canonical model.
    pub translate: bool,
    pub stats: Arc<TargetStats>,
}

/// An endpoint, resolved.
pub struct Endpoint {
    pub name: String,
    pub front: Arc<ProviderPlugin>,
    pub router: Arc<RouterPlugin>,
    pub cost: Option<Arc<CostModelPlugin>>,
    pub guardrails: Vec<GuardrailUse>,
    /// Whether any guardrail checks requests (then `summarize` returns text).
    pub request_guards: bool,
    pub targets: Vec<Target>,
}

/// What a matched route means.
#[derive(Debug, Clone)]
pub struct RouteEntry {
    pub endpoint: usize,
    pub operation: Operation,
    pub streaming: bool,
    pub model_param: Option<String>,
    /// Bytes of the request path before the front door's own route path
    /// (endpoint prefix and `/<id>`); what follows is passed through upstream.
    pub strip: usize,
}

#[derive(Debug, Clone)]
enum Seg {
    Lit(String),
    Var { name: String, suffix: String },
}

/// Method + path → route, for literal paths and `{var}` patterns.
#[derive(Default)]
pub struct RouteTable {
    exact: HashMap<(String, String), RouteEntry>,
    patterns: Vec<(String, Vec<Seg>, RouteEntry)>,
}

/// A route match.
pub struct Matched {
    pub entry: RouteEntry,
    /// The model named in the path, for routes that carry one.
    pub path_model: Option<String>,
}

impl RouteTable {
    fn insert(&mut self, method: &str, path: &str, entry: RouteEntry) -> bool {
        let method = method.to_ascii_uppercase();
        if !path.contains('{') {
            let key = (method, path.to_string());
            if self.exact.contains_key(&key) {
                return false;
            }
            self.exact.insert(key, entry);
            return true;
        }
        let segs: Vec<Seg> = path
            .split('/')
            .map(
                |s| match s.strip_prefix('{').and_then(|r| r.split_once('}')) {
                    Some((name, suffix)) => Seg::Var {
                        name: name.to_string(),
                        suffix: suffix.to_string(),
                    },
                    None => Seg::Lit(s.to_string()),
                },
            )
            .collect();
        self.patterns.push((method, segs, entry));
        true
    }

    /// Find the route for a request.
    pub fn lookup(&self, method: &str, path: &str) -> Option<Matched> {
        if let Some(e) = self.exact.get(&(method.to_string(), path.to_string())) {
            return Some(Matched {
                entry: e.clone(),
                path_model: None,
            });
        }
        let parts: Vec<&str> = path.split('/').collect();
        'pat: for (m, segs, entry) in &self.patterns {
            if m != method || segs.len() != parts.len() {
                continue;
            }
            let mut model = None;
            for (seg, part) in segs.iter().zip(&parts) {
                match seg {
                    Seg::Lit(l) if l == part => {}
                    Seg::Lit(_) => continue 'pat,
                    Seg::Var { name, suffix } => {
                        let Some(v) = part.strip_suffix(suffix.as_str()) else {
                            continue 'pat;
                        };
                        if v.is_empty() {
                            continue 'pat;
                        }
                        if entry.model_param.as_deref() == Some(name) {
                            model = Some(v.to_string());
                        }
                    }
                }
            }
            return Some(Matched {
                entry: entry.clone(),
                path_model: model,
            });
        }
        None
    }

    pub fn len(&self) -> usize {
        self.exact.len() + self.patterns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One generation of serving state.
pub struct Runtime {
    pub generation: u64,
    pub plugins: Arc<PluginSet>,
    pub config: Config,
    pub endpoints: Vec<Endpoint>,
    pub routes: RouteTable,
    pub max_body: usize,
    /// Endpoint to answer unknown paths' errors in (the first one).
    pub default_endpoint: Option<usize>,
}

/// Target stats that outlive a generation.
pub type StatsRegistry = Mutex<HashMap<String, Arc<TargetStats>>>;

impl Runtime {
    /// Build a generation. `config` is `None` when the gateway runs the built-in
    /// default. Plugins that fail to load are reported and their previous
    /// version kept; a config that does not resolve fails the whole generation.
    pub fn prepare(
        engine: &PluginEngine,
        settings: &Settings,
        config: Option<Config>,
        previous: Option<&Runtime>,
        stats: &StatsRegistry,
        generation: u64,
    ) -> anyhow::Result<Runtime> {
        let limits_cfg = config
            .as_ref()
            .map(|c| c.limits.clone())
            .unwrap_or_default();
        let limits = CallLimits {
            timeout: Duration::from_millis(limits_cfg.plugin_timeout_ms),
            memory_bytes: usize::try_from(limits_cfg.plugin_memory_mb << 20).unwrap_or(usize::MAX),
        };
        let policy = QuarantinePolicy {
            after_failures: limits_cfg.quarantine_after,
            cooldown: Duration::from_secs(limits_cfg.quarantine_secs),
        };
        // Plugins keep their limits for life: rebuild them all when limits change.
        let reuse = previous
            .filter(|p| p.config.limits == limits_cfg)
            .map(|p| &*p.plugins);
        let plugins = Arc::new(PluginSet::load(
            engine,
            limits,
            policy,
            Some(&settings.plugin_dir),
            reuse,
        ));

        let config = match config {
            Some(c) => c,
            None => {
                let providers: Vec<(String, String)> = plugins
                    .providers()
                    .iter()
                    .map(|p| (p.info.id.clone(), p.info.default_base_url.clone()))
                    .collect();
                Config::builtin_default(&providers, |k| std::env::var(k).ok())
            }
        };

        let mut endpoints = Vec::new();
        let mut routes = RouteTable::default();
        for (i, e) in config.endpoints.iter().enumerate() {
            let ctx = |what: &str| format!("endpoint `{}`: {what}", e.name);
            let front = plugins.provider(&e.front_door).ok_or_else(|| {
                anyhow::anyhow!(ctx(&format!(
                    "no provider plugin `{}` for front_door",
                    e.front_door
                )))
            })?;
            let router = plugins
                .router(&e.router, &toml_to_json(&e.router_config))
                .map_err(|err| anyhow::anyhow!("{}", ctx(&format!("{err:#}"))))?;
            let cost = if e.cost_model.is_empty() {
                None
            } else {
                Some(
                    plugins
                        .cost_model(&e.cost_model, &toml_to_json(&e.cost_model_config))
                        .map_err(|err| anyhow::anyhow!("{}", ctx(&format!("{err:#}"))))?,
                )
            };
            let mut guardrails = Vec::new();
            for g in &e.guardrails {
                let plugin = plugins
                    .guardrail(&g.plugin, &toml_to_json(&g.config))
                    .map_err(|err| anyhow::anyhow!("{}", ctx(&format!("{err:#}"))))?;
                guardrails.push(GuardrailUse {
                    plugin,
                    fail_open: g.fail_open,
                });
            }
            let request_guards = guardrails
                .iter()
                .any(|g| g.plugin.stages.contains(&Stage::Request));
            let mut targets = Vec::new();
            for t in &e.targets {
                let provider = plugins.provider(&t.provider).ok_or_else(|| {
                    anyhow::anyhow!(ctx(&format!(
                        "target `{}`: no provider plugin `{}`",
                        t.name, t.provider
                    )))
                })?;
                let base_url = t
                    .base_url
                    .clone()
                    .unwrap_or_else(|| provider.info.default_base_url.clone());
                let base_url = base_url.trim_end_matches('/').to_string();
                let stats = Arc::clone(
                    stats
                        .lock()
                        .entry(format!("{}/{}", e.name, t.name))
                        .or_default(),
                );
                targets.push(Target {
                    name: t.name.clone(),
                    provider,
                    base_url,
                    model: t.model.clone(),
                    api_key: t.api_key.clone(),
                    weight: t.weight,
                    options: toml_to_json(&t.options),
                    translate: t.translate,
                    stats,
                });
            }
            for r in &front.info.routes {
                for (pfx, strip) in [
                    (e.prefix.clone(), e.prefix.len()),
                    (
                        format!("{}/{}", e.prefix, front.info.id),
                        e.prefix.len() + 1 + front.info.id.len(),
                    ),
                ] {
                    let entry = RouteEntry {
                        endpoint: i,
                        operation: r.operation,
                        streaming: r.streaming,
                        model_param: r.model_param.clone(),
                        strip,
                    };
                    let path = format!("{pfx}{}", r.path);
                    if !routes.insert(&r.method, &path, entry) {
                        tracing::warn!(endpoint = %e.name, method = %r.method, path, "route already served by an earlier endpoint");
                    }
                }
            }
            endpoints.push(Endpoint {
                name: e.name.clone(),
                front,
                router,
                cost,
                guardrails,
                request_guards,
                targets,
            });
        }
        let max_body = usize::try_from(config.limits.max_body_mb << 20).unwrap_or(usize::MAX);
        Ok(Runtime {
            generation,
            plugins,
            default_endpoint: (!endpoints.is_empty()).then_some(0),
            config,
            endpoints,
            routes,
            max_body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(endpoint: usize, model_param: Option<&str>) -> RouteEntry {
        RouteEntry {
            endpoint,
            operation: Operation::Chat,
            streaming: false,
            model_param: model_param.map(str::to_string),
            strip: 0,
        }
    }

    #[test]
    fn routes_match_literals_and_patterns() {
        let mut t = RouteTable::default();
        assert!(t.insert("POST", "/v1/messages", entry(0, None)));
        assert!(!t.insert("post", "/v1/messages", entry(1, None)));
        assert!(t.insert(
            "POST",
            "/v1beta/models/{model}:generateContent",
            entry(2, Some("model"))
        ));
        assert_eq!(t.lookup("POST", "/v1/messages").unwrap().entry.endpoint, 0);
        assert!(t.lookup("GET", "/v1/messages").is_none());
        let m = t
            .lookup("POST", "/v1beta/models/gemini-2.5-pro:generateContent")
            .unwrap();
        assert_eq!(
            (m.entry.endpoint, m.path_model.as_deref()),
            (2, Some("gemini-2.5-pro"))
        );
        assert!(t
            .lookup("POST", "/v1beta/models/:generateContent")
            .is_none());
        assert!(t
            .lookup("POST", "/v1beta/models/x:streamGenerateContent")
            .is_none());
    }

    #[test]
    fn target_health() {
        let s = TargetStats::default();
        assert!(s.healthy());
        for _ in 0..3 {
            s.failure(3, Duration::from_secs(60));
        }
        assert!(!s.healthy());
        assert!(s.error_rate() > 0.2);
        s.success(Duration::from_millis(2));
        assert!(s.healthy());
        assert_eq!(s.latency_us(), 2000);
    }
}
