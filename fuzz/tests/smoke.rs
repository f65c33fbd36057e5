//! The stable smoke test of every fuzz target: its seed corpus plus a few
//! thousand deterministic mutations. Runs in CI with the workspace's tests
//! (`cargo test --release --workspace`); real fuzzing is `cargo fuzz` (see
//! `fuzz/README.md`).

use std::time::Instant;

/// Mutations per target; `TOLLGATE_FUZZ_SMOKE_MUTATIONS` overrides (e.g. to run
/// longer locally).
fn mutations(default: usize) -> usize {
    std::env::var("TOLLGATE_FUZZ_SMOKE_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run(name: &str, default: usize) {
    let started = Instant::now();
    let n = tollgate_fuzz::smoke(name, mutations(default), 0x7011_6a7e ^ name.len() as u64);
    eprintln!("{name}: {n} inputs in {:.1?}", started.elapsed());
}

#[test]
fn plugin_decode_request() {
    run("plugin_decode_request", 20_000);
}

#[test]
fn plugin_summarize() {
    run("plugin_summarize", 20_000);
}

#[test]
fn plugin_decode_response() {
    run("plugin_decode_response", 20_000);
}

#[test]
fn plugin_decode_error() {
    run("plugin_decode_error", 10_000);
}

#[test]
fn plugin_stream_decoder() {
    run("plugin_stream_decoder", 20_000);
}

#[test]
fn host_client_input() {
    run("host_client_input", 20_000);
}

#[test]
fn host_route() {
    run("host_route", 20_000);
}

#[test]
fn host_sigv4() {
    run("host_sigv4", 20_000);
}

#[test]
fn host_config() {
    run("host_config", 5000);
}

#[test]
fn every_target_has_a_smoke_test_and_a_binary() {
    let src = include_str!("smoke.rs");
    for t in tollgate_fuzz::TARGETS {
        assert!(
            src.contains(&format!("fn {}()", t.name)),
            "no smoke test for `{}`",
            t.name
        );
        let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz_targets")
            .join(format!("{}.rs", t.name));
        assert!(bin.is_file(), "no fuzz binary {}", bin.display());
    }
}

/// Write the built-in seeds to `fuzz/corpus/<target>/` (run after changing
/// them): `cargo test -p tollgate-fuzz --test smoke -- --ignored write_seed_corpus`.
#[test]
#[ignore]
fn write_seed_corpus() {
    for t in tollgate_fuzz::TARGETS {
        let dir = tollgate_fuzz::corpus_dir(t.name);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        for (label, data) in tollgate_fuzz::builtin_seeds(t.name) {
            std::fs::write(dir.join(format!("seed-{label}")), data).expect("write seed");
        }
    }
}
