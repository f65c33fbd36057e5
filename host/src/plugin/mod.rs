//! The plugin runtime: loading components, calling them under limits, and the
//! typed faces of the four plugin kinds the rest of the host uses.

pub mod bindings;
pub mod engine;
pub mod pool;
pub mod registry;

use std::sync::Arc;

use wasmtime::component::ResourceAny;
use wasmtime::Store;

pub use engine::{CallLimits, HostState, PluginEngine};
pub use pool::{HealthReport, QuarantinePolicy};
pub use registry::{PluginInfo, PluginSet, Source};

use bindings::cost_model::exports::tollgate::plugin::cost_model_api as cm;
use bindings::guardrail::exports::tollgate::plugin::guardrail_api as gr;
use bindings::provider::exports::tollgate::plugin::provider_api as pv;
use bindings::router::exports::tollgate::plugin::router_api as rt;
use bindings::types;
use pool::{Checkout, Pool, World};

pub use cm::{Cost, ModelPrice};
pub use gr::{BlockInfo, Redaction, Stage, StreamVerdict, Verdict};
pub use pv::{
    AuthScheme, HttpResponse, ProviderInfo, RequestEdits, RequestSummary, ResponseSummary, Route,
    TargetInfo, UpstreamRequest,
};
pub use rt::{Candidate, RouteRequest};
pub use types::{ApiError, Dialect, ErrorKind, Operation, StreamEvent, TextPart, Usage};

/// Why a plugin call produced no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginError {
    #[error("plugin exceeded its {0} ms deadline")]
    Timeout(u64),
    #[error("plugin exceeded its {0} MiB memory limit")]
    OutOfMemory(usize),
    #[error("plugin trapped: {0}")]
    Trap(String),
    #[error("plugin is quarantined after repeated failures")]
    Quarantined,
    #[error("plugin instance is unusable after an earlier failure")]
    Poisoned,
    #[error("plugin returned malformed output: {0}")]
    Malformed(String),
}

impl PluginError {
    /// Classify an error from a call into the sandbox.
    pub fn from_wasmtime(
        e: &wasmtime::Error,
        store: &Store<HostState>,
        limits: CallLimits,
    ) -> Self {
        if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
            if *trap == wasmtime::Trap::Interrupt {
                return Self::Timeout(
                    u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX),
                );
            }
        }
        let text = format!("{e:?}");
        if text.contains("growing memory")
            || text.contains("memory allocation")
            || text.contains("out of memory")
        {
            return Self::OutOfMemory(limits.memory_bytes >> 20);
        }
        let stderr = store.data().stderr_tail();
        let first = text.lines().next().unwrap_or("unknown trap").to_string();
        if stderr.is_empty() {
            Self::Trap(first)
        } else {
            Self::Trap(format!("{first}; plugin stderr: {stderr}"))
        }
    }
}

/// The kind of a plugin, from the interface its component exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    Provider,
    Guardrail,
    Router,
    CostModel,
}

impl PluginKind {
    /// The export name that marks a component as this kind.
    pub fn export_name(self) -> &'static str {
        match self {
            Self::Provider => "tollgate:plugin/provider-api@0.1.0",
            Self::Guardrail => "tollgate:plugin/guardrail-api@0.1.0",
            Self::Router => "tollgate:plugin/router-api@0.1.0",
            Self::CostModel => "tollgate:plugin/cost-model-api@0.1.0",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provider => "provider",
            Self::Guardrail => "guardrail",
            Self::Router => "router",
            Self::CostModel => "cost-model",
        }
    }

    pub const ALL: [PluginKind; 4] = [
        Self::Provider,
        Self::Guardrail,
        Self::Router,
        Self::CostModel,
    ];
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// ----- World impls -----

impl World for bindings::provider::Provider {
    type Pre = bindings::provider::ProviderPre<HostState>;
    fn instantiate(pre: &Self::Pre, store: &mut Store<HostState>) -> wasmtime::Result<Self> {
        pre.instantiate(store)
    }
}

/// A guardrail instance configured with one JSON config.
pub struct ConfiguredGuardrail(bindings::guardrail::Guardrail);
/// A router instance configured with one JSON config.
pub struct ConfiguredRouter(bindings::router::Router);
/// A cost-model instance configured with one JSON config.
pub struct ConfiguredCostModel(bindings::cost_model::CostModel);

/// Instantiate and configure; a configure error is a load-time error.
macro_rules! configured_world {
    ($ty:ident, $inner:path, $pre:path, $iface:ident) => {
        impl World for $ty {
            type Pre = ($pre, String);
            fn instantiate(
                pre: &Self::Pre,
                store: &mut Store<HostState>,
            ) -> wasmtime::Result<Self> {
                let inner = pre.0.instantiate(&mut *store)?;
                match inner.$iface().call_configure(&mut *store, &pre.1)? {
                    Ok(()) => Ok(Self(inner)),
                    Err(msg) => Err(wasmtime::Error::msg(format!(
                        "configure rejected the config: {msg}"
                    ))),
                }
            }
        }
    };
}
configured_world!(
    ConfiguredGuardrail,
    bindings::guardrail::Guardrail,
    bindings::guardrail::GuardrailPre<HostState>,
    tollgate_plugin_guardrail_api
);
configured_world!(
    ConfiguredRouter,
    bindings::router::Router,
    bindings::router::RouterPre<HostState>,
    tollgate_plugin_router_api
);
configured_world!(
    ConfiguredCostModel,
    bindings::cost_model::CostModel,
    bindings::cost_model::CostModelPre<HostState>,
    tollgate_plugin_cost_model_api
);

