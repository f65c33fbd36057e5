//! The `router` world: order an endpoint's targets for each request.
//!
//! Implement [`Guest`] (alias [`Router`]) and call [`export_router!`](crate::export_router).

#[doc(hidden)]
pub mod generated {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "router",
        pub_export_macro: true,
        default_bindings_module: "tollgate_sdk::router::generated",
        additional_derives: [PartialEq],
        with: { "tollgate:plugin/types@0.1.0": crate::types },
    });
}

pub use crate::types::{Json, Operation};
pub use generated::exports::tollgate::plugin::router_api::{
    Candidate, Guest, RouteRequest, RouterInfo,
};
pub use Guest as Router;

/// Export a type implementing [`Guest`] as the component's `router-api`.
#[macro_export]
macro_rules! export_router {
    ($ty:ident) => {
        // Component exports only exist on wasm; natively (unit tests) just check the impl.
        #[cfg(target_arch = "wasm32")]
        $crate::router::generated::export!($ty with_types_in $crate::router::generated);
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() = || {
            fn implements<T: $crate::router::Guest>() {}
            implements::<$ty>();
        };
    };
}
