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
    /// The target's `options` as JSON text, serialized once at load (plugins get it
    /// on every translated request).
    pub options: String,
    /// Always go through the canonical model.
    pub translate: bool,
    /// Request defaults applied on the translated path.
    pub defaults: crate::config::TargetDefaults,
    /// Credentials and region for SigV4 providers.
    pub aws: Option<AwsSigning>,
    pub stats: Arc<TargetStats>,
}

/// What the host signs a SigV4 target's requests with.
#[derive(Debug, Clone)]
pub struct AwsSigning {
    pub credentials: crate::sigv4::Credentials,
    pub region: String,
    pub service: String,
}

impl AwsSigning {
    /// Resolve from the target's `aws` table, then the environment, then (for
    /// the region) the base URL's host.
    fn resolve(
        cfg: &crate::config::AwsAuth,
        base_url: &str,
        service: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<AwsSigning, String> {
        let from_env = crate::sigv4::Credentials::from_env(&env);
        let credentials = match (&cfg.access_key_id, &cfg.secret_access_key) {
            (Some(id), Some(secret)) => crate::sigv4::Credentials {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                session_token: cfg.session_token.clone(),
            },
            (None, None) => from_env.ok_or(
                "no AWS credentials: set aws.access_key_id and aws.secret_access_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            )?,
            _ => return Err("aws.access_key_id and aws.secret_access_key go together".into()),
        };
        let region = cfg
            .region
            .clone()
            .or_else(|| crate::sigv4::region_from_host(base_url))
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .ok_or("no AWS region: set aws.region or AWS_REGION (the base URL names none)")?;
        Ok(AwsSigning {
            credentials,
            region,
            service: service.to_string(),
        })
    }
}

/// A mapped model's attempts: (target index, upstream model override).
pub type MappedTargets = Vec<(usize, Option<String>)>;

/// Client model name → targets, from the endpoint's `models` table.
#[derive(Debug, Default)]
pub struct ModelMap {
    exact: HashMap<String, MappedTargets>,
    /// `prefix*` patterns, longest prefix first.
    prefixes: Vec<(String, MappedTargets)>,
}

impl ModelMap {
    /// `index_of` resolves a target name (config checks they all exist).
    fn build(
        table: &std::collections::BTreeMap<String, crate::config::ModelRoute>,
        index_of: impl Fn(&str) -> Option<usize>,
    ) -> ModelMap {
        let mut map = ModelMap::default();
        for (pattern, route) in table {
            let resolved: MappedTargets = route
                .targets()
                .into_iter()
                .filter_map(|(name, model)| Some((index_of(name)?, model.map(str::to_string))))
                .collect();
            match pattern.strip_suffix('*') {
                Some(prefix) => map.prefixes.push((prefix.to_string(), resolved)),
                None => {
                    map.exact.insert(pattern.clone(), resolved);
                }
            }
        }
        map.prefixes.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        map
    }

    /// The targets for a client model, if the table maps it.
    pub fn lookup(&self, model: &str) -> Option<&MappedTargets> {
        self.exact.get(model).or_else(|| {
            self.prefixes
                .iter()
                .find(|(p, _)| model.starts_with(p.as_str()))
                .map(|(_, t)| t)
        })
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.prefixes.is_empty()
    }
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
    pub models: ModelMap,
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
    /// Index of the route in the front door's `routes`.
    pub route: usize,
    /// How a request shows it speaks this endpoint's dialect, for paths that
    /// several dialects share (`GET /v1/models`).
    pub marks: Arc<DialectMarks>,
}

/// Request traits that tell dialects apart on a shared path: the front-door
/// plugin's own headers (strong: `anthropic-version`), its credential header
/// or query parameter (weaker: `x-goog-api-key`, `?key=`, `Authorization`).
#[derive(Debug, Default, Clone)]
pub struct DialectMarks {
    /// Front-door plugin id (duplicate routes of one plugin are config mistakes).
    pub plugin: String,
    pub headers: Vec<String>,
    pub auth_header: Option<String>,
    pub auth_query: Option<String>,
}

impl DialectMarks {
    fn from_info(info: &crate::plugin::ProviderInfo) -> DialectMarks {
        use crate::plugin::AuthScheme;
        let (auth_header, auth_query) = match &info.auth {
            AuthScheme::Bearer => (Some("authorization".to_string()), None),
            AuthScheme::Header(h) => (Some(h.to_ascii_lowercase()), None),
            AuthScheme::Query(q) => (None, Some(q.clone())),
            AuthScheme::AwsSigv4(_) | AuthScheme::None => (None, None),
        };
        DialectMarks {
            plugin: info.id.clone(),
            headers: info
                .passthrough_headers
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            auth_header,
            auth_query,
        }
    }

    /// How strongly the request looks like this dialect.
    fn score(&self, headers: &axum::http::HeaderMap, query: Option<&str>) -> u32 {
        let mut score = 0;
        if self
            .headers
            .iter()
            .any(|h| headers.contains_key(h.as_str()))
        {
            score += 4;
        }
        if let Some(h) = &self.auth_header {
            if headers.contains_key(h.as_str()) {
                score += 2;
            }
        }
        if let (Some(q), Some(query)) = (&self.auth_query, query) {
            if query
                .split('&')
                .any(|kv| kv.split_once('=').map_or(kv, |(k, _)| k) == q)
            {
                score += 2;
            }
        }
        score
    }
}

#[derive(Debug, Clone)]
enum Seg {
    Lit(String),
    Var { name: String, suffix: String },
}

/// Method + path → route, for literal paths and `{var}` patterns. A path that
/// several front doors declare (e.g. `GET /v1/models`) keeps every candidate,
/// in config order; the request's headers pick among them.
#[derive(Default)]
pub struct RouteTable {
    exact: HashMap<(String, String), Vec<RouteEntry>>,
    patterns: Vec<(String, Vec<Seg>, RouteEntry)>,
}

/// A route match.
pub struct Matched {
    pub entry: RouteEntry,
    /// The model named in the path, for routes that carry one.
    pub path_model: Option<String>,
}

impl RouteTable {
    /// Add a route; false when the same front-door plugin already serves it
    /// (the earlier endpoint keeps it).
    fn insert(&mut self, method: &str, path: &str, entry: RouteEntry) -> bool {
        let method = method.to_ascii_uppercase();
        if !path.contains('{') {
            let list = self.exact.entry((method, path.to_string())).or_default();
            if list.iter().any(|e| e.marks.plugin == entry.marks.plugin) {
                return false;
            }
            list.push(entry);
            return true;
        }
        if self.patterns.iter().any(|(m, segs, e)| {
            *m == method && e.marks.plugin == entry.marks.plugin && same_pattern(segs, path)
        }) {
            return false;
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

    /// Find the route for a request: among front doors sharing the path, the
    /// one whose dialect the request's headers show most, else the first.
    pub fn lookup(
        &self,
        method: &str,
        path: &str,
        headers: &axum::http::HeaderMap,
        query: Option<&str>,
    ) -> Option<Matched> {
        if let Some(list) = self.exact.get(&(method.to_string(), path.to_string())) {
            let entry = match list.as_slice() {
                [one] => one,
                many => many
                    .iter()
                    .rev()
                    .max_by_key(|e| e.marks.score(headers, query))?,
            };
            return Some(Matched {
                entry: entry.clone(),
                path_model: None,
            });
        }
        let mut best: Option<(u32, Matched)> = None;
        for m in self.match_patterns(method, path) {
            let score = m.entry.marks.score(headers, query);
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, m));
            }
        }
        best.map(|(_, m)| m)
    }

    /// Every pattern route that matches, in insertion order.
    fn match_patterns<'a>(
        &'a self,
        method: &'a str,
        path: &'a str,
    ) -> impl Iterator<Item = Matched> + 'a {
        let parts: Vec<&str> = path.split('/').collect();
        self.patterns.iter().filter_map(move |(m, segs, entry)| {
            if m != method || segs.len() != parts.len() {
                return None;
            }
            match_segments(segs, &parts, entry)
        })
    }

    pub fn len(&self) -> usize {
        self.exact.len() + self.patterns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Match a split path against a pattern; the model variable's value if any.
fn match_segments(segs: &[Seg], parts: &[&str], entry: &RouteEntry) -> Option<Matched> {
    let mut model = None;
    for (seg, part) in segs.iter().zip(parts) {
        match seg {
            Seg::Lit(l) if l == part => {}
            Seg::Lit(_) => return None,
            Seg::Var { name, suffix } => {
                let v = part.strip_suffix(suffix.as_str())?;
                if v.is_empty() {
                    return None;
                }
                if entry.model_param.as_deref() == Some(name) {
                    model = Some(v.to_string());
                }
            }
        }
    }
    Some(Matched {
        entry: entry.clone(),
        path_model: model,
    })
}

/// Whether `segs` is the parsed form of `path` (same pattern text).
fn same_pattern(segs: &[Seg], path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    segs.len() == parts.len()
        && segs.iter().zip(&parts).all(|(seg, part)| match seg {
            Seg::Lit(l) => l == part,
            Seg::Var { name, suffix } => *part == format!("{{{name}}}{suffix}"),
        })
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
                anyhow::ensure!(
                    !base_url.is_empty(),
                    "{}",
                    ctx(&format!(
                        "target `{}`: provider `{}` has no default base URL; set base_url",
                        t.name, t.provider
                    ))
                );
                let aws = match &provider.info.auth {
                    crate::plugin::AuthScheme::AwsSigv4(service) => Some(
                        AwsSigning::resolve(&t.aws, &base_url, service, |k| std::env::var(k).ok())
                            .map_err(|m| {
                                anyhow::anyhow!(ctx(&format!("target `{}`: {m}", t.name)))
                            })?,
                    ),
                    _ => None,
                };
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
                    options: toml_to_json(&t.options).to_string(),
                    translate: t.translate,
                    defaults: t.defaults.clone(),
                    aws,
                    stats,
                });
            }
            let marks = Arc::new(DialectMarks::from_info(&front.info));
            for (route, r) in front.info.routes.iter().enumerate() {
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
                        route,
                        marks: Arc::clone(&marks),
                    };
                    let path = format!("{pfx}{}", r.path);
                    if !routes.insert(&r.method, &path, entry) {
                        tracing::warn!(endpoint = %e.name, method = %r.method, path, "route already served by an earlier endpoint of the same front door");
                    }
                }
            }
            let models = ModelMap::build(&e.models, |name| {
                targets.iter().position(|t| t.name == name)
            });
            endpoints.push(Endpoint {
                name: e.name.clone(),
                front,
                router,
                cost,
                guardrails,
                request_guards,
                targets,
                models,
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

    use axum::http::{HeaderMap, HeaderValue};

    fn marks(
        plugin: &str,
        headers: &[&str],
        auth: Option<&str>,
        query: Option<&str>,
    ) -> Arc<DialectMarks> {
        Arc::new(DialectMarks {
            plugin: plugin.to_string(),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            auth_header: auth.map(str::to_string),
            auth_query: query.map(str::to_string),
        })
    }

    fn entry(endpoint: usize, model_param: Option<&str>) -> RouteEntry {
        RouteEntry {
            endpoint,
            operation: Operation::Chat,
            streaming: false,
            model_param: model_param.map(str::to_string),
            strip: 0,
            route: 0,
            marks: marks(&format!("p{endpoint}"), &[], None, None),
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn routes_match_literals_and_patterns() {
        let none = HeaderMap::new();
        let mut t = RouteTable::default();
        assert!(t.insert("POST", "/v1/messages", entry(0, None)));
        let mut again = entry(1, None);
        again.marks = marks("p0", &[], None, None);
        assert!(
            !t.insert("post", "/v1/messages", again),
            "same plugin twice"
        );
        assert!(t.insert(
            "POST",
            "/v1beta/models/{model}:generateContent",
            entry(2, Some("model"))
        ));
        let lookup = |m: &str, p: &str| t.lookup(m, p, &none, None);
        assert_eq!(lookup("POST", "/v1/messages").unwrap().entry.endpoint, 0);
        assert!(lookup("GET", "/v1/messages").is_none());
        let m = lookup("POST", "/v1beta/models/gemini-2.5-pro:generateContent").unwrap();
        assert_eq!(
            (m.entry.endpoint, m.path_model.as_deref()),
            (2, Some("gemini-2.5-pro"))
        );
        assert!(lookup("POST", "/v1beta/models/:generateContent").is_none());
        assert!(lookup("POST", "/v1beta/models/x:streamGenerateContent").is_none());
    }

    #[test]
    fn shared_paths_go_to_the_dialect_the_request_shows() {
        let mut t = RouteTable::default();
        let mut anthropic = entry(0, None);
        anthropic.marks = marks("anthropic", &["anthropic-version"], Some("x-api-key"), None);
        let mut openai = entry(1, None);
        openai.marks = marks("openai", &[], Some("authorization"), None);
        let mut gemini = entry(2, None);
        gemini.marks = marks("gemini", &[], Some("x-goog-api-key"), Some("key"));
        for e in [anthropic, openai, gemini] {
            assert!(t.insert("GET", "/v1/models", e));
        }
        let pick = |h: &[(&'static str, &'static str)], q: Option<&str>| {
            t.lookup("GET", "/v1/models", &headers(h), q)
                .unwrap()
                .entry
                .endpoint
        };
        // No marks at all: the first endpoint in config order.
        assert_eq!(pick(&[], None), 0);
        assert_eq!(pick(&[("x-api-key", "k")], None), 0);
        assert_eq!(pick(&[("authorization", "Bearer k")], None), 1);
        // Claude Code with a bearer token still sends anthropic-version.
        assert_eq!(
            pick(
                &[
                    ("authorization", "Bearer k"),
                    ("anthropic-version", "2023-06-01")
                ],
                None
            ),
            0
        );
        assert_eq!(pick(&[("x-goog-api-key", "k")], None), 2);
        assert_eq!(pick(&[], Some("key=abc&pageSize=5")), 2);
        assert_eq!(pick(&[], Some("monkey=1")), 0);
    }

    #[test]
    fn model_map_prefers_exact_then_longest_prefix() {
        use crate::config::ModelRoute;
        let mut table = std::collections::BTreeMap::new();
        table.insert("claude-*".to_string(), ModelRoute::One("a".into()));
        table.insert(
            "claude-haiku-*".to_string(),
            ModelRoute::One("b/small".into()),
        );
        table.insert(
            "claude-opus-4-8".to_string(),
            ModelRoute::Many(vec!["b/gpt-5".into(), "a".into()]),
        );
        let m = ModelMap::build(&table, |name| ["a", "b"].iter().position(|t| *t == name));
        assert_eq!(
            m.lookup("claude-opus-4-8").unwrap(),
            &vec![(1, Some("gpt-5".to_string())), (0, None)]
        );
        assert_eq!(
            m.lookup("claude-haiku-4-5").unwrap(),
            &vec![(1, Some("small".to_string()))]
        );
        assert_eq!(m.lookup("claude-sonnet-4-5").unwrap(), &vec![(0, None)]);
        assert!(m.lookup("gpt-5").is_none());
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
