//! Realistic, valid bodies of every dialect (shapes from `tests/src/mock/*.rs`,
//! the plugins' unit tests and the providers' API references), the known-good
//! inputs the poisoning check decodes after every fuzz input, and the seed
//! corpus of every target built from them.

use crate::fixture::PROVIDERS;

/// The wire dialects of [`PROVIDERS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Anthropic,
    Chat,
    Responses,
    Gemini,
    Bedrock,
}

/// The dialect of `PROVIDERS[i]`.
pub fn dialect(i: usize) -> Dialect {
    match PROVIDERS.get(i).copied() {
        Some("anthropic") => Dialect::Anthropic,
        Some("openai-responses") => Dialect::Responses,
        Some("gemini") => Dialect::Gemini,
        Some("bedrock") => Dialect::Bedrock,
        _ => Dialect::Chat,
    }
}

/// The model a route's path names, for dialects that put it there.
pub fn path_model(i: usize) -> Option<&'static str> {
    match PROVIDERS.get(i).copied() {
        Some("gemini") => Some("gemini-2.5-flash"),
        Some("bedrock") => Some("anthropic.claude-3-5-haiku-20241022-v1:0"),
        Some("azure-openai") => Some("gpt-4o-deployment"),
        _ => None,
    }
}

/// A minimal valid chat request: the known-good input of the request targets.
pub fn good_request(d: Dialect) -> &'static str {
    match d {
        Dialect::Anthropic => {
            r#"{"model":"claude-sonnet-4-5","max_tokens":256,"messages":[{"role":"user","content":"Hello"}]}"#
        }
        Dialect::Chat => r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}]}"#,
        Dialect::Responses => r#"{"model":"gpt-5","input":"Hello"}"#,
        Dialect::Gemini => r#"{"contents":[{"role":"user","parts":[{"text":"Hello"}]}]}"#,
        Dialect::Bedrock => {
            r#"{"messages":[{"role":"user","content":[{"text":"Hello"}]}],"inferenceConfig":{"maxTokens":256}}"#
        }
    }
}

