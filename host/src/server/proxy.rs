//! The request path: authenticate, read the body, summarize it through the
//! front-door plugin, run request guardrails, ask the router for a plan, and
//! try the targets in order. Same-dialect targets get the client's bytes (edited
//! only where policy says) and the client gets the upstream's bytes; usage is
//! read on the side, off the latency path, and the record is written by the
//! store's writer thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::BodyExt;
use tokio::sync::mpsc;

use super::errors::{api_error, plugin_failure, respond};
use super::App;
use crate::plugin::{
    ApiError, AuthScheme, Candidate, ChatRequest, Dialect, ErrorKind, Operation, RequestEdits,
    RouteRequest, Stage, StreamEvent, TargetInfo, TextPart, Usage, Verdict,
};
use crate::runtime::{Endpoint, Runtime, Target};
use crate::store::{new_id, RequestRecord};

/// Request headers never forwarded upstream: hop-by-hop, recomputed, or ours.
const DROP_REQUEST_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "accept-encoding",
];

/// Response headers never relayed to the client.
const DROP_RESPONSE_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "trailer",
    "upgrade",
    "content-length",
];

/// Statuses after which the next target is tried.
fn retryable(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504 | 529)
}

fn operation_name(op: Operation) -> &'static str {
    match op {
        Operation::Chat => "chat",
        Operation::CountTokens => "count-tokens",
        Operation::ListModels => "list-models",
    }
}

/// Headers that carry a caller's credential, besides `Authorization: Bearer`.
const KEY_HEADERS: &[&str] = &["x-api-key", "x-goog-api-key", "api-key"];

/// The caller's credential: `x-api-key` (Anthropic), `x-goog-api-key` (Gemini),
/// `api-key` (Azure), `Authorization: Bearer`, or the `key` query parameter
/// (Gemini REST).
pub fn caller_key<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<&'a str> {
    KEY_HEADERS
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .or_else(|| {
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
        })
        .or_else(|| query_param(query?, "key"))
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// The raw value of a query parameter.
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| match kv.split_once('=') {
        Some((k, v)) if k == name => Some(v),
        _ => None,
    })
}

/// Sign a request for a SigV4 target: the client's own signing headers go, the
/// gateway's signature comes in.
fn sign_aws(
    headers: &mut HeaderMap,
    method: &axum::http::Method,
    url: &str,
    body: &[u8],
    aws: &crate::runtime::AwsSigning,
) -> Result<(), crate::sigv4::SignError> {
    let stale: Vec<HeaderName> = headers
        .keys()
        .filter(|n| n.as_str() == "authorization" || n.as_str().starts_with("x-amz-"))
        .cloned()
        .collect();
    for n in stale {
        headers.remove(&n);
    }
    let pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let signed = crate::sigv4::sign(
        method.as_str(),
        url,
        &pairs,
        body,
        &aws.credentials,
        &aws.region,
        &aws.service,
        std::time::SystemTime::now(),
    )?;
    for (n, v) in signed {
        if let (Ok(n), Ok(mut v)) = (HeaderName::try_from(n), HeaderValue::try_from(v)) {
            if n.as_str() == "authorization" || n.as_str() == "x-amz-security-token" {
                v.set_sensitive(true);
            }
            headers.insert(n, v);
        }
    }
    Ok(())
}

/// Append `name=value` to a URL's query, percent-encoding the value.
pub fn add_query_param(url: &mut String, name: &str, value: &str) {
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(name);
    url.push('=');
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
}

/// The query without the `key` parameter (a caller's credential that must not
/// reach an upstream that gets another one).
pub fn query_without_key(query: &str) -> String {
    query
        .split('&')
        .filter(|kv| kv.split_once('=').map_or(*kv, |(k, _)| k) != "key")
        .collect::<Vec<_>>()
        .join("&")
}

/// Read the body, refusing more than `limit` bytes.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        api_error(
            ErrorKind::RequestTooLarge,
            413,
            format!(
                "request body exceeds the gateway's limit of {} MiB (limits.max_body_mb)",
                limit >> 20
            ),
        )
    };
    if let Some(len) = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit as u64 {
            drain_refused(body);
            return Err(too_large());
        }
    }
    let mut body = body;
    match http_body_util::Limited::new(&mut body, limit)
        .collect()
        .await
    {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            drain_refused(body);
            Err(too_large())
        }
        Err(e) => Err(api_error(
            ErrorKind::InvalidRequest,
            400,
            format!("could not read the request body: {e}"),
        )),
    }
}

/// Keep reading (and discarding) an oversized body the client is still sending, for a
/// bounded time, so that it can finish writing and read the 413. Closing on a client
/// mid-upload makes most HTTP clients report a broken pipe instead of the answer.
fn drain_refused(mut body: Body) {
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut budget: u64 = 1 << 30;
        while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, body.frame()).await {
            let n = frame.data_ref().map_or(0, |d| d.len() as u64);
            budget = budget.saturating_sub(n);
            if budget == 0 {
                break;
            }
        }
    });
}

