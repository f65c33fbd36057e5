//! Hostile and policy guardrails through the real gateway and real components: a plugin
//! that loops, eats memory, traps or answers garbage costs only the request that hit it
//! (a clean Anthropic error, quickly), never the gateway or other endpoints; repeated
//! failures quarantine it (503 without calling it). The test guardrail blocks and
//! redacts as configured, and the request records say so.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use tollgate_tests::{
    anthropic_error, chat_body, guest_wasm, http_client, GatewayConfig, MockUpstream, TempDir,
    Traffic,
};

/// A plugin dir holding `guardrail_hostile.wasm` / `guardrail_test.wasm` (named by file
/// stem), and a config whose root endpoint has no guardrail.
fn setup(dir: &Path, mock: &MockUpstream, guarded: &[(&str, &str)], limits: &str) -> GatewayConfig {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    let mut config = format!(
        "{limits}\n\
         [[endpoints]]\n\
         name = \"plain\"\n\
         front_door = \"anthropic\"\n\
         [[endpoints.targets]]\n\
         name = \"mock\"\n\
         provider = \"anthropic\"\n\
         base_url = \"{url}\"\n",
        url = mock.base_url()
    );
    for (prefix, plugin) in guarded {
        std::fs::copy(guest_wasm(plugin), plugins.join(format!("{plugin}.wasm")))
            .expect("copy guest component");
        config.push_str(&format!(
            "\n[[endpoints]]\n\
             name = \"{plugin}-endpoint\"\n\
             front_door = \"anthropic\"\n\
             prefix = \"{prefix}\"\n\
             guardrails = [{{ plugin = \"{plugin}\", fail_open = false }}]\n\
             [[endpoints.targets]]\n\
             name = \"mock\"\n\
             provider = \"anthropic\"\n\
             base_url = \"{url}\"\n",
            url = mock.base_url()
        ));
    }
    let path = dir.join("tollgate.toml");
    std::fs::write(&path, config).expect("write config");
    GatewayConfig::default().config(&path).plugin_dir(&plugins)
}

async fn post(url: &str, text: &str) -> (reqwest::Response, Duration) {
    let started = Instant::now();
    let response = http_client()
        .post(url)
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .json(&chat_body("claude-sonnet-5-5", text, false))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    (response, started.elapsed())
}

fn health(plugin: &Value) -> (u64, u64, u64) {
    let h = &plugin["health"];
    (
        h["calls"].as_u64().unwrap_or_default(),
        h["failures"].as_u64().unwrap_or_default(),
        h["consecutive_failures"].as_u64().unwrap_or_default(),
    )
}

