//! The translated path: the client's request decoded into the canonical model by
//! the front-door plugin, encoded for the target by its provider plugin, and the
//! answer (or stream, event by event) decoded by the target's plugin and encoded
//! back in the client's dialect. Used when a target speaks another dialect, or
//! when a target sets `translate = true`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Response};
use bytes::Bytes;
use futures::StreamExt;

use super::errors::{api_error, plugin_failure, respond};
use super::proxy::{apply_usage, error_chain, merge_usage, Ctx};
use super::retag::StreamRetag;
use super::signatures::StreamWrap;

/// Whether a translated answer's thinking signatures must be wrapped with their
/// issuer (the client's own provider family would not verify them).
fn wraps_signatures(ep: &Endpoint, target: &Target) -> bool {
    super::signatures::family(&ep.front.info.id)
        != super::signatures::family(&target.provider.info.id)
}
pub(super) use super::retag::ToolTags;
use super::App;
use crate::plugin::{
    AuthScheme, ChatRequest, ErrorKind, Operation, StreamDecoder, StreamEncoder, StreamEvent,
    ThinkingConfig, Usage,
};
use crate::runtime::{Endpoint, Runtime, Target};

/// Client headers that carry over to a translated request (the plugin sets the
/// dialect's own headers).
const CARRY_OVER: &[&str] = &["user-agent", "x-request-id", "traceparent", "tracestate"];

/// Headers for a translated request: the plugin's, a few of the client's, and
/// the credential in the target's auth scheme (the target's key, or the
/// caller's own key when the target has none).
pub(super) fn headers(
    client: &HeaderMap,
    target: &Target,
    plugin_headers: &[crate::plugin::bindings::types::Header],
    strip_client_key: bool,
    client_query: Option<&str>,
    url: &mut String,
) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(plugin_headers.len() + 4);
    for h in plugin_headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(h.name.as_str()),
            HeaderValue::try_from(h.value.as_str()),
        ) {
            out.append(n, v);
        }
    }
    for name in CARRY_OVER {
        if let Some(v) = client.get(*name) {
            out.insert(*name, v.clone());
        }
    }
    // Headers of the target's own dialect that the client sent (e.g.
    // `anthropic-beta` when an Anthropic client reaches an Anthropic upstream
    // through the canonical model) pass too, overriding the plugin's defaults.
    for name in &target.provider.info.passthrough_headers {
        let Ok(name) = HeaderName::try_from(name.to_ascii_lowercase()) else {
            continue;
        };
        let values: Vec<HeaderValue> = client.get_all(&name).iter().cloned().collect();
        if !values.is_empty() {
            out.remove(&name);
            for v in values {
                out.append(name.clone(), v);
            }
        }
    }
    let caller = (!strip_client_key)
        .then(|| super::proxy::caller_key(client, client_query))
        .flatten()
        .map(str::to_string);
    let Some(key) = target.api_key.clone().or(caller) else {
        return out;
    };
    let pair = match &target.provider.info.auth {
        AuthScheme::Bearer => Some(("authorization".to_string(), format!("Bearer {key}"))),
        AuthScheme::Header(h) => Some((h.to_ascii_lowercase(), key)),
        AuthScheme::Query(param) => {
            super::proxy::add_query_param(url, param, &key);
            None
        }
        AuthScheme::AwsSigv4(_) | AuthScheme::None => None,
    };
    if let Some((n, v)) = pair {
        if let (Ok(n), Ok(mut v)) = (HeaderName::try_from(n), HeaderValue::try_from(v)) {
            v.set_sensitive(true);
            out.insert(n, v);
        }
    }
    out
}

/// The request with the target's defaults filled in, or `None` when they
/// change nothing (no copy then).
pub(super) fn apply_defaults(
    request: &ChatRequest,
    d: &crate::config::TargetDefaults,
) -> Option<ChatRequest> {
    let max_tokens = match (request.sampling.max_tokens, d.max_tokens, d.max_tokens_cap) {
        (Some(m), _, Some(cap)) if m > cap => Some(cap),
        (None, Some(def), cap) => Some(cap.map_or(def, |c| def.min(c))),
        _ => None,
    };
    let thinking = (request.thinking.is_none()
        && (d.reasoning_effort.is_some() || d.thinking_budget.is_some()))
    .then(|| ThinkingConfig {
        enabled: true,
        budget_tokens: d.thinking_budget,
        effort: d.reasoning_effort.clone(),
        summary: None,
    });
    let temperature = d
        .temperature
        .filter(|_| request.sampling.temperature.is_none());
    if max_tokens.is_none() && thinking.is_none() && temperature.is_none() {
        return None;
    }
    let mut out = request.clone();
    if max_tokens.is_some() {
        out.sampling.max_tokens = max_tokens;
    }
    if thinking.is_some() {
        out.thinking = thinking;
    }
    if temperature.is_some() {
        out.sampling.temperature = temperature;
    }
    Some(out)
}

