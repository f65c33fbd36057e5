//! The plugin runtime: loading components, calling them under limits, and the
//! typed faces of the four plugin kinds the rest of the host uses.

pub mod bindings;
pub mod engine;
pub mod pool;
pub mod registry;

use std::sync::Arc;

use futures::future::BoxFuture;
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
pub use types::{
    ApiError, ChatRequest, ChatResponse, Dialect, ErrorKind, Operation, StopReason, StreamEvent,
    TextPart, ThinkingConfig, Usage,
};

/// Usage with nothing known yet.
pub fn empty_usage() -> Usage {
    Usage {
        input_tokens: None,
        output_tokens: None,
        cache_read_tokens: None,
        cache_write_tokens: None,
        cache_write_1h_tokens: None,
        reasoning_tokens: None,
        extra: None,
    }
}

/// The snake_case name of a stop reason, for records.
pub fn stop_reason_name(r: StopReason) -> &'static str {
    match r {
        StopReason::EndTurn => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::ContentFilter => "content_filter",
        StopReason::PauseTurn => "pause_turn",
        StopReason::Refusal => "refusal",
        StopReason::ContextLength => "context_length",
        StopReason::Error => "error",
        StopReason::Other => "other",
    }
}

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
        let what = match e.downcast_ref::<wasmtime::Trap>() {
            Some(trap) => trap.to_string(),
            None => text.lines().next().unwrap_or("unknown trap").to_string(),
        };
        // A guest's panic message is the useful part of what it wrote.
        let stderr: Vec<String> = store
            .data()
            .stderr_tail()
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("note: run with"))
            .map(str::to_string)
            .collect();
        if stderr.is_empty() {
            Self::Trap(what)
        } else {
            Self::Trap(format!("{what} (plugin said: {})", stderr.join(" ")))
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
    fn instantiate<'a>(
        pre: &'a Self::Pre,
        store: &'a mut Store<HostState>,
    ) -> BoxFuture<'a, wasmtime::Result<Self>> {
        Box::pin(pre.instantiate_async(store))
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
            fn instantiate<'a>(
                pre: &'a Self::Pre,
                store: &'a mut Store<HostState>,
            ) -> BoxFuture<'a, wasmtime::Result<Self>> {
                Box::pin(async move {
                    let inner = pre.0.instantiate_async(&mut *store).await?;
                    match inner.$iface().call_configure(&mut *store, &pre.1).await? {
                        Ok(()) => Ok(Self(inner)),
                        Err(msg) => Err(wasmtime::Error::msg(format!(
                            "configure rejected the config: {msg}"
                        ))),
                    }
                })
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

