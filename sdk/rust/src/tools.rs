//! How tools a dialect cannot express natively are carried as plain function tools.
//!
//! The OpenAI Responses API has free-form `custom` tools (Codex's `apply_patch`) and
//! `namespace` tools (Codex's MCP tools); Anthropic, Gemini and Bedrock have neither.
//! Every provider plugin encodes them the same way so the host can undo it on the
//! way back:
//!
//! - a namespaced tool `name` in namespace `ns` becomes the function `ns__name`;
//! - a custom tool becomes a function taking one string, `{"input": "<raw text>"}`,
//!   whose description also carries the tool's input format (e.g. a Lark grammar);
//! - a custom tool call in the history is sent as arguments `{"input": "<raw>"}`.
//!
//! The host knows the request's tools, so it turns a returned `ns__name` call back
//! into `name` in `ns`, and a returned custom-tool call's `{"input": …}` back into
//! the raw text, before the client's dialect encodes the answer.

use serde_json::{json, Value};

use crate::types::{Dialect, ToolDefinition};

/// Separator between a namespace and a tool name in a flattened function name.
pub const NAMESPACE_SEPARATOR: &str = "__";

/// The function name a tool travels under in a dialect without namespaces.
pub fn flat_name(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}{NAMESPACE_SEPARATOR}{name}"),
        _ => name.to_string(),
    }
}

/// The JSON schema a custom (free-form) tool is offered with as a function.
pub fn custom_input_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "input": {
                "type": "string",
                "description": "The tool's raw input text, exactly as the tool description specifies."
            }
        },
        "required": ["input"]
    })
}

/// The description a custom tool is offered with as a function: its own
/// description plus its input format (a grammar or regex definition) when it has
/// one, since the function schema can only say "a string".
pub fn custom_description(t: &ToolDefinition) -> Option<String> {
    let format = t
        .extra
        .as_ref()
        .filter(|e| e.source == Dialect::OpenaiResponses || e.source == Dialect::OpenaiChat)
        .and_then(|e| serde_json::from_str::<Value>(&e.fields).ok())
        .and_then(|v| v.get("format").cloned())
        .and_then(|f| {
            let def = f.get("definition")?.as_str()?.to_string();
            let syntax = f
                .get("syntax")
                .and_then(Value::as_str)
                .unwrap_or("grammar")
                .to_string();
            Some((syntax, def))
        });
    match (t.description.as_deref().filter(|d| !d.is_empty()), format) {
        (d, Some((syntax, def))) => Some(format!(
            "{}The `input` string must match this {syntax} definition:\n{def}",
            d.map(|d| format!("{d}\n\n")).unwrap_or_default()
        )),
        (Some(d), None) => Some(d.to_string()),
        (None, None) => None,
    }
}

/// Arguments of a custom tool call, as the function call they travel as.
pub fn custom_call_arguments(raw: &str) -> String {
    json!({ "input": raw }).to_string()
}

/// The raw input of a custom tool call that travelled as a function call, or
/// `None` when `arguments` is not the `{"input": "…"}` wrapper.
pub fn custom_call_input(arguments: &str) -> Option<String> {
    match serde_json::from_str::<Value>(arguments).ok()? {
        Value::Object(mut m) if m.len() == 1 => match m.remove("input")? {
            Value::String(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Extra, ToolKind};

    fn custom(extra: Option<&str>) -> ToolDefinition {
        ToolDefinition {
            kind: ToolKind::Custom,
            name: "apply_patch".into(),
            description: Some("Apply a patch.".into()),
            parameters: None,
            strict: None,
            namespace: None,
            cache_control: None,
            extra: extra.map(|f| Extra {
                source: Dialect::OpenaiResponses,
                fields: f.into(),
            }),
        }
    }

    #[test]
    fn flat_names() {
        assert_eq!(flat_name("read", Some("mcp_fs")), "mcp_fs__read");
        assert_eq!(flat_name("read", Some("")), "read");
        assert_eq!(flat_name("read", None), "read");
    }

    #[test]
    fn custom_round_trip() {
        let args = custom_call_arguments("*** Begin Patch\n\"é\"\n*** End Patch");
        assert_eq!(
            custom_call_input(&args).as_deref(),
            Some("*** Begin Patch\n\"é\"\n*** End Patch")
        );
        assert_eq!(custom_call_input(r#"{"input": 3}"#), None);
        assert_eq!(custom_call_input(r#"{"input": "a", "b": 1}"#), None);
        assert_eq!(custom_call_input("not json"), None);
    }

    #[test]
    fn grammar_goes_into_the_description() {
        let d = custom_description(&custom(Some(
            r#"{"format":{"type":"grammar","syntax":"lark","definition":"start: /.+/"}}"#,
        )))
        .expect("description");
        assert!(d.starts_with("Apply a patch.\n\n"), "{d}");
        assert!(d.ends_with("lark definition:\nstart: /.+/"), "{d}");
        assert_eq!(
            custom_description(&custom(Some(r#"{"format":{"type":"text"}}"#))).as_deref(),
            Some("Apply a patch.")
        );
        assert_eq!(
            custom_input_schema()["required"],
            serde_json::json!(["input"])
        );
    }
}
