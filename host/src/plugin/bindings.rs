//! Host-side bindings generated from `wit/`, one module per world. The `types`
//! interface is generated once (with the provider world) and shared by the others.

#![allow(missing_docs, clippy::all, clippy::unwrap_used)]

pub mod provider {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "provider",
    });
}

pub mod guardrail {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "guardrail",
        with: { "tollgate:plugin/types": super::provider::tollgate::plugin::types },
    });
}

pub mod router {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "router",
        with: { "tollgate:plugin/types": super::provider::tollgate::plugin::types },
    });
}

pub mod cost_model {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "cost-model",
        with: { "tollgate:plugin/types": super::provider::tollgate::plugin::types },
    });
}

/// The shared canonical types.
pub use provider::tollgate::plugin::types;
