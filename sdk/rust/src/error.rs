//! Helpers to build canonical [`ApiError`]s with the right status.

pub use crate::types::{ApiError, ErrorKind};

impl ApiError {
    /// An error of `kind` with the kind's usual HTTP status.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            status: kind.default_status(),
            message: message.into(),
            provider_type: None,
        }
    }

    /// 400 `invalid-request`: the client sent something malformed.
    pub fn invalid_request(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::InvalidRequest, message)
    }

    /// 502 `bad-gateway`: the upstream answered something unusable.
    pub fn bad_gateway(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::BadGateway, message)
    }

    /// 500 `api-error`: the plugin itself failed.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::ApiError, message)
    }

    /// 400 `invalid-request` for an operation or feature the plugin does not support.
    pub fn unsupported(what: &str) -> ApiError {
        ApiError::invalid_request(format!("{what} is not supported by this provider"))
    }

    /// The status to answer with in a dialect other than Anthropic's, which alone
    /// has 529 (overloaded): 503 there, the error's own status otherwise.
    pub fn portable_status(&self) -> u16 {
        if self.status == 529 {
            503
        } else {
            self.status
        }
    }

    /// Override the HTTP status.
    pub fn with_status(mut self, status: u16) -> ApiError {
        self.status = status;
        self
    }

    /// Attach the provider's own error type string.
    pub fn with_provider_type(mut self, provider_type: impl Into<String>) -> ApiError {
        self.provider_type = Some(provider_type.into());
        self
    }
}

impl core::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = match self {
            ErrorKind::InvalidRequest => "invalid-request",
            ErrorKind::Authentication => "authentication",
            ErrorKind::Permission => "permission",
            ErrorKind::NotFound => "not-found",
            ErrorKind::RequestTooLarge => "request-too-large",
            ErrorKind::RateLimit => "rate-limit",
            ErrorKind::ApiError => "api-error",
            ErrorKind::BadGateway => "bad-gateway",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Policy => "policy",
        };
        f.write_str(name)
    }
}