/// Guess the front door for a path no route matches, so even a 404 comes in
/// the caller's dialect.
async fn unknown_route(rt: &Runtime, method: &str, path: &str) -> Response<Body> {
    let front = rt
        .endpoints
        .iter()
        .find(|e| path.starts_with(&format!("/{}/", e.front.info.id)))
        .or_else(|| rt.default_endpoint.and_then(|i| rt.endpoints.get(i)))
        .map(|e| &*e.front);
    respond(
        front,
        &api_error(
            ErrorKind::NotFound,
            404,
            format!("no route for {method} {path}"),
        ),
    )
    .await
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get_all("upgrade")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
        })
}

/// A WebSocket upgrade (Codex tries `GET /v1/responses` this way first): the
/// gateway serves HTTP only, so it answers `426 Upgrade Required` in the
/// dialect of the route's front door, and the client falls back to POST + SSE.
async fn refuse_websocket(
    app: &App,
    rt: &Runtime,
    parts: &axum::http::request::Parts,
    started: Instant,
) -> Response<Body> {
    let path = parts.uri.path();
    let matched = rt
        .routes
        .lookup("POST", path, &parts.headers, parts.uri.query());
    let ep = matched
        .as_ref()
        .and_then(|m| rt.endpoints.get(m.entry.endpoint))
        .or_else(|| rt.default_endpoint.and_then(|i| rt.endpoints.get(i)));
    let err = api_error(
        ErrorKind::InvalidRequest,
        426,
        "WebSocket connections are not served here; send the request as an HTTP POST (streaming over SSE)",
    );
    let resp = respond(ep.map(|e| &*e.front), &err).await;
    let (id, ts_ms) = new_id();
    let rec = RequestRecord {
        id,
        ts_ms,
        endpoint: ep.map(|e| e.name.clone()).unwrap_or_default(),
        front_door: ep.map(|e| e.front.info.id.clone()).unwrap_or_default(),
        operation: "websocket".to_string(),
        path: path.to_string(),
        ..Default::default()
    };
    Ctx { started, rec }.finish(app, resp.status().as_u16(), Some(err.message));
    resp
}

/// Per-request facts carried to the record.
pub(super) struct Ctx {
    pub(super) started: Instant,
    pub(super) rec: RequestRecord,
}

impl Ctx {
    pub(super) fn finish(mut self, app: &App, status: u16, error: Option<String>) {
        self.rec.status = status;
        if error.is_some() {
            self.rec.error = error;
        }
        self.rec.latency_ms = self.started.elapsed().as_secs_f64() * 1e3;
        app.store.record(self.rec);
    }
}

