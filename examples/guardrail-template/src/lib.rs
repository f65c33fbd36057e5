//! A deny-list guardrail: blocks any text containing a configured word
//! (case-insensitive). Configure it with `{"deny": ["word", ...]}`.

use std::cell::RefCell;

use tollgate_sdk::guardrail::{
    BlockInfo, GuardrailInfo, Guest, PassThroughGuard, Stage, TextPart, Verdict,
};

thread_local! {
    // Plugins are single-threaded; configuration lives for the instance's lifetime.
    static DENY: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    deny: Vec<String>,
}

/// The first denied word found in `parts`, if any (words are stored lowercase).
pub fn find_denied(deny: &[String], parts: &[TextPart]) -> Option<String> {
    parts.iter().find_map(|p| {
        let text = p.text.to_lowercase();
        deny.iter().find(|w| text.contains(w.as_str())).cloned()
    })
}

struct DenyList;

impl Guest for DenyList {
    // Streamed responses are not checked incrementally by this template; see
    // plugins/testing/guardrail-test for a stream guard with hold-back.
    type StreamGuard = PassThroughGuard;

    fn describe() -> GuardrailInfo {
        GuardrailInfo {
            id: "deny-list".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            stages: vec![Stage::Request, Stage::Response],
        }
    }

    fn configure(config: String) -> Result<(), String> {
        let c: Config = serde_json::from_str(&config).map_err(|e| format!("deny-list: {e}"))?;
        if c.deny.iter().any(String::is_empty) {
            return Err("deny-list: empty words are not allowed".to_string());
        }
        DENY.with(|d| *d.borrow_mut() = c.deny.iter().map(|w| w.to_lowercase()).collect());
        Ok(())
    }

    fn check(_stage: Stage, parts: Vec<TextPart>) -> Verdict {
        match DENY.with(|d| find_denied(&d.borrow(), &parts)) {
            Some(word) => Verdict::Block(BlockInfo::new(
                "policy:deny-list",
                format!("the text contains the denied word \"{word}\""),
            )),
            None => Verdict::Allow,
        }
    }
}

tollgate_sdk::export_guardrail!(DenyList);

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_sdk::guardrail::Role;

    #[test]
    fn blocks_denied_words() {
        let part = |t: &str| TextPart {
            role: Role::User,
            message_index: 0,
            block_index: 0,
            system: false,
            text: t.to_string(),
        };
        let deny = vec!["secret".to_string()];
        assert_eq!(
            find_denied(&deny, &[part("a SECRET plan")]).as_deref(),
            Some("secret")
        );
        assert_eq!(find_denied(&deny, &[part("nothing here")]), None);
    }
}
