//! Thinking signatures across dialects: a signature from one provider reaches a
//! client of another dialect wrapped with its issuer (valid base64, so
//! google-genai's bytes field takes it), comes back unwrapped to its issuer, and
//! never reaches a provider that did not issue it.

use base64::Engine as _;
use serde_json::{json, Value};
use tollgate_tests::{http_client, Gateway, GatewayConfig, MockUpstream, TempDir};

/// What the mock's Anthropic dialect signs its thinking with.
const ANTHROPIC_SIGNATURE: &str = "EqQBCkYIBxgCKkBtb2NrLXNpZ25hdHVyZS1mb3ItdGhpbmtpbmctYmxvY2s=";

fn gateway(
    mock: &MockUpstream,
    dir: &TempDir,
    front: &str,
    provider: &str,
    model: &str,
) -> Gateway {
    let config = dir.path().join("tollgate.toml");
    std::fs::write(
        &config,
        format!(
            "[[endpoints]]\nname = \"e\"\nfront_door = \"{front}\"\n\
             [[endpoints.targets]]\nname = \"mock\"\nprovider = \"{provider}\"\n\
             base_url = \"{}\"\napi_key = \"upstream-key\"\nmodel = \"{model}\"\n",
            mock.base_url()
        ),
    )
    .expect("write gateway config");
    GatewayConfig::default().config(&config).start()
}

fn gemini_turn(history: Vec<Value>) -> Value {
    json!({
        "contents": history,
        "generationConfig": {
            "maxOutputTokens": 8192,
            "thinkingConfig": {"includeThoughts": true, "thinkingBudget": 2048}
        }
    })
}

async fn gemini_generate(gw: &Gateway, body: &Value) -> Value {
    let resp = http_client()
        .post(format!(
            "{}/v1beta/models/gemini-2.5-pro:generateContent",
            gw.url()
        ))
        .header("x-goog-api-key", "client-key")
        .json(body)
        .send()
        .await
        .expect("POST generateContent");
    assert_eq!(resp.status(), 200, "{}", gw.stderr());
    resp.json().await.expect("json")
}

/// The thinking blocks' signatures of the last Anthropic request the mock got.
fn upstream_signatures(mock: &MockUpstream) -> Vec<Value> {
    let req = mock.requests().pop().expect("upstream request");
    let body = req.json().expect("json");
    body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .filter(|b| b["type"] == "thinking")
        .map(|b| b["signature"].clone())
        .collect()
}

#[tokio::test]
async fn an_anthropic_signature_round_trips_through_a_gemini_client() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("sig");
    let gw = gateway(&mock, &dir, "gemini", "anthropic", "claude-sonnet-4-5");
    let user = json!({"role": "user", "parts": [{"text": "Think, then answer."}]});
    let first = gemini_generate(&gw, &gemini_turn(vec![user.clone()])).await;
    let parts = first["candidates"][0]["content"]["parts"]
        .as_array()
        .expect("parts")
        .clone();
    let signature = parts
        .iter()
        .find_map(|p| p["thoughtSignature"].as_str())
        .unwrap_or_else(|| panic!("a signed thought in {first:#}"))
        .to_string();
    assert_ne!(signature, ANTHROPIC_SIGNATURE, "wrapped for the client");
    base64::engine::general_purpose::STANDARD
        .decode(&signature)
        .expect("the wrapped signature is valid base64");

    // The client sends the turn back: the upstream gets the original signature.
    let model_turn = json!({"role": "model", "parts": parts});
    let again = json!({"role": "user", "parts": [{"text": "And again."}]});
    gemini_generate(&gw, &gemini_turn(vec![user, model_turn, again])).await;
    assert_eq!(
        upstream_signatures(&mock),
        vec![json!(ANTHROPIC_SIGNATURE)],
        "unwrapped for its issuer"
    );
}

#[tokio::test]
async fn a_foreign_signature_never_reaches_another_provider() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("sig");
    // A Gemini-issued signature, as Tollgate wrapped it for an Anthropic client.
    let wrapped = format!(
        "{}{}",
        base64::engine::general_purpose::STANDARD.encode("tollgate:v1:"),
        base64::engine::general_purpose::STANDARD.encode("gemini:CiQBcsjafE+gem")
    );
    // Same dialect both sides: the body would pass through byte for byte, but the
    // wrapped signature sends it through translation, which drops it here.
    let gw = gateway(&mock, &dir, "anthropic", "anthropic", "claude-sonnet-4-5");
    let body = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Gemini thought this.", "signature": wrapped},
                {"type": "text", "text": "Hello"}
            ]},
            {"role": "user", "content": "Again"}
        ]
    });
    let resp = http_client()
        .post(format!("{}/v1/messages", gw.url()))
        .header("x-api-key", "client-key")
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .expect("POST messages");
    assert_eq!(resp.status(), 200, "{}", gw.stderr());
    let sent = mock.requests().pop().expect("upstream").body;
    let sent = String::from_utf8_lossy(&sent);
    assert!(
        !sent.contains("CiQBcsjafE"),
        "no Gemini signature to Anthropic: {sent}"
    );
    assert!(
        !sent.contains(&wrapped),
        "no wrapped signature upstream: {sent}"
    );
    assert!(upstream_signatures(&mock).is_empty(), "{sent}");
}