pub async fn handle(app: Arc<App>, req: Request<Body>) -> Response<Body> {
    let started = Instant::now();
    let rt = app.reloader.current();
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str();
    let path = parts.uri.path();
    if is_websocket_upgrade(&parts.headers) {
        return refuse_websocket(&app, &rt, &parts, started).await;
    }
    let Some(matched) = rt
        .routes
        .lookup(method, path, &parts.headers, parts.uri.query())
    else {
        return unknown_route(&rt, method, path).await;
    };
    let ep = &rt.endpoints[matched.entry.endpoint];
    let op = matched.entry.operation;
    let (id, ts_ms) = new_id();
    let mut ctx = Ctx {
        started,
        rec: RequestRecord {
            id,
            ts_ms,
            endpoint: ep.name.clone(),
            front_door: ep.front.info.id.clone(),
            operation: operation_name(op).to_string(),
            path: path.to_string(),
            ..Default::default()
        },
    };
    let fail = async |ctx: Ctx, err: ApiError| {
        let resp = respond(Some(&ep.front), &err).await;
        ctx.finish(&app, resp.status().as_u16(), Some(err.message));
        resp
    };

    // Who is calling.
    let key = caller_key(&parts.headers, parts.uri.query());
    if !rt.config.client_keys.is_empty() {
        let ok = key.is_some_and(|k| {
            rt.config
                .client_keys
                .iter()
                .any(|c| super::admin::constant_time_eq(c.as_bytes(), k.as_bytes()))
        });
        if !ok {
            return fail(ctx, api_error(ErrorKind::Authentication, 401, "invalid or missing API key for this gateway (x-api-key or Authorization: Bearer)")).await;
        }
    }

    let body = match read_body(body, &parts.headers, rt.max_body).await {
        Ok(b) => b,
        Err(e) => return fail(ctx, e).await,
    };
    ctx.rec.request_bytes = body.len() as u64;

    // What the request is. When every target translates a chat request and no
    // guardrail needs the text, the decoded request says it: one plugin call, not
    // a summary and then a decode.
    let decode_first = op == Operation::Chat
        && !ep.request_guards
        && ep
            .targets
            .iter()
            .all(|t| t.translate || !same_dialect(ep, t, matched.entry.route));
    // The canonical request, decoded on the first attempt that translates.
    let mut canonical: Option<ChatRequest> = None;
    let mut summary = if op == Operation::ListModels {
        None
    } else if decode_first {
        let decoded = ep
            .front
            .decode_request(
                op,
                &body,
                matched.path_model.clone(),
                matched.entry.streaming,
            )
            .await;
        match front_result(ep, decoded) {
            Ok(req) => canonical = Some(req),
            Err(e) => return fail(ctx, e).await,
        }
        None
    } else {
        match front_result(ep, ep.front.summarize(op, &body, ep.request_guards).await) {
            Ok(s) => Some(s),
            Err(e) => return fail(ctx, e).await,
        }
    };
    let model = summary
        .as_ref()
        .map(|s| s.model.clone())
        .or_else(|| canonical.as_ref().map(|c| c.model.clone()))
        .filter(|m| !m.is_empty())
        .or(matched.path_model.clone())
        .unwrap_or_default();
    let stream = summary.as_ref().is_some_and(|s| s.stream)
        || canonical.as_ref().is_some_and(|c| c.stream)
        || matched.entry.streaming;
    ctx.rec.model = model.clone();
    ctx.rec.stream = stream;

    // Request guardrails.
    let mut text_edits: Vec<(u32, String)> = Vec::new();
    if let Some(s) = summary.as_mut().filter(|_| ep.request_guards) {
        match run_request_guardrails(ep, &mut s.text_parts).await {
            Ok(GuardOutcome { edits, note }) => {
                text_edits = edits;
                ctx.rec.guardrail = note;
            }
            Err((err, note)) => {
                ctx.rec.guardrail = Some(note);
                return fail(ctx, err).await;
            }
        }
    }

    // The attempt plan.
    // A mapped model goes to its targets in order; others to the router.
    let plan: Vec<(usize, Option<String>)> = match ep.models.lookup(&model) {
        Some(mapped) => mapped.clone(),
        None => plan(ep, op, &model, stream)
            .await
            .into_iter()
            .map(|i| (i, None))
            .collect(),
    };

    let query = parts.uri.query();
    let upstream_path = &path[matched.entry.strip.min(path.len())..];
    let mut last_error: Option<ApiError> = None;
    for (n, (idx, mapped_model)) in plan.iter().enumerate() {
        let Some(target) = ep.targets.get(*idx) else {
            continue;
        };
        let is_last = n + 1 == plan.len();
        ctx.rec.attempts += 1;
        ctx.rec.target = Some(target.name.clone());
        ctx.rec.provider = Some(target.provider.info.id.clone());
        let upstream_model = mapped_model
            .clone()
            .or_else(|| target.model.clone())
            .unwrap_or_else(|| model.clone());
        ctx.rec.upstream_model = Some(upstream_model.clone());

        let same = same_dialect(ep, target, matched.entry.route);
        // Same-dialect targets always pass token counting through; a body with a
        // thinking signature Tollgate wrapped must be translated to unwrap it.
        let translate = !same
            || (target.translate && op != Operation::CountTokens)
            || (op == Operation::Chat && super::signatures::body_has_wrapped(&body));
        let (method, url, mut headers, send_body) = if translate {
            if op == Operation::ListModels {
                return super::translate::list_models(&app, ep, target, ctx).await;
            }
            // Decode the client's request once (with guardrail edits applied).
            if canonical.is_none() {
                let decoded = if text_edits.is_empty() {
                    ep.front
                        .decode_request(op, &body, matched.path_model.clone(), stream)
                        .await
                } else {
                    let edits = RequestEdits {
                        model: None,
                        texts: text_edits.clone(),
                    };
                    match ep.front.edit(op, &body, &edits).await {
                        Ok(Ok(edited)) => {
                            ep.front
                                .decode_request(op, &edited, matched.path_model.clone(), stream)
                                .await
                        }
                        Ok(Err(e)) => Ok(Err(e)),
                        Err(e) => Err(e),
                    }
                };
                match front_result(ep, decoded) {
                    Ok(req) => canonical = Some(req),
                    Err(e) => return fail(ctx, e).await,
                }
            }
            let Some(request) = canonical.as_ref() else {
                continue;
            };
            let info = TargetInfo {
                model: upstream_model.clone(),
                options: target.options.clone(),
            };
            let with_defaults = super::translate::apply_defaults(request, &target.defaults);
            let request = with_defaults.as_ref().unwrap_or(request);
            let signed = super::signatures::request_for_target(
                request,
                &ep.front.info.id,
                &target.provider.info.id,
            );
            let request = signed.as_ref().unwrap_or(request);
            let up = match target.provider.encode_request(op, request, &info).await {
                Ok(Ok(up)) => up,
                Ok(Err(_)) if op == Operation::CountTokens => {
                    // The target's dialect cannot count (Chat Completions): an
                    // estimate from the request, marked as one.
                    return super::translate::estimated_count(&app, ep, request, ctx).await;
                }
                Ok(Err(e)) => {
                    // This target cannot express the request; another may.
                    last_error = Some(e);
                    continue;
                }
                Err(e) => {
                    last_error = Some(plugin_failure(
                        &format!("provider plugin `{}`", target.provider.name),
                        &e,
                    ));
                    continue;
                }
            };
            let method = axum::http::Method::from_bytes(up.method.as_bytes())
                .unwrap_or(axum::http::Method::POST);
            let mut url = format!("{}{}", target.base_url, up.path);
            let headers = super::translate::headers(
                &parts.headers,
                target,
                &up.headers,
                !rt.config.client_keys.is_empty(),
                query,
                &mut url,
            );
            (method, url, headers, Bytes::from(up.body))
        } else {
            // The body to send: the client's bytes unless policy edits them.
            let rename = (upstream_model != model).then(|| upstream_model.clone());
            let send_body = if rename.is_none() && text_edits.is_empty() {
                body.clone()
            } else {
                let edits = RequestEdits {
                    model: rename.clone(),
                    texts: text_edits.clone(),
                };
                match ep.front.edit(op, &body, &edits).await {
                    Ok(Ok(b)) => Bytes::from(b),
                    Ok(Err(e)) => return fail(ctx, e).await,
                    Err(e) => {
                        return fail(
                            ctx,
                            plugin_failure(&format!("front-door plugin `{}`", ep.front.name), &e),
                        )
                        .await
                    }
                }
            };
            // Dialects that name the model in the path (Gemini, Bedrock) are
            // renamed there.
            let renamed_path;
            let upstream_path = match (&matched.path_model, &rename) {
                (Some(old), Some(new)) if old != new => {
                    renamed_path =
                        upstream_path.replacen(&format!("/{old}"), &format!("/{new}"), 1);
                    renamed_path.as_str()
                }
                _ => upstream_path,
            };
            let strip_client_key = !rt.config.client_keys.is_empty();
            let query = match query {
                Some(q) if target.api_key.is_some() || strip_client_key => {
                    Some(query_without_key(q))
                }
                q => q.map(str::to_string),
            };
            let mut url = match query.as_deref() {
                Some(q) if !q.is_empty() => format!("{}{upstream_path}?{q}", target.base_url),
                _ => format!("{}{upstream_path}", target.base_url),
            };
            if let (AuthScheme::Query(param), Some(key)) =
                (&target.provider.info.auth, &target.api_key)
            {
                add_query_param(&mut url, param, key);
            }
            let headers = upstream_headers(&parts.headers, target, strip_client_key);
            (parts.method.clone(), url, headers, send_body)
        };

        if let Some(aws) = &target.aws {
            if let Err(e) = sign_aws(&mut headers, &method, &url, &send_body, aws) {
                last_error = Some(api_error(
                    ErrorKind::ApiError,
                    500,
                    format!("signing the request to `{}` failed: {e}", target.name),
                ));
                continue;
            }
        }
        let timeouts = &rt.config.upstream;
        let req = app.client.send(method, &url, headers, send_body);
        target
            .stats
            .in_flight
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let sent =
            tokio::time::timeout(Duration::from_millis(timeouts.first_byte_timeout_ms), req).await;
        target
            .stats
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        let cooldown = Duration::from_secs(timeouts.cooldown_secs);
        let resp = match sent {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                target.stats.failure(timeouts.unhealthy_after, cooldown);
                let msg = format!(
                    "upstream `{}` unreachable: {}",
                    target.name,
                    error_chain(&e)
                );
                tracing::warn!(target = %target.name, error = %msg, "attempt failed");
                last_error = Some(api_error(ErrorKind::BadGateway, 502, msg));
                continue;
            }
            Err(_) => {
                target.stats.failure(timeouts.unhealthy_after, cooldown);
                last_error = Some(api_error(
                    ErrorKind::Timeout,
                    504,
                    format!(
                        "upstream `{}` sent no response within {} ms",
                        target.name, timeouts.first_byte_timeout_ms
                    ),
                ));
                continue;
            }
        };
        let status = resp.status().as_u16();
        if retryable(status) {
            target.stats.failure(timeouts.unhealthy_after, cooldown);
            if !is_last {
                tracing::warn!(target = %target.name, status, "upstream failed; trying the next target");
                last_error = Some(api_error(
                    ErrorKind::BadGateway,
                    status,
                    format!("upstream `{}` answered {status}", target.name),
                ));
                continue;
            }
        } else {
            target.stats.success(started.elapsed());
        }
        if translate {
            return super::translate::relay(
                Arc::clone(&app),
                Arc::clone(&rt),
                matched.entry.endpoint,
                *idx,
                op,
                resp,
                ctx,
                stream,
                model.clone(),
                query.unwrap_or_default().to_string(),
                canonical.as_ref().and_then(super::translate::ToolTags::of),
                canonical.as_ref().is_some_and(|c| c.stream_include_usage),
            )
            .await;
        }
        return relay(
            Arc::clone(&app),
            Arc::clone(&rt),
            matched.entry.endpoint,
            *idx,
            op,
            resp,
            ctx,
            stream,
            query.unwrap_or_default().to_string(),
        )
        .await;
    }
    let err = last_error.unwrap_or_else(|| {
        api_error(
            ErrorKind::Overloaded,
            503,
            format!(
                "endpoint `{}` has no target that can serve this request",
                ep.name
            ),
        )
    });
    fail(ctx, err).await
}

pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Whether the client's bytes can go to `target` as they are: the same plugin,
/// or the same dialect served on the same route (an OpenAI client to an
/// OpenAI-compatible server; not to Azure, whose paths differ).
/// A front-door call's answer, or the error to give the client: the plugin's own
/// dialect error, or its failure as a gateway error.
fn front_result<T>(ep: &Endpoint, r: crate::plugin::ApiResult<T>) -> Result<T, ApiError> {
    r.map_err(|e| plugin_failure(&format!("front-door plugin `{}`", ep.front.name), &e))?
}

fn same_dialect(ep: &Endpoint, target: &Target, route: usize) -> bool {
    let (a, b) = (&ep.front.info, &target.provider.info);
    if a.id == b.id {
        return true;
    }
    let Some(r) = a.routes.get(route) else {
        return false;
    };
    a.dialect == b.dialect
        && a.dialect != Dialect::Other
        && b.routes
            .iter()
            .any(|t| t.path == r.path && t.method.eq_ignore_ascii_case(&r.method))
}

struct GuardOutcome {
    edits: Vec<(u32, String)>,
    note: Option<String>,
}

/// Run every request-stage guardrail in order; later ones see earlier
/// redactions. Returns the text edits to apply, or the error to answer.
async fn run_request_guardrails(
    ep: &Endpoint,
    parts: &mut [TextPart],
) -> Result<GuardOutcome, (ApiError, String)> {
    let mut edited = vec![false; parts.len()];
    let mut notes: Vec<String> = Vec::new();
    for g in ep
        .guardrails
        .iter()
        .filter(|g| g.plugin.stages.contains(&Stage::Request))
    {
        match g.plugin.check(Stage::Request, parts).await {
            Ok(Verdict::Allow) => {}
            Ok(Verdict::Block(info)) => {
                let note = format!("blocked:{} by {}", info.category, g.plugin.name);
                return Err((
                    api_error(
                        ErrorKind::Policy,
                        400,
                        format!(
                            "request blocked by guardrail `{}` ({}): {}",
                            g.plugin.name, info.category, info.rationale
                        ),
                    ),
                    note,
                ));
            }
            Ok(Verdict::Redact(list)) => {
                // Apply from the end so earlier offsets stay valid.
                let mut list = list;
                list.sort_by_key(|r| std::cmp::Reverse((r.part, r.start)));
                for r in &list {
                    let part = &mut parts[r.part as usize];
                    part.text
                        .replace_range(r.start as usize..r.end as usize, &r.replacement);
                    edited[r.part as usize] = true;
                }
                let mut cats: Vec<&str> = list.iter().map(|r| r.category.as_str()).collect();
                cats.sort_unstable();
                cats.dedup();
                notes.push(format!("redacted:{} by {}", cats.join(","), g.plugin.name));
            }
            Err(e) if g.fail_open => {
                tracing::warn!(guardrail = %g.plugin.name, error = %e, "guardrail failed; failing open as configured");
                notes.push(format!("failed-open:{}", g.plugin.name));
            }
            Err(e) => {
                let note = format!("failed-closed:{}", g.plugin.name);
                let mut err = plugin_failure(&format!("guardrail `{}`", g.plugin.name), &e);
                err.message
                    .push_str(" (guardrails fail closed: the request was not sent)");
                return Err((err, note));
            }
        }
    }
    let edits = edited
        .iter()
        .enumerate()
        .filter(|(_, e)| **e)
        .map(|(i, _)| (i as u32, parts[i].text.clone()))
        .collect();
    Ok(GuardOutcome {
        edits,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    })
}