/// `list-models` for a target of another dialect: the models the endpoint can
/// reach, in the client's dialect.
pub(super) async fn list_models(
    app: &App,
    ep: &Endpoint,
    target: &Target,
    ctx: Ctx,
) -> Response<Body> {
    let mut models: Vec<String> = ep.targets.iter().filter_map(|t| t.model.clone()).collect();
    if models.is_empty() {
        if let Some(cost) = &ep.cost {
            if let Ok(known) = cost.known_models().await {
                models = known
                    .into_iter()
                    .filter(|m| m.provider == target.provider.info.id)
                    .map(|m| m.model)
                    .collect();
            }
        }
    }
    models.sort();
    models.dedup();
    match ep.front.encode_models(&models).await {
        Ok(body) => {
            let mut resp = Response::new(Body::from(body));
            resp.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            ctx.finish(app, 200, None);
            resp
        }
        Err(e) => {
            let err = plugin_failure(&format!("front-door plugin `{}`", ep.front.name), &e);
            let r = respond(Some(&ep.front), &err).await;
            ctx.finish(app, r.status().as_u16(), Some(err.message));
            r
        }
    }
}

/// Answer the client from a translated upstream response.
#[allow(clippy::too_many_arguments)]
pub(super) async fn relay(
    app: Arc<App>,
    rt: Arc<Runtime>,
    ep_idx: usize,
    target_idx: usize,
    op: Operation,
    resp: super::upstream::UpstreamResponse,
    mut ctx: Ctx,
    stream: bool,
    client_model: String,
    query: String,
    tags: Option<ToolTags>,
    include_usage: bool,
) -> Response<Body> {
    let ep = &rt.endpoints[ep_idx];
    let target = &ep.targets[target_idx];
    let status = resp.status();
    let idle = Duration::from_millis(rt.config.upstream.idle_timeout_ms);

    if status.is_success() && stream && op == Operation::Chat {
        let decoder = target.provider.stream_decoder(true).await;
        let encoder = ep
            .front
            .stream_encoder_with_usage(&client_model, &query, include_usage)
            .await;
        let (decoder, mut encoder) = match (decoder, encoder) {
            (Ok(d), Ok(e)) => (d, e),
            (Err(e), _) | (_, Err(e)) => {
                let err = plugin_failure("stream translation", &e);
                let r = respond(Some(&ep.front), &err).await;
                ctx.finish(&app, r.status().as_u16(), Some(err.message));
                return r;
            }
        };
        let content_type = encoder
            .content_type()
            .await
            .ok()
            .and_then(|t| HeaderValue::from_str(&t).ok())
            .unwrap_or(HeaderValue::from_static("text/event-stream"));
        let body = translate_stream(
            app,
            Arc::clone(&rt),
            ep_idx,
            target_idx,
            resp,
            decoder,
            encoder,
            ctx,
            idle,
            tags.map(ToolTags::into_stream),
            wraps_signatures(ep, target).then(|| StreamWrap::new(&target.provider.info.id)),
        );
        let mut out = Response::new(Body::from_stream(body));
        out.headers_mut().insert("content-type", content_type);
        out.headers_mut()
            .insert("cache-control", HeaderValue::from_static("no-cache"));
        return out;
    }

    let body = match tokio::time::timeout(idle, resp.bytes()).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => Bytes::from(format!("upstream body failed: {}", error_chain(&e))),
        Err(_) => Bytes::from_static(b"upstream body stalled"),
    };
    ctx.rec.ttfb_ms = Some(ctx.started.elapsed().as_secs_f64() * 1e3);
    if !status.is_success() {
        let err = match target.provider.decode_error(status.as_u16(), &body).await {
            Ok(e) => e,
            Err(e) => api_error(
                ErrorKind::BadGateway,
                status.as_u16(),
                format!("upstream answered {status} and its error could not be read: {e}"),
            ),
        };
        let r = respond(Some(&ep.front), &err).await;
        ctx.finish(&app, r.status().as_u16(), Some(err.message));
        return r;
    }
    let decoded = match target.provider.decode_response(op, &body).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            let r = respond(Some(&ep.front), &e).await;
            ctx.finish(&app, r.status().as_u16(), Some(e.message));
            return r;
        }
        Err(e) => {
            let err = plugin_failure(&format!("provider plugin `{}`", target.provider.name), &e);
            let r = respond(Some(&ep.front), &err).await;
            ctx.finish(&app, r.status().as_u16(), Some(err.message));
            return r;
        }
    };
    let mut answer = decoded;
    if let Some(tags) = &tags {
        tags.response(&mut answer);
    }
    if wraps_signatures(ep, target) {
        super::signatures::wrap_response(&mut answer, &target.provider.info.id);
    }
    let upstream_model = if client_model.is_empty() {
        answer.model.clone()
    } else {
        std::mem::replace(&mut answer.model, client_model)
    };
    match ep.front.encode_response_for(op, &answer).await {
        Ok(Ok(bytes)) => {
            ctx.rec.response_bytes = bytes.len() as u64;
            ctx.rec.upstream_model = Some(upstream_model);
            ctx.rec.stop_reason = answer
                .stop_reason
                .map(|r| crate::plugin::stop_reason_name(r).to_string());
            apply_usage(&mut ctx.rec, &answer.usage, ep, target).await;
            ctx.finish(&app, 200, None);
            let mut out = Response::new(Body::from(bytes));
            out.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            out
        }
        Ok(Err(e)) => {
            let r = respond(Some(&ep.front), &e).await;
            ctx.finish(&app, r.status().as_u16(), Some(e.message));
            r
        }
        Err(e) => {
            let err = plugin_failure(&format!("front-door plugin `{}`", ep.front.name), &e);
            let r = respond(Some(&ep.front), &err).await;
            ctx.finish(&app, r.status().as_u16(), Some(err.message));
            r
        }
    }
}

