//! The configuration file: raw serde types (unknown fields are errors), `${VAR}`
//! interpolation for secrets, and the built-in default used when there is no file.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

/// The whole config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (startup only; `--listen` wins).
    pub listen: Option<String>,
    /// State directory (startup only; `--data-dir` wins).
    pub data_dir: Option<PathBuf>,
    /// Directory of `.wasm` plugins (startup only; `--plugin-dir` wins).
    pub plugin_dir: Option<PathBuf>,
    /// Token for `/admin/*`. Without one, the admin API answers loopback only.
    pub admin_token: Option<String>,
    /// Keys clients must present (`x-api-key` or `Authorization: Bearer`). Empty:
    /// any caller is let through and its own key goes upstream to targets that
    /// have no `api_key`.
    #[serde(default)]
    pub client_keys: Vec<String>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub upstream: Upstream,
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

/// Limits on requests and plugins.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body accepted, in MiB.
    pub max_body_mb: u64,
    /// Deadline of one plugin call, in ms.
    pub plugin_timeout_ms: u64,
    /// Linear memory of one plugin instance, in MiB.
    pub plugin_memory_mb: u64,
    /// Consecutive failures that quarantine a plugin.
    pub quarantine_after: u32,
    /// Quarantine length, in seconds.
    pub quarantine_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_mb: 32,
            plugin_timeout_ms: 250,
            plugin_memory_mb: 64,
            quarantine_after: 5,
            quarantine_secs: 30,
        }
    }
}

/// How the gateway talks to upstreams.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Upstream {
    /// TCP + TLS connect timeout, ms.
    pub connect_timeout_ms: u64,
    /// Time allowed until the response headers arrive, ms.
    pub first_byte_timeout_ms: u64,
    /// Longest silence allowed inside a streamed body, ms.
    pub idle_timeout_ms: u64,
    /// A target that failed this many times in a row is skipped (while others
    /// remain) for `cooldown_secs`.
    pub unhealthy_after: u32,
    pub cooldown_secs: u64,
}

impl Default for Upstream {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 10_000,
            first_byte_timeout_ms: 600_000,
            idle_timeout_ms: 300_000,
            unhealthy_after: 3,
            cooldown_secs: 30,
        }
    }
}

/// A set of client routes (one front-door dialect) with its policy and targets.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub name: String,
    /// Provider plugin (id or name) whose dialect clients speak here.
    pub front_door: String,
    /// Path prefix for this endpoint's routes (e.g. `/team-a`); empty: the root.
    #[serde(default)]
    pub prefix: String,
    /// Router plugin; defaults to the built-in weighted router.
    #[serde(default = "default_router")]
    pub router: String,
    #[serde(default = "empty_table")]
    pub router_config: toml::Value,
    /// Cost model plugin; defaults to the built-in price table. `""` disables.
    #[serde(default = "default_cost_model")]
    pub cost_model: String,
    #[serde(default = "empty_table")]
    pub cost_model_config: toml::Value,
    #[serde(default)]
    pub guardrails: Vec<GuardrailUse>,
    /// Model mapping: the model a client names (exact, or a pattern ending in
    /// `*`) → `"target"` or `"target/upstream-model"`, or a list of them tried
    /// in order. Unmapped models go to the router.
    #[serde(default)]
    pub models: std::collections::BTreeMap<String, ModelRoute>,
    pub targets: Vec<Target>,
}

/// Where a mapped model goes: one `target[/model]` or a fallback list.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ModelRoute {
    One(String),
    Many(Vec<String>),
}

impl ModelRoute {
    /// The `(target, upstream model)` pairs, in order.
    pub fn targets(&self) -> Vec<(&str, Option<&str>)> {
        fn split(s: &str) -> (&str, Option<&str>) {
            match s.split_once('/') {
                Some((t, m)) if !m.is_empty() => (t, Some(m)),
                Some((t, _)) => (t, None),
                None => (s, None),
            }
        }
        match self {
            ModelRoute::One(s) => vec![split(s)],
            ModelRoute::Many(v) => v.iter().map(|s| split(s)).collect(),
        }
    }
}

/// Request defaults a target fills in when the client left them out (applied
/// when the request is translated through the canonical model).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TargetDefaults {
    /// Output token cap when the client set none.
    pub max_tokens: Option<u32>,
    /// Lower the client's output cap to this.
    pub max_tokens_cap: Option<u32>,
    /// `minimal`, `low`, `medium` or `high`, when the client asked for no
    /// reasoning setting.
    pub reasoning_effort: Option<String>,
    /// Thinking budget in tokens, when the client asked for no reasoning setting.
    pub thinking_budget: Option<u32>,
    pub temperature: Option<f64>,
}

