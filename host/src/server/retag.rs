//! Undo, on the way back, what a dialect without free-form or namespaced tools
//! made of them on the way out.
//!
//! A client speaking the Responses API (Codex) may declare `custom` tools (raw text
//! input, e.g. `apply_patch`) and tools inside a `namespace` (its MCP tools).
//! Anthropic, Gemini and Bedrock have neither, so their plugins offer a custom tool
//! as a function taking `{"input": "<raw>"}` and a namespaced tool as the function
//! `ns__name` (the convention of `tollgate_sdk::tools`). The upstream then calls
//! plain functions; this module turns those calls back into what the client
//! declared, using the canonical request's tool list, so the client sees its own
//! tool kinds and names. It is only built when the request has such tools.

use std::collections::{HashMap, HashSet};

use crate::plugin::bindings::types::{ContentBlock, ToolCall, ToolKind};
use crate::plugin::{ChatRequest, ChatResponse, StreamEvent};

/// Separator the plugins put between a namespace and a tool name.
const NAMESPACE_SEPARATOR: &str = "__";

/// What a flattened function name stands for.
#[derive(Debug, Clone)]
struct Declared {
    name: String,
    namespace: Option<String>,
    custom: bool,
}

/// The request's custom and namespaced tools, by the function name they travel as.
#[derive(Debug)]
pub(super) struct ToolTags {
    by_flat_name: HashMap<String, Declared>,
}

impl ToolTags {
    /// The tags of `request`, or `None` when it declares no custom or namespaced
    /// tool (the common case: nothing to do per response or chunk).
    pub(super) fn of(request: &ChatRequest) -> Option<ToolTags> {
        let mut by_flat_name = HashMap::new();
        for t in &request.tools {
            let custom = matches!(t.kind, ToolKind::Custom);
            let namespace = t.namespace.clone().filter(|ns| !ns.is_empty());
            if !custom && namespace.is_none() {
                continue;
            }
            let flat = match &namespace {
                Some(ns) => format!("{ns}{NAMESPACE_SEPARATOR}{}", t.name),
                None => t.name.clone(),
            };
            by_flat_name.insert(
                flat,
                Declared {
                    name: t.name.clone(),
                    namespace,
                    custom,
                },
            );
        }
        (!by_flat_name.is_empty()).then_some(ToolTags { by_flat_name })
    }

    /// Restore one call's name, namespace and kind. Returns whether the call is a
    /// custom tool call whose arguments still need unwrapping.
    fn retag(&self, call: &mut ToolCall) -> bool {
        if !matches!(call.kind, ToolKind::Function) {
            return false;
        }
        let key = match &call.namespace {
            Some(ns) if !ns.is_empty() => format!("{ns}{NAMESPACE_SEPARATOR}{}", call.name),
            _ => call.name.clone(),
        };
        let Some(d) = self.by_flat_name.get(&key) else {
            return false;
        };
        call.name.clone_from(&d.name);
        call.namespace.clone_from(&d.namespace);
        if d.custom {
            call.kind = ToolKind::Custom;
        }
        d.custom
    }

    /// Restore every tool call of a whole response.
    pub(super) fn response(&self, response: &mut ChatResponse) {
        for block in &mut response.content {
            if let ContentBlock::ToolCall(call) = block {
                if self.retag(call) {
                    call.arguments = unwrap_custom_input(&call.arguments);
                }
            }
        }
    }

    /// A per-stream rewriter.
    pub(super) fn into_stream(self) -> StreamRetag {
        StreamRetag {
            tags: self,
            custom: HashMap::new(),
            seen: HashSet::new(),
        }
    }
}

/// Rewrites a stream's events. A custom call's argument deltas are held until its
/// block closes (the wrapper's JSON string cannot be unescaped piecewise without
/// a streaming JSON parser), then sent as one delta of the raw input.
pub(super) struct StreamRetag {
    tags: ToolTags,
    /// Open custom-call blocks: index → arguments so far.
    custom: HashMap<u32, String>,
    seen: HashSet<u32>,
}

impl StreamRetag {
    /// Rewrite `events` in place.
    pub(super) fn apply(&mut self, events: &mut Vec<StreamEvent>) {
        if events.is_empty() {
            return;
        }
        let mut out = Vec::with_capacity(events.len());
        for mut ev in events.drain(..) {
            match &mut ev {
                StreamEvent::BlockStart(start) => {
                    if let ContentBlock::ToolCall(call) = &mut start.block {
                        if self.seen.insert(start.index) && self.tags.retag(call) {
                            self.custom
                                .insert(start.index, std::mem::take(&mut call.arguments));
                        }
                    }
                }
                StreamEvent::ToolArgumentsDelta(d) => {
                    if let Some(buf) = self.custom.get_mut(&d.index) {
                        buf.push_str(&d.text);
                        continue;
                    }
                }
                StreamEvent::BlockStop(index) => {
                    if let Some(buf) = self.custom.remove(index) {
                        out.push(StreamEvent::ToolArgumentsDelta(
                            crate::plugin::bindings::types::BlockDelta {
                                index: *index,
                                text: unwrap_custom_input(&buf),
                            },
                        ));
                    }
                }
                _ => {}
            }
            out.push(ev);
        }
        *events = out;
    }
}