/// Everything a translated stream carries, and the record it owes. If the client
/// goes away mid-stream, `Drop` still writes the record.
struct Translating {
    app: Arc<App>,
    rt: Arc<Runtime>,
    ep_idx: usize,
    target_idx: usize,
    upstream: futures::stream::Peekable<UpstreamBody>,
    decoder: Option<StreamDecoder>,
    encoder: Option<StreamEncoder>,
    ctx: Option<Ctx>,
    usage: Usage,
    error: Option<String>,
    first: bool,
    done: bool,
    retag: Option<StreamRetag>,
    signatures: Option<StreamWrap>,
}

/// The upstream's response body as a stream of chunks.
type UpstreamBody = std::pin::Pin<
    Box<dyn futures::Stream<Item = Result<Bytes, super::upstream::UpstreamError>> + Send>,
>;

/// How many bytes of already-arrived upstream chunks go to the plugins at once.
const COALESCE_MAX: usize = 64 * 1024;

impl Translating {
    /// `first` plus the upstream chunks that have already arrived behind it, so a
    /// burst costs one decoder and one encoder call instead of one per chunk (as
    /// passthrough sends waiting chunks in one write). Never waits.
    fn with_waiting_chunks(&mut self, first: Bytes) -> Bytes {
        use futures::FutureExt;
        let ready = |up: &mut futures::stream::Peekable<_>| {
            matches!(
                std::pin::Pin::new(up).peek().now_or_never(),
                Some(Some(Ok(_)))
            )
        };
        if !ready(&mut self.upstream) {
            return first;
        }
        let mut buf = first.to_vec();
        while buf.len() < COALESCE_MAX && ready(&mut self.upstream) {
            match self.upstream.next().now_or_never() {
                Some(Some(Ok(c))) => buf.extend_from_slice(&c),
                _ => break,
            }
        }
        Bytes::from(buf)
    }

    fn absorb(&mut self, events: &[StreamEvent]) {
        for ev in events {
            match ev {
                StreamEvent::Start(s) => {
                    merge_usage(&mut self.usage, &s.usage);
                    if let Some(ctx) = self.ctx.as_mut() {
                        if !s.model.is_empty() {
                            ctx.rec.upstream_model = Some(s.model.clone());
                        }
                    }
                }
                StreamEvent::Usage(u) => merge_usage(&mut self.usage, u),
                StreamEvent::Finish(f) => {
                    if let Some(ctx) = self.ctx.as_mut() {
                        ctx.rec.stop_reason =
                            Some(crate::plugin::stop_reason_name(f.stop_reason).to_string());
                    }
                }
                StreamEvent::Error(e) => self.error = Some(e.message.clone()),
                _ => {}
            }
        }
    }

