//! The two measurement loops: fixed count at concurrency 1 (interleaved across
//! targets), and fixed duration at concurrency N.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use crate::client::{nanos, Conn, Outcome, Spec, Target};
use crate::stats::Summary;

/// One side of a concurrency-1 measurement: where to send what, and optionally the
/// pid of the process serving it (to charge its CPU time to this side).
#[derive(Debug, Clone)]
pub struct Leg {
    pub target: Target,
    pub spec: Spec,
    pub watch_pid: Option<u32>,
}

/// What one leg measured.
#[derive(Debug, Clone, Default)]
pub struct LegResult {
    pub outcomes: Vec<Outcome>,
    /// CPU seconds of the leg's watched process over the whole measured phase (the
    /// other legs do not touch it, so its background work lands here too).
    pub cpu_seconds: Option<f64>,
}

/// Runs `warmup` unrecorded requests, then `count` recorded ones, on one keep-alive
/// connection per leg, one request at a time. Legs take turns in blocks of `block`
/// requests, so background noise falls on each of them alike.
pub async fn latency(
    legs: &[Leg],
    warmup: usize,
    count: usize,
    block: usize,
) -> anyhow::Result<Vec<LegResult>> {
    let mut conns = Vec::with_capacity(legs.len());
    for leg in legs {
        conns.push(Conn::connect(&leg.target).await?);
    }
    for (conn, leg) in conns.iter_mut().zip(legs) {
        for _ in 0..warmup {
            conn.send(&leg.spec, true)
                .await
                .with_context(|| format!("warm-up request to {}", leg.target.host))?;
        }
    }
    let mut out: Vec<Vec<Outcome>> = legs.iter().map(|_| Vec::with_capacity(count)).collect();
    let block = block.max(1);
    let cpu0: Vec<Option<f64>> = legs
        .iter()
        .map(|l| l.watch_pid.and_then(cpu_seconds))
        .collect();
    let mut done = 0;
    while done < count {
        let n = block.min(count - done);
        for ((conn, leg), samples) in conns.iter_mut().zip(legs).zip(out.iter_mut()) {
            for _ in 0..n {
                let o = conn
                    .send(&leg.spec, true)
                    .await
                    .with_context(|| format!("request to {}", leg.target.host))?;
                samples.push(o);
            }
        }
        done += n;
    }
    Ok(out
        .into_iter()
        .zip(legs)
        .zip(cpu0)
        .map(|((outcomes, leg), c0)| LegResult {
            outcomes,
            cpu_seconds: match (c0, leg.watch_pid.and_then(cpu_seconds)) {
                (Some(a), Some(b)) => Some(b - a),
                _ => None,
            },
        })
        .collect())
}

/// The result of a fixed-duration run.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub concurrency: usize,
    pub seconds: f64,
    pub requests: usize,
    pub rps: f64,
    pub latency: Summary,
    /// CPU time of the watched process over the window, in cores (1.0 = one core busy).
    pub watched_cpu_cores: Option<f64>,
    #[serde(skip)]
    pub samples_ns: Vec<u64>,
}

impl Throughput {
    /// Pools several runs of the same scenario into one.
    pub fn merge(runs: Vec<Throughput>) -> Option<Throughput> {
        let concurrency = runs.first()?.concurrency;
        let seconds: f64 = runs.iter().map(|r| r.seconds).sum();
        let cpus: Vec<f64> = runs.iter().filter_map(|r| r.watched_cpu_cores).collect();
        let samples_ns: Vec<u64> = runs.into_iter().flat_map(|r| r.samples_ns).collect();
        Some(Throughput {
            concurrency,
            seconds,
            requests: samples_ns.len(),
            rps: samples_ns.len() as f64 / seconds,
            latency: Summary::of_u64(samples_ns.iter().copied()),
            watched_cpu_cores: (!cpus.is_empty())
                .then(|| cpus.iter().sum::<f64>() / cpus.len() as f64),
            samples_ns,
        })
    }
}

/// CPU seconds a process has run, all threads: the sum of each thread's
/// `/proc/PID/task/TID/schedstat` run time (ns precision), or user + system ticks
/// from `/proc/PID/stat` where schedstat is missing. Threads that already exited
/// are missed by the first; short runs of a long-lived server lose nothing.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let from_schedstat = || -> Option<f64> {
        let mut total_ns: u64 = 0;
        for entry in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
            let path = entry.ok()?.path().join("schedstat");
            let text = std::fs::read_to_string(path).ok()?;
            total_ns += text.split_whitespace().next()?.parse::<u64>().ok()?;
        }
        Some(total_ns as f64 / 1e9)
    };
    from_schedstat().or_else(|| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may hold spaces) start at state (field 3).
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        // USER_HZ is 100 on every Linux this runs on.
        Some((utime + stime) / 100.0)
    })
}

/// `concurrency` workers, each on its own keep-alive connection, send requests
/// back to back for `warmup + duration`; only requests that start after the
/// warm-up and finish within the window count.
pub async fn throughput(
    target: &Target,
    spec: &Spec,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    watch_pid: Option<u32>,
) -> anyhow::Result<Throughput> {
    let mut conns = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        conns.push(Conn::connect(target).await?);
    }
    let t0 = tokio::time::Instant::now();
    let warm_end = t0 + warmup;
    let end = warm_end + duration;
    let mut workers = Vec::with_capacity(concurrency);
    for mut conn in conns {
        let spec = spec.clone();
        let (warm_end, end) = (warm_end.into_std(), end.into_std());
        workers.push(tokio::spawn(async move {
            let mut samples: Vec<u64> = Vec::new();
            loop {
                let started = Instant::now();
                if started >= end {
                    break;
                }
                let o = conn.send(&spec, false).await?;
                if started >= warm_end && started + o.total <= end {
                    samples.push(nanos(o.total));
                }
            }
            anyhow::Ok(samples)
        }));
    }
    tokio::time::sleep_until(warm_end).await;
    let cpu0 = watch_pid.and_then(cpu_seconds);
    let w0 = Instant::now();
    tokio::time::sleep_until(end).await;
    let cpu1 = watch_pid.and_then(cpu_seconds);
    let window = w0.elapsed().as_secs_f64();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.context("worker panicked")??);
    }
    let requests = all.len();
    Ok(Throughput {
        concurrency,
        seconds: duration.as_secs_f64(),
        requests,
        rps: requests as f64 / duration.as_secs_f64(),
        latency: Summary::of_u64(all.iter().copied()),
        samples_ns: all,
        watched_cpu_cores: match (cpu0, cpu1) {
            (Some(a), Some(b)) if window > 0.0 => Some((b - a) / window),
            _ => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cpu_time_is_readable() {
        let pid = std::process::id();
        let s = cpu_seconds(pid).expect("/proc/self/stat");
        assert!(s >= 0.0);
    }
}