/// Richer requests: system prompts, tools, tool round trips, images, thinking,
/// sampling, streaming options.
pub fn rich_requests(d: Dialect) -> Vec<&'static str> {
    match d {
        Dialect::Anthropic => vec![
            r#"{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,"system":[{"type":"text","text":"You are terse.","cache_control":{"type":"ephemeral"}}],"temperature":0.2,"top_p":0.9,"stop_sequences":["END"],"metadata":{"user_id":"u-1"},"thinking":{"type":"enabled","budget_tokens":2048},"tools":[{"name":"get_weather","description":"Weather for a city","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}],"tool_choice":{"type":"auto"},"messages":[{"role":"user","content":[{"type":"text","text":"Weather in Paris?"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]},{"role":"assistant","content":[{"type":"thinking","thinking":"Call the tool.","signature":"sig=="},{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Paris"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01","content":[{"type":"text","text":"18C, clear"}]}]}]}"#,
            r#"{"model":"claude-haiku-4-5","max_tokens":64,"system":"Be brief.","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":[{"type":"text","text":"c"},{"type":"document","source":{"type":"text","media_type":"text/plain","data":"doc"}}]}],"tool_choice":{"type":"tool","name":"x"},"tools":[{"name":"x","input_schema":{"type":"object"}},{"type":"web_search_20250305","name":"web_search","max_uses":3}]}"#,
        ],
        Dialect::Chat => vec![
            r#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"temperature":0.5,"max_tokens":300,"stop":["\n\n"],"user":"u-1","response_format":{"type":"json_object"},"messages":[{"role":"system","content":"You are terse."},{"role":"developer","content":"No emojis."},{"role":"user","content":[{"type":"text","text":"Weather in Paris?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}}]},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"18C, clear"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],"tool_choice":"auto","parallel_tool_calls":false}"#,
            r#"{"model":"o3","max_completion_tokens":2000,"reasoning_effort":"high","n":1,"seed":7,"messages":[{"role":"user","content":"think"}],"response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object"},"strict":true}},"tool_choice":{"type":"function","function":{"name":"f"}},"tools":[{"type":"function","function":{"name":"f","parameters":{}}}]}"#,
        ],
        Dialect::Responses => vec![
            r#"{"model":"gpt-5-codex","instructions":"You are a coding agent.","stream":true,"store":false,"reasoning":{"effort":"medium","summary":"auto"},"include":["reasoning.encrypted_content"],"tools":[{"type":"function","name":"shell","description":"Run a command","parameters":{"type":"object","properties":{"cmd":{"type":"array","items":{"type":"string"}}}},"strict":false}],"tool_choice":"auto","parallel_tool_calls":false,"input":[{"type":"message","role":"developer","content":[{"type":"input_text","text":"sandbox"}]},{"type":"message","role":"user","content":[{"type":"input_text","text":"list files"},{"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo="}]},{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"plan"}],"encrypted_content":"gAAA"},{"type":"function_call","call_id":"call_1","name":"shell","arguments":"{\"cmd\":[\"ls\"]}"},{"type":"function_call_output","call_id":"call_1","output":"a.txt"}]}"#,
            r#"{"model":"gpt-5","input":[{"role":"user","content":"hi"}],"max_output_tokens":100,"temperature":1,"text":{"format":{"type":"json_schema","name":"x","schema":{"type":"object"}}},"metadata":{"k":"v"},"user":"u"}"#,
        ],
        Dialect::Gemini => vec![
            r#"{"systemInstruction":{"parts":[{"text":"You are terse."}]},"contents":[{"role":"user","parts":[{"text":"Weather in Paris?"},{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}}]},{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"c2ln"}]},{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"result":"18C"}}}]}],"tools":[{"functionDeclarations":[{"name":"get_weather","description":"Weather","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING"}}}}]}],"toolConfig":{"functionCallingConfig":{"mode":"AUTO"}},"generationConfig":{"temperature":0.3,"topP":0.9,"topK":40,"maxOutputTokens":512,"stopSequences":["END"],"responseMimeType":"application/json","thinkingConfig":{"thinkingBudget":1024,"includeThoughts":true}},"safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}]}"#,
            r#"{"contents":[{"parts":[{"text":"a"}]},{"role":"model","parts":[{"text":"b","thought":true},{"text":"c"}]},{"role":"user","parts":[{"fileData":{"mimeType":"application/pdf","fileUri":"gs://b/f.pdf"}}]}],"generationConfig":{"candidateCount":1,"responseSchema":{"type":"OBJECT"}}}"#,
        ],
        Dialect::Bedrock => vec![
            r#"{"system":[{"text":"You are terse."},{"cachePoint":{"type":"default"}}],"messages":[{"role":"user","content":[{"text":"Weather in Paris?"},{"image":{"format":"png","source":{"bytes":"iVBORw0KGgo="}}}]},{"role":"assistant","content":[{"reasoningContent":{"reasoningText":{"text":"call it","signature":"sig"}}},{"toolUse":{"toolUseId":"tu_1","name":"get_weather","input":{"city":"Paris"}}}]},{"role":"user","content":[{"toolResult":{"toolUseId":"tu_1","content":[{"text":"18C"},{"json":{"t":18}}],"status":"success"}}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","description":"Weather","inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"}}}}}}],"toolChoice":{"auto":{}}},"inferenceConfig":{"maxTokens":512,"temperature":0.3,"topP":0.9,"stopSequences":["END"]},"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}}"#,
            r#"{"messages":[{"role":"user","content":[{"text":"a"},{"document":{"format":"txt","name":"d","source":{"bytes":"ZG9j"}}}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"x","inputSchema":{"json":{}}}}],"toolChoice":{"tool":{"name":"x"}}}}"#,
        ],
    }
}