    /// Encode events for the client; an encoder failure ends the stream with an
    /// error.
    async fn encode(&mut self, events: &[StreamEvent]) -> Vec<u8> {
        let Some(enc) = self.encoder.as_mut() else {
            return Vec::new();
        };
        let rewritten;
        let events = if self.retag.is_some() || self.signatures.is_some() {
            let mut owned = events.to_vec();
            if let Some(r) = self.retag.as_mut() {
                r.apply(&mut owned);
            }
            if let Some(w) = self.signatures.as_mut() {
                w.apply(&mut owned);
            }
            rewritten = owned;
            rewritten.as_slice()
        } else {
            events
        };
        match enc.encode(events).await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                self.error.get_or_insert(e.message);
                self.done = true;
                Vec::new()
            }
            Err(e) => {
                self.error.get_or_insert(format!("front-door plugin: {e}"));
                self.done = true;
                Vec::new()
            }
        }
    }

    /// Close the stream in the client's dialect: an error event if it failed,
    /// then the encoder's closing bytes.
    async fn close(&mut self, failure: Option<crate::plugin::ApiError>) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(f) = failure {
            self.error.get_or_insert(f.message.clone());
            out.extend(self.encode(&[StreamEvent::Error(f)]).await);
        }
        if let Some(mut enc) = self.encoder.take() {
            if let Ok(tail) = enc.finish().await {
                out.extend(tail);
            }
            enc.close().await;
        }
        if let Some(dec) = self.decoder.take() {
            dec.close().await;
        }
        self.done = true;
        self.record().await;
        out
    }

    async fn record(&mut self) {
        let Some(mut ctx) = self.ctx.take() else {
            return;
        };
        let ep = &self.rt.endpoints[self.ep_idx];
        let target = &ep.targets[self.target_idx];
        apply_usage(&mut ctx.rec, &self.usage, ep, target).await;
        ctx.finish(&self.app, 200, self.error.take());
    }
}

impl Drop for Translating {
    fn drop(&mut self) {
        if let Some(mut ctx) = self.ctx.take() {
            ctx.rec
                .error
                .get_or_insert_with(|| "client disconnected before the stream ended".into());
            let (app, rt, usage) = (
                Arc::clone(&self.app),
                Arc::clone(&self.rt),
                self.usage.clone(),
            );
            let (ep_idx, target_idx) = (self.ep_idx, self.target_idx);
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let ep = &rt.endpoints[ep_idx];
                    apply_usage(&mut ctx.rec, &usage, ep, &ep.targets[target_idx]).await;
                    ctx.finish(&app, 200, None);
                });
            } else {
                ctx.finish(&self.app, 200, None);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn translate_stream(
    app: Arc<App>,
    rt: Arc<Runtime>,
    ep_idx: usize,
    target_idx: usize,
    resp: super::upstream::UpstreamResponse,
    decoder: StreamDecoder,
    encoder: StreamEncoder,
    ctx: Ctx,
    idle: Duration,
    retag: Option<StreamRetag>,
    signatures: Option<StreamWrap>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let state = Translating {
        app,
        rt,
        ep_idx,
        target_idx,
        upstream: (Box::pin(resp.bytes_stream()) as UpstreamBody).peekable(),
        decoder: Some(decoder),
        encoder: Some(encoder),
        ctx: Some(ctx),
        usage: crate::plugin::empty_usage(),
        error: None,
        first: true,
        done: false,
        retag,
        signatures,
    };
    futures::stream::unfold(state, move |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            let next = tokio::time::timeout(idle, st.upstream.next()).await;
            let out = match next {
                Ok(Some(Ok(chunk))) => {
                    let chunk = st.with_waiting_chunks(chunk);
                    let fed = match st.decoder.as_mut() {
                        Some(d) => d.feed(&chunk).await,
                        None => return None,
                    };
                    match fed {
                        Ok(Ok(events)) => {
                            st.absorb(&events);
                            st.encode(&events).await
                        }
                        Ok(Err(e)) => st.close(Some(e)).await,
                        Err(e) => st.close(Some(plugin_failure("stream decoder", &e))).await,
                    }
                }
                Ok(None) => {
                    let last = match st.decoder.as_mut() {
                        Some(d) => d.finish().await,
                        None => return None,
                    };
                    match last {
                        Ok(Ok(events)) => {
                            st.absorb(&events);
                            let mut out = st.encode(&events).await;
                            out.extend(st.close(None).await);
                            out
                        }
                        Ok(Err(e)) => st.close(Some(e)).await,
                        Err(e) => st.close(Some(plugin_failure("stream decoder", &e))).await,
                    }
                }
                Ok(Some(Err(e))) => {
                    let f = api_error(
                        ErrorKind::BadGateway,
                        502,
                        format!("upstream stream broke: {}", error_chain(&e)),
                    );
                    st.close(Some(f)).await
                }
                Err(_) => {
                    let f = api_error(
                        ErrorKind::Timeout,
                        504,
                        format!("upstream stream stalled for {} ms", idle.as_millis()),
                    );
                    st.close(Some(f)).await
                }
            };
            if out.is_empty() {
                continue;
            }
            if st.first {
                st.first = false;
                if let Some(ctx) = st.ctx.as_mut() {
                    ctx.rec.ttfb_ms = Some(ctx.started.elapsed().as_secs_f64() * 1e3);
                }
            }
            if let Some(ctx) = st.ctx.as_mut() {
                ctx.rec.response_bytes += out.len() as u64;
            }
            return Some((Ok(Bytes::from(out)), st));
        }
    })
}

