//! Codex's free-form (`custom`) and `namespace` tools through the gateway to an
//! upstream without them (Anthropic, Gemini): the upstream gets functions
//! (`{"input": …}` and `ns__name`, the `tollgate_sdk::tools` convention) and the
//! Responses client gets back its own kinds and names, streaming and not.

use serde_json::{json, Value};
use tollgate_tests::mock::{TOOL_TEST_COMMAND, TOOL_TEST_MARKER};
use tollgate_tests::{http_client, parse_sse, Gateway, GatewayConfig, MockUpstream, TempDir};

const GRAMMAR: &str = "start: begin_patch hunk+ end_patch";

/// Responses front door, the mock as a target speaking `provider`.
fn gateway(mock: &MockUpstream, dir: &TempDir, provider: &str, model: &str) -> Gateway {
    let config = dir.path().join("tollgate.toml");
    std::fs::write(
        &config,
        format!(
            "[[endpoints]]\nname = \"codex\"\nfront_door = \"openai-responses\"\n\
             [[endpoints.targets]]\nname = \"mock\"\nprovider = \"{provider}\"\n\
             base_url = \"{}\"\napi_key = \"upstream-key\"\nmodel = \"{model}\"\n",
            mock.base_url()
        ),
    )
    .expect("write gateway config");
    GatewayConfig::default().config(&config).start()
}

fn custom_tools() -> Value {
    json!([{
        "type": "custom",
        "name": "apply_patch",
        "description": "Use this tool to edit files.",
        "format": {"type": "grammar", "syntax": "lark", "definition": GRAMMAR}
    }])
}

fn namespace_tools() -> Value {
    json!([{
        "type": "namespace",
        "name": "mcp_shell",
        "description": "An MCP server.",
        "tools": [{
            "type": "function",
            "name": "run",
            "description": "Run a command.",
            "parameters": {
                "type": "object",
                "properties": {"command": {"type": "string"}},
                "required": ["command"]
            }
        }]
    }])
}

async fn ask(gw: &Gateway, tools: Value, stream: bool) -> reqwest::Response {
    http_client()
        .post(format!("{}/v1/responses", gw.url()))
        .header("authorization", "Bearer client-key")
        .json(&json!({
            "model": "gpt-5-codex",
            "stream": stream,
            "input": [{"role": "user", "content": [
                {"type": "input_text", "text": format!("please {TOOL_TEST_MARKER}")}
            ]}],
            "tools": tools,
        }))
        .send()
        .await
        .expect("POST /v1/responses")
}

/// The tool-call items of a Responses answer (`output`), or of `response.completed`.
fn calls(output: &Value) -> Vec<Value> {
    output
        .as_array()
        .expect("output array")
        .iter()
        .filter(|i| {
            i["type"]
                .as_str()
                .is_some_and(|t| t.ends_with("_call") || t == "function_call")
        })
        .cloned()
        .collect()
}

/// `response.completed`'s response, after checking the stream's events agree with it.
async fn completed(resp: reqwest::Response) -> (Value, Vec<Value>) {
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("stream body");
    let events: Vec<Value> = parse_sse(&text)
        .into_iter()
        .map(|e| e.data)
        .filter(Value::is_object)
        .collect();
    let done = events
        .iter()
        .find(|e| e["type"] == "response.completed")
        .unwrap_or_else(|| panic!("no response.completed in\n{text}"));
    (done["response"].clone(), events)
}

async fn custom_round(provider: &str, model: &str) {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("tool-kinds");
    let gw = gateway(&mock, &dir, provider, model);

    // Not streamed.
    let resp = ask(&gw, custom_tools(), false).await;
    assert_eq!(resp.status(), 200, "{}", gw.stderr());
    let body: Value = resp.json().await.expect("json");
    let got = calls(&body["output"]);
    assert_eq!(got.len(), 1, "{body:#}");
    assert_eq!(got[0]["type"], "custom_tool_call", "{body:#}");
    assert_eq!(got[0]["name"], "apply_patch");
    assert_eq!(got[0]["input"], TOOL_TEST_COMMAND, "raw input, unwrapped");

    // What the upstream was offered: a function taking one string, the grammar in
    // its description.
    let req = mock
        .generation_requests()
        .pop()
        .expect("the upstream saw the request");
    assert_eq!(req.tool_names(), vec!["apply_patch".to_string()]);
    let sent = req.json().expect("json body").to_string();
    assert!(sent.contains(GRAMMAR), "grammar in the description: {sent}");
    assert!(sent.contains(r#""required":["input"]"#), "{sent}");

    // Streamed: the events and the completed response both carry the raw input.
    let (done, events) = completed(ask(&gw, custom_tools(), true).await).await;
    let got = calls(&done["output"]);
    assert_eq!(got.len(), 1, "{done:#}");
    assert_eq!(got[0]["type"], "custom_tool_call");
    assert_eq!(got[0]["input"], TOOL_TEST_COMMAND);
    let streamed: String = events
        .iter()
        .filter(|e| e["type"] == "response.custom_tool_call_input.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    assert_eq!(streamed, TOOL_TEST_COMMAND, "{events:#?}");
}

async fn namespace_round(provider: &str, model: &str) {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("tool-kinds");
    let gw = gateway(&mock, &dir, provider, model);

    let resp = ask(&gw, namespace_tools(), false).await;
    assert_eq!(resp.status(), 200, "{}", gw.stderr());
    let body: Value = resp.json().await.expect("json");
    let got = calls(&body["output"]);
    assert_eq!(got.len(), 1, "{body:#}");
    assert_eq!(got[0]["type"], "function_call");
    assert_eq!(got[0]["name"], "run", "{body:#}");
    assert_eq!(got[0]["namespace"], "mcp_shell", "{body:#}");
    let args: Value =
        serde_json::from_str(got[0]["arguments"].as_str().expect("arguments")).expect("json");
    assert_eq!(args["command"], TOOL_TEST_COMMAND);
    let req = mock.generation_requests().pop().expect("upstream request");
    assert_eq!(req.tool_names(), vec!["mcp_shell__run".to_string()]);

    let (done, _) = completed(ask(&gw, namespace_tools(), true).await).await;
    let got = calls(&done["output"]);
    assert_eq!(got.len(), 1, "{done:#}");
    assert_eq!(got[0]["name"], "run");
    assert_eq!(got[0]["namespace"], "mcp_shell");
}

#[tokio::test]
async fn custom_tool_through_anthropic() {
    custom_round("anthropic", "claude-sonnet-4-5").await;
}

#[tokio::test]
async fn custom_tool_through_gemini() {
    custom_round("gemini", "gemini-2.5-flash").await;
}

#[tokio::test]
async fn namespace_tool_through_anthropic() {
    namespace_round("anthropic", "claude-sonnet-4-5").await;
}

#[tokio::test]
async fn namespace_tool_through_gemini() {
    namespace_round("gemini", "gemini-2.5-flash").await;
}
