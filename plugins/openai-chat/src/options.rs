//! Per-target quirks: what an upstream Chat Completions server accepts, read from the
//! target's `options` (a JSON object from the gateway config).
//!
//! | key | values | default (openai / compatible / azure) | effect |
//! |---|---|---|---|
//! | `max_tokens_field` | `"max_tokens"`, `"max_completion_tokens"` | completion / `max_tokens` / completion | field that carries the output cap |
//! | `stream_usage` | bool | `true` | ask `stream_options.include_usage` on streams (turn off for servers that reject `stream_options`) |
//! | `developer_role` | bool | `true` / `false` / `false` | send `developer` messages as such; otherwise as `system` |
//! | `reasoning` | `"reasoning_effort"`, `"reasoning_object"`, `"none"` | `"reasoning_effort"` | how a thinking config is sent: `reasoning_effort`, OpenRouter's `reasoning: {effort \| max_tokens}`, or not at all |
//! | `top_k` | bool | `false` / `false` / `false` | send `top_k` (vLLM, Together, OpenRouter, LM Studio, llama.cpp accept it) |
//! | `cache_control` | bool | `false` | send `cache_control` on text parts (OpenRouter / LiteLLM → Anthropic) |
//! | `drop` | array of strings | `[]` | top-level body fields removed last (e.g. `["parallel_tool_calls","seed"]`) |
//! | `extra_body` | object | `{}` | fields merged into the body last (e.g. `{"chat_template_kwargs":{"enable_thinking":false}}`) |
//! | `api_prefix` | string | `"/v1"` (not Azure) | path prefix before `/chat/completions` and `/models` (`"/v1beta/openai"` for Gemini's compatibility API, `""` for Perplexity) |
//!
//! Azure adds `deployment`, `api_version` and `v1` (read by the `azure-openai` plugin).
//! Any other key is a configuration error that names the known keys.

use serde_json::{Map, Value};
use tollgate_sdk::json::type_name;
use tollgate_sdk::provider::ApiError;

use crate::Flavor;

/// Where a thinking config goes in an upstream request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasoningParam {
    /// `reasoning_effort: "low" | …` (OpenAI, Azure, Groq, vLLM gpt-oss, Ollama).
    Effort,
    /// `reasoning: {"effort": …}` or `{"max_tokens": …}` (OpenRouter).
    Object,
    /// Not sent.
    None,
}

/// What one upstream accepts; see the module docs for each field.
#[derive(Debug, Clone, PartialEq)]
pub struct Quirks {
    /// `max_tokens` or `max_completion_tokens`.
    pub max_tokens_field: &'static str,
    pub stream_usage: bool,
    pub developer_role: bool,
    pub reasoning: ReasoningParam,
    pub top_k: bool,
    pub cache_control: bool,
    pub drop: Vec<String>,
    pub extra_body: Map<String, Value>,
    pub api_prefix: String,
}

/// Keys every flavor understands.
const COMMON_KEYS: &[&str] = &[
    "max_tokens_field",
    "stream_usage",
    "developer_role",
    "reasoning",
    "top_k",
    "cache_control",
    "drop",
    "extra_body",
];

impl Quirks {
    /// The defaults of a flavor's targets.
    pub fn defaults(flavor: Flavor) -> Quirks {
        let compatible = flavor == Flavor::Compatible;
        Quirks {
            max_tokens_field: if compatible {
                "max_tokens"
            } else {
                "max_completion_tokens"
            },
            stream_usage: true,
            developer_role: flavor == Flavor::OpenAi,
            reasoning: ReasoningParam::Effort,
            top_k: false,
            cache_control: false,
            drop: Vec::new(),
            extra_body: Map::new(),
            api_prefix: "/v1".to_string(),
        }
    }