/// A count-tokens request (dialects that have one; others get a chat body).
pub fn count_tokens_request(d: Dialect) -> &'static str {
    match d {
        Dialect::Anthropic => {
            r#"{"model":"claude-sonnet-4-5","system":"s","messages":[{"role":"user","content":"count me"}],"tools":[{"name":"t","input_schema":{"type":"object"}}]}"#
        }
        Dialect::Gemini => r#"{"contents":[{"role":"user","parts":[{"text":"count me"}]}]}"#,
        Dialect::Bedrock => {
            r#"{"input":{"converse":{"messages":[{"role":"user","content":[{"text":"count me"}]}]}}}"#
        }
        _ => good_request(d),
    }
}

/// A valid non-streamed upstream response: the known-good input of the response
/// targets.
pub fn good_response(d: Dialect) -> &'static str {
    match d {
        Dialect::Anthropic => {
            r#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Hi there"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":3}}"#
        }
        Dialect::Chat => {
            r#"{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"Hi there","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#
        }
        Dialect::Responses => {
            r#"{"id":"resp_1","object":"response","created_at":1700000000,"status":"completed","model":"gpt-5-2025-08-07","output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hi there","annotations":[]}]}],"usage":{"input_tokens":12,"output_tokens":3,"total_tokens":15}}"#
        }
        Dialect::Gemini => {
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi there"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":3,"totalTokenCount":15},"modelVersion":"gemini-2.5-flash","responseId":"r1"}"#
        }
        Dialect::Bedrock => {
            r#"{"output":{"message":{"role":"assistant","content":[{"text":"Hi there"}]}},"stopReason":"end_turn","usage":{"inputTokens":12,"outputTokens":3,"totalTokens":15},"metrics":{"latencyMs":120}}"#
        }
    }
}

/// Richer responses: tool calls, thinking, cache usage, refusals.
pub fn rich_responses(d: Dialect) -> Vec<&'static str> {
    match d {
        Dialect::Anthropic => vec![
            r#"{"id":"msg_02","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"thinking","thinking":"Use the tool.","signature":"c2ln"},{"type":"redacted_thinking","data":"cmVk"},{"type":"text","text":"Checking."},{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Paris"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":100,"output_tokens":40,"cache_read_input_tokens":2000,"cache_creation_input_tokens":50,"cache_creation":{"ephemeral_5m_input_tokens":20,"ephemeral_1h_input_tokens":30},"service_tier":"standard"}}"#,
            r#"{"input_tokens":42}"#,
        ],
        Dialect::Chat => vec![
            r#"{"id":"chatcmpl-2","object":"chat.completion","created":1,"model":"gpt-4o","system_fingerprint":"fp","choices":[{"index":0,"message":{"role":"assistant","content":null,"reasoning_content":"think","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":100,"completion_tokens":40,"total_tokens":140,"prompt_tokens_details":{"cached_tokens":64},"completion_tokens_details":{"reasoning_tokens":10}}}"#,
            r#"{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1,"owned_by":"openai"}]}"#,
        ],
        Dialect::Responses => vec![
            r#"{"id":"resp_2","object":"response","created_at":1,"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"model":"gpt-5","output":[{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"plan"}],"encrypted_content":"gAAA"},{"type":"function_call","id":"fc_1","call_id":"call_1","name":"shell","arguments":"{\"cmd\":[\"ls\"]}","status":"completed"},{"type":"message","id":"msg_2","role":"assistant","status":"completed","content":[{"type":"refusal","refusal":"no"}]}],"usage":{"input_tokens":100,"input_tokens_details":{"cached_tokens":50},"output_tokens":40,"output_tokens_details":{"reasoning_tokens":20},"total_tokens":140}}"#,
        ],
        Dialect::Gemini => vec![
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"plan","thought":true},{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"c2ln"}]},"finishReason":"STOP","safetyRatings":[]}],"usageMetadata":{"promptTokenCount":100,"candidatesTokenCount":40,"thoughtsTokenCount":10,"cachedContentTokenCount":20,"totalTokenCount":150},"modelVersion":"gemini-2.5-pro"}"#,
            r#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":5}}"#,
            r#"{"totalTokens":31}"#,
        ],
        Dialect::Bedrock => vec![
            r#"{"output":{"message":{"role":"assistant","content":[{"reasoningContent":{"reasoningText":{"text":"plan","signature":"sig"}}},{"text":"Checking."},{"toolUse":{"toolUseId":"tu_1","name":"get_weather","input":{"city":"Paris"}}}]}},"stopReason":"tool_use","usage":{"inputTokens":100,"outputTokens":40,"totalTokens":140,"cacheReadInputTokens":20,"cacheWriteInputTokens":5}}"#,
            r#"{"inputTokens":31}"#,
        ],
    }
}

