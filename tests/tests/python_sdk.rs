//! The official `anthropic` Python SDK against the gateway (and, as a control, against
//! the mock upstream directly): create, stream, thinking, tool use, count_tokens,
//! models.list, and error types.

use std::time::Duration;

use tollgate_tests::{
    client_command, clients_dir, describe_output, python, run_client, Gateway, MockUpstream,
    TempDir,
};

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

async fn run_sdk_check(base_url: &str) -> std::process::Output {
    let home = TempDir::new("python-home");
    let mut command = client_command(&python(), home.path());
    command
        .arg(clients_dir().join("anthropic_sdk_check.py"))
        .env("GATEWAY_URL", base_url)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONWARNINGS", "ignore::DeprecationWarning");
    run_client(command, SCRIPT_TIMEOUT).await
}

fn assert_mock_saw_the_sdk(mock: &MockUpstream) {
    let requests = mock.requests();
    let messages: Vec<_> = requests.iter().filter(|r| r.is_messages()).collect();
    assert!(
        messages.len() >= 7,
        "mock saw {} /v1/messages",
        messages.len()
    );
    for r in &requests {
        // anthropic 2.x sends the key as `Authorization: Bearer`; older ones as `x-api-key`.
        assert!(
            r.header("authorization") == Some("Bearer sk-ant-test")
                || r.header("x-api-key") == Some("sk-ant-test"),
            "the client's key reaches the upstream unchanged: {} {} {:?}",
            r.method,
            r.path,
            r.headers
        );
        if r.is_messages() {
            assert!(
                r.header("anthropic-version").is_some(),
                "anthropic-version kept"
            );
        }
    }
    assert!(messages.iter().any(|r| r.is_stream()), "a streamed request");
    assert!(
        messages.iter().any(|r| !r.is_stream()),
        "a non-streamed request"
    );
    assert!(
        messages.iter().any(|r| r
            .json()
            .and_then(|v| v.pointer("/thinking/type").cloned())
            .is_some_and(|t| t == "enabled")),
        "the thinking parameter survives"
    );
    assert!(
        messages
            .iter()
            .any(|r| String::from_utf8_lossy(&r.body).contains("tool_result")),
        "the tool_result reaches the upstream"
    );
    assert!(
        messages
            .iter()
            .any(|r| r.model().as_deref() == Some("mock-error-429")),
        "the failing request reaches the upstream"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.method == "POST" && r.path == "/v1/messages/count_tokens"),
        "count_tokens reaches the upstream"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.method == "GET" && r.path == "/v1/models"),
        "models.list reaches the upstream"
    );
}

/// Control: the SDK is happy with the mock itself, so a failure through the gateway is
/// the gateway's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_against_mock_directly() {
    let mock = MockUpstream::start().await;
    let output = run_sdk_check(&mock.base_url()).await;
    assert!(output.status.success(), "{}", describe_output(&output));
    assert_mock_saw_the_sdk(&mock);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_through_gateway() {
    let mock = MockUpstream::start().await;
    let gateway = Gateway::with_upstream(&mock);
    let output = run_sdk_check(gateway.url()).await;
    assert!(
        output.status.success(),
        "{}\n--- gateway stderr ---\n{}",
        describe_output(&output),
        gateway.stderr()
    );
    assert_mock_saw_the_sdk(&mock);

    // create, stream, thinking stream, tool stream, tool answer, 429, 500.
    let records = gateway.wait_for_records(7, Duration::from_secs(5)).await;
    for record in &records {
        for field in [
            "model",
            "status",
            "stream",
            "input_tokens",
            "output_tokens",
            "cost_usd",
            "latency_ms",
        ] {
            assert!(
                record.get(field).is_some(),
                "record lacks {field}: {record}"
            );
        }
    }
    let ok_stream = records
        .iter()
        .find(|r| r["stream"] == true && r["status"] == 200 && r["operation"] == "chat")
        .unwrap_or_else(|| panic!("a streamed 200 record: {records:#?}"));
    assert_eq!(ok_stream["model"], "claude-sonnet-5-5");
    assert!(ok_stream["input_tokens"].as_u64().is_some_and(|t| t > 0));
    assert!(ok_stream["output_tokens"].as_u64().is_some_and(|t| t > 0));
    let ok_plain = records
        .iter()
        .find(|r| r["stream"] == false && r["status"] == 200 && r["operation"] == "chat")
        .unwrap_or_else(|| panic!("a non-streamed 200 record: {records:#?}"));
    assert!(ok_plain["output_tokens"].as_u64().is_some_and(|t| t > 0));
    assert!(
        records.iter().any(|r| r["status"] == 429),
        "the 429 is recorded: {records:#?}"
    );
}
