//! The `provider` world: one wire dialect, front door (decode client requests, encode
//! answers) and upstream (encode requests, decode responses and streams).
//!
//! Implement [`Guest`] (alias [`Provider`]) plus the two stream resources, then call
//! [`export_provider!`](crate::export_provider).

#[doc(hidden)]
pub mod generated {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "provider",
        pub_export_macro: true,
        default_bindings_module: "tollgate_sdk::provider::generated",
        additional_derives: [PartialEq],
    });
}

pub use crate::types::*;
pub use generated::exports::tollgate::plugin::provider_api::{
    AuthScheme, Guest, GuestStreamDecoder, GuestStreamEncoder, HttpResponse, ProviderInfo,
    RequestEdits, RequestSummary, ResponseSummary, Route, StreamDecoder, StreamEncoder, TargetInfo,
    UpstreamRequest,
};
pub use Guest as Provider;

/// Export a type implementing [`Guest`] as the component's `provider-api`.
///
/// ```ignore
/// struct MyProvider;
/// impl tollgate_sdk::provider::Guest for MyProvider { /* … */ }
/// tollgate_sdk::export_provider!(MyProvider);
/// ```
#[macro_export]
macro_rules! export_provider {
    ($ty:ident) => {
        // Component exports only exist on wasm; natively (unit tests) just check the impl.
        #[cfg(target_arch = "wasm32")]
        $crate::provider::generated::export!($ty with_types_in $crate::provider::generated);
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() = || {
            fn implements<T: $crate::provider::Guest>() {}
            implements::<$ty>();
        };
    };
}

impl Route {
    /// A route without a model path parameter that does not imply streaming.
    pub fn new(method: &str, path: &str, operation: Operation) -> Route {
        Route {
            method: method.to_string(),
            path: path.to_string(),
            operation,
            model_param: None,
            streaming: false,
        }
    }
}

impl Header {
    /// A header from its name and value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Header {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl ResponseSummary {
    /// A summary with nothing known.
    pub fn empty() -> ResponseSummary {
        ResponseSummary {
            id: None,
            model: None,
            usage: Usage::empty(),
            stop_reason: None,
            blocks: 0,
        }
    }
}

/// A stream encoder for providers that serve no streaming front door: every call
/// fails with a clear `invalid-request` error.
pub struct UnsupportedStreamEncoder;

impl GuestStreamEncoder for UnsupportedStreamEncoder {
    fn new(_model: String, _query: String, _include_usage: bool) -> Self {
        UnsupportedStreamEncoder
    }
    fn content_type(&self) -> String {
        "text/event-stream".to_string()
    }
    fn encode(&self, _events: Vec<StreamEvent>) -> Result<Vec<u8>, ApiError> {
        Err(ApiError::unsupported("streaming to clients"))
    }
    fn finish(&self) -> Vec<u8> {
        Vec::new()
    }
}

/// A stream decoder for providers that cannot stream: feeding fails clearly.
pub struct UnsupportedStreamDecoder;

impl GuestStreamDecoder for UnsupportedStreamDecoder {
    fn new(_with_content: bool) -> Self {
        UnsupportedStreamDecoder
    }
    fn feed(&self, _chunk: Vec<u8>) -> Result<Vec<StreamEvent>, ApiError> {
        Err(ApiError::unsupported("streaming from the upstream"))
    }
    fn finish(&self) -> Result<Vec<StreamEvent>, ApiError> {
        Err(ApiError::unsupported("streaming from the upstream"))
    }
}
