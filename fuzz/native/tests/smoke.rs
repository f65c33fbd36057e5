//! Smoke test of the native targets: the shared seed corpus (`fuzz/corpus/plugin_*`)
//! plus deterministic mutations (the same mutator as `tollgate-fuzz`).
//! `scripts/test` runs it: `(cd fuzz/native && cargo test --release)`.

#[path = "../../src/mutate.rs"]
mod mutate;

use std::time::Instant;

fn mutations() -> usize {
    std::env::var("TOLLGATE_FUZZ_SMOKE_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

fn run(t: &tollgate_fuzz_native::Target) {
    let started = Instant::now();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(t.corpus);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let seeds: Vec<(String, Vec<u8>)> = files
        .iter()
        .filter_map(|f| Some((f.display().to_string(), std::fs::read(f).ok()?)))
        .collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    for (label, data) in &seeds {
        if std::panic::catch_unwind(|| (t.run)(data)).is_err() {
            panic!("{} failed on seed {label}", t.name);
        }
    }
    let bodies: Vec<Vec<u8>> = seeds.into_iter().map(|(_, d)| d).collect();
    let mut rng = mutate::Rng::new(0x7011_6a7e ^ t.name.len() as u64);
    let n = mutations();
    for i in 0..n {
        let base = &bodies[rng.below(bodies.len())];
        let data = mutate::mutate(&mut rng, base, &bodies);
        if std::panic::catch_unwind(|| (t.run)(&data)).is_err() {
            let out = std::env::temp_dir().join(format!("{}-mutation-{i}", t.name));
            let _ = std::fs::write(&out, &data);
            panic!(
                "{} failed on mutation {i} (input saved to {})",
                t.name,
                out.display()
            );
        }
    }
    eprintln!(
        "{}: {} inputs in {:.1?}",
        t.name,
        bodies.len() + n,
        started.elapsed()
    );
}

#[test]
fn every_native_target() {
    for t in tollgate_fuzz_native::TARGETS {
        run(t);
    }
}
