//! `test` guardrail (test-only): blocks a literal word and redacts `SECRET-…` tokens, in
//! whole requests/responses and in streams with hold-back across chunks.

use std::cell::RefCell;

use tollgate_sdk::guardrail::{
    BlockInfo, GuardrailInfo, Guest, GuestStreamGuard, Redaction, Stage, StreamVerdict, TextPart,
    Verdict,
};

/// What the guardrail looks for.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    /// A part containing this literal is blocked.
    pub block_word: String,
    /// This literal followed by one or more ASCII alphanumerics is redacted.
    pub redact_prefix: String,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            block_word: "BLOCKME".to_string(),
            redact_prefix: "SECRET-".to_string(),
        }
    }
}

const REPLACEMENT: &str = "[REDACTED]";
const CATEGORY: &str = "secret";

thread_local! {
    static RULES: RefCell<Rules> = RefCell::new(Rules::default());
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    block_word: Option<String>,
    redact_pattern: Option<String>,
}

/// Parse `{"block_word": "...", "redact_pattern": "..."}` (both optional).
pub fn parse_config(json: &str) -> Result<Rules, String> {
    let raw: RawConfig =
        serde_json::from_str(json).map_err(|e| format!("test guardrail config: {e}"))?;
    let mut rules = Rules::default();
    if let Some(w) = raw.block_word {
        if w.is_empty() {
            return Err("block_word must not be empty".to_string());
        }
        rules.block_word = w;
    }
    if let Some(p) = raw.redact_pattern {
        if p.is_empty() {
            return Err("redact_pattern must not be empty".to_string());
        }
        rules.redact_prefix = p;
    }
    Ok(rules)
}

/// A match of the redact pattern: byte span, and whether it reached the end of the text
/// (so more alphanumerics could follow in a stream).
fn matches(rules: &Rules, text: &str) -> Vec<(usize, usize, bool)> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(pos) = text[from..].find(&rules.redact_prefix) {
        let start = from + pos;
        let mut end = start + rules.redact_prefix.len();
        let body_start = end;
        while end < b.len() && b[end].is_ascii_alphanumeric() {
            end += 1;
        }
        let at_end = end == b.len();
        if end > body_start || at_end {
            out.push((start, end, at_end));
        }
        from = end.max(start + 1);
        while !text.is_char_boundary(from) {
            from += 1;
        }
    }
    out
}

fn blocked() -> BlockInfo {
    BlockInfo::new("policy:test", "text contains a blocked word")
}

/// Check whole text parts.
pub fn check_parts(rules: &Rules, parts: &[TextPart]) -> Verdict {
    if parts.iter().any(|p| p.text.contains(&rules.block_word)) {
        return Verdict::Block(blocked());
    }
    let mut redactions = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        for (start, end, _) in matches(rules, &p.text) {
            if end == start + rules.redact_prefix.len() {
                continue; // the prefix alone, nothing after it
            }
            redactions.push(Redaction {
                part: i as u32,
                start: start as u32,
                end: end as u32,
                replacement: REPLACEMENT.to_string(),
                category: CATEGORY.to_string(),
            });
        }
    }
    if redactions.is_empty() {
        Verdict::Allow
    } else {
        Verdict::Redact(redactions)
    }
}

/// Length of the longest proper suffix of `text` that is a prefix of `pattern`.
fn partial_suffix(text: &str, pattern: &str) -> usize {
    let max = pattern.len().saturating_sub(1).min(text.len());
    (1..=max)
        .rev()
        .find(|&n| {
            text.is_char_boundary(text.len() - n)
                && pattern
                    .as_bytes()
                    .starts_with(&text.as_bytes()[text.len() - n..])
        })
        .unwrap_or(0)
}

/// The streaming state: text held back because it may start a pattern.
#[derive(Default)]
pub struct Hold {
    held: String,
}

impl Hold {
    /// Push text; release what is decided.
    pub fn push(&mut self, rules: &Rules, text: &str) -> StreamVerdict {
        self.held.push_str(text);
        let buf = core::mem::take(&mut self.held);
        if buf.contains(&rules.block_word) {
            return StreamVerdict::Block(blocked());
        }
        let ms = matches(rules, &buf);
        let mut cut = buf.len()
            - partial_suffix(&buf, &rules.block_word)
                .max(partial_suffix(&buf, &rules.redact_prefix));
        for &(start, end, at_end) in &ms {
            if at_end || (start < cut && cut < end) {
                cut = cut.min(start);
            }
        }
        let mut out = String::with_capacity(cut);
        let mut at = 0;
        for &(start, end, _) in ms.iter().filter(|m| m.1 <= cut) {
            if end == start + rules.redact_prefix.len() {
                continue;
            }
            out.push_str(&buf[at..start]);
            out.push_str(REPLACEMENT);
            at = end;
        }
        out.push_str(&buf[at..cut]);
        self.held = buf[cut..].to_string();
        StreamVerdict::Release(out)
    }