/// A guardrail applied to an endpoint.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GuardrailUse {
    /// Guardrail plugin (name or id).
    pub plugin: String,
    #[serde(default = "empty_table")]
    pub config: toml::Value,
    /// Let requests through when the guardrail fails (default: refuse them).
    #[serde(default)]
    pub fail_open: bool,
}

/// An upstream a request can go to.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: String,
    /// Provider plugin (id or name) that speaks the upstream's dialect.
    pub provider: String,
    /// Defaults to the provider plugin's default base URL.
    pub base_url: Option<String>,
    /// Model to ask the upstream for; default: the model the client named.
    pub model: Option<String>,
    /// Credential the gateway adds. Absent: the caller's own key passes through.
    pub api_key: Option<String>,
    /// Share of traffic (0 = fallback only).
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Provider-specific options.
    #[serde(default = "empty_table")]
    pub options: toml::Value,
    /// Translate through the canonical model even when the upstream speaks the
    /// client's dialect (needed when they differ; useful to test a plugin).
    #[serde(default)]
    pub translate: bool,
    /// Request defaults for this target.
    #[serde(default)]
    pub defaults: TargetDefaults,
    /// AWS signing for providers whose auth scheme is SigV4 (Bedrock). Unset
    /// fields come from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN` and `AWS_REGION`; the region also from the base URL.
    #[serde(default)]
    pub aws: AwsAuth,
}

/// AWS credentials and region for a SigV4 target.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AwsAuth {
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

fn default_router() -> String {
    "router-weighted".into()
}
fn default_cost_model() -> String {
    "cost-pricetable".into()
}
fn default_weight() -> u32 {
    1
}
fn empty_table() -> toml::Value {
    toml::Value::Table(Default::default())
}

