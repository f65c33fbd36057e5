//! `weighted` router: a weighted random pick among healthy targets, then the rest as a
//! fallback chain in priority order (healthy first, unhealthy last).

use std::cell::Cell;

use tollgate_sdk::router::{Candidate, Guest, RouteRequest, RouterInfo};

thread_local! {
    /// When false, the weighted pick is skipped and targets go in priority order.
    static SPLIT: Cell<bool> = const { Cell::new(true) };
}

/// Settings: `{"split": true}` (default) or `{"split": false}` for a plain fallback
/// chain that ignores weights.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "yes")]
    split: bool,
}

fn yes() -> bool {
    true
}

/// Parse and validate a config object.
pub fn parse_config(json: &str) -> Result<bool, String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("router config is not JSON: {e}"))?;
    if !value.is_object() {
        return Err("router config must be a JSON object".to_string());
    }
    let config: Config =
        serde_json::from_value(value).map_err(|e| format!("router config: {e}"))?;
    Ok(config.split)
}

/// The attempt plan: indexes into `candidates`, first to try first.
pub fn plan(random: u64, candidates: &[Candidate], split: bool) -> Vec<u32> {
    let mut order: Vec<u32> = (0..candidates.len() as u32).collect();
    // Fallback order: healthy before unhealthy, then priority, then config position.
    order.sort_by_key(|&i| {
        let c = &candidates[i as usize];
        (!c.healthy, c.priority, i)
    });
    if !split {
        return order;
    }
    let total: u64 = candidates
        .iter()
        .filter(|c| c.healthy && c.weight > 0)
        .map(|c| u64::from(c.weight))
        .sum();
    if total == 0 {
        return order;
    }
    // Uniform in 0..total (the bias of a 64-bit modulo is negligible).
    let mut point = random % total;
    let mut pick = None;
    for (i, c) in candidates.iter().enumerate() {
        if !(c.healthy && c.weight > 0) {
            continue;
        }
        let w = u64::from(c.weight);
        if point < w {
            pick = Some(i as u32);
            break;
        }
        point -= w;
    }
    if let Some(p) = pick {
        order.retain(|&i| i != p);
        order.insert(0, p);
    }
    order
}

struct Weighted;

impl Guest for Weighted {
    fn describe() -> RouterInfo {
        RouterInfo {
            id: "weighted".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    fn configure(config: String) -> Result<(), String> {
        let split = parse_config(&config)?;
        SPLIT.with(|s| s.set(split));
        Ok(())
    }

    fn route(request: RouteRequest, candidates: Vec<Candidate>) -> Result<Vec<u32>, String> {
        Ok(plan(request.random, &candidates, SPLIT.with(Cell::get)))
    }
}

tollgate_sdk::export_router!(Weighted);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cand(name: &str, weight: u32, priority: u32, healthy: bool) -> Candidate {
        Candidate {
            name: name.to_string(),
            provider: "anthropic".to_string(),
            model: "m".to_string(),
            weight,
            priority,
            healthy,
            error_rate: 0.0,
            latency_p50_us: 0,
            in_flight: 0,
        }
    }

    /// A deterministic stand-in for the host's random numbers (splitmix64).
    fn randoms(n: usize) -> impl Iterator<Item = u64> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..n).map(move |_| {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
    }

    #[test]
    fn three_to_one_split() {
        let cs = vec![cand("a", 3, 0, true), cand("b", 1, 1, true)];
        let firsts: Vec<u32> = randoms(10_000).map(|r| plan(r, &cs, true)[0]).collect();
        let a = firsts.iter().filter(|&&i| i == 0).count() as f64 / 10_000.0;
        assert!((0.73..0.77).contains(&a), "share of a = {a}");
    }

    #[test]
    fn fallback_order_and_health() {
        let cs = vec![
            cand("w-sick", 5, 0, false),
            cand("fb2", 0, 3, true),
            cand("w", 1, 1, true),
            cand("fb1", 0, 2, true),
            cand("fb-sick", 0, 0, false),
        ];
        assert_eq!(plan(7, &cs, true), vec![2, 3, 1, 0, 4]);
        assert_eq!(plan(7, &cs, false), vec![2, 3, 1, 0, 4]);
    }

    #[test]
    fn all_unhealthy_still_tried_and_no_weights() {
        let cs = vec![cand("a", 1, 1, false), cand("b", 1, 0, false)];
        assert_eq!(plan(0, &cs, true), vec![1, 0]);
        let cs = vec![
            cand("a", 0, 2, true),
            cand("b", 0, 1, false),
            cand("c", 0, 0, true),
        ];
        assert_eq!(plan(123, &cs, true), vec![2, 0, 1]);
        assert!(plan(1, &[], true).is_empty());
    }

    #[test]
    fn config() {
        assert!(parse_config("{}").unwrap());
        assert!(!parse_config(r#"{"split": false}"#).unwrap());
        assert!(parse_config("[]").is_err());
        assert!(parse_config(r#"{"bogus": 1}"#).is_err());
    }
}