    /// Read a target's options. `own_keys` are extra keys the calling plugin reads
    /// itself; they come back in the second value. Unknown keys and wrong types are
    /// errors that say what is expected.
    pub fn parse(
        flavor: Flavor,
        options: &str,
        own_keys: &[&str],
    ) -> Result<(Quirks, Map<String, Value>), ApiError> {
        let mut q = Quirks::defaults(flavor);
        let mut own = Map::new();
        let trimmed = options.trim();
        if trimmed.is_empty() || trimmed == "null" {
            return Ok((q, own));
        }
        let bad =
            |msg: String| ApiError::internal(format!("{} target options: {msg}", flavor.id()));
        let v: Value =
            serde_json::from_str(trimmed).map_err(|e| bad(format!("not valid JSON ({e})")))?;
        let Value::Object(map) = v else {
            return Err(bad(format!("expected an object, got {}", type_name(&v))));
        };
        let boolean = |k: &str, v: &Value| {
            v.as_bool()
                .ok_or_else(|| bad(format!("`{k}`: expected a boolean, got {}", type_name(v))))
        };
        for (k, v) in map {
            match k.as_str() {
                "max_tokens_field" => {
                    q.max_tokens_field = match v.as_str() {
                        Some("max_tokens") => "max_tokens",
                        Some("max_completion_tokens") => "max_completion_tokens",
                        _ => {
                            return Err(bad(format!(
                                "`max_tokens_field`: expected \"max_tokens\" or \"max_completion_tokens\", got {v}"
                            )))
                        }
                    }
                }
                "stream_usage" => q.stream_usage = boolean(&k, &v)?,
                "developer_role" => q.developer_role = boolean(&k, &v)?,
                "top_k" => q.top_k = boolean(&k, &v)?,
                "cache_control" => q.cache_control = boolean(&k, &v)?,
                "reasoning" => {
                    q.reasoning = match v.as_str() {
                        Some("reasoning_effort") => ReasoningParam::Effort,
                        Some("reasoning_object") => ReasoningParam::Object,
                        Some("none") => ReasoningParam::None,
                        _ => {
                            return Err(bad(format!(
                                "`reasoning`: expected \"reasoning_effort\", \"reasoning_object\" or \"none\", got {v}"
                            )))
                        }
                    }
                }
                "drop" => {
                    let items = v.as_array().ok_or_else(|| {
                        bad(format!("`drop`: expected an array of field names, got {}", type_name(&v)))
                    })?;
                    q.drop = items
                        .iter()
                        .map(|i| {
                            i.as_str()
                                .map(str::to_string)
                                .ok_or_else(|| bad("`drop`: expected strings".to_string()))
                        })
                        .collect::<Result<_, _>>()?;
                }
                "extra_body" => match v {
                    Value::Object(m) => q.extra_body = m,
                    other => {
                        return Err(bad(format!(
                            "`extra_body`: expected an object, got {}",
                            type_name(&other)
                        )))
                    }
                },
                "api_prefix" if flavor != Flavor::Azure => match v {
                    Value::String(s) => q.api_prefix = s.trim_end_matches('/').to_string(),
                    other => {
                        return Err(bad(format!(
                            "`api_prefix`: expected a string, got {}",
                            type_name(&other)
                        )))
                    }
                },
                _ if own_keys.contains(&k.as_str()) => {
                    own.insert(k, v);
                }
                _ => {
                    let mut known: Vec<&str> = COMMON_KEYS.to_vec();
                    if flavor != Flavor::Azure {
                        known.push("api_prefix");
                    }
                    known.extend_from_slice(own_keys);
                    return Err(bad(format!(
                        "unknown option `{k}` (known: {})",
                        known.join(", ")
                    )));
                }
            }
        }
        Ok((q, own))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_per_flavor() {
        let o = Quirks::defaults(Flavor::OpenAi);
        assert_eq!(
            (o.max_tokens_field, o.developer_role),
            ("max_completion_tokens", true)
        );
        let c = Quirks::defaults(Flavor::Compatible);
        assert_eq!(
            (c.max_tokens_field, c.developer_role),
            ("max_tokens", false)
        );
        assert!(c.stream_usage);
        assert_eq!(Quirks::parse(Flavor::Compatible, "{}", &[]).unwrap().0, c);
        assert_eq!(Quirks::parse(Flavor::Compatible, "", &[]).unwrap().0, c);
    }

    #[test]
    fn parses_every_key() {
        let (q, own) = Quirks::parse(
            Flavor::Compatible,
            r#"{"max_tokens_field":"max_completion_tokens","stream_usage":false,"developer_role":true,
                "reasoning":"reasoning_object","top_k":true,"cache_control":true,"drop":["seed"],
                "extra_body":{"a":1},"api_prefix":"/v1beta/openai/"}"#,
            &[],
        )
        .unwrap();
        assert!(own.is_empty());
        assert_eq!(q.max_tokens_field, "max_completion_tokens");
        assert!(!q.stream_usage && q.developer_role && q.top_k && q.cache_control);
        assert_eq!(q.reasoning, ReasoningParam::Object);
        assert_eq!(q.drop, vec!["seed".to_string()]);
        assert_eq!(q.extra_body.get("a"), Some(&Value::from(1)));
        assert_eq!(q.api_prefix, "/v1beta/openai");
    }

    #[test]
    fn unknown_and_mistyped_keys_are_clear_errors() {
        let e = Quirks::parse(Flavor::Compatible, r#"{"max_token_field":"x"}"#, &[]).unwrap_err();
        assert!(
            e.message.contains("unknown option `max_token_field`"),
            "{}",
            e.message
        );
        assert!(e.message.contains("max_tokens_field"), "{}", e.message);
        let e = Quirks::parse(Flavor::Compatible, r#"{"stream_usage":"no"}"#, &[]).unwrap_err();
        assert!(
            e.message.contains("`stream_usage`: expected a boolean"),
            "{}",
            e.message
        );
        let e =
            Quirks::parse(Flavor::Azure, r#"{"api_prefix":"/x"}"#, &["deployment"]).unwrap_err();
        assert!(e.message.contains("deployment"), "{}", e.message);
        let (_, own) = Quirks::parse(
            Flavor::Azure,
            r#"{"deployment":"d","v1":true}"#,
            &["deployment", "v1"],
        )
        .unwrap();
        assert_eq!(own.get("deployment"), Some(&Value::from("d")));
        assert!(Quirks::parse(Flavor::OpenAi, "[1]", &[]).is_err());
    }
}