    /// The stream ended: decide the held text.
    pub fn finish(&mut self, rules: &Rules) -> StreamVerdict {
        let buf = core::mem::take(&mut self.held);
        if buf.contains(&rules.block_word) {
            return StreamVerdict::Block(blocked());
        }
        let part = TextPart {
            role: tollgate_sdk::guardrail::Role::Assistant,
            message_index: 0,
            block_index: 0,
            system: false,
            text: buf,
        };
        match check_parts(rules, core::slice::from_ref(&part)) {
            Verdict::Redact(rs) => StreamVerdict::Release(
                tollgate_sdk::guardrail::apply_redactions(&part.text, 0, &rs),
            ),
            Verdict::Block(b) => StreamVerdict::Block(b),
            Verdict::Allow => StreamVerdict::Release(part.text),
        }
    }
}

/// The exported stream guard.
pub struct Guard {
    rules: Rules,
    hold: RefCell<Hold>,
}

impl GuestStreamGuard for Guard {
    fn new() -> Self {
        Guard {
            rules: RULES.with(|r| r.borrow().clone()),
            hold: RefCell::new(Hold::default()),
        }
    }
    fn push(&self, _block: u32, text: String) -> StreamVerdict {
        self.hold.borrow_mut().push(&self.rules, &text)
    }
    fn finish(&self) -> StreamVerdict {
        self.hold.borrow_mut().finish(&self.rules)
    }
}

struct TestGuardrail;

impl Guest for TestGuardrail {
    type StreamGuard = Guard;

    fn describe() -> GuardrailInfo {
        GuardrailInfo {
            id: "test".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            stages: vec![Stage::Request, Stage::Response],
        }
    }

    fn configure(config: String) -> Result<(), String> {
        let rules = parse_config(&config)?;
        RULES.with(|r| *r.borrow_mut() = rules);
        Ok(())
    }

    fn check(_stage: Stage, parts: Vec<TextPart>) -> Verdict {
        RULES.with(|r| check_parts(&r.borrow(), &parts))
    }
}

tollgate_sdk::export_guardrail!(TestGuardrail);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tollgate_sdk::guardrail::Role;

    fn part(text: &str) -> TextPart {
        TextPart {
            role: Role::User,
            message_index: 0,
            block_index: 0,
            system: false,
            text: text.to_string(),
        }
    }

    #[test]
    fn check_blocks_redacts_allows() {
        let r = Rules::default();
        assert!(matches!(
            check_parts(&r, &[part("hi"), part("xBLOCKMEx")]),
            Verdict::Block(_)
        ));
        let Verdict::Redact(rs) = check_parts(&r, &[part("ok"), part("a SECRET-abc1, b SECRET-z")])
        else {
            panic!()
        };
        assert_eq!(rs.len(), 2);
        assert_eq!((rs[0].part, rs[0].start, rs[0].end), (1, 2, 13));
        assert_eq!((rs[1].start, rs[1].end), (17, 25));
        assert_eq!(
            tollgate_sdk::guardrail::apply_redactions("a SECRET-abc1, b SECRET-z", 1, &rs),
            "a [REDACTED], b [REDACTED]"
        );
        assert_eq!(check_parts(&r, &[part("SECRET- alone")]), Verdict::Allow);
    }

    fn stream(chunks: &[&str]) -> Result<String, BlockInfo> {
        let r = Rules::default();
        let mut h = Hold::default();
        let mut out = String::new();
        for c in chunks {
            match h.push(&r, c) {
                StreamVerdict::Release(s) => out.push_str(&s),
                StreamVerdict::Block(b) => return Err(b),
            }
        }
        match h.finish(&r) {
            StreamVerdict::Release(s) => out.push_str(&s),
            StreamVerdict::Block(b) => return Err(b),
        }
        Ok(out)
    }

    #[test]
    fn stream_hold_back() {
        assert!(stream(&["ab BLO", "CKM", "E cd"]).is_err());
        assert_eq!(stream(&["ab BLO", "CK cd"]).unwrap(), "ab BLOCK cd");
        assert_eq!(
            stream(&["x SEC", "RET-ab", "c! y"]).unwrap(),
            "x [REDACTED]! y"
        );
        assert_eq!(stream(&["x SECRET-abc"]).unwrap(), "x [REDACTED]");
        assert_eq!(stream(&["héllo ", "wörld ✓"]).unwrap(), "héllo wörld ✓");
        let r = Rules::default();
        let mut h = Hold::default();
        assert_eq!(
            h.push(&r, "hello BL"),
            StreamVerdict::Release("hello ".to_string())
        );
    }

    #[test]
    fn config() {
        let r = parse_config(r#"{"block_word":"NOPE","redact_pattern":"KEY_"}"#).unwrap();
        assert_eq!(r.block_word, "NOPE");
        assert!(matches!(
            check_parts(&r, &[part("a KEY_x1 b")]),
            Verdict::Redact(_)
        ));
        assert_eq!(parse_config("{}").unwrap(), Rules::default());
        assert!(parse_config("[]").is_err());
    }
}
