//! Host-side bindings generated from `wit/`, one module per world. The `types`
//! interface is generated once (with the provider world) and shared by the others.

#![allow(missing_docs, clippy::all, clippy::unwrap_used)]

pub mod provider {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "provider",
        exports: { default: async },
    });
}

pub mod guardrail {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "guardrail",
        exports: { default: async },
        with: { "tollgate:plugin/types": super::provider::tollgate::plugin::types },
    });
}

pub mod router {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "router",
        exports: { default: async },
        with: { "tollgate:plugin/types": super::provider::tollgate::plugin::types },
    });
}

pub mod cost_model {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "cost-model",
        exports: { default: async },
        with: { "tollgate:plugin/types": super::provider::tollgate::plugin::types },
    });
}

/// The shared canonical types.
pub use provider::tollgate::plugin::types;
