//! The canonical types of the `tollgate:plugin/types` interface, shared by every world.
//!
//! These are generated once (with the `provider` world, which uses them all) and reused
//! by the other worlds, so a `TextPart` or `Usage` is the same Rust type everywhere.

pub use crate::provider::generated::tollgate::plugin::types::*;

impl ErrorKind {
    /// The HTTP status this kind of error usually answers with.
    pub fn default_status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::Permission => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::RequestTooLarge => 413,
            ErrorKind::RateLimit => 429,
            ErrorKind::ApiError => 500,
            ErrorKind::BadGateway => 502,
            ErrorKind::Overloaded => 503,
            ErrorKind::Timeout => 504,
            ErrorKind::Policy => 400,
        }
    }

    /// The error kind an HTTP status usually means (for upstream errors without a type).
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            400 | 422 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Authentication,
            403 => ErrorKind::Permission,
            404 => ErrorKind::NotFound,
            413 => ErrorKind::RequestTooLarge,
            429 => ErrorKind::RateLimit,
            502 => ErrorKind::BadGateway,
            503 | 529 => ErrorKind::Overloaded,
            504 | 408 => ErrorKind::Timeout,
            s if (400..500).contains(&s) => ErrorKind::InvalidRequest,
            _ => ErrorKind::ApiError,
        }
    }
}

impl Usage {
    /// Usage with every count unknown.
    pub fn empty() -> Usage {
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

    /// Overlay the counts `newer` knows onto `self` (for cumulative stream usage).
    pub fn merge(&mut self, newer: &Usage) {
        fn take(dst: &mut Option<u64>, src: Option<u64>) {
            if src.is_some() {
                *dst = src;
            }
        }
        take(&mut self.input_tokens, newer.input_tokens);
        take(&mut self.output_tokens, newer.output_tokens);
        take(&mut self.cache_read_tokens, newer.cache_read_tokens);
        take(&mut self.cache_write_tokens, newer.cache_write_tokens);
        take(&mut self.cache_write_1h_tokens, newer.cache_write_1h_tokens);
        take(&mut self.reasoning_tokens, newer.reasoning_tokens);
        if newer.extra.is_some() {
            self.extra.clone_from(&newer.extra);
        }
    }
}

impl Default for Usage {
    fn default() -> Self {
        Usage::empty()
    }
}