/// The result of a call whose plugin may answer with a dialect error.
pub type ApiResult<T> = Result<Result<T, ApiError>, PluginError>;

// ----- Provider -----

/// A loaded provider plugin.
pub struct ProviderPlugin {
    pub name: Arc<str>,
    pub info: ProviderInfo,
    pub(crate) pool: Arc<Pool<bindings::provider::Provider>>,
}

impl ProviderPlugin {
    pub fn summarize(
        &self,
        op: Operation,
        body: &[u8],
        want_text: bool,
    ) -> ApiResult<RequestSummary> {
        self.pool.call(|p, s| {
            p.tollgate_plugin_provider_api()
                .call_summarize(s, op, body, want_text)
        })
    }

    pub fn edit(&self, op: Operation, body: &[u8], edits: &RequestEdits) -> ApiResult<Vec<u8>> {
        self.pool.call(|p, s| {
            p.tollgate_plugin_provider_api()
                .call_edit(s, op, body, edits)
        })
    }

    pub fn encode_error(&self, error: &ApiError) -> Result<HttpResponse, PluginError> {
        self.pool
            .call(|p, s| p.tollgate_plugin_provider_api().call_encode_error(s, error))
    }

    pub fn encode_models(&self, models: &[String]) -> Result<Vec<u8>, PluginError> {
        self.pool.call(|p, s| {
            p.tollgate_plugin_provider_api()
                .call_encode_models(s, models)
        })
    }

    pub fn summarize_response(&self, op: Operation, body: &[u8]) -> ApiResult<ResponseSummary> {
        self.pool.call(|p, s| {
            p.tollgate_plugin_provider_api()
                .call_summarize_response(s, op, body)
        })
    }

    pub fn decode_error(&self, status: u16, body: &[u8]) -> Result<ApiError, PluginError> {
        self.pool.call(|p, s| {
            p.tollgate_plugin_provider_api()
                .call_decode_error(s, status, body)
        })
    }

    /// Open a stream encoder (canonical events → this dialect's stream bytes).
    pub fn stream_encoder(&self, model: &str) -> Result<StreamEncoder, PluginError> {
        let mut checkout = self.pool.checkout()?;
        let resource = checkout.call(|p, s| {
            p.tollgate_plugin_provider_api()
                .stream_encoder()
                .call_constructor(s, model)
        })?;
        Ok(StreamEncoder {
            checkout,
            resource: Some(resource),
        })
    }

    /// Open a stream decoder on an instance held for the stream's life.
    pub fn stream_decoder(&self, with_content: bool) -> Result<StreamDecoder, PluginError> {
        let mut checkout = self.pool.checkout()?;
        let resource = checkout.call(|p, s| {
            p.tollgate_plugin_provider_api()
                .stream_decoder()
                .call_constructor(s, with_content)
        })?;
        Ok(StreamDecoder {
            checkout,
            resource: Some(resource),
        })
    }
}

/// A provider's stream decoder, holding its instance.
pub struct StreamDecoder {
    checkout: Checkout<bindings::provider::Provider>,
    resource: Option<ResourceAny>,
}

impl StreamDecoder {
    pub fn feed(&mut self, chunk: &[u8]) -> ApiResult<Vec<StreamEvent>> {
        let Some(res) = self.resource else {
            return Err(PluginError::Poisoned);
        };
        let out = self.checkout.call(|p, s| {
            p.tollgate_plugin_provider_api()
                .stream_decoder()
                .call_feed(s, res, chunk)
        });
        if out.is_err() {
            self.resource = None;
        }
        out
    }

    pub fn finish(&mut self) -> ApiResult<Vec<StreamEvent>> {
        let Some(res) = self.resource else {
            return Err(PluginError::Poisoned);
        };
        let out = self.checkout.call(|p, s| {
            p.tollgate_plugin_provider_api()
                .stream_decoder()
                .call_finish(s, res)
        });
        if out.is_err() {
            self.resource = None;
        }
        out
    }
}

impl Drop for StreamDecoder {
    fn drop(&mut self) {
        if let Some(res) = self.resource.take() {
            // Free the guest-side state so the instance can be reused.
            let _ = self.checkout.call(|_, s| res.resource_drop(s));
        }
    }
}

/// A provider's stream encoder, holding its instance.
pub struct StreamEncoder {
    checkout: Checkout<bindings::provider::Provider>,
    resource: Option<ResourceAny>,
}