/// Call into a checked-out instance: `plugin_call!(checkout, |bindings, store| future)`.
/// Arms the deadline, contains panics of host functions the plugin calls, and
/// settles the outcome (health, quarantine, discarding a broken instance).
#[macro_export]
macro_rules! plugin_call {
    ($co:expr, |$b:pat_param, $s:ident| $call:expr) => {{
        let co = &mut $co;
        match co.begin() {
            Err(e) => Err(e),
            Ok(($b, $s)) => {
                let called =
                    futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe($call)).await;
                co.settle(called)
            }
        }
    }};
}
pub use plugin_call;

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
    pub async fn summarize(
        &self,
        op: Operation,
        body: &[u8],
        want_text: bool,
    ) -> ApiResult<RequestSummary> {
        let mut co = self.pool.checkout().await?;
        plugin_call!(co, |p, s| p
            .tollgate_plugin_provider_api()
            .call_summarize(s, op, body, want_text))
    }

    pub async fn edit(
        &self,
        op: Operation,
        body: &[u8],
        edits: &RequestEdits,
    ) -> ApiResult<Vec<u8>> {
        let mut co = self.pool.checkout().await?;
        plugin_call!(co, |p, s| p
            .tollgate_plugin_provider_api()
            .call_edit(s, op, body, edits))
    }

    pub async fn encode_error(&self, error: &ApiError) -> Result<HttpResponse, PluginError> {
        let mut co = self.pool.checkout().await?;
        plugin_call!(co, |p, s| p
            .tollgate_plugin_provider_api()
            .call_encode_error(s, error))
    }

    pub async fn encode_models(&self, models: &[String]) -> Result<Vec<u8>, PluginError> {
        let mut co = self.pool.checkout().await?;
        plugin_call!(co, |p, s| p
            .tollgate_plugin_provider_api()
            .call_encode_models(s, models))
    }

    pub async fn summarize_response(
        &self,
        op: Operation,
        body: &[u8],
    ) -> ApiResult<ResponseSummary> {
        let mut co = self.pool.checkout().await?;
        plugin_call!(co, |p, s| p
            .tollgate_plugin_provider_api()
            .call_summarize_response(s, op, body))
    }

    pub async fn decode_error(&self, status: u16, body: &[u8]) -> Result<ApiError, PluginError> {
        let mut co = self.pool.checkout().await?;
        plugin_call!(co, |p, s| p
            .tollgate_plugin_provider_api()
            .call_decode_error(s, status, body))
    }

    pub async fn decode_request(
        &self,
        op: Operation,
        body: &[u8],
        path_model: Option<String>,
        stream: bool,
    ) -> ApiResult<ChatRequest> {
        let mut co = self.pool.checkout().await?;
        plugin_call!(co, |p, s| p
            .tollgate_plugin_provider_api()
            .call_decode_request(s, op, body, path_model.as_deref(), stream))
    }

    pub async fn encode_request(
        &self,
        op: Operation,
        request: &ChatRequest,
        target: &TargetInfo,
    ) -> ApiResult<UpstreamRequest> {
        let mut co = self.pool.checkout().await?;
        plugin_call!(co, |p, s| p
            .tollgate_plugin_provider_api()
            .call_encode_request(s, op, request, target))
    }

    pub async fn decode_response(&self, op: Operation, body: &[u8]) -> ApiResult<ChatResponse> {
        let mut co = self.pool.checkout().await?;
        plugin_call!(co, |p, s| p
            .tollgate_plugin_provider_api()
            .call_decode_response(s, op, body))
    }

    /// Encode a chat answer for the client (`encode_response_for` with `chat`).
    pub async fn encode_response(&self, response: &ChatResponse) -> ApiResult<Vec<u8>> {
        self.encode_response_for(Operation::Chat, response).await
    }

    /// Encode the answer of `op` for the client; for `count-tokens` only the
    /// response's input tokens matter.
    pub async fn encode_response_for(
        &self,
        op: Operation,
        response: &ChatResponse,
    ) -> ApiResult<Vec<u8>> {
        let mut co = self.pool.checkout().await?;
        plugin_call!(co, |p, s| p
            .tollgate_plugin_provider_api()
            .call_encode_response(s, op, response))
    }

    /// Open a stream encoder (canonical events → this dialect's stream bytes).
    /// `query` is the client's query string (without `?`); the client did not
    /// ask for usage in the stream (see `stream_encoder_with_usage`).
    pub async fn stream_encoder(
        &self,
        model: &str,
        query: &str,
    ) -> Result<StreamEncoder, PluginError> {
        self.stream_encoder_with_usage(model, query, false).await
    }

    /// `stream_encoder`, saying whether the client asked for usage in the stream
    /// (OpenAI `stream_options.include_usage`).
    pub async fn stream_encoder_with_usage(
        &self,
        model: &str,
        query: &str,
        include_usage: bool,
    ) -> Result<StreamEncoder, PluginError> {
        let mut checkout = self.pool.checkout().await?;
        let resource = plugin_call!(checkout, |p, s| p
            .tollgate_plugin_provider_api()
            .stream_encoder()
            .call_constructor(s, model, query, include_usage))?;
        Ok(StreamEncoder {
            checkout,
            resource: Some(resource),
        })
    }

    /// Open a stream decoder on an instance held for the stream's life.
    pub async fn stream_decoder(&self, with_content: bool) -> Result<StreamDecoder, PluginError> {
        let mut checkout = self.pool.checkout().await?;
        let resource = plugin_call!(checkout, |p, s| p
            .tollgate_plugin_provider_api()
            .stream_decoder()
            .call_constructor(s, with_content))?;
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
    pub async fn feed(&mut self, chunk: &[u8]) -> ApiResult<Vec<StreamEvent>> {
        let Some(res) = self.resource else {
            return Err(PluginError::Poisoned);
        };
        let out = plugin_call!(self.checkout, |p, s| p
            .tollgate_plugin_provider_api()
            .stream_decoder()
            .call_feed(s, res, chunk));
        if out.is_err() {
            self.resource = None;
        }
        out
    }

    pub async fn finish(&mut self) -> ApiResult<Vec<StreamEvent>> {
        let Some(res) = self.resource else {
            return Err(PluginError::Poisoned);
        };
        let out = plugin_call!(self.checkout, |p, s| p
            .tollgate_plugin_provider_api()
            .stream_decoder()
            .call_finish(s, res));
        if out.is_err() {
            self.resource = None;
        }
        out
    }
}

