//! Tollgate: an AI gateway whose provider adapters, guardrails, routers and cost
//! models are sandboxed WebAssembly components.
//!
//! The host is a small proxy: [`server`] takes requests, [`plugin`] runs the
//! components under limits, [`runtime`] holds one generation of serving state,
//! [`reload`] swaps generations without dropping requests, [`store`] records
//! every request, and [`config`] reads the config file.

pub mod config;
pub mod plugin;
pub mod reload;
pub mod runtime;
pub mod server;
pub mod sigv4;
pub mod store;
