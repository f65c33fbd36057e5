//! The sandbox grants a plugin nothing: a guardrail that tries the filesystem, the
//! environment, arguments, the clock and the network from inside the real gateway
//! finds every door closed, and reports so in its block rationale.

use tollgate_tests::{
    anthropic_error, chat_body, guest_wasm, http_client, GatewayConfig, MockUpstream, TempDir,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_see_no_files_env_clock_or_network() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("sandbox");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    std::fs::copy(
        guest_wasm("guardrail_hostile"),
        plugins.join("guardrail_hostile.wasm"),
    )
    .expect("copy guest");
    let config = dir.path().join("tollgate.toml");
    std::fs::write(
        &config,
        format!(
            "[[endpoints]]\nname = \"probe\"\nfront_door = \"anthropic\"\n\
             guardrails = [{{ plugin = \"guardrail_hostile\" }}]\n\
             [[endpoints.targets]]\nname = \"mock\"\nprovider = \"anthropic\"\nbase_url = \"{}\"\n",
            mock.base_url()
        ),
    )
    .expect("config");
    // The gateway itself has a rich environment; none of it may leak in.
    let gateway = GatewayConfig::default()
        .config(&config)
        .plugin_dir(&plugins)
        .env("TOLLGATE_SECRET_FOR_SANDBOX_TEST", "must-not-leak")
        .start();

    let response = http_client()
        .post(format!("{}/v1/messages", gateway.url()))
        .header("x-api-key", "sk-ant-test")
        .json(&chat_body("claude-sonnet-5-5", "HOSTILE:probe", false))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 400);
    let err = anthropic_error(response).await;
    let json_start = err
        .message
        .find('{')
        .expect("probe report in the rationale");
    let report: serde_json::Value =
        serde_json::from_str(&err.message[json_start..]).expect("probe report is JSON");
    for door in [
        "read_dir_root",
        "read_file",
        "read_dir_cwd",
        "write_file",
        "tcp_connect",
    ] {
        let outcome = report[door].as_str().unwrap_or_default();
        assert!(
            outcome.starts_with("denied"),
            "{door} should be denied, got {outcome:?} ({report})"
        );
    }
    assert_eq!(report["env_vars"], 0, "no environment variables: {report}");
    assert_eq!(report["args"], 0, "no arguments: {report}");
    assert_eq!(
        report["wall_clock_secs"], 0,
        "the clock is frozen at the epoch: {report}"
    );
    assert!(
        mock.requests().is_empty(),
        "a blocked request never reaches the upstream"
    );
}