impl Config {
    /// Read, interpolate and parse a config file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        Self::parse(&text, |k| std::env::var(k).ok())
            .with_context(|| format!("in config {}", path.display()))
    }

    /// Parse config text, resolving `${VAR}` and `${VAR:-default}` in every
    /// string value with `env`.
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        let mut value: toml::Value = toml::from_str(text).context("not valid TOML")?;
        interpolate(&mut value, &env, &mut Vec::new())?;
        let config: Config = value.try_into().context("invalid config")?;
        config.check()?;
        Ok(config)
    }

    /// Checks that need no plugins.
    fn check(&self) -> anyhow::Result<()> {
        // An empty or truncated file must not replace a working configuration.
        anyhow::ensure!(
            !self.endpoints.is_empty(),
            "the config defines no [[endpoints]] (run without --config for the built-in default)"
        );
        let mut names = std::collections::HashSet::new();
        for e in &self.endpoints {
            anyhow::ensure!(
                names.insert(&e.name),
                "endpoint `{}` is defined twice",
                e.name
            );
            anyhow::ensure!(
                !e.targets.is_empty(),
                "endpoint `{}` has no targets",
                e.name
            );
            anyhow::ensure!(
                e.prefix.is_empty() || (e.prefix.starts_with('/') && !e.prefix.ends_with('/')),
                "endpoint `{}`: prefix must start with `/` and not end with one (got `{}`)",
                e.name,
                e.prefix
            );
            let mut targets = std::collections::HashSet::new();
            for t in &e.targets {
                anyhow::ensure!(
                    targets.insert(&t.name),
                    "endpoint `{}`: target `{}` is defined twice",
                    e.name,
                    t.name
                );
                if let Some(effort) = &t.defaults.reasoning_effort {
                    anyhow::ensure!(
                        ["minimal", "low", "medium", "high"].contains(&effort.as_str()),
                        "endpoint `{}`, target `{}`: defaults.reasoning_effort must be minimal, low, medium or high (got `{effort}`)",
                        e.name,
                        t.name
                    );
                }
                if let Some(url) = &t.base_url {
                    anyhow::ensure!(
                        url.starts_with("http://") || url.starts_with("https://"),
                        "endpoint `{}`, target `{}`: base_url must start with http:// or https:// (got `{url}`)",
                        e.name,
                        t.name
                    );
                }
            }
            for (pattern, route) in &e.models {
                anyhow::ensure!(
                    // (`strip_suffix`, not a byte slice: the last character
                    // may be multi-byte, e.g. `claude-é`.)
                    !pattern.is_empty()
                        && !pattern.strip_suffix('*').unwrap_or(pattern).contains('*'),
                    "endpoint `{}`: model pattern `{pattern}` may only end in `*`",
                    e.name
                );
                let targets = route.targets();
                anyhow::ensure!(
                    !targets.is_empty(),
                    "endpoint `{}`: model `{pattern}` maps to no target",
                    e.name
                );
                for (target, _) in targets {
                    anyhow::ensure!(
                        e.targets.iter().any(|t| t.name == target),
                        "endpoint `{}`: model `{pattern}` maps to target `{target}`, which the endpoint does not define",
                        e.name
                    );
                }
            }
        }
        anyhow::ensure!(
            self.limits.max_body_mb > 0,
            "limits.max_body_mb must be positive"
        );
        anyhow::ensure!(
            self.limits.plugin_timeout_ms > 0,
            "limits.plugin_timeout_ms must be positive"
        );
        anyhow::ensure!(
            self.limits.plugin_memory_mb >= 1,
            "limits.plugin_memory_mb must be at least 1"
        );
        anyhow::ensure!(
            self.limits.quarantine_after >= 1,
            "limits.quarantine_after must be at least 1"
        );
        Ok(())
    }

    /// The built-in default: for every provider plugin (id, default base URL),
    /// an endpoint whose clients' own keys pass through to that provider, at the
    /// base URL from `TOLLGATE_<ID>_BASE_URL` if set. Providers with no default
    /// base URL (OpenAI-compatible servers, Azure, Bedrock) join only when that
    /// variable names one.
    pub fn builtin_default(
        providers: &[(String, String)],
        env: impl Fn(&str) -> Option<String>,
    ) -> Config {
        let endpoints = providers
            .iter()
            .filter_map(|(id, default_url)| {
                let var = format!(
                    "TOLLGATE_{}_BASE_URL",
                    id.to_ascii_uppercase().replace('-', "_")
                );
                let base_url = env(&var).or_else(|| Some(default_url.clone()))?;
                if base_url.is_empty() {
                    return None;
                }
                Some(Endpoint {
                    name: id.clone(),
                    front_door: id.clone(),
                    prefix: String::new(),
                    router: default_router(),
                    router_config: empty_table(),
                    cost_model: default_cost_model(),
                    cost_model_config: empty_table(),
                    guardrails: Vec::new(),
                    models: Default::default(),
                    targets: vec![Target {
                        name: id.clone(),
                        provider: id.clone(),
                        base_url: Some(base_url),
                        model: None,
                        api_key: None,
                        weight: 1,
                        options: empty_table(),
                        translate: false,
                        defaults: TargetDefaults::default(),
                        aws: AwsAuth::default(),
                    }],
                })
            })
            .collect();
        Config {
            endpoints,
            ..Config::default()
        }
    }
}

/// Convert a TOML value to JSON for a plugin's `configure`.
pub fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => serde_json::Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => serde_json::Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect::<serde_json::Map<_, _>>(),
        ),
    }
}

