//! Rust guest SDK for Tollgate plugins: typed bindings for each plugin world, export
//! macros, and helpers (SSE parsing, JSON scanning, API errors) that guests commonly need.
//!
//! A plugin implements the trait of one world and exports it:
//!
//! ```ignore
//! use tollgate_sdk::guardrail::{self, GuardrailInfo, Stage, TextPart, Verdict};
//!
//! struct MyGuard;
//! impl guardrail::Guest for MyGuard {
//!     type StreamGuard = guardrail::PassThroughGuard;
//!     fn describe() -> GuardrailInfo { /* … */ }
//!     fn configure(_config: String) -> Result<(), String> { Ok(()) }
//!     fn check(_stage: Stage, _parts: Vec<TextPart>) -> Verdict { Verdict::Allow }
//! }
//! tollgate_sdk::export_guardrail!(MyGuard);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm` in
//! `target/wasm32-wasip2/release/` is a component ready to drop into the plugin directory.
//!
//! The WIT contract is read from the repository's `wit/` folder (never copied).

pub mod cost_model;
pub mod error;
pub mod guardrail;
pub mod json;
pub mod provider;
pub mod router;
pub mod sse;
pub mod tools;
pub mod types;

/// Re-exported so export macros and plugins need no direct dependency.
#[doc(hidden)]
pub use wit_bindgen;
