//! Thinking signatures only ever go back to the provider family that issued them.
//!
//! A signature (Anthropic `signature`, Gemini `thoughtSignature`, Responses
//! `encrypted_content`) is opaque and only its issuer can verify it; sent anywhere
//! else it gets the request rejected. When a translated answer carries one to a
//! client, the host wraps it with its issuer: `base64("tollgate:v1:")` followed by
//! `base64("<family>:<signature>")` — valid base64 as a whole (the prefix is 12
//! bytes), so clients that type the field as bytes (google-genai) accept it, and
//! every client treats it as opaque anyway. When a request comes back, each
//! target gets the original signature if it is of the target's family, and no
//! signature otherwise (the target's plugin then drops or sends the unsigned
//! thinking as its dialect allows). A same-dialect request whose body holds a
//! wrapped signature takes the translated path so it can be unwrapped.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::plugin::bindings::types::{BlockDelta, ContentBlock};
use crate::plugin::{ChatRequest, ChatResponse, StreamEvent};

/// `base64("tollgate:v1:")`.
pub(super) const WRAPPED_PREFIX: &str = "dG9sbGdhdGU6djE6";

/// Providers whose signatures verify at each other (Claude on Anthropic's API and
/// on Bedrock) share a family; every other provider is its own.
pub(super) fn family(provider_id: &str) -> &str {
    match provider_id {
        "anthropic" | "bedrock" => "anthropic",
        other => other,
    }
}

/// Whether a same-dialect request body carries a wrapped signature (and so must be
/// translated to unwrap it).
pub(super) fn body_has_wrapped(body: &[u8]) -> bool {
    memchr::memmem::find(body, WRAPPED_PREFIX.as_bytes()).is_some()
}

fn wrap(family: &str, signature: &str) -> String {
    let mut out =
        String::with_capacity(WRAPPED_PREFIX.len() + (family.len() + signature.len()) * 4 / 3 + 8);
    out.push_str(WRAPPED_PREFIX);
    STANDARD.encode_string(format!("{family}:{signature}"), &mut out);
    out
}

/// `(family, original)` of a wrapped signature.
fn unwrap(signature: &str) -> Option<(String, String)> {
    let rest = signature.strip_prefix(WRAPPED_PREFIX)?;
    let bytes = STANDARD.decode(rest).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (family, original) = text.split_once(':')?;
    Some((family.to_string(), original.to_string()))
}

/// The signature `target` may receive: the original when it issued it (or, for an
/// unwrapped signature, when it is of the front door's family), else none.
fn for_target(signature: &str, front_family: &str, target_family: &str) -> Option<String> {
    match unwrap(signature) {
        Some((family, original)) => (family == target_family).then_some(original),
        None => (front_family == target_family).then(|| signature.to_string()),
    }
}

/// `request` with each thinking signature resolved for `target_provider`, or `None`
/// when nothing changes (no copy then).
pub(super) fn request_for_target(
    request: &ChatRequest,
    front_provider: &str,
    target_provider: &str,
) -> Option<ChatRequest> {
    let (front, target) = (family(front_provider), family(target_provider));
    let changes = |sig: &String| for_target(sig, front, target).as_ref() != Some(sig);
    let any = request.messages.iter().any(|m| {
        m.content.iter().any(|b| match b {
            ContentBlock::Thinking(t) => t.signature.as_ref().is_some_and(changes),
            _ => false,
        })
    });
    if !any {
        return None;
    }
    let mut out = request.clone();
    for m in &mut out.messages {
        for b in &mut m.content {
            if let ContentBlock::Thinking(t) = b {
                if let Some(sig) = t.signature.take() {
                    t.signature = for_target(&sig, front, target);
                }
            }
        }
    }
    Some(out)
}

/// Wrap the signatures of a translated answer with their issuer's family.
pub(super) fn wrap_response(response: &mut ChatResponse, target_provider: &str) {
    let family = family(target_provider);
    for b in &mut response.content {
        if let ContentBlock::Thinking(t) = b {
            if let Some(sig) = t.signature.as_mut().filter(|s| !s.is_empty()) {
                *sig = wrap(family, sig);
            }
        }
    }
}

/// Wraps the signatures of a translated stream: a block's signature pieces are
/// held until the block closes and sent as one wrapped delta (base64 of the whole
/// cannot be made piecewise).
pub(super) struct StreamWrap {
    family: String,
    pending: HashMap<u32, String>,
}