fn interpolate(
    v: &mut toml::Value,
    env: &impl Fn(&str) -> Option<String>,
    path: &mut Vec<String>,
) -> anyhow::Result<()> {
    match v {
        toml::Value::String(s) if s.contains("${") => {
            *s = interpolate_str(s, env).with_context(|| format!("at `{}`", path.join(".")))?;
        }
        toml::Value::Array(a) => {
            for (i, item) in a.iter_mut().enumerate() {
                path.push(i.to_string());
                interpolate(item, env, path)?;
                path.pop();
            }
        }
        toml::Value::Table(t) => {
            let t: &mut toml::map::Map<String, toml::Value> = t;
            for (k, item) in t.iter_mut() {
                path.push(k.clone());
                interpolate(item, env, path)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

/// Expand `${VAR}` (must be set) and `${VAR:-default}`; `$${` is a literal `${`.
pub fn interpolate_str(s: &str, env: &impl Fn(&str) -> Option<String>) -> anyhow::Result<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = t;
        } else if let Some(t) = tail.strip_prefix("${") {
            let end = t
                .find('}')
                .ok_or_else(|| anyhow::anyhow!("unclosed `${{` in `{s}`"))?;
            let expr = &t[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            anyhow::ensure!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "bad variable name `{name}`"
            );
            match (env(name).filter(|v| !v.is_empty()), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => anyhow::bail!("environment variable `{name}` is not set"),
            }
            rest = &t[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "KEY" => Some("sk-123".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn interpolation() {
        assert_eq!(interpolate_str("a ${KEY} b", &env).unwrap(), "a sk-123 b");
        assert_eq!(
            interpolate_str("${NOPE:-http://x}", &env).unwrap(),
            "http://x"
        );
        assert_eq!(interpolate_str("${EMPTY:-d}", &env).unwrap(), "d");
        assert_eq!(interpolate_str("$${KEY} $5", &env).unwrap(), "${KEY} $5");
        assert!(interpolate_str("${NOPE}", &env)
            .unwrap_err()
            .to_string()
            .contains("NOPE"));
        assert!(interpolate_str("${KEY", &env).is_err());
    }

    #[test]
    fn parses_and_rejects_unknown_fields() {
        let ok = r#"
            [[endpoints]]
            name = "main"
            front_door = "anthropic"
            [[endpoints.targets]]
            name = "a"
            provider = "anthropic"
            api_key = "${KEY}"
        "#;
        let c = Config::parse(ok, env).unwrap();
        assert_eq!(c.endpoints[0].targets[0].api_key.as_deref(), Some("sk-123"));
        assert_eq!(c.endpoints[0].router, "router-weighted");
        let bad = ok.replace("provider = ", "providr = ");
        let err = format!("{:#}", Config::parse(&bad, env).unwrap_err());
        assert!(err.contains("providr"), "{err}");
        let missing = ok.replace("${KEY}", "${MISSING_KEY}");
        let err = format!("{:#}", Config::parse(&missing, env).unwrap_err());
        assert!(
            err.contains("MISSING_KEY") && err.contains("endpoints.0.targets.0.api_key"),
            "{err}"
        );
    }

    #[test]
    fn default_uses_env_base_url() {
        let c = Config::builtin_default(
            &[("anthropic".into(), "https://api.anthropic.com".into())],
            |k| (k == "TOLLGATE_ANTHROPIC_BASE_URL").then(|| "http://127.0.0.1:9".to_string()),
        );
        assert_eq!(
            c.endpoints[0].targets[0].base_url.as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert!(c.endpoints[0].targets[0].api_key.is_none());
    }

    #[test]
    fn default_skips_providers_without_a_base_url() {
        let providers = [
            ("openai".to_string(), "https://api.openai.com".to_string()),
            ("openai-compatible".to_string(), String::new()),
            ("bedrock".to_string(), String::new()),
        ];
        let c = Config::builtin_default(&providers, |k| {
            (k == "TOLLGATE_OPENAI_COMPATIBLE_BASE_URL").then(|| "http://127.0.0.1:8000".into())
        });
        let names: Vec<&str> = c.endpoints.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["openai", "openai-compatible"]);
    }

    const MAPPED: &str = r#"
[[endpoints]]
name = "claude"
front_door = "anthropic"
[endpoints.models]
"claude-opus-4-8" = "gpt/gpt-5"
"claude-haiku-*" = ["gpt/gpt-5-mini", "claude"]
[[endpoints.targets]]
name = "gpt"
provider = "openai"
defaults = { max_tokens = 8192, reasoning_effort = "high" }
[[endpoints.targets]]
name = "claude"
provider = "anthropic"
"#;

    #[test]
    fn model_mapping_and_target_defaults() {
        let c = Config::parse(MAPPED, env).unwrap();
        let e = &c.endpoints[0];
        assert_eq!(
            e.models["claude-opus-4-8"].targets(),
            [("gpt", Some("gpt-5"))]
        );
        assert_eq!(
            e.models["claude-haiku-*"].targets(),
            [("gpt", Some("gpt-5-mini")), ("claude", None)]
        );
        assert_eq!(e.targets[0].defaults.max_tokens, Some(8192));
        assert_eq!(
            e.targets[0].defaults.reasoning_effort.as_deref(),
            Some("high")
        );

        let bad_target = MAPPED.replace("\"gpt/gpt-5\"", "\"gtp/gpt-5\"");
        let err = format!("{:#}", Config::parse(&bad_target, env).unwrap_err());
        assert!(err.contains("target `gtp`"), "{err}");
        let bad_glob = MAPPED.replace("claude-haiku-*", "claude-*-haiku");
        let err = format!("{:#}", Config::parse(&bad_glob, env).unwrap_err());
        assert!(err.contains("may only end in `*`"), "{err}");
        let bad_effort = MAPPED.replace("\"high\"", "\"extreme\"");
        let err = format!("{:#}", Config::parse(&bad_effort, env).unwrap_err());
        assert!(err.contains("reasoning_effort"), "{err}");
        let unknown = MAPPED.replace("max_tokens = 8192", "max_token = 8192");
        assert!(Config::parse(&unknown, env).is_err());
    }
}