/// Ask the router for the attempt plan; if the router fails, fall back to the
/// config's order (a broken router must not stop traffic).
async fn plan(ep: &Endpoint, op: Operation, model: &str, stream: bool) -> Vec<usize> {
    if ep.targets.len() == 1 {
        return vec![0];
    }
    let candidates: Vec<Candidate> = ep
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| Candidate {
            name: t.name.clone(),
            provider: t.provider.info.id.clone(),
            model: t.model.clone().unwrap_or_else(|| model.to_string()),
            weight: t.weight,
            priority: i as u32,
            healthy: t.stats.healthy(),
            error_rate: t.stats.error_rate(),
            latency_p50_us: t.stats.latency_us(),
            in_flight: t.stats.in_flight.load(std::sync::atomic::Ordering::Relaxed),
        })
        .collect();
    let request = RouteRequest {
        endpoint: ep.name.clone(),
        operation: op,
        model: model.to_string(),
        stream,
        random: fastrand::u64(..),
    };
    match ep.router.route(&request, &candidates).await {
        Ok(Ok(plan)) if !plan.is_empty() => plan.into_iter().map(|i| i as usize).collect(),
        Ok(Ok(_)) => Vec::new(),
        Ok(Err(msg)) => {
            tracing::warn!(router = %ep.router.name, error = %msg, "router refused; using config order");
            (0..ep.targets.len()).collect()
        }
        Err(e) => {
            tracing::warn!(router = %ep.router.name, error = %e, "router failed; using config order");
            (0..ep.targets.len()).collect()
        }
    }
}