/// Upstream error bodies with their statuses.
pub fn errors(d: Dialect) -> Vec<(u16, &'static str)> {
    match d {
        Dialect::Anthropic => vec![
            (
                429,
                r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"},"request_id":"req_1"}"#,
            ),
            (
                529,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            ),
            (
                400,
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: field required"}}"#,
            ),
        ],
        Dialect::Chat | Dialect::Responses => vec![
            (
                401,
                r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
            ),
            (
                429,
                r#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
            ),
            (
                400,
                r#"{"error":{"message":"context_length_exceeded","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
            ),
        ],
        Dialect::Gemini => vec![
            (
                400,
                r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}"#,
            ),
            (
                429,
                r#"[{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}]"#,
            ),
        ],
        Dialect::Bedrock => vec![
            (
                400,
                r#"{"message":"The provided model identifier is invalid."}"#,
            ),
            (
                429,
                r#"{"message":"Too many requests, please wait before trying again."}"#,
            ),
            (
                403,
                r#"{"Message":"User: arn:aws:iam::1:user/x is not authorized"}"#,
            ),
        ],
    }
}

/// A complete upstream stream in the dialect (Bedrock's binary event stream is
/// made by the plugin's own stream encoder: see [`crate::plugins`]).
pub fn stream(d: Dialect) -> Option<&'static str> {
    Some(match d {
        Dialect::Anthropic => concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1,\"cache_read_input_tokens\":10}}}\n\n",
            "event: ping\ndata: {\"type\": \"ping\"}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Use the tool.\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"c2ln\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello, wörld \u{1F600}\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01\",\"name\":\"get_weather\",\"input\":{}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"Paris\\\"}\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":42}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        ),
        Dialect::Chat => concat!(
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"hmm\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello, wörld \u{1F600}\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":25,\"completion_tokens\":42,\"total_tokens\":67,\"prompt_tokens_details\":{\"cached_tokens\":10}}}\n\n",
            "data: [DONE]\n\n",
        ),
        Dialect::Responses => concat!(
            "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1,\"status\":\"in_progress\",\"model\":\"gpt-5\",\"output\":[],\"usage\":null}}\n\n",
            "event: response.in_progress\ndata: {\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1,\"status\":\"in_progress\",\"model\":\"gpt-5\",\"output\":[]}}\n\n",
            "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":2,\"output_index\":0,\"item\":{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[]}}\n\n",
            "event: response.reasoning_summary_text.delta\ndata: {\"type\":\"response.reasoning_summary_text.delta\",\"sequence_number\":3,\"item_id\":\"rs_1\",\"output_index\":0,\"summary_index\":0,\"delta\":\"plan\"}\n\n",
            "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"sequence_number\":4,\"output_index\":0,\"item\":{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[{\"type\":\"summary_text\",\"text\":\"plan\"}],\"encrypted_content\":\"gAAA\"}}\n\n",
            "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":5,\"output_index\":1,\"item\":{\"type\":\"message\",\"id\":\"msg_1\",\"status\":\"in_progress\",\"role\":\"assistant\",\"content\":[]}}\n\n",
            "event: response.content_part.added\ndata: {\"type\":\"response.content_part.added\",\"sequence_number\":6,\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}}\n\n",
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":7,\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"delta\":\"Hello, wörld \u{1F600}\"}\n\n",
            "event: response.output_text.done\ndata: {\"type\":\"response.output_text.done\",\"sequence_number\":8,\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"text\":\"Hello, wörld \u{1F600}\"}\n\n",
            "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"sequence_number\":9,\"output_index\":1,\"item\":{\"type\":\"message\",\"id\":\"msg_1\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hello, wörld \u{1F600}\",\"annotations\":[]}]}}\n\n",
            "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":10,\"output_index\":2,\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\",\"name\":\"shell\",\"arguments\":\"\",\"status\":\"in_progress\"}}\n\n",
            "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"sequence_number\":11,\"item_id\":\"fc_1\",\"output_index\":2,\"delta\":\"{\\\"cmd\\\":[\\\"ls\\\"]}\"}\n\n",
            "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"sequence_number\":12,\"output_index\":2,\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\",\"name\":\"shell\",\"arguments\":\"{\\\"cmd\\\":[\\\"ls\\\"]}\",\"status\":\"completed\"}}\n\n",
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":13,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1,\"status\":\"completed\",\"model\":\"gpt-5\",\"output\":[],\"usage\":{\"input_tokens\":25,\"input_tokens_details\":{\"cached_tokens\":10},\"output_tokens\":42,\"output_tokens_details\":{\"reasoning_tokens\":5},\"total_tokens\":67}}}\n\n",
        ),
        Dialect::Gemini => concat!(
            "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"plan\",\"thought\":true}]},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":25},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r1\"}\r\n\r\n",
            "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hello, wörld \u{1F600}\"}]},\"index\":0}],\"modelVersion\":\"gemini-2.5-flash\"}\r\n\r\n",
            "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}},\"thoughtSignature\":\"c2ln\"}]},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":25,\"candidatesTokenCount\":42,\"thoughtsTokenCount\":5,\"totalTokenCount\":72},\"modelVersion\":\"gemini-2.5-flash\"}\r\n\r\n",
        ),
        Dialect::Bedrock => return None,
    })
}

