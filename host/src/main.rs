//! The `tollgate` command: `serve` runs the gateway, `plugins` lists plugins,
//! `check` validates a config.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use tollgate::config::Config;
use tollgate::plugin::{CallLimits, PluginEngine, PluginInfo, PluginSet, QuarantinePolicy};
use tollgate::reload::Reloader;
use tollgate::runtime::{Runtime, Settings, StatsRegistry};
use tollgate::server::{self, App};
use tollgate::store::Store;

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "An AI gateway with sandboxed WebAssembly plugins"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default command).
    Serve(ServeArgs),
    /// List plugins: those of a running gateway, or with --dir those a directory would load.
    Plugins(PluginsArgs),
    /// Validate a config file with the plugins it names, and exit.
    Check(CheckArgs),
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// Config file (TOML). Without one, a built-in default passes each client's
    /// own key through to the provider of its dialect.
    #[arg(long, env = "TOLLGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8787].
    #[arg(long, env = "TOLLGATE_LISTEN")]
    listen: Option<String>,
    /// State directory [default: ./tollgate-data].
    #[arg(long, env = "TOLLGATE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Directory of .wasm plugins, watched for changes [default: <data-dir>/plugins].
    #[arg(long, env = "TOLLGATE_PLUGIN_DIR")]
    plugin_dir: Option<PathBuf>,
    /// Compiled-plugin cache, shareable between gateways [default: <data-dir>/cache].
    #[arg(long, env = "TOLLGATE_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
