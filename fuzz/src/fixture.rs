//! One gateway generation per process, built the way the gateway builds it:
//! `PluginEngine::new` + `Runtime::prepare` (which runs `PluginSet::load` over the
//! embedded first-party plugins) with a config that puts every provider plugin
//! behind a front door. The plugin targets call its providers; the route target
//! uses its route table.

use std::sync::{Arc, OnceLock};

use tollgate::config::Config;
use tollgate::plugin::{PluginEngine, ProviderPlugin};
use tollgate::runtime::{Runtime, Settings, StatsRegistry};

/// Every built-in provider plugin id, in the order the input's first byte picks.
pub const PROVIDERS: [&str; 7] = [
    "anthropic",
    "openai",
    "openai-compatible",
    "azure-openai",
    "openai-responses",
    "gemini",
    "bedrock",
];

/// The fixture's config: one endpoint per front door (all at the root, so shared
/// paths such as `GET /v1/models` are told apart by dialect marks, as in the
/// built-in default), a second Anthropic endpoint under a prefix with a model
/// map, generous plugin deadlines (the fuzzer shares the machine) and no
/// quarantine (a trap must be seen on every call, not hidden behind a 503).
pub const CONFIG: &str = r#"
[limits]
plugin_timeout_ms = 2000
quarantine_after = 4294967295
quarantine_secs = 0

[[endpoints]]
name = "anthropic"
front_door = "anthropic"
[[endpoints.targets]]
name = "anthropic"
provider = "anthropic"
api_key = "sk-ant-test"

[[endpoints]]
name = "openai"
front_door = "openai"
[[endpoints.targets]]
name = "openai"
provider = "openai"
api_key = "sk-test"

[[endpoints]]
name = "compatible"
front_door = "openai-compatible"
prefix = "/local"
[[endpoints.targets]]
name = "vllm"
provider = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"

[[endpoints]]
name = "azure"
front_door = "azure-openai"
[[endpoints.targets]]
name = "azure"
provider = "azure-openai"
base_url = "https://example.openai.azure.com"
api_key = "azure-key"

[[endpoints]]
name = "responses"
front_door = "openai-responses"
[[endpoints.targets]]
name = "responses"
provider = "openai-responses"

[[endpoints]]
name = "gemini"
front_door = "gemini"
[[endpoints.targets]]
name = "gemini"
provider = "gemini"
api_key = "goog-key"

[[endpoints]]
name = "bedrock"
front_door = "bedrock"
[[endpoints.targets]]
name = "bedrock"
provider = "bedrock"
base_url = "https://bedrock-runtime.us-east-1.amazonaws.com"
aws = { access_key_id = "AKIDEXAMPLE", secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" }

[[endpoints]]
name = "team"
front_door = "anthropic"
prefix = "/team/a"
[endpoints.models]
"claude-*" = "claude"
"gpt-5" = ["gpt/gpt-5-mini", "claude/claude-haiku-4-5"]
[[endpoints.targets]]
name = "claude"
provider = "anthropic"
[[endpoints.targets]]
name = "gpt"
provider = "openai"
[[endpoints.targets]]
name = "gemini"
provider = "gemini"
translate = true
"#;

/// The process-wide fixture.
pub struct Fixture {
    pub engine: PluginEngine,
    pub settings: Settings,
    pub stats: StatsRegistry,
    pub runtime: Runtime,
    /// The providers of [`PROVIDERS`], in that order.
    pub providers: Vec<Arc<ProviderPlugin>>,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

/// Where compiled plugins are cached between fuzz processes (libFuzzer restarts
/// a process per crash, `-fork`/`-jobs` run many): `TOLLGATE_FUZZ_CACHE`, else a
/// directory under the system temp dir.
fn cache_dir() -> std::path::PathBuf {
    std::env::var_os("TOLLGATE_FUZZ_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("tollgate-fuzz-plugin-cache"))
}

/// The fixture, built on first use.
pub fn get() -> &'static Fixture {
    FIXTURE.get_or_init(build)
}

fn build() -> Fixture {
    let config = Config::parse(CONFIG, |_| None).expect("the fixture config parses");
    let limits = tollgate::plugin::CallLimits {
        timeout: std::time::Duration::from_millis(config.limits.plugin_timeout_ms),
        memory_bytes: 64 << 20,
    };
    let engine = PluginEngine::new(Some(&cache_dir()), limits).expect("plugin engine");
    let settings = Settings {
        data_dir: std::env::temp_dir().join("tollgate-fuzz-data-unused"),
        // Never a real directory: only the embedded plugins load.
        plugin_dir: std::path::PathBuf::from("/nonexistent/tollgate-fuzz-plugins"),
        config_path: None,
    };
    let stats = StatsRegistry::default();
    let runtime = Runtime::prepare(&engine, &settings, Some(config), None, &stats, 1)
        .expect("the fixture runtime resolves");
    let providers = PROVIDERS
        .iter()
        .map(|id| {
            runtime
                .plugins
                .provider(id)
                .unwrap_or_else(|| panic!("built-in provider `{id}` did not load"))
        })
        .collect();
    Fixture {
        engine,
        settings,
        stats,
        runtime,
        providers,
    }
}
