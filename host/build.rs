//! Builds the first-party plugins in `plugins/` to `wasm32-wasip2` components and
//! embeds them in the binary. A change to `wit/` that breaks a plugin breaks this
//! build. The guest workspace uses its own target directory (`target/guests`), so
//! the nested cargo never waits on the outer one's lock.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (name the host knows the plugin by, file cargo produces).
const BUILTIN: &[(&str, &str)] = &[
    ("provider-anthropic", "provider_anthropic.wasm"),
    (
        "provider-openai-responses",
        "provider_openai_responses.wasm",
    ),
    ("provider-bedrock", "provider_bedrock.wasm"),
    ("provider-openai", "provider_openai.wasm"),
    (
        "provider-openai-compatible",
        "provider_openai_compatible.wasm",
    ),
    ("provider-azure-openai", "provider_azure_openai.wasm"),
    ("provider-gemini", "provider_gemini.wasm"),
    ("router-weighted", "router_weighted.wasm"),
    ("cost-pricetable", "cost_pricetable.wasm"),
];

/// Guest packages built besides the builtins: plugins the tests load from a
/// plugin directory.
const TEST_GUESTS: &[&str] = &["guardrail-test", "guardrail-hostile"];

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("host/ has a parent")
        .to_path_buf();
    for dir in ["wit", "sdk", "plugins"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root.join(p) })
        .unwrap_or_else(|| root.join("target"))
        .join("guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    ensure_wasm_target();

    let mut cmd = Command::new(cargo);
    cmd.current_dir(root.join("plugins"))
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .env("CARGO_TARGET_DIR", &target_dir);
    for name in BUILTIN
        .iter()
        .map(|(n, _)| *n)
        .chain(TEST_GUESTS.iter().copied())
    {
        cmd.args(["-p", name]);
    }
    // Settings of the outer build that must not leak into the guest build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("running cargo for the guest plugins");
    if !status.success() {
        panic!(
            "building the plugins in plugins/ for wasm32-wasip2 failed (see above). \
             If the target is missing: rustup target add wasm32-wasip2"
        );
    }

    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let built = target_dir.join("wasm32-wasip2").join("release");
    let mut code = String::from("/// (name, component bytes) of each first-party plugin.\npub static BUILTIN_PLUGINS: &[(&str, &[u8])] = &[\n");
    for (name, file) in BUILTIN {
        let src = built.join(file);
        let dst = out_dir.join(file);
        copy(&src, &dst);
        code.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            dst.display().to_string()
        ));
    }
    code.push_str("];\n");
    std::fs::write(out_dir.join("builtin_plugins.rs"), code).expect("writing builtin_plugins.rs");
}

/// `cargo build` / `cargo run` on a fresh machine: add the wasm32-wasip2 target
/// with rustup when the toolchain lacks it.
fn ensure_wasm_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = sysroot.is_some_and(|root| root.join("lib/rustlib/wasm32-wasip2").is_dir());
    if installed {
        return;
    }
    println!("cargo:warning=installing the wasm32-wasip2 target with rustup (needed to build the plugins)");
    match Command::new("rustup").args(["target", "add", "wasm32-wasip2"]).status() {
        Ok(s) if s.success() => {}
        _ => panic!("the wasm32-wasip2 target is missing and `rustup target add wasm32-wasip2` failed; install it and build again"),
    }
}

fn copy(src: &Path, dst: &Path) {
    if let Err(e) = std::fs::copy(src, dst) {
        panic!("copying {} to {}: {e}", src.display(), dst.display());
    }
}