impl StreamEncoder {
    pub fn encode(&mut self, events: &[StreamEvent]) -> ApiResult<Vec<u8>> {
        let Some(res) = self.resource else {
            return Err(PluginError::Poisoned);
        };
        let out = self.checkout.call(|p, s| {
            p.tollgate_plugin_provider_api()
                .stream_encoder()
                .call_encode(s, res, events)
        });
        if out.is_err() {
            self.resource = None;
        }
        out
    }

    pub fn finish(&mut self) -> Result<Vec<u8>, PluginError> {
        let Some(res) = self.resource else {
            return Err(PluginError::Poisoned);
        };
        let out = self.checkout.call(|p, s| {
            p.tollgate_plugin_provider_api()
                .stream_encoder()
                .call_finish(s, res)
        });
        if out.is_err() {
            self.resource = None;
        }
        out
    }
}

impl Drop for StreamEncoder {
    fn drop(&mut self) {
        if let Some(res) = self.resource.take() {
            let _ = self.checkout.call(|_, s| res.resource_drop(s));
        }
    }
}

// ----- Guardrail -----

pub struct GuardrailPlugin {
    pub name: Arc<str>,
    pub id: String,
    pub stages: Vec<Stage>,
    pub(crate) pool: Arc<Pool<ConfiguredGuardrail>>,
}

impl GuardrailPlugin {
    /// Check text parts. Malformed verdicts (redactions out of range,
    /// overlapping, or off char boundaries) are an error and count as a failure.
    pub fn check(&self, stage: Stage, parts: &[TextPart]) -> Result<Verdict, PluginError> {
        let mut checkout = self.pool.checkout()?;
        let verdict = checkout.call(|g, s| {
            g.0.tollgate_plugin_guardrail_api()
                .call_check(s, stage, parts)
        })?;
        if let Verdict::Redact(list) = &verdict {
            if let Err(msg) = validate_redactions(list, parts) {
                let err = PluginError::Malformed(msg);
                checkout.reject(&err);
                return Err(err);
            }
        }
        Ok(verdict)
    }
}

/// Redactions must name existing parts, lie on char boundaries and not overlap.
fn validate_redactions(list: &[Redaction], parts: &[TextPart]) -> Result<(), String> {
    let mut spans: Vec<(u32, u32, u32)> = Vec::with_capacity(list.len());
    for r in list {
        let Some(part) = parts.get(r.part as usize) else {
            return Err(format!(
                "redaction names part {} of {}",
                r.part,
                parts.len()
            ));
        };
        let (start, end) = (r.start as usize, r.end as usize);
        if start > end
            || end > part.text.len()
            || !part.text.is_char_boundary(start)
            || !part.text.is_char_boundary(end)
        {
            return Err(format!(
                "redaction {start}..{end} is outside part {} ({} bytes) or splits a character",
                r.part,
                part.text.len()
            ));
        }
        spans.push((r.part, r.start, r.end));
    }
    spans.sort_unstable();
    for w in spans.windows(2) {
        if w[0].0 == w[1].0 && w[1].1 < w[0].2 {
            return Err(format!("redactions overlap in part {}", w[0].0));
        }
    }
    Ok(())
}

// ----- Router -----

pub struct RouterPlugin {
    pub name: Arc<str>,
    pub(crate) pool: Arc<Pool<ConfiguredRouter>>,
}

impl RouterPlugin {
    /// The attempt plan. Indexes out of range or repeated are malformed output.
    pub fn route(
        &self,
        request: &RouteRequest,
        candidates: &[Candidate],
    ) -> Result<Result<Vec<u32>, String>, PluginError> {
        let mut checkout = self.pool.checkout()?;
        let plan = checkout.call(|r, s| {
            r.0.tollgate_plugin_router_api()
                .call_route(s, request, candidates)
        })?;
        if let Ok(plan) = &plan {
            let mut seen = vec![false; candidates.len()];
            for &i in plan {
                match seen.get_mut(i as usize) {
                    Some(s) if !*s => *s = true,
                    _ => {
                        let err = PluginError::Malformed(format!(
                            "route plan names candidate {i} of {} twice or out of range",
                            candidates.len()
                        ));
                        checkout.reject(&err);
                        return Err(err);
                    }
                }
            }
        }
        Ok(plan)
    }
}

// ----- Cost model -----

pub struct CostModelPlugin {
    pub name: Arc<str>,
    pub(crate) pool: Arc<Pool<ConfiguredCostModel>>,
}

impl CostModelPlugin {
    pub fn price(
        &self,
        provider: &str,
        model: &str,
        usage: &Usage,
    ) -> Result<Option<Cost>, PluginError> {
        self.pool.call(|c, s| {
            c.0.tollgate_plugin_cost_model_api()
                .call_price(s, provider, model, usage)
        })
    }

    pub fn known_models(&self) -> Result<Vec<ModelPrice>, PluginError> {
        self.pool
            .call(|c, s| c.0.tollgate_plugin_cost_model_api().call_known_models(s))
    }
}
