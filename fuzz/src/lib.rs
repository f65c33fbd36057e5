//! Fuzz targets for every request decoder and stream decoder of Tollgate.
//!
//! Every target is a plain function `fn(&[u8])` here, so that the same bodies run
//! under libFuzzer (`fuzz_targets/*.rs`, `cargo fuzz run --features fuzzer <target>`)
//! and in the stable smoke test (`tests/smoke.rs`: the seed corpus plus a few
//! thousand deterministic mutations, run by `cargo test --workspace`).
//!
//! - [`plugins`]: the real first-party provider components, loaded by the host
//!   exactly as the gateway loads them, called through the host's plugin API
//!   (`decode_request`, `summarize` + `edit`, `decode_response` +
//!   `summarize_response`, `decode_error`, the stream decoder over fuzzer-chosen
//!   chunks). A plugin failure must come back as an error value, must not be a
//!   trap (a guest panic on bad input is a bug: it should be an `api-error`), and
//!   must not poison later calls: after every input a known-good input is decoded
//!   again on the same pool.
//! - [`host`]: the host's own parsers of client input: caller-key and query
//!   handling, the route table (path → route, model from the path), SigV4
//!   signing of the upstream URL, and the config file.
//!
//! A target panics (the fuzzer's crash signal) when an invariant breaks.

pub mod fixture;
pub mod host;
pub mod input;
pub mod mutate;
pub mod plugins;
pub mod seeds;

/// A fuzz target: its name (the `fuzz_targets/<name>.rs` binary and the
/// `corpus/<name>/` directory) and its body.
#[derive(Clone, Copy)]
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every target, in the order the smoke test runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "plugin_decode_request",
        run: plugins::decode_request,
    },
    Target {
        name: "plugin_summarize",
        run: plugins::summarize,
    },
    Target {
        name: "plugin_decode_response",
        run: plugins::decode_response,
    },
    Target {
        name: "plugin_decode_error",
        run: plugins::decode_error,
    },
    Target {
        name: "plugin_stream_decoder",
        run: plugins::stream_decoder,
    },
    Target {
        name: "host_client_input",
        run: host::client_input,
    },
    Target {
        name: "host_route",
        run: host::route,
    },
    Target {
        name: "host_sigv4",
        run: host::sigv4,
    },
    Target {
        name: "host_config",
        run: host::config,
    },
];

/// The target of this name.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().copied().find(|t| t.name == name)
}

/// The seed corpus directory of a target (`fuzz/corpus/<name>`).
pub fn corpus_dir(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(name)
}

/// `main` of a fuzz binary built without libFuzzer: run the target over every
/// file (or every file in every directory) named on the command line, e.g. to
/// reproduce a crash on a stable toolchain:
/// `cargo run --release -p tollgate-fuzz --features fuzzer --bin plugin_summarize -- crash-…`.
pub fn replay(run: fn(&[u8])) {
    let mut files = Vec::new();
    for arg in std::env::args_os().skip(1) {
        let path = std::path::PathBuf::from(arg);
        match std::fs::read_dir(&path) {
            Ok(rd) => {
                let mut in_dir: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
                in_dir.sort();
                files.extend(in_dir);
            }
            Err(_) => files.push(path),
        }
    }
    if files.is_empty() {
        eprintln!("usage: <target> FILE_OR_DIR... (built without --cfg fuzzing: replays inputs)");
        std::process::exit(2);
    }
    for f in files {
        match std::fs::read(&f) {
            Ok(data) => {
                eprintln!("running {}", f.display());
                run(&data);
            }
            Err(e) => eprintln!("skipping {}: {e}", f.display()),
        }
    }
    eprintln!("all inputs ran without a finding");
}

/// The built-in seeds of a target (realistic valid inputs of every dialect);
/// `fuzz/corpus/<target>/` holds them as files (written by the ignored test
/// `write_seed_corpus`) plus regression inputs of fixed findings.
pub fn builtin_seeds(name: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = plugins::seeds(name);
    out.extend(host::seeds(name));
    out
}

/// Every seed of a target: the built-in ones and the files in its corpus
/// directory (sorted by name; files equal to a built-in seed run once).
pub fn all_seeds(name: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = builtin_seeds(name);
    let builtin: std::collections::HashSet<Vec<u8>> = out.iter().map(|(_, d)| d.clone()).collect();
    if let Ok(rd) = std::fs::read_dir(corpus_dir(name)) {
        let mut files: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in files {
            if let Ok(bytes) = std::fs::read(&f) {
                if builtin.contains(&bytes) {
                    continue;
                }
                let label = f
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.push((format!("corpus/{label}"), bytes));
            }
        }
    }
    out
}

/// Run a target over its seeds and `mutations` deterministic mutations of them
/// (PRNG seeded by `seed`). A finding panics with the case's label; the input
/// that failed is written to `target/fuzz-smoke-failures/<target>-<case>` first
/// so it can be replayed and kept as a regression seed.
pub fn smoke(name: &str, mutations: usize, seed: u64) -> usize {
    let Some(t) = target(name) else {
        panic!("no target `{name}`");
    };
    let seeds = all_seeds(name);
    assert!(!seeds.is_empty(), "target `{name}` has no seeds");
    let run_one = |label: &str, data: &[u8]| {
        let outcome = std::panic::catch_unwind(|| (t.run)(data));
        if let Err(panic) = outcome {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/fuzz-smoke-failures");
            let file = dir.join(format!("{name}-{}", label.replace('/', "_")));
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(&file, data);
            eprintln!(
                "target `{name}` failed on {label} (input saved to {})",
                file.display()
            );
            std::panic::resume_unwind(panic);
        }
    };
    for (label, data) in &seeds {
        run_one(label, data);
    }
    let bodies: Vec<Vec<u8>> = seeds.iter().map(|(_, d)| d.clone()).collect();
    let mut rng = mutate::Rng::new(seed);
    for n in 0..mutations {
        let base = &bodies[rng.below(bodies.len())];
        let data = mutate::mutate(&mut rng, base, &bodies);
        run_one(&format!("mutation-{n}"), &data);
    }
    seeds.len() + mutations
}
