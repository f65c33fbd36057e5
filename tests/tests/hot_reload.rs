//! Hot reload against the real binary: plugin files and the config change under load
//! without failing a single request; corrupt plugin files and broken config edits are
//! reported and change nothing; `tollgate plugins` shows the result.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tollgate_tests::{
    chat_body, check_complete_answer, guest_wasm, http_client, poll_until, sha256_hex,
    tollgate_bin, Gateway, GatewayConfig, MockUpstream, TempDir, Traffic,
};

/// How long a change may take to be picked up (watcher settle + compile on a busy box).
const RELOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// `bytes` with a custom section appended: id 0, LEB128 size, LEB128 name length, name,
/// payload. A component accepts custom sections at the top level, so this is the same
/// plugin with a different hash.
fn with_custom_section(bytes: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut content = Vec::new();
    leb128(name.len(), &mut content);
    content.extend_from_slice(name.as_bytes());
    content.extend_from_slice(payload);
    let mut out = bytes.to_vec();
    out.push(0);
    leb128(content.len(), &mut out);
    out.extend_from_slice(&content);
    out
}

/// Replace `path` atomically (write a sibling without the watched extension, rename).
fn replace_atomically(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp-swap");
    std::fs::write(&tmp, bytes).expect("write replacement");
    std::fs::rename(&tmp, path).expect("rename replacement into place");
}

struct Setup {
    dir: TempDir,
    mock: MockUpstream,
}

impl Setup {
    async fn new(label: &str) -> Setup {
        let dir = TempDir::new(label);
        std::fs::create_dir_all(dir.path().join("plugins")).expect("plugin dir");
        Setup {
            dir,
            mock: MockUpstream::start().await,
        }
    }

    fn plugins(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("tollgate.toml")
    }

    /// A config: the root endpoint with one target of `weight`, plus endpoints at
    /// each of `prefixes` (with `extra` appended to each of those endpoint tables).
    fn config(&self, weight: u32, prefixes: &[&str], extra: &str) -> String {
        let mut text = format!(
            "[[endpoints]]\nname = \"main\"\nfront_door = \"anthropic\"\n\
             [[endpoints.targets]]\nname = \"mock\"\nprovider = \"anthropic\"\n\
             base_url = \"{url}\"\nweight = {weight}\n",
            url = self.mock.base_url()
        );
        for prefix in prefixes {
            text.push_str(&format!(
                "\n[[endpoints]]\nname = \"ep{name}\"\nfront_door = \"anthropic\"\nprefix = \"{prefix}\"\n{extra}\n\
                 [[endpoints.targets]]\nname = \"mock\"\nprovider = \"anthropic\"\nbase_url = \"{url}\"\n",
                name = prefix.replace('/', "-"),
                url = self.mock.base_url()
            ));
        }
        text
    }

    fn start(&self, config: &str) -> Gateway {
        std::fs::write(self.config_path(), config).expect("write config");
        GatewayConfig::default()
            .config(&self.config_path())
            .plugin_dir(&self.plugins())
            .start()
    }
}

async fn ask(gateway: &Gateway, prefix: &str, stream: bool) -> Result<(), String> {
    let response = http_client()
        .post(format!("{}{prefix}/v1/messages", gateway.url()))
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .json(&chat_body("claude-sonnet-5-5", "hello", stream))
        .timeout(Duration::from_secs(30))
        .send()
        .await;
    check_complete_answer(response, stream).await
}

async fn status_of(gateway: &Gateway, prefix: &str) -> u16 {
    http_client()
        .post(format!("{}{prefix}/v1/messages", gateway.url()))
        .header("x-api-key", "sk-ant-test")
        .json(&chat_body("claude-sonnet-5-5", "hello", false))
        .send()
        .await
        .expect("POST")
        .status()
        .as_u16()
}

