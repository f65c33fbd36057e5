//! The `guardrail` world: check text parts of requests and responses and allow, block
//! or redact them; guard streamed output with hold-back.
//!
//! Implement [`Guest`] (alias [`Guardrail`]) and call
//! [`export_guardrail!`](crate::export_guardrail).

#[doc(hidden)]
pub mod generated {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "guardrail",
        pub_export_macro: true,
        default_bindings_module: "tollgate_sdk::guardrail::generated",
        additional_derives: [PartialEq],
        with: { "tollgate:plugin/types@0.1.0": crate::types },
    });
}

pub use crate::types::{Json, Role, TextPart};
pub use generated::exports::tollgate::plugin::guardrail_api::{
    BlockInfo, GuardrailInfo, Guest, GuestStreamGuard, Redaction, Stage, StreamGuard,
    StreamVerdict, Verdict,
};
pub use Guest as Guardrail;

/// Export a type implementing [`Guest`] as the component's `guardrail-api`.
#[macro_export]
macro_rules! export_guardrail {
    ($ty:ident) => {
        // Component exports only exist on wasm; natively (unit tests) just check the impl.
        #[cfg(target_arch = "wasm32")]
        $crate::guardrail::generated::export!($ty with_types_in $crate::guardrail::generated);
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() = || {
            fn implements<T: $crate::guardrail::Guest>() {}
            implements::<$ty>();
        };
    };
}

impl BlockInfo {
    /// A block verdict's details.
    pub fn new(category: impl Into<String>, rationale: impl Into<String>) -> BlockInfo {
        BlockInfo {
            category: category.into(),
            rationale: rationale.into(),
        }
    }
}

/// A stream guard that releases everything at once (for guardrails that only check
/// requests, or whose patterns cannot span chunks).
pub struct PassThroughGuard;

impl GuestStreamGuard for PassThroughGuard {
    fn new() -> Self {
        PassThroughGuard
    }
    fn push(&self, _block: u32, text: String) -> StreamVerdict {
        StreamVerdict::Release(text)
    }
    fn finish(&self) -> StreamVerdict {
        StreamVerdict::Release(String::new())
    }
}

/// Apply non-overlapping redactions to one string (those whose `part` equals `part`),
/// skipping any that are out of range or not on char boundaries.
pub fn apply_redactions(text: &str, part: u32, redactions: &[Redaction]) -> String {
    let mut spans: Vec<&Redaction> = redactions.iter().filter(|r| r.part == part).collect();
    spans.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0usize;
    for r in spans {
        let (s, e) = (r.start as usize, r.end as usize);
        if s < at
            || e < s
            || e > text.len()
            || !text.is_char_boundary(s)
            || !text.is_char_boundary(e)
        {
            continue;
        }
        out.push_str(&text[at..s]);
        out.push_str(&r.replacement);
        at = e;
    }
    out.push_str(&text[at..]);
    out
}
