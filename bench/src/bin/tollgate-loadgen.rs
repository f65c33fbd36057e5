//! `tollgate-loadgen`: a load generator for Tollgate benchmarks, loopback only.
//!
//! - `latency`: fixed count, concurrency 1, one keep-alive connection.
//! - `throughput`: fixed duration, concurrency N.
//! - `suite`: every scenario, direct and via the gateway, to JSON and Markdown.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use tollgate_bench::body::{body, parse_size, Dialect};
use tollgate_bench::client::{nanos, Spec, Target};
use tollgate_bench::run::{latency, throughput, Leg};
use tollgate_bench::stats::Summary;
use tollgate_bench::suite::{markdown, run_suite, SuiteOptions};

#[derive(Parser)]
#[command(
    name = "tollgate-loadgen",
    about = "Load generator for Tollgate benchmarks (loopback only)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fixed count at concurrency 1: latency percentiles (and stream timings).
    Latency(LatencyArgs),
    /// Fixed duration at concurrency N: requests per second and percentiles.
    Throughput(ThroughputArgs),
    /// Every scenario, direct and via the gateway; writes JSON and Markdown.
    Suite(SuiteArgs),
}

#[derive(Args, Clone)]
struct RequestArgs {
    /// Base URL of the target (the mock or the gateway), loopback only.
    #[arg(long)]
    url: String,
    /// Request body size: 1k, 200k, …
    #[arg(long, default_value = "1k")]
    size: String,
    /// Ask for a streamed answer.
    #[arg(long)]
    stream: bool,
    /// Streamed delta chunks (mock `x-mock-chunks`).
    #[arg(long, default_value_t = 20)]
    chunks: usize,
    /// Milliseconds between chunks (mock `x-mock-chunk-delay-ms`).
    #[arg(long, default_value_t = 0)]
    chunk_delay_ms: u64,
    /// Ask the mock to stamp each chunk with its send time (`x-mock-stamp`).
    #[arg(long)]
    stamp: bool,
    /// The client dialect: anthropic (`/v1/messages`), openai-chat
    /// (`/v1/chat/completions`) or responses (`/v1/responses`).
    #[arg(long, default_value = "anthropic")]
    dialect: String,
    /// The model to ask for (`bench-N` streams N chunks even through a translating
    /// gateway, which drops `x-mock-*` headers).
    #[arg(long, default_value = "bench")]
    model: String,
}

impl RequestArgs {
    fn spec(&self) -> anyhow::Result<Spec> {
        let size = parse_size(&self.size)?;
        let mut mock = Vec::new();
        if self.stream {
            mock.push(("x-mock-chunks", self.chunks.to_string()));
            mock.push(("x-mock-chunk-delay-ms", self.chunk_delay_ms.to_string()));
            if self.stamp {
                mock.push(("x-mock-stamp", "true".to_owned()));
            }
        }
        let dialect = match self.dialect.as_str() {
            "anthropic" => Dialect::Anthropic,
            "openai-chat" | "chat" => Dialect::OpenAiChat,
            "responses" => Dialect::Responses,
            other => {
                anyhow::bail!("--dialect `{other}`: expected anthropic, openai-chat or responses")
            }
        };
        Ok(Spec::for_dialect(
            dialect,
            body(dialect, &self.model, size, self.stream),
            self.stream,
            &mock,
        ))
    }
}

#[derive(Args)]
struct LatencyArgs {
    #[command(flatten)]
    request: RequestArgs,
    /// Measured requests.
    #[arg(long, default_value_t = 5000)]
    count: usize,
    /// Unmeasured requests first.
    #[arg(long, default_value_t = 500)]
    warmup: usize,
    /// A pid whose CPU time per request to report (the gateway).
    #[arg(long)]
    watch_pid: Option<u32>,
}

#[derive(Args)]
struct ThroughputArgs {
    #[command(flatten)]
    request: RequestArgs,
    /// Connections, each with one request in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Unmeasured seconds first.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// A pid whose CPU use to report over the measured window (the gateway).
    #[arg(long)]
    watch_pid: Option<u32>,
}

#[derive(Args)]
struct SuiteArgs {
    /// The mock upstream, to go direct.
    #[arg(long)]
    direct: String,
    /// The gateway, in front of the same mock.
    #[arg(long)]
    gateway: String,
    /// A minimal reference proxy in front of the same mock (`tollgate-nullproxy`).
    #[arg(long)]
    reference: Option<String>,
    /// The gateway's pid, for its CPU use under load.
    #[arg(long)]
    gateway_pid: Option<u32>,
    /// A gateway with the translated routes (`bench/translated.toml`), in front of the
    /// same mock: adds the translated-path scenarios.
    #[arg(long)]
    translated: Option<String>,
    /// The translating gateway's pid.
    #[arg(long)]
    translated_pid: Option<u32>,
    /// Scale every count and duration (e.g. 0.2 for a quick smoke run).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// A line to add to the report (repeatable).
    #[arg(long)]
    note: Vec<String>,
    /// Where to write `latest.json` and `latest.md`.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
}

fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn print_summary(what: &str, s: &Summary) {
    print_line(&format!(
        "{what:<10} n={:<6} mean {:>9.1}  p50 {:>9.1}  p90 {:>9.1}  p99 {:>9.1}  p99.9 {:>9.1}  max {:>9.1} µs  ≥40ms: {}",
        s.n, s.mean_us, s.p50_us, s.p90_us, s.p99_us, s.p999_us, s.max_us, s.over_40ms
    ));
}

async fn main_async(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Latency(a) => {
            let target = Target::parse(&a.request.url)?;
            let spec = a.request.spec()?;
            let legs = [Leg {
                target,
                spec: spec.clone(),
                watch_pid: a.watch_pid,
            }];
            let run = latency(&legs, a.warmup, a.count, a.count)
                .await?
                .pop()
                .unwrap_or_default();
            let (outcomes, cpu) = (run.outcomes, run.cpu_seconds);
            if let Some(cpu) = cpu {
                print_line(&format!(
                    "watched pid: {:.1} µs CPU per request",
                    cpu * 1e6 / a.count.max(1) as f64
                ));
            }
            print_line(&format!(
                "{} B request, {} B response",
                spec.body.len(),
                outcomes.first().map_or(0, |o| o.body_bytes)
            ));
            print_summary(
                "total",
                &Summary::of_u64(outcomes.iter().map(|o| nanos(o.total))),
            );
            print_summary(
                "head",
                &Summary::of_u64(outcomes.iter().map(|o| nanos(o.head))),
            );
            let streams: Vec<_> = outcomes.iter().filter_map(|o| o.stream.as_ref()).collect();
            if !streams.is_empty() {
                print_summary(
                    "ttft",
                    &Summary::of_u64(streams.iter().map(|s| nanos(s.ttft))),
                );
                let gap = streams
                    .iter()
                    .map(|s| s.mean_gap.as_secs_f64() * 1e6)
                    .sum::<f64>()
                    / streams.len() as f64;
                print_line(&format!(
                    "deltas per stream {}, mean gap {gap:.1} µs",
                    streams[0].deltas
                ));
                let delivery: Vec<i64> = streams
                    .iter()
                    .flat_map(|s| s.delivery_ns.iter().copied())
                    .collect();
                if !delivery.is_empty() {
                    print_summary("delivery", &Summary::of_ns(&delivery));
                }
            }
        }
        Command::Throughput(a) => {
            let target = Target::parse(&a.request.url)?;
            let spec = a.request.spec()?;
            let t = throughput(
                &target,
                &spec,
                a.concurrency,
                Duration::from_secs_f64(a.warmup),
                Duration::from_secs_f64(a.duration),
                a.watch_pid,
            )
            .await?;
            print_line(&format!(
                "c={} {:.1} s: {} requests, {:.0} rps{}",
                t.concurrency,
                t.seconds,
                t.requests,
                t.rps,
                t.watched_cpu_cores
                    .map_or(String::new(), |c| format!(", watched pid {c:.2} cores"))
            ));
            print_summary("latency", &t.latency);
        }
        Command::Suite(a) => {
            anyhow::ensure!(a.scale > 0.0, "--scale must be positive");
            let opts = SuiteOptions {
                direct: Target::parse(&a.direct)?,
                gateway: Target::parse(&a.gateway)?,
                reference: a.reference.as_deref().map(Target::parse).transpose()?,
                gateway_pid: a.gateway_pid,
                translated: a.translated.as_deref().map(Target::parse).transpose()?,
                translated_pid: a.translated_pid,
                scale: a.scale,
                notes: a.note,
            };
            let report = run_suite(&opts, print_line).await?;
            let md = markdown(&report);
            std::fs::create_dir_all(&a.out)
                .with_context(|| format!("creating {}", a.out.display()))?;
            let json_path = a.out.join("latest.json");
            let md_path = a.out.join("latest.md");
            std::fs::write(&json_path, serde_json::to_vec_pretty(&report)?)
                .with_context(|| format!("writing {}", json_path.display()))?;
            std::fs::write(&md_path, &md)
                .with_context(|| format!("writing {}", md_path.display()))?;
            print_line("");
            print_line(&md);
            print_line(&format!(
                "wrote {} and {}",
                md_path.display(),
                json_path.display()
            ));
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One thread: the load generator is pinned to one core and must not compete
    // with itself; every connection is a task on this thread.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    runtime.block_on(main_async(cli))
}
