//! Errors answered to clients, always in the client's own dialect: the front-door
//! plugin encodes them; if that plugin cannot, the host falls back to the
//! Anthropic shape (the default front door).

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Response, StatusCode};

use crate::plugin::{ApiError, ErrorKind, PluginError, ProviderPlugin};

/// A canonical error.
pub fn api_error(kind: ErrorKind, status: u16, message: impl Into<String>) -> ApiError {
    ApiError {
        kind,
        status,
        message: message.into(),
        provider_type: None,
    }
}

/// The error for a plugin that failed on the request path.
pub fn plugin_failure(what: &str, e: &PluginError) -> ApiError {
    match e {
        PluginError::Quarantined => api_error(
            ErrorKind::Overloaded,
            503,
            format!("{what} is quarantined after repeated failures; try again later"),
        ),
        _ => api_error(ErrorKind::ApiError, 500, format!("{what} failed: {e}")),
    }
}

/// Encode `err` for a client of `front`'s dialect.
pub async fn respond(front: Option<&ProviderPlugin>, err: &ApiError) -> Response<Body> {
    if let Some(front) = front {
        match front.encode_error(err).await {
            Ok(http) => {
                let mut resp = Response::new(Body::from(http.body));
                *resp.status_mut() =
                    StatusCode::from_u16(http.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                for h in http.headers {
                    if let (Ok(n), Ok(v)) =
                        (HeaderName::try_from(h.name), HeaderValue::try_from(h.value))
                    {
                        resp.headers_mut().insert(n, v);
                    }
                }
                return resp;
            }
            Err(e) => {
                tracing::error!(plugin = %front.name, error = %e, "front door could not encode an error; using the built-in shape")
            }
        }
    }
    fallback(err)
}

/// Anthropic's error shape, built by the host.
pub fn fallback(err: &ApiError) -> Response<Body> {
    let ty = match err.kind {
        ErrorKind::InvalidRequest | ErrorKind::Policy => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::Permission => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::RequestTooLarge => "request_too_large",
        ErrorKind::RateLimit => "rate_limit_error",
        ErrorKind::ApiError | ErrorKind::BadGateway => "api_error",
        ErrorKind::Overloaded => "overloaded_error",
        ErrorKind::Timeout => "timeout_error",
    };
    let body = serde_json::json!({"type": "error", "error": {"type": ty, "message": err.message}});
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() =
        StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}