struct PluginsArgs {
    /// Gateway to ask.
    #[arg(long, env = "TOLLGATE_URL", default_value = "http://127.0.0.1:8787")]
    url: String,
    /// Admin token, if the gateway has one.
    #[arg(long, env = "TOLLGATE_ADMIN_TOKEN")]
    admin_token: Option<String>,
    /// Instead of asking a gateway, load this plugin directory (plus the built-ins) here.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Config file to check.
    #[arg(long, env = "TOLLGATE_CONFIG")]
    config: PathBuf,
    /// Plugin directory the config will run with.
    #[arg(long, env = "TOLLGATE_PLUGIN_DIR")]
    plugin_dir: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TOLLGATE_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,wasmtime_cache=warn,sled=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve(args),
        Command::Plugins(args) => plugins(args),
        Command::Check(args) => check(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let file_config = match &args.config {
        Some(p) => Some(Config::load(p)?),
        None => None,
    };
    let fc = file_config.clone().unwrap_or_default();
    let listen = args
        .listen
        .or(fc.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8787".into());
    let data_dir = args
        .data_dir
        .or(fc.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("./tollgate-data"));
    let plugin_dir = args
        .plugin_dir
        .or(fc.plugin_dir.clone())
        .unwrap_or_else(|| data_dir.join("plugins"));
    let addr: SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen `{listen}` is not an address like 127.0.0.1:8787"))?;
    let store = Store::open(&data_dir)?;
    let limits = CallLimits {
        timeout: Duration::from_millis(fc.limits.plugin_timeout_ms),
        memory_bytes: usize::try_from(fc.limits.plugin_memory_mb << 20).unwrap_or(usize::MAX),
    };
    let cache_dir = args.cache_dir.unwrap_or_else(|| data_dir.join("cache"));
    let engine = PluginEngine::new(Some(&cache_dir), limits)?;
    std::fs::create_dir_all(&plugin_dir)
        .with_context(|| format!("creating plugin dir {}", plugin_dir.display()))?;
    let settings = Settings {
        data_dir: data_dir.clone(),
        plugin_dir,
        config_path: args.config.clone(),
    };
    let reloader = Reloader::start(engine, settings)?;
    let _watcher = reloader.watch()?;
    let client = server::upstream::UpstreamClient::new(Duration::from_millis(
        fc.upstream.connect_timeout_ms,
    ))?;
    let app = Arc::new(App {
        reloader: Arc::clone(&reloader),
        store,
        client,
        admin_token: fc.admin_token.clone(),
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tollgate")
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        let local = listener.local_addr()?;
        let rt = reloader.current();
        for e in &rt.endpoints {
            let targets: Vec<String> = e.targets.iter().map(|t| format!("{} → {}", t.name, t.base_url)).collect();
            tracing::info!(endpoint = %e.name, front_door = %e.front.info.id, targets = %targets.join(", "), "endpoint ready");
        }
        #[expect(clippy::print_stdout, reason = "the ready line is the CLI's output")]
        {
            println!("tollgate listening on http://{local}");
        }
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        server::serve(app, listener, shutdown_signal()).await
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

fn print_plugins(list: &[PluginInfo], json: bool) -> anyhow::Result<()> {
    #[expect(clippy::print_stdout, reason = "CLI output")]
    if json {
        println!("{}", serde_json::to_string_pretty(list)?);
    } else {
        println!(
            "{:<22} {:<11} {:<12} {:<8} {:<14} {:<12} SOURCE / LAST ERROR",
            "NAME", "KIND", "ID", "VERSION", "HASH", "STATUS"
        );
        for p in list {
            let source = match &p.source {
                tollgate::plugin::Source::Builtin => "builtin".to_string(),
                tollgate::plugin::Source::File(f) => f.display().to_string(),
            };
            println!(
                "{:<22} {:<11} {:<12} {:<8} {:<14} {:<12} {}{}",
                p.name,
                p.kind.map(|k| k.as_str()).unwrap_or("-"),
                p.id.as_deref().unwrap_or("-"),
                p.version.as_deref().unwrap_or("-"),
                &p.hash[..p.hash.len().min(12)],
                p.status,
                source,
                p.last_error
                    .as_ref()
                    .map(|e| format!(" | {e}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

fn plugins(args: PluginsArgs) -> anyhow::Result<()> {
    let list: Vec<PluginInfo> = if let Some(dir) = &args.dir {
        let engine = PluginEngine::new(None, CallLimits::default())?;
        PluginSet::load(
            &engine,
            CallLimits::default(),
            QuarantinePolicy::default(),
            Some(dir),
            None,
        )
        .report()
    } else {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime
            .block_on(async {
                let mut req = reqwest::Client::new()
                    .get(format!("{}/admin/plugins", args.url.trim_end_matches('/')));
                if let Some(t) = &args.admin_token {
                    req = req.bearer_auth(t);
                }
                let resp = req.send().await.with_context(|| {
                    format!(
                        "asking the gateway at {} (is it running? or use --dir)",
                        args.url
                    )
                })?;
                let status = resp.status();
                let text = resp.text().await?;
                anyhow::ensure!(status.is_success(), "gateway answered {status}: {text}");
                serde_json::from_str::<Vec<serde_json::Value>>(&text)
                    .context("reading the plugin list")
            })?
            .into_iter()
            .map(plugin_info_from_json)
            .collect::<anyhow::Result<_>>()?
    };
    print_plugins(&list, args.json)
}

fn plugin_info_from_json(v: serde_json::Value) -> anyhow::Result<PluginInfo> {
    use tollgate::plugin::{PluginKind, Source};
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let kind = match s("kind").as_deref() {
        Some("provider") => Some(PluginKind::Provider),
        Some("guardrail") => Some(PluginKind::Guardrail),
        Some("router") => Some(PluginKind::Router),
        Some("cost-model") => Some(PluginKind::CostModel),
        _ => None,
    };
    let source = match v
        .get("source")
        .and_then(|x| x.get("path"))
        .and_then(|x| x.as_str())
    {
        Some(p) => Source::File(p.into()),
        None => Source::Builtin,
    };
    Ok(PluginInfo {
        name: s("name").unwrap_or_default(),
        kind,
        id: s("id"),
        version: s("version"),
        hash: s("hash").unwrap_or_default(),
        size: v.get("size").and_then(|x| x.as_u64()).unwrap_or(0) as usize,
        source,
        status: s("status").unwrap_or_default(),
        last_error: s("last_error"),
        serving_previous: v
            .get("serving_previous")
            .and_then(|x| x.as_bool())
            .unwrap_or(false),
        health: None,
    })
}

fn check(args: CheckArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    let engine = PluginEngine::new(None, CallLimits::default())?;
    let plugin_dir = args
        .plugin_dir
        .or(config.plugin_dir.clone())
        .unwrap_or_else(|| PathBuf::from("./tollgate-data/plugins"));
    let settings = Settings {
        data_dir: PathBuf::from("."),
        plugin_dir,
        config_path: Some(args.config.clone()),
    };
    let rt = Runtime::prepare(
        &engine,
        &settings,
        Some(config),
        None,
        &StatsRegistry::default(),
        1,
    )?;
    for (name, err) in rt.plugins.load_errors() {
        eprintln!("warning: plugin `{name}` did not load: {err}");
    }
    #[expect(clippy::print_stdout, reason = "CLI output")]
    {
        println!(
            "{}: ok ({} endpoints, {} routes)",
            args.config.display(),
            rt.endpoints.len(),
            rt.routes.len()
        );
    }
    Ok(())
}
