//! The `cost-model` world: price token usage in micro-USD.
//!
//! Implement [`Guest`] (alias [`CostModel`]) and call
//! [`export_cost_model!`](crate::export_cost_model).

#[doc(hidden)]
pub mod generated {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "cost-model",
        pub_export_macro: true,
        default_bindings_module: "tollgate_sdk::cost_model::generated",
        additional_derives: [PartialEq],
        with: { "tollgate:plugin/types@0.1.0": crate::types },
    });
}

pub use crate::types::{Json, Usage};
pub use generated::exports::tollgate::plugin::cost_model_api::{
    Cost, CostModelInfo, Guest, ModelPrice,
};
pub use Guest as CostModel;

/// Export a type implementing [`Guest`] as the component's `cost-model-api`.
#[macro_export]
macro_rules! export_cost_model {
    ($ty:ident) => {
        // Component exports only exist on wasm; natively (unit tests) just check the impl.
        #[cfg(target_arch = "wasm32")]
        $crate::cost_model::generated::export!($ty with_types_in $crate::cost_model::generated);
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() = || {
            fn implements<T: $crate::cost_model::Guest>() {}
            implements::<$ty>();
        };
    };
}