/// Waits until `/admin/plugins` reports `name` loaded from a file with `hash`, healthy.
async fn wait_for_plugin_hash(gateway: &Gateway, name: &str, hash: &str) -> Value {
    poll_until(
        &format!("{name} serving hash {hash}"),
        RELOAD_TIMEOUT,
        || async {
            let plugin = gateway.admin_plugin(name).await;
            match &plugin {
                Some(p)
                    if p["hash"] == hash
                        && p["status"] == "ok"
                        && p["serving_previous"] == false
                        && p["source"]["type"] == "file" =>
                {
                    Ok(p.clone())
                }
                _ => Err(plugin),
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_load_fail_no_request() {
    let setup = Setup::new("reload-load").await;
    let original = std::fs::read(guest_wasm("provider_anthropic")).expect("read provider");
    let variant = with_custom_section(&original, "tollgate-test-variant", b"same code, new hash");
    let (original_hash, variant_hash) = (sha256_hex(&original), sha256_hex(&variant));
    assert_ne!(original_hash, variant_hash);
    let plugin_file = setup.plugins().join("provider-anthropic.wasm");
    std::fs::write(&plugin_file, &original).expect("install provider file");
    let gateway = setup.start(&setup.config(1, &[], ""));

    let plugin = wait_for_plugin_hash(&gateway, "provider-anthropic", &original_hash).await;
    assert_eq!(
        plugin["source"]["path"],
        plugin_file.display().to_string(),
        "the file overrides the built-in: {plugin:#}"
    );
    // The variant with a trailing custom section is a valid component and loads.
    replace_atomically(&plugin_file, &variant);
    wait_for_plugin_hash(&gateway, "provider-anthropic", &variant_hash).await;
    ask(&gateway, "", false)
        .await
        .expect("served by the variant");
    ask(&gateway, "", true)
        .await
        .expect("streamed by the variant");
    let before = gateway.admin_reload().await;
    let generation_before = before["generation"].as_u64().expect("generation");

    // 200 clients, half of the requests streaming (slowly, so swaps land mid-stream).
    let traffic = Traffic::start(
        &format!("{}/v1/messages", gateway.url()),
        200,
        true,
        &[("x-mock-chunk-delay-ms", "5")],
    );
    let churn_started = Instant::now();
    let mut config_edits = 0;
    let mut final_bytes = &variant;
    for i in 0..20u32 {
        let bytes = if i % 2 == 0 { &original } else { &variant };
        final_bytes = bytes;
        if i % 3 == 0 {
            // In place, as `cp` does.
            std::fs::write(&plugin_file, bytes).expect("overwrite provider file");
        } else {
            replace_atomically(&plugin_file, bytes);
        }
        if i % 4 == 1 {
            // Weight changes, and an endpoint that comes and goes.
            let k = config_edits;
            let extra = format!("/extra{k}");
            let prefixes: Vec<&str> = if k % 2 == 0 {
                vec![extra.as_str()]
            } else {
                vec![]
            };
            let text = setup.config(k + 2, &prefixes, "");
            if k % 2 == 0 {
                std::fs::write(setup.config_path(), text).expect("edit config in place");
            } else {
                replace_atomically(&setup.config_path(), text.as_bytes());
            }
            config_edits += 1;
        }
        // Pacing between changes (not synchronization): each change gets its own reload.
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    assert_eq!(config_edits, 5);
    let final_hash = sha256_hex(final_bytes);
    let plugin = wait_for_plugin_hash(&gateway, "provider-anthropic", &final_hash).await;
    assert_eq!(plugin["source"]["path"], plugin_file.display().to_string());
    // The last config (edit 4: weight 6, endpoint /extra4) is the one serving.
    poll_until("the last config edit to serve", RELOAD_TIMEOUT, || async {
        match ask(&gateway, "/extra4", false).await {
            Ok(()) => Ok(()),
            Err(e) => Err(e),
        }
    })
    .await;
    let report = traffic.stop().await;
    let churn = churn_started.elapsed();
    let after = gateway.admin_reload().await;
    eprintln!(
        "churn {churn:?}: {} good answers (min per client {}), reload status {after}",
        report.ok, report.min_per_client
    );
    assert!(
        report.failures.is_empty(),
        "{} of {} requests failed during reloads; first ones: {:#?}",
        report.failures.len(),
        report.failures.len() as u64 + report.ok,
        &report.failures[..report.failures.len().min(10)]
    );
    assert!(
        report.min_per_client >= 1,
        "every client got answers: {report:?}"
    );
    assert_eq!(status_of(&gateway, "/extra2").await, 404, "edit 2 is gone");
    let generation_after = after["generation"].as_u64().expect("generation");
    assert!(
        generation_after >= generation_before + 5,
        "reloads happened: generation {generation_before} → {generation_after}: {after}"
    );
    assert!(after["last_error"].is_null(), "{after}");
    assert_eq!(after["plugin_errors"], serde_json::json!([]), "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_plugin_files_are_reported_and_change_nothing() {
    let setup = Setup::new("reload-corrupt").await;
    let guardrail = std::fs::read(guest_wasm("guardrail_test")).expect("read guardrail");
    let guardrail_file = setup.plugins().join("guardrail_test.wasm");
    std::fs::write(&guardrail_file, &guardrail).expect("install guardrail");
    let gateway = setup.start(&setup.config(
        1,
        &["/guarded"],
        "guardrails = [{ plugin = \"guardrail_test\" }]",
    ));
    let guardrail_hash = sha256_hex(&guardrail);
    wait_for_plugin_hash(&gateway, "guardrail_test", &guardrail_hash).await;
    let builtin = gateway
        .admin_plugin("provider-anthropic")
        .await
        .expect("built-in provider");
    assert_eq!(builtin["source"]["type"], "builtin", "{builtin:#}");

    // Random bytes, a core module (not a component), a truncated component over a
    // built-in's name, and garbage over a loaded file plugin.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let random: Vec<u8> = (0..100_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let provider = std::fs::read(guest_wasm("provider_anthropic")).expect("read provider");
    let truncated = &provider[..provider.len() / 2];
    let core_module = b"\0asm\x01\0\0\0";
    replace_atomically(&setup.plugins().join("random.wasm"), &random);
    replace_atomically(&setup.plugins().join("core-module.wasm"), core_module);
    replace_atomically(&setup.plugins().join("provider-anthropic.wasm"), truncated);
    replace_atomically(&guardrail_file, &random[..5000]);

    let plugins = poll_until(
        "the corrupt files to be reported",
        RELOAD_TIMEOUT,
        || async {
            let list = gateway.admin_plugins().await;
            let find = |n: &str| list.iter().find(|p| p["name"] == n).cloned();
            let failed = |n: &str| {
                find(n).is_some_and(|p| p["status"] == "failed" && p["last_error"].is_string())
            };
            let previous = |n: &str| {
                find(n).is_some_and(|p| {
                    p["status"] == "ok"
                        && p["serving_previous"] == true
                        && p["last_error"].is_string()
                })
            };
            if failed("random")
                && failed("core-module")
                && previous("provider-anthropic")
                && previous("guardrail_test")
            {
                Ok(list)
            } else {
                Err(list)
            }
        },
    )
    .await;
    let find = |n: &str| {
        plugins
            .iter()
            .find(|p| p["name"] == n)
            .cloned()
            .unwrap_or_default()
    };
    let provider_now = find("provider-anthropic");
    assert_eq!(
        provider_now["hash"], builtin["hash"],
        "the built-in keeps serving: {provider_now:#}"
    );
    assert_eq!(
        provider_now["source"]["type"], "builtin",
        "{provider_now:#}"
    );
    assert_eq!(
        find("guardrail_test")["hash"],
        guardrail_hash,
        "the previous file version keeps serving"
    );
    for name in [
        "random",
        "core-module",
        "provider-anthropic",
        "guardrail_test",
    ] {
        let error = find(name)["last_error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!error.is_empty(), "{name}: {:#}", find(name));
        eprintln!("{name}: {error}");
    }
    let status = gateway.admin_reload().await;
    let errored: Vec<&str> = status["plugin_errors"]
        .as_array()
        .expect("plugin_errors")
        .iter()
        .filter_map(|e| e[0].as_str())
        .collect();
    for name in [
        "random",
        "core-module",
        "provider-anthropic",
        "guardrail_test",
    ] {
        assert!(errored.contains(&name), "{name} in {status}");
    }
    assert!(
        status["last_error"].is_null(),
        "the config itself is fine: {status}"
    );

    // Nothing changed for clients: the root serves, the guardrail still guards.
    for stream in [false, true] {
        ask(&gateway, "", stream).await.expect("root still serves");
        ask(&gateway, "/guarded", stream)
            .await
            .expect("guarded endpoint still serves");
    }
    let blocked = http_client()
        .post(format!("{}/guarded/v1/messages", gateway.url()))
        .json(&chat_body("claude-sonnet-5-5", "BLOCKME", false))
        .send()
        .await
        .expect("POST");
    assert_eq!(blocked.status(), 400, "the previous guardrail still blocks");

    // Remove the corrupt files and restore the guardrail: the errors clear.
    for name in ["random.wasm", "core-module.wasm", "provider-anthropic.wasm"] {
        std::fs::remove_file(setup.plugins().join(name)).expect("remove corrupt file");
    }
    replace_atomically(&guardrail_file, &guardrail);
    poll_until("the errors to clear", RELOAD_TIMEOUT, || async {
        let status = gateway.admin_reload().await;
        let list = gateway.admin_plugins().await;
        let clean = status["plugin_errors"] == serde_json::json!([])
            && list
                .iter()
                .all(|p| p["status"] == "ok" && p["serving_previous"] == false);
        if clean {
            Ok(())
        } else {
            Err((status, list))
        }
    })
    .await;
    ask(&gateway, "/guarded", false).await.expect("recovered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_config_edits_are_reported_and_the_previous_config_serves() {
    let setup = Setup::new("reload-config").await;
    let good = setup.config(1, &["/extra"], "");
    let gateway = setup.start(&good);
    ask(&gateway, "/extra", false).await.expect("extra serves");
    let start = gateway.admin_reload().await;
    let generation = start["generation"].as_u64().expect("generation");

    let unknown_plugin = setup.config(
        1,
        &["/extra", "/broken"],
        "guardrails = [{ plugin = \"no_such_guardrail\" }]",
    );
    let unknown_front = setup.config(1, &["/extra", "/broken"], "").replacen(
        "front_door = \"anthropic\"\nprefix = \"/broken\"",
        "front_door = \"nope\"\nprefix = \"/broken\"",
        1,
    );
    let unset_var = setup.config(1, &["/extra", "/broken"], "").replace(
        "weight = 1",
        "weight = 1\napi_key = \"${TOLLGATE_TEST_SURELY_UNSET_VAR}\"",
    );
    let broken: Vec<(&str, String, &str)> = vec![
        (
            "invalid TOML",
            "[[endpoints]\nname = \"x".to_owned(),
            "TOML",
        ),
        (
            "unknown field",
            format!("frobnicate = true\n{good}"),
            "frobnicate",
        ),
        (
            "unknown field in a target",
            good.replace("weight = 1", "weight = 1\nwieght = 2"),
            "wieght",
        ),
        (
            "unknown guardrail plugin",
            unknown_plugin,
            "no_such_guardrail",
        ),
        ("unknown front door", unknown_front, "nope"),
        (
            "unset variable",
            unset_var,
            "TOLLGATE_TEST_SURELY_UNSET_VAR",
        ),
        (
            "bad prefix",
            setup.config(1, &["/extra", "broken/"], ""),
            "prefix",
        ),
    ];
    for (what, text, mentions) in broken {
        let failed_before = gateway.admin_reload().await["failed_reloads"]
            .as_u64()
            .expect("failed_reloads");
        std::fs::write(setup.config_path(), &text).expect("write broken config");
        let status = poll_until(
            &format!("{what} to be reported"),
            RELOAD_TIMEOUT,
            || async {
                let status = gateway.admin_reload().await;
                if status["failed_reloads"].as_u64().unwrap_or_default() > failed_before {
                    Ok(status)
                } else {
                    Err(status)
                }
            },
        )
        .await;
        let error = status["last_error"].as_str().unwrap_or_default();
        assert!(
            error.contains(mentions),
            "{what}: last_error should mention {mentions:?}: {status}"
        );
        assert_eq!(
            status["generation"].as_u64(),
            Some(generation),
            "{what}: the serving generation is unchanged: {status}"
        );
        // An explicit reload says the same, with 422.
        let response = http_client()
            .post(format!("{}/admin/reload", gateway.url()))
            .send()
            .await
            .expect("POST /admin/reload");
        assert_eq!(response.status(), 422, "{what}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["ok"], false, "{what}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| e.contains(mentions)),
            "{what}: {body}"
        );
        // The previous config keeps serving, and nothing of the broken one does.
        ask(&gateway, "", true)
            .await
            .unwrap_or_else(|e| panic!("{what}: root: {e}"));
        ask(&gateway, "/extra", false)
            .await
            .unwrap_or_else(|e| panic!("{what}: /extra: {e}"));
        assert_eq!(status_of(&gateway, "/broken").await, 404, "{what}");
    }

    // Fixing it recovers, and the fixed config is the one serving.
    std::fs::write(
        setup.config_path(),
        setup.config(2, &["/extra", "/fixed"], ""),
    )
    .expect("write fixed config");
    let status = poll_until("the fixed config to load", RELOAD_TIMEOUT, || async {
        let status = gateway.admin_reload().await;
        if status["generation"].as_u64().unwrap_or_default() > generation
            && status["last_error"].is_null()
        {
            Ok(status)
        } else {
            Err(status)
        }
    })
    .await;
    ask(&gateway, "/fixed", true)
        .await
        .unwrap_or_else(|e| panic!("fixed endpoint: {e} ({status})"));
    ask(&gateway, "/extra", false)
        .await
        .expect("extra still serves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_lists_plugins_and_checks_configs() {
    let setup = Setup::new("reload-cli").await;
    std::fs::copy(
        guest_wasm("guardrail_test"),
        setup.plugins().join("guardrail_test.wasm"),
    )
    .expect("install guardrail");
    std::fs::write(setup.plugins().join("broken.wasm"), b"not a component").expect("write");
    let config = setup.config(
        1,
        &["/guarded"],
        "guardrails = [{ plugin = \"guardrail_test\" }]",
    );
    let gateway = setup.start(&config);

    let run = |args: Vec<String>| async move {
        let output = tokio::process::Command::new(tollgate_bin())
            .args(&args)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env_remove("TOLLGATE_URL")
            .output()
            .await
            .expect("run tollgate");
        (
            output.status,
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    // `tollgate plugins --url`: the table.
    let (status, stdout, stderr) =
        run(vec!["plugins".into(), "--url".into(), gateway.url().into()]).await;
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let header = lines.first().copied().unwrap_or_default();
    for column in ["NAME", "KIND", "ID", "VERSION", "HASH", "STATUS"] {
        assert!(header.contains(column), "header {header:?}");
    }
    let row = |name: &str| {
        lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(name))
            .copied()
            .unwrap_or_else(|| panic!("no row for {name}:\n{stdout}"))
    };
    let provider = row("provider-anthropic");
    assert!(
        provider.contains("provider") && provider.contains(" ok ") && provider.contains("builtin"),
        "{provider}"
    );
    assert!(row("router-weighted").contains("router"), "{stdout}");
    assert!(row("cost-pricetable").contains("cost-model"), "{stdout}");
    let guard = row("guardrail_test");
    assert!(
        guard.contains("guardrail")
            && guard.contains(
                &sha256_hex(&std::fs::read(guest_wasm("guardrail_test")).expect("read"))[..12]
            )
            && guard.contains("guardrail_test.wasm"),
        "{guard}"
    );
    let broken = row("broken");
    assert!(broken.contains("failed"), "{broken}");
    assert!(broken.contains('|'), "the error is shown: {broken}");

    // `--json` is the admin API's list.
    let (status, stdout, stderr) = run(vec![
        "plugins".into(),
        "--url".into(),
        gateway.url().into(),
        "--json".into(),
    ])
    .await;
    assert!(status.success(), "{status}\n{stderr}");
    let list: Vec<Value> = serde_json::from_str(&stdout).expect("JSON list");
    let names: Vec<&str> = list.iter().filter_map(|p| p["name"].as_str()).collect();
    for name in [
        "provider-anthropic",
        "router-weighted",
        "cost-pricetable",
        "guardrail_test",
        "broken",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }

    // `--dir` loads the directory locally, with the same verdicts.
    let (status, stdout, stderr) = run(vec![
        "plugins".into(),
        "--dir".into(),
        setup.plugins().display().to_string(),
    ])
    .await;
    assert!(status.success(), "{status}\n{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("broken") && l.contains("failed")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("guardrail_test") && l.contains(" ok ")),
        "{stdout}"
    );

    // No gateway there: a clear error, not a panic.
    let (status, _, stderr) = run(vec![
        "plugins".into(),
        "--url".into(),
        "http://127.0.0.1:9".into(),
    ])
    .await;
    assert!(!status.success());
    assert!(stderr.contains("is it running"), "{stderr}");

    // `tollgate check`: the good config passes, a broken one names the problem.
    let check = |config: PathBuf| {
        let plugins = setup.plugins().display().to_string();
        run(vec![
            "check".into(),
            "--config".into(),
            config.display().to_string(),
            "--plugin-dir".into(),
            plugins,
        ])
    };
    let (status, stdout, stderr) = check(setup.config_path()).await;
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    assert!(stdout.contains("ok (2 endpoints"), "{stdout}");
    let bad = setup.dir.path().join("bad.toml");
    std::fs::write(&bad, config.replace("guardrail_test", "no_such_guardrail")).expect("write");
    let (status, _, stderr) = check(bad).await;
    assert!(!status.success());
    assert!(stderr.contains("no_such_guardrail"), "{stderr}");
}