/// Headers for the upstream: the client's, minus hop-by-hop ones, with the
/// target's credential when it has one.
fn upstream_headers(client: &HeaderMap, target: &Target, strip_client_key: bool) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(client.len() + 1);
    let replace_auth = target.api_key.is_some() || strip_client_key;
    // Headers the client's `Connection` header names are hop-by-hop too (RFC 9110 §7.6.1).
    let nominated: Vec<&str> = client
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    for (name, value) in client {
        let n = name.as_str();
        if DROP_REQUEST_HEADERS.contains(&n) || nominated.iter().any(|t| t.eq_ignore_ascii_case(n))
        {
            continue;
        }
        if replace_auth
            && (n == "x-api-key" || n == "authorization" || n == "api-key" || n == "x-goog-api-key")
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    if let Some(key) = &target.api_key {
        let header = |name: &str, value: String| -> Option<(HeaderName, HeaderValue)> {
            Some((
                HeaderName::try_from(name).ok()?,
                HeaderValue::try_from(value).ok()?,
            ))
        };
        let pair = match &target.provider.info.auth {
            AuthScheme::Bearer => header("authorization", format!("Bearer {key}")),
            AuthScheme::Header(h) => header(h, key.clone()),
            // Query and SigV4 schemes arrive with the providers that need them.
            AuthScheme::Query(_) | AuthScheme::AwsSigv4(_) | AuthScheme::None => None,
        };
        if let Some((n, mut v)) = pair {
            v.set_sensitive(true);
            out.insert(n, v);
        }
    }
    out
}

pub(super) fn relay_headers(upstream: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(upstream.len());
    for (name, value) in upstream {
        if !DROP_RESPONSE_HEADERS.contains(&name.as_str()) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Relay the upstream's answer to the client (same dialect: bytes as they are).
#[allow(clippy::too_many_arguments)]
async fn relay(
    app: Arc<App>,
    rt: Arc<Runtime>,
    ep_idx: usize,
    target_idx: usize,
    op: Operation,
    resp: super::upstream::UpstreamResponse,
    mut ctx: Ctx,
    stream: bool,
    query: String,
) -> Response<Body> {
    let status = resp.status();
    let headers = relay_headers(resp.headers());
    let is_sse = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let idle = Duration::from_millis(rt.config.upstream.idle_timeout_ms);

    if status.is_success() && (is_sse || stream) && op == Operation::Chat {
        let (tx, rx) = mpsc::unbounded_channel::<Observed>();
        let started = ctx.started;
        tokio::spawn(observe_stream(
            Arc::clone(&app),
            Arc::clone(&rt),
            ep_idx,
            target_idx,
            rx,
            ctx,
            status.as_u16(),
        ));
        let body = relay_stream(
            resp.bytes_stream(),
            tx,
            idle,
            Arc::clone(&rt),
            ep_idx,
            started,
            query,
        );
        let mut out = Response::new(Body::from_stream(body));
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        return out;
    }

    // Whole body.
    let body = match tokio::time::timeout(idle, resp.bytes()).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            let err = api_error(
                ErrorKind::BadGateway,
                502,
                format!("upstream body failed: {}", error_chain(&e)),
            );
            let ep = &rt.endpoints[ep_idx];
            let r = respond(Some(&ep.front), &err).await;
            ctx.finish(&app, r.status().as_u16(), Some(err.message));
            return r;
        }
        Err(_) => {
            let err = api_error(
                ErrorKind::Timeout,
                504,
                format!("upstream body stalled for {} ms", idle.as_millis()),
            );
            let ep = &rt.endpoints[ep_idx];
            let r = respond(Some(&ep.front), &err).await;
            ctx.finish(&app, r.status().as_u16(), Some(err.message));
            return r;
        }
    };
    ctx.rec.ttfb_ms = Some(ctx.started.elapsed().as_secs_f64() * 1e3);
    ctx.rec.response_bytes = body.len() as u64;
    let mut out = Response::new(Body::from(body.clone()));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    // Usage, cost and the record happen after the answer is on its way.
    let app2 = Arc::clone(&app);
    tokio::spawn(async move {
        let ep = &rt.endpoints[ep_idx];
        let target = &ep.targets[target_idx];
        if status.is_success() {
            match target.provider.summarize_response(op, &body).await {
                Ok(Ok(s)) => {
                    if let Some(m) = s.model.filter(|m| !m.is_empty()) {
                        ctx.rec.upstream_model = Some(m);
                    }
                    ctx.rec.stop_reason = s.stop_reason;
                    apply_usage(&mut ctx.rec, &s.usage, ep, target).await;
                }
                Ok(Err(e)) => {
                    ctx.rec.error = Some(format!(
                        "could not read the upstream response: {}",
                        e.message
                    ))
                }
                Err(e) => {
                    ctx.rec.error = Some(format!("provider plugin `{}`: {e}", target.provider.name))
                }
            }
            ctx.finish(&app2, status.as_u16(), None);
        } else {
            let msg = match target.provider.decode_error(status.as_u16(), &body).await {
                Ok(e) => e.message,
                Err(_) => String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
            };
            ctx.finish(&app2, status.as_u16(), Some(msg));
        }
    });
    out
}

