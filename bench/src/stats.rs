//! Percentiles of latency samples (exact: sort and index, nearest rank).

use serde::Serialize;

/// A latency distribution in microseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub n: usize,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    /// Samples of 40 ms or more (the Nagle / delayed-ACK signature).
    pub over_40ms: usize,
}

/// Nearest-rank percentile of sorted samples, `q` in 0..=1.
fn rank(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

impl Summary {
    /// Summarizes samples in nanoseconds (may be negative, for clock differences).
    pub fn of_ns(samples: &[i64]) -> Summary {
        let mut s = samples.to_vec();
        s.sort_unstable();
        let us = |ns: i64| ns as f64 / 1e3;
        let n = s.len();
        let mean = if n == 0 {
            0.0
        } else {
            s.iter().map(|&v| v as f64).sum::<f64>() / n as f64 / 1e3
        };
        Summary {
            n,
            mean_us: mean,
            p50_us: us(rank(&s, 0.50)),
            p90_us: us(rank(&s, 0.90)),
            p99_us: us(rank(&s, 0.99)),
            p999_us: us(rank(&s, 0.999)),
            max_us: us(s.last().copied().unwrap_or(0)),
            over_40ms: s.iter().filter(|&&v| v >= 40_000_000).count(),
        }
    }

    pub fn of_u64(samples: impl IntoIterator<Item = u64>) -> Summary {
        let v: Vec<i64> = samples
            .into_iter()
            .map(|x| i64::try_from(x).unwrap_or(i64::MAX))
            .collect();
        Summary::of_ns(&v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<i64> = (1..=1000).map(|x| x * 1000).collect();
        let s = Summary::of_ns(&v);
        assert_eq!(s.n, 1000);
        assert_eq!(s.p50_us, 500.0);
        assert_eq!(s.p90_us, 900.0);
        assert_eq!(s.p99_us, 990.0);
        assert_eq!(s.p999_us, 999.0);
        assert_eq!(s.max_us, 1000.0);
        assert_eq!(s.over_40ms, 0);
        assert_eq!(Summary::of_ns(&[]).p50_us, 0.0);
        assert_eq!(Summary::of_ns(&[50_000_000]).over_40ms, 1);
    }
}