/// The raw input of a custom call that travelled as `{"input": "<raw>"}`; anything
/// else (a model that ignored the schema) is passed on as it came.
fn unwrap_custom_input(arguments: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(serde_json::Value::Object(mut m)) if m.len() == 1 => match m.remove("input") {
            Some(serde_json::Value::String(s)) => s,
            _ => arguments.to_string(),
        },
        _ => arguments.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::bindings::types::{
        BlockDelta, BlockStart, Sampling, StopReason, ToolDefinition,
    };

    fn tool(name: &str, kind: ToolKind, ns: Option<&str>) -> ToolDefinition {
        ToolDefinition {
            kind,
            name: name.into(),
            description: None,
            parameters: None,
            strict: None,
            namespace: ns.map(Into::into),
            cache_control: None,
            extra: None,
        }
    }

    fn call(id: &str, name: &str, args: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: args.into(),
            kind: ToolKind::Function,
            namespace: None,
            cache_control: None,
            extra: None,
        }
    }

    fn request(tools: Vec<ToolDefinition>) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            system: vec![],
            messages: vec![],
            tools,
            tool_choice: None,
            parallel_tool_calls: None,
            sampling: Sampling {
                max_tokens: None,
                temperature: None,
                top_p: None,
                top_k: None,
                stop: vec![],
                seed: None,
                presence_penalty: None,
                frequency_penalty: None,
                candidates: None,
            },
            thinking: None,
            response_format: None,
            stream: false,
            stream_include_usage: false,
            user: None,
            metadata: None,
            extra: None,
        }
    }

    fn tags() -> ToolTags {
        ToolTags::of(&request(vec![
            tool("shell", ToolKind::Function, None),
            tool("apply_patch", ToolKind::Custom, None),
            tool("read", ToolKind::Function, Some("mcp_fs")),
        ]))
        .expect("has tags")
    }

    #[test]
    fn only_built_when_needed() {
        assert!(ToolTags::of(&request(vec![tool("shell", ToolKind::Function, None)])).is_none());
    }

    #[test]
    fn whole_response() {
        let mut r = ChatResponse {
            id: "r".into(),
            model: "m".into(),
            content: vec![
                ContentBlock::ToolCall(call(
                    "c1",
                    "apply_patch",
                    r#"{"input":"*** Begin\n\"é\""}"#,
                )),
                ContentBlock::ToolCall(call("c2", "mcp_fs__read", r#"{"path":"a"}"#)),
                ContentBlock::ToolCall(call("c3", "shell", r#"{"cmd":"ls"}"#)),
            ],
            stop_reason: Some(StopReason::ToolUse),
            stop_sequence: None,
            usage: crate::plugin::empty_usage(),
            extra: None,
        };
        tags().response(&mut r);
        let calls: Vec<&ToolCall> = r
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::ToolCall(c) => Some(c),
                _ => None,
            })
            .collect();
        assert!(matches!(calls[0].kind, ToolKind::Custom));
        assert_eq!(calls[0].arguments, "*** Begin\n\"é\"");
        assert_eq!(calls[1].name, "read");
        assert_eq!(calls[1].namespace.as_deref(), Some("mcp_fs"));
        assert_eq!(calls[1].arguments, r#"{"path":"a"}"#);
        assert_eq!(calls[2].name, "shell");
        assert!(calls[2].namespace.is_none());
    }

    #[test]
    fn stream_holds_custom_arguments_until_the_block_closes() {
        let mut s = tags().into_stream();
        let mut a = vec![
            StreamEvent::BlockStart(BlockStart {
                index: 0,
                block: ContentBlock::ToolCall(call("c1", "apply_patch", "")),
            }),
            StreamEvent::ToolArgumentsDelta(BlockDelta {
                index: 0,
                text: r#"{"input": "line \u00e9"#.into(),
            }),
        ];
        s.apply(&mut a);
        assert_eq!(a.len(), 1);
        let mut b = vec![
            StreamEvent::ToolArgumentsDelta(BlockDelta {
                index: 0,
                text: r#"\nmore"}"#.into(),
            }),
            StreamEvent::BlockStop(0),
            StreamEvent::BlockStart(BlockStart {
                index: 1,
                block: ContentBlock::ToolCall(call("c2", "mcp_fs__read", "")),
            }),
            StreamEvent::ToolArgumentsDelta(BlockDelta {
                index: 1,
                text: "{}".into(),
            }),
        ];
        s.apply(&mut b);
        match &b[0] {
            StreamEvent::ToolArgumentsDelta(d) => assert_eq!(d.text, "line é\nmore"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(b[1], StreamEvent::BlockStop(0)));
        match &b[2] {
            StreamEvent::BlockStart(BlockStart {
                block: ContentBlock::ToolCall(c),
                ..
            }) => {
                assert_eq!(c.name, "read");
                assert_eq!(c.namespace.as_deref(), Some("mcp_fs"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&b[3], StreamEvent::ToolArgumentsDelta(d) if d.text == "{}"));
    }
}