/// Fill tokens and cost into the record.
pub(super) async fn apply_usage(
    rec: &mut RequestRecord,
    usage: &Usage,
    ep: &Endpoint,
    target: &Target,
) {
    rec.input_tokens = usage.input_tokens;
    rec.output_tokens = usage.output_tokens;
    rec.cache_read_tokens = usage.cache_read_tokens;
    rec.cache_write_tokens = match (usage.cache_write_tokens, usage.cache_write_1h_tokens) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    };
    rec.reasoning_tokens = usage.reasoning_tokens;
    if rec.operation != "chat" {
        return;
    }
    if let Some(cost) = &ep.cost {
        let model = rec
            .upstream_model
            .clone()
            .unwrap_or_else(|| rec.model.clone());
        match cost.price(&target.provider.info.id, &model, usage).await {
            Ok(Some(c)) => rec.cost_usd = Some(c.total / 1e6),
            Ok(None) => {}
            Err(e) => tracing::warn!(cost_model = %cost.name, error = %e, "pricing failed"),
        }
    }
}

/// What the stream relay tells the observer.
enum Observed {
    Chunk(Bytes),
    /// First byte reached the client this long after the request arrived.
    FirstByte(Duration),
    /// The stream ended: `None` cleanly, or with an error.
    End(Option<String>),
}

/// Forward upstream chunks as they arrive, copying each to the observer. On an
/// upstream error or stall mid-stream, end with an error event in the client's
/// dialect so the client knows the answer is incomplete.
fn relay_stream(
    upstream: impl futures::Stream<Item = Result<Bytes, super::upstream::UpstreamError>>
        + Send
        + 'static,
    tx: mpsc::UnboundedSender<Observed>,
    idle: Duration,
    rt: Arc<Runtime>,
    ep_idx: usize,
    started: Instant,
    query: String,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    struct State<S: futures::Stream> {
        upstream: std::pin::Pin<Box<futures::stream::ReadyChunks<S>>>,
        tx: mpsc::UnboundedSender<Observed>,
        started: Instant,
        first: bool,
        done: bool,
        /// An upstream error found behind good chunks, reported on the next poll.
        failure: Option<ApiError>,
        rt: Arc<Runtime>,
        ep_idx: usize,
        /// The client's query string, for the error frame's encoder.
        query: String,
    }
    let broke = |e: &super::upstream::UpstreamError| {
        api_error(
            ErrorKind::BadGateway,
            502,
            format!("upstream stream broke: {}", error_chain(e)),
        )
    };
    let state = State {
        // Chunks that are already waiting go out in one write: one syscall and
        // one client wake-up instead of one per SSE event, and no added delay.
        upstream: Box::pin(upstream.ready_chunks(64)),
        tx,
        started,
        first: true,
        done: false,
        failure: None,
        rt,
        ep_idx,
        query,
    };
    futures::stream::unfold(state, move |mut st| async move {
        if st.done {
            return None;
        }
        let failure = match st.failure.take() {
            Some(f) => f,
            None => match tokio::time::timeout(idle, st.upstream.next()).await {
                Ok(Some(batch)) => {
                    let mut good: Vec<Bytes> = Vec::with_capacity(batch.len());
                    for item in batch {
                        match item {
                            Ok(b) => good.push(b),
                            Err(e) => {
                                st.failure = Some(broke(&e));
                                break;
                            }
                        }
                    }
                    let chunk = match good.len() {
                        0 => Bytes::new(),
                        1 => good.pop().unwrap_or_default(),
                        _ => Bytes::from(good.concat()),
                    };
                    if chunk.is_empty() {
                        match st.failure.take() {
                            Some(f) => f,
                            None => return Some((Ok(chunk), st)),
                        }
                    } else {
                        if st.first {
                            st.first = false;
                            let _ = st.tx.send(Observed::FirstByte(st.started.elapsed()));
                        }
                        let _ = st.tx.send(Observed::Chunk(chunk.clone()));
                        return Some((Ok(chunk), st));
                    }
                }
                Ok(None) => {
                    let _ = st.tx.send(Observed::End(None));
                    return None;
                }
                Err(_) => api_error(
                    ErrorKind::Timeout,
                    504,
                    format!("upstream stream stalled for {} ms", idle.as_millis()),
                ),
            },
        };
        st.done = true;
        let _ = st.tx.send(Observed::End(Some(failure.message.clone())));
        let ep = &st.rt.endpoints[st.ep_idx];
        let frame = match ep.front.stream_encoder("", &st.query).await {
            Ok(mut enc) => {
                let frame = enc.encode(&[StreamEvent::Error(failure)]).await;
                enc.close().await;
                frame.ok().and_then(Result::ok).unwrap_or_default()
            }
            Err(_) => Vec::new(),
        };
        Some((Ok(Bytes::from(frame)), st))
    })
}