impl StreamWrap {
    pub(super) fn new(target_provider: &str) -> StreamWrap {
        StreamWrap {
            family: family(target_provider).to_string(),
            pending: HashMap::new(),
        }
    }

    /// Rewrite `events` in place.
    pub(super) fn apply(&mut self, events: &mut Vec<StreamEvent>) {
        let has_work = events.iter().any(|e| match e {
            StreamEvent::SignatureDelta(_) => true,
            StreamEvent::BlockStart(s) => {
                matches!(&s.block, ContentBlock::Thinking(t) if t.signature.as_ref().is_some_and(|s| !s.is_empty()))
            }
            StreamEvent::BlockStop(i) => self.pending.contains_key(i),
            _ => false,
        });
        if !has_work {
            return;
        }
        let mut out = Vec::with_capacity(events.len());
        for mut ev in events.drain(..) {
            match &mut ev {
                StreamEvent::BlockStart(start) => {
                    if let ContentBlock::Thinking(t) = &mut start.block {
                        if let Some(sig) = t.signature.take().filter(|s| !s.is_empty()) {
                            self.pending.entry(start.index).or_default().push_str(&sig);
                        }
                    }
                }
                StreamEvent::SignatureDelta(d) => {
                    self.pending.entry(d.index).or_default().push_str(&d.text);
                    continue;
                }
                StreamEvent::BlockStop(index) => {
                    if let Some(sig) = self.pending.remove(index) {
                        out.push(StreamEvent::SignatureDelta(BlockDelta {
                            index: *index,
                            text: wrap(&self.family, &sig),
                        }));
                    }
                }
                _ => {}
            }
            out.push(ev);
        }
        *events = out;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_base64_of_the_marker() {
        assert_eq!(STANDARD.encode("tollgate:v1:"), WRAPPED_PREFIX);
        let w = wrap("gemini", "CiQBcsjafE+/x==");
        assert!(STANDARD.decode(&w).is_ok(), "valid base64 as a whole: {w}");
        assert_eq!(
            unwrap(&w),
            Some(("gemini".to_string(), "CiQBcsjafE+/x==".to_string()))
        );
        assert!(body_has_wrapped(
            format!(r#"{{"signature":"{w}"}}"#).as_bytes()
        ));
        assert!(!body_has_wrapped(br#"{"signature":"EqQBCkgIBxAB"}"#));
    }

    #[test]
    fn signatures_go_only_to_their_family() {
        let g = wrap("gemini", "gsig");
        assert_eq!(
            for_target(&g, "anthropic", "gemini").as_deref(),
            Some("gsig")
        );
        assert_eq!(for_target(&g, "anthropic", "anthropic"), None);
        // A native signature of the front door's family (Claude Code's own).
        assert_eq!(
            for_target("EqQB", "anthropic", "anthropic").as_deref(),
            Some("EqQB")
        );
        assert_eq!(
            for_target("EqQB", "anthropic", family("bedrock")).as_deref(),
            Some("EqQB")
        );
        assert_eq!(for_target("EqQB", "anthropic", "openai-responses"), None);
    }

    #[test]
    fn stream_signature_pieces_become_one_wrapped_delta() {
        use crate::plugin::bindings::types::{BlockStart, ThinkingBlock};
        let mut w = StreamWrap::new("anthropic");
        let mut a = vec![
            StreamEvent::BlockStart(BlockStart {
                index: 0,
                block: ContentBlock::Thinking(ThinkingBlock {
                    text: String::new(),
                    signature: None,
                    extra: None,
                }),
            }),
            StreamEvent::ThinkingDelta(BlockDelta {
                index: 0,
                text: "hmm".into(),
            }),
            StreamEvent::SignatureDelta(BlockDelta {
                index: 0,
                text: "Eq".into(),
            }),
        ];
        w.apply(&mut a);
        assert_eq!(a.len(), 2);
        let mut b = vec![
            StreamEvent::SignatureDelta(BlockDelta {
                index: 0,
                text: "QB".into(),
            }),
            StreamEvent::BlockStop(0),
        ];
        w.apply(&mut b);
        assert_eq!(b.len(), 2);
        match &b[0] {
            StreamEvent::SignatureDelta(d) => {
                assert_eq!(unwrap(&d.text), Some(("anthropic".into(), "EqQB".into())))
            }
            other => panic!("{other:?}"),
        }
    }
}