/// Tokens an image or a document page set is estimated at (Anthropic's rule of
/// thumb for a ~1.15 megapixel image).
const MEDIA_TOKENS: u64 = 1_600;

/// A rough input-token estimate of a request for a target whose dialect cannot
/// count (≈ 4 bytes of text per token, a fixed cost per image or document).
pub(super) fn estimate_input_tokens(request: &ChatRequest) -> u64 {
    use crate::plugin::bindings::types::{ContentBlock, ToolResultPart};
    let mut bytes = 0usize;
    let mut media = 0u64;
    for t in &request.system {
        bytes += t.text.len();
    }
    for m in &request.messages {
        bytes += 4; // role and framing
        for b in &m.content {
            match b {
                ContentBlock::Text(t) => bytes += t.text.len(),
                ContentBlock::Thinking(t) => bytes += t.text.len(),
                ContentBlock::ToolCall(c) => bytes += c.name.len() + c.arguments.len(),
                ContentBlock::ToolResult(r) => {
                    for p in &r.content {
                        match p {
                            ToolResultPart::Text(t) => bytes += t.len(),
                            ToolResultPart::Image(_) | ToolResultPart::Document(_) => media += 1,
                        }
                    }
                }
                ContentBlock::Image(_) | ContentBlock::Document(_) | ContentBlock::Audio(_) => {
                    media += 1
                }
                ContentBlock::RedactedThinking(_) | ContentBlock::Other(_) => {}
            }
        }
    }
    for t in &request.tools {
        bytes += t.name.len()
            + t.description.as_ref().map_or(0, String::len)
            + t.parameters.as_ref().map_or(0, String::len);
    }
    (bytes as u64).div_ceil(4) + media * MEDIA_TOKENS
}

/// Answer a token count locally, for a target that cannot count: the estimate
/// in the client's dialect, marked `x-tollgate-token-count: estimated`.
pub(super) async fn estimated_count(
    app: &App,
    ep: &Endpoint,
    request: &ChatRequest,
    mut ctx: Ctx,
) -> Response<Body> {
    let mut usage = crate::plugin::empty_usage();
    usage.input_tokens = Some(estimate_input_tokens(request));
    let answer = crate::plugin::ChatResponse {
        id: String::new(),
        model: request.model.clone(),
        content: Vec::new(),
        stop_reason: None,
        stop_sequence: None,
        usage: usage.clone(),
        extra: None,
    };
    let encoded = match ep
        .front
        .encode_response_for(Operation::CountTokens, &answer)
        .await
    {
        Ok(r) => r,
        Err(e) => Err(plugin_failure(
            &format!("front-door plugin `{}`", ep.front.name),
            &e,
        )),
    };
    match encoded {
        Ok(bytes) => {
            ctx.rec.input_tokens = usage.input_tokens;
            ctx.rec.response_bytes = bytes.len() as u64;
            ctx.finish(app, 200, None);
            let mut out = Response::new(Body::from(bytes));
            out.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            out.headers_mut().insert(
                "x-tollgate-token-count",
                HeaderValue::from_static("estimated"),
            );
            out
        }
        Err(e) => {
            let r = respond(Some(&ep.front), &e).await;
            ctx.finish(app, r.status().as_u16(), Some(e.message));
            r
        }
    }
}