/// Read the stream on the side: usage, stop reason and errors; then price it
/// and write the record.
async fn observe_stream(
    app: Arc<App>,
    rt: Arc<Runtime>,
    ep_idx: usize,
    target_idx: usize,
    mut rx: mpsc::UnboundedReceiver<Observed>,
    mut ctx: Ctx,
    status: u16,
) {
    let ep = &rt.endpoints[ep_idx];
    let target = &ep.targets[target_idx];
    let mut decoder = match target.provider.stream_decoder(false).await {
        Ok(d) => Some(d),
        Err(e) => {
            ctx.rec.error = Some(format!(
                "provider plugin `{}` cannot observe the stream: {e}",
                target.provider.name
            ));
            None
        }
    };
    let mut usage = crate::plugin::empty_usage();
    let mut error: Option<String> = None;
    let mut ended = false;
    let mut absorb = |events: Vec<StreamEvent>, ctx: &mut Ctx, error: &mut Option<String>| {
        for ev in events {
            match ev {
                StreamEvent::Start(s) => {
                    merge_usage(&mut usage, &s.usage);
                    if !s.model.is_empty() {
                        ctx.rec.upstream_model = Some(s.model);
                    }
                }
                StreamEvent::Usage(u) => merge_usage(&mut usage, &u),
                StreamEvent::Finish(f) => {
                    ctx.rec.stop_reason =
                        Some(crate::plugin::stop_reason_name(f.stop_reason).to_string())
                }
                StreamEvent::Error(e) => *error = Some(e.message),
                _ => {}
            }
        }
    };
    while let Some(msg) = rx.recv().await {
        match msg {
            Observed::Chunk(chunk) => {
                ctx.rec.response_bytes += chunk.len() as u64;
                if let Some(d) = decoder.as_mut() {
                    match d.feed(&chunk).await {
                        Ok(Ok(events)) => absorb(events, &mut ctx, &mut error),
                        Ok(Err(e)) => {
                            error.get_or_insert(e.message);
                            decoder = None;
                        }
                        Err(e) => {
                            error.get_or_insert(format!(
                                "provider plugin `{}`: {e}",
                                target.provider.name
                            ));
                            decoder = None;
                        }
                    }
                }
            }
            Observed::FirstByte(d) => ctx.rec.ttfb_ms = Some(d.as_secs_f64() * 1e3),
            Observed::End(e) => {
                ended = true;
                if let Some(e) = e {
                    error = Some(e);
                } else if let Some(d) = decoder.as_mut() {
                    match d.finish().await {
                        Ok(Ok(events)) => absorb(events, &mut ctx, &mut error),
                        Ok(Err(e)) => {
                            error.get_or_insert(e.message);
                        }
                        Err(e) => {
                            error.get_or_insert(format!(
                                "provider plugin `{}`: {e}",
                                target.provider.name
                            ));
                        }
                    }
                }
                break;
            }
        }
    }
    if let Some(d) = decoder {
        d.close().await;
    }
    if !ended {
        error.get_or_insert_with(|| "client disconnected before the stream ended".to_string());
    }
    apply_usage(&mut ctx.rec, &usage, ep, target).await;
    ctx.finish(&app, status, error);
}

pub(super) fn merge_usage(into: &mut Usage, from: &Usage) {
    fn m(a: &mut Option<u64>, b: Option<u64>) {
        if b.is_some() {
            *a = b;
        }
    }
    m(&mut into.input_tokens, from.input_tokens);
    m(&mut into.output_tokens, from.output_tokens);
    m(&mut into.cache_read_tokens, from.cache_read_tokens);
    m(&mut into.cache_write_tokens, from.cache_write_tokens);
    m(&mut into.cache_write_1h_tokens, from.cache_write_1h_tokens);
    m(&mut into.reasoning_tokens, from.reasoning_tokens);
}

impl std::fmt::Debug for Observed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Chunk(c) => write!(f, "Chunk({})", c.len()),
            Self::FirstByte(d) => write!(f, "FirstByte({d:?})"),
            Self::End(e) => write!(f, "End({e:?})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_key_from_every_dialects_place() {
        let mut h = HeaderMap::new();
        assert_eq!(caller_key(&h, None), None);
        assert_eq!(caller_key(&h, Some("alt=sse&key=g-q")), Some("g-q"));
        assert_eq!(caller_key(&h, Some("monkey=1")), None);
        h.insert("authorization", HeaderValue::from_static("Bearer sk-b"));
        assert_eq!(caller_key(&h, Some("key=g-q")), Some("sk-b"));
        h.insert("x-goog-api-key", HeaderValue::from_static("g-h"));
        assert_eq!(caller_key(&h, None), Some("g-h"));
        h.insert("x-api-key", HeaderValue::from_static("sk-a"));
        assert_eq!(caller_key(&h, None), Some("sk-a"));
        assert_eq!(query_without_key("alt=sse&key=x&b=2"), "alt=sse&b=2");
        assert_eq!(query_without_key("key=x"), "");
    }

    #[test]
    fn retryable_statuses() {
        for s in [429, 500, 502, 503, 504, 529] {
            assert!(retryable(s));
        }
        for s in [200, 400, 401, 403, 404, 413] {
            assert!(!retryable(s));
        }
    }
}