impl StreamDecoder {
    /// Free the guest-side state and return the instance to its pool.
    pub async fn close(mut self) {
        if let Some(res) = self.resource.take() {
            let _ = plugin_call!(self.checkout, |_p, s| res.resource_drop_async(s));
        }
    }
}

impl Drop for StreamDecoder {
    fn drop(&mut self) {
        // Not closed: the guest still holds the resource, so the instance is
        // not reused.
        if self.resource.is_some() {
            self.checkout.discard();
        }
    }
}

/// A provider's stream encoder, holding its instance.
pub struct StreamEncoder {
    checkout: Checkout<bindings::provider::Provider>,
    resource: Option<ResourceAny>,
}

impl StreamEncoder {
    /// The stream's `content-type`, as the plugin names it.
    pub async fn content_type(&mut self) -> Result<String, PluginError> {
        let Some(res) = self.resource else {
            return Err(PluginError::Poisoned);
        };
        plugin_call!(self.checkout, |p, s| p
            .tollgate_plugin_provider_api()
            .stream_encoder()
            .call_content_type(s, res))
    }

    pub async fn encode(&mut self, events: &[StreamEvent]) -> ApiResult<Vec<u8>> {
        let Some(res) = self.resource else {
            return Err(PluginError::Poisoned);
        };
        let out = plugin_call!(self.checkout, |p, s| p
            .tollgate_plugin_provider_api()
            .stream_encoder()
            .call_encode(s, res, events));
        if out.is_err() {
            self.resource = None;
        }
        out
    }

    pub async fn finish(&mut self) -> Result<Vec<u8>, PluginError> {
        let Some(res) = self.resource else {
            return Err(PluginError::Poisoned);
        };
        let out = plugin_call!(self.checkout, |p, s| p
            .tollgate_plugin_provider_api()
            .stream_encoder()
            .call_finish(s, res));
        if out.is_err() {
            self.resource = None;
        }
        out
    }
}

impl StreamEncoder {
    /// Free the guest-side state and return the instance to its pool.
    pub async fn close(mut self) {
        if let Some(res) = self.resource.take() {
            let _ = plugin_call!(self.checkout, |_p, s| res.resource_drop_async(s));
        }
    }
}

impl Drop for StreamEncoder {
    fn drop(&mut self) {
        // Not closed: the guest still holds the resource, so the instance is
        // not reused.
        if self.resource.is_some() {
            self.checkout.discard();
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
    pub async fn check(&self, stage: Stage, parts: &[TextPart]) -> Result<Verdict, PluginError> {
        let mut checkout = self.pool.checkout().await?;
        let verdict = plugin_call!(checkout, |g, s| g
            .0
            .tollgate_plugin_guardrail_api()
            .call_check(s, stage, parts))?;
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
    pub async fn route(
        &self,
        request: &RouteRequest,
        candidates: &[Candidate],
    ) -> Result<Result<Vec<u32>, String>, PluginError> {
        let mut checkout = self.pool.checkout().await?;
        let plan = plugin_call!(checkout, |r, s| r
            .0
            .tollgate_plugin_router_api()
            .call_route(s, request, candidates))?;
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
    pub async fn price(
        &self,
        provider: &str,
        model: &str,
        usage: &Usage,
    ) -> Result<Option<Cost>, PluginError> {
        let mut co = self.pool.checkout().await?;
        plugin_call!(co, |c, s| c
            .0
            .tollgate_plugin_cost_model_api()
            .call_price(s, provider, model, usage))
    }

    pub async fn known_models(&self) -> Result<Vec<ModelPrice>, PluginError> {
        let mut co = self.pool.checkout().await?;
        plugin_call!(co, |c, s| c
            .0
            .tollgate_plugin_cost_model_api()
            .call_known_models(s))
    }
}