/// Gemini's other stream form (no `alt=sse`): one JSON array.
pub const GEMINI_ARRAY_STREAM: &str = "[{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hel\"}]},\"index\":0}]}\n,\r\n{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"lo\"}]},\"finishReason\":\"MAX_TOKENS\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":2,\"totalTokenCount\":5}}\n]";

/// An error event in the middle of a stream, per dialect.
pub fn stream_error(d: Dialect) -> Option<&'static str> {
    Some(match d {
        Dialect::Anthropic => "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
        Dialect::Chat => "data: {\"error\":{\"message\":\"server error\",\"type\":\"server_error\"}}\n\n",
        Dialect::Responses => "event: response.failed\ndata: {\"type\":\"response.failed\",\"sequence_number\":1,\"response\":{\"id\":\"r\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"boom\"}}}\n\n",
        Dialect::Gemini => "data: {\"error\":{\"code\":503,\"message\":\"overloaded\",\"status\":\"UNAVAILABLE\"}}\n\n",
        Dialect::Bedrock => return None,
    })
}

/// Indices of the providers that speak `d`.
pub fn providers_of(d: Dialect) -> impl Iterator<Item = usize> {
    (0..PROVIDERS.len()).filter(move |i| dialect(*i) == d)
}

/// All dialects.
pub const DIALECTS: [Dialect; 5] = [
    Dialect::Anthropic,
    Dialect::Chat,
    Dialect::Responses,
    Dialect::Gemini,
    Dialect::Bedrock,
];