/// Generous bound for "quickly" on a loaded 2-core machine; the deadline itself is 200 ms.
const QUICK: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_guardrail_fails_one_request_at_a_time_then_is_quarantined() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("hostile");
    let gateway = setup(
        dir.path(),
        &mock,
        &[("/hostile", "guardrail_hostile")],
        "[limits]\nplugin_timeout_ms = 200\nplugin_memory_mb = 64\nquarantine_after = 3\nquarantine_secs = 600\n",
    )
    .start();
    let hostile_url = format!("{}/hostile/v1/messages", gateway.url());
    let root_url = format!("{}/v1/messages", gateway.url());
    let plugin = gateway
        .admin_plugin("guardrail_hostile")
        .await
        .expect("guardrail_hostile is listed");
    assert_eq!(plugin["status"], "ok", "{plugin:#}");
    assert_eq!(plugin["kind"], "guardrail", "{plugin:#}");

    // Normal traffic on the root endpoint the whole time.
    let traffic = Traffic::start(&root_url, 4, true, &[]);

    let mut expected_failures = 0;
    for mode in ["loop", "alloc", "trap", "malformed"] {
        let (response, took) = post(&hostile_url, &format!("please HOSTILE:{mode} now")).await;
        let err = anthropic_error(response).await;
        eprintln!("{mode}: {} in {took:?}: {}", err.status, err.message);
        expected_failures += 1;
        assert!(
            (500..600).contains(&err.status),
            "{mode}: expected a 5xx, got {err:#?}"
        );
        assert_eq!(err.status, 500, "{mode}: {err:#?}");
        assert_eq!(err.kind, "api_error", "{mode}: {err:#?}");
        assert!(
            err.message.contains("guardrail_hostile"),
            "{mode}: the error names the guardrail: {err:#?}"
        );
        assert!(took < QUICK, "{mode}: took {took:?}");
        if mode == "loop" {
            assert!(
                took >= Duration::from_millis(150),
                "the loop ran until the deadline, not less: {took:?}"
            );
        }
        let plugin = gateway
            .admin_plugin("guardrail_hostile")
            .await
            .expect("listed");
        let (_, failures, consecutive) = health(&plugin);
        assert_eq!(failures, expected_failures, "{mode}: {plugin:#}");
        assert_eq!(consecutive, 1, "{mode}: {plugin:#}");
        assert_eq!(
            plugin["status"], "ok",
            "{mode}: one failure is not a quarantine"
        );
        assert!(
            plugin["health"]["last_error"].is_string(),
            "{mode}: {plugin:#}"
        );
        // A clean request through the same guardrail works, and ends the streak.
        let (response, _) = post(&hostile_url, "a normal question").await;
        assert_eq!(
            response.status(),
            200,
            "{mode}: the next request gets a fresh instance: {}",
            response.text().await.unwrap_or_default()
        );
    }
    let hostile_calls_upstream = mock
        .messages_requests()
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains("HOSTILE:"))
        .count();
    assert_eq!(hostile_calls_upstream, 0, "failed guardrails fail closed");

    // Three failures in a row quarantine it.
    for mode in ["trap", "malformed", "loop"] {
        let (response, took) = post(&hostile_url, &format!("HOSTILE:{mode}")).await;
        let err = anthropic_error(response).await;
        assert_eq!(err.status, 500, "{mode}: {err:#?}");
        assert!(took < QUICK, "{mode}: took {took:?}");
    }
    let plugin = gateway
        .admin_plugin("guardrail_hostile")
        .await
        .expect("listed");
    assert_eq!(plugin["status"], "quarantined", "{plugin:#}");
    assert_eq!(plugin["health"]["quarantined"], true, "{plugin:#}");
    let (calls_before, failures_before, _) = health(&plugin);
    assert_eq!(failures_before, expected_failures + 3, "{plugin:#}");

    // Quarantined: fail fast with 503 overloaded, without calling the plugin — even for
    // a request it would have allowed.
    let upstream_before = mock.messages_requests().len();
    for text in ["a normal question", "HOSTILE:loop"] {
        let (response, took) = post(&hostile_url, text).await;
        let err = anthropic_error(response).await;
        assert_eq!(err.status, 503, "{text}: {err:#?}");
        assert_eq!(err.kind, "overloaded_error", "{text}: {err:#?}");
        assert!(err.message.contains("quarantine"), "{err:#?}");
        assert!(
            took < Duration::from_millis(1500),
            "quarantine fails fast: {took:?}"
        );
    }
    let plugin = gateway
        .admin_plugin("guardrail_hostile")
        .await
        .expect("listed");
    assert_eq!(
        health(&plugin).0,
        calls_before,
        "a quarantined plugin is not called: {plugin:#}"
    );
    let leaked = mock
        .messages_requests()
        .iter()
        .skip(upstream_before)
        .filter(|r| {
            let body = String::from_utf8_lossy(&r.body);
            body.contains("HOSTILE") || body.contains("a normal question")
        })
        .count();
    assert_eq!(
        leaked, 0,
        "nothing from the quarantined endpoint went upstream"
    );

    // Everything else kept working, and the process is alive.
    let report = traffic.stop().await;
    assert!(
        report.failures.is_empty(),
        "normal requests failed while the guardrail misbehaved: {:#?}",
        report.failures
    );
    assert!(report.min_per_client >= 1, "{report:?}");
    let mut gateway = gateway;
    assert!(gateway.exit_status().is_none(), "the gateway died");
    let (response, _) = post(&root_url, "still there?").await;
    assert_eq!(response.status(), 200);
    let health_check = http_client()
        .get(format!("{}/healthz", gateway.url()))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health_check.status(), 200);

    // The failed requests are recorded with the guardrail outcome.
    let records = gateway.admin_requests(1000).await;
    let hostile: Vec<&Value> = records
        .iter()
        .filter(|r| r["endpoint"] == "guardrail_hostile-endpoint")
        .collect();
    let failed_closed = hostile
        .iter()
        .filter(|r| {
            r["guardrail"]
                .as_str()
                .is_some_and(|g| g.contains("failed-closed:guardrail_hostile"))
        })
        .count();
    assert_eq!(
        failed_closed,
        usize::try_from(expected_failures + 3).expect("small") + 2,
        "every failed-closed request is recorded (quarantined ones too): {hostile:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_guardrail_blocks_and_redacts() {
    let mock = MockUpstream::start().await;
    let dir = TempDir::new("guarded");
    let gateway = setup(dir.path(), &mock, &[("/guarded", "guardrail_test")], "").start();
    let url = format!("{}/guarded/v1/messages", gateway.url());

    // Blocked: 400 naming the guardrail, nothing sent upstream.
    let (response, _) = post(&url, "please BLOCKME now").await;
    let err = anthropic_error(response).await;
    assert_eq!(err.status, 400, "{err:#?}");
    assert_eq!(err.kind, "invalid_request_error", "{err:#?}");
    assert!(err.message.contains("guardrail_test"), "{err:#?}");
    assert!(
        mock.messages_requests().is_empty(),
        "a blocked request went upstream"
    );

    // Redacted before it reaches the upstream.
    let (response, _) = post(&url, "my key is SECRET-abc123, keep it safe").await;
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let upstream = mock.messages_requests();
    assert_eq!(upstream.len(), 1);
    let sent = String::from_utf8_lossy(&upstream[0].body).into_owned();
    assert!(
        !sent.contains("SECRET-abc123"),
        "secret leaked upstream: {sent}"
    );
    let json = upstream[0].json().expect("redacted body is JSON");
    assert_eq!(
        json["messages"][0]["content"], "my key is [REDACTED], keep it safe",
        "{sent}"
    );
    assert_eq!(json["model"], "claude-sonnet-5-5");

    // The same text on the root endpoint (no guardrail) passes unchanged.
    let (response, _) = post(
        &format!("{}/v1/messages", gateway.url()),
        "BLOCKME SECRET-abc123",
    )
    .await;
    assert_eq!(response.status(), 200);
    let upstream = mock.messages_requests();
    assert!(String::from_utf8_lossy(&upstream[1].body).contains("BLOCKME SECRET-abc123"));

    let records = gateway.wait_for_records(3, Duration::from_secs(10)).await;
    let guarded: Vec<&Value> = records
        .iter()
        .filter(|r| r["endpoint"] == "guardrail_test-endpoint")
        .collect();
    assert_eq!(guarded.len(), 2, "{records:#?}");
    // Newest first.
    let redacted = guarded[0]["guardrail"].as_str().unwrap_or_default();
    assert!(
        redacted.contains("redacted") && redacted.contains("guardrail_test"),
        "{:#}",
        guarded[0]
    );
    assert_eq!(guarded[0]["status"], 200);
    let blocked = guarded[1]["guardrail"].as_str().unwrap_or_default();
    assert!(
        blocked.contains("blocked") && blocked.contains("guardrail_test"),
        "{:#}",
        guarded[1]
    );
    assert_eq!(guarded[1]["status"], 400);
    let plain = records
        .iter()
        .find(|r| r["endpoint"] == "plain")
        .expect("root record");
    assert!(plain["guardrail"].is_null(), "{plain:#}");
}
