//! `pricetable` cost model: a built-in table of public per-million-token prices,
//! overridable from config, priced into micro-USD.

use std::cell::RefCell;

use tollgate_sdk::cost_model::{Cost, CostModelInfo, Guest, ModelPrice, Usage};

/// (model, input, output, cache write 5m, cache write 1h, cache read), USD per million.
const ANTHROPIC: &[(&str, f64, f64, f64, f64, f64)] = &[
    ("claude-opus-4-5", 5.0, 25.0, 6.25, 10.0, 0.50),
    ("claude-opus-4-1", 15.0, 75.0, 18.75, 30.0, 1.50),
    ("claude-opus-4", 15.0, 75.0, 18.75, 30.0, 1.50),
    ("claude-sonnet-4-5", 3.0, 15.0, 3.75, 6.0, 0.30),
    ("claude-sonnet-4", 3.0, 15.0, 3.75, 6.0, 0.30),
    ("claude-3-7-sonnet", 3.0, 15.0, 3.75, 6.0, 0.30),
    ("claude-haiku-4-5", 1.0, 5.0, 1.25, 2.0, 0.10),
    ("claude-3-5-haiku", 0.80, 4.0, 1.00, 1.60, 0.08),
    ("claude-3-haiku", 0.25, 1.25, 0.30, 0.50, 0.03),
    ("claude-3-opus", 15.0, 75.0, 18.75, 30.0, 1.50),
];

/// (model, input, output, cached input), USD per million. OpenAI bills cache
/// writes as ordinary input.
const OPENAI: &[(&str, f64, f64, f64)] = &[
    ("gpt-5.1", 1.25, 10.0, 0.125),
    ("gpt-5.1-codex", 1.25, 10.0, 0.125),
    ("gpt-5", 1.25, 10.0, 0.125),
    ("gpt-5-codex", 1.25, 10.0, 0.125),
    ("gpt-5-mini", 0.25, 2.0, 0.025),
    ("gpt-5-nano", 0.05, 0.40, 0.005),
    ("gpt-4.1", 2.0, 8.0, 0.50),
    ("gpt-4.1-mini", 0.40, 1.60, 0.10),
    ("gpt-4.1-nano", 0.10, 0.40, 0.025),
    ("gpt-4o", 2.50, 10.0, 1.25),
    ("gpt-4o-mini", 0.15, 0.60, 0.075),
    ("o3", 2.0, 8.0, 0.50),
    ("o4-mini", 1.10, 4.40, 0.275),
    ("o3-mini", 1.10, 4.40, 0.55),
];

/// (model, input, output, cached input), USD per million (prompts up to 200k
/// tokens where the price is tiered).
const GEMINI: &[(&str, f64, f64, f64)] = &[
    ("gemini-3-pro-preview", 2.0, 12.0, 0.20),
    ("gemini-2.5-pro", 1.25, 10.0, 0.125),
    ("gemini-2.5-flash", 0.30, 2.50, 0.03),
    ("gemini-2.5-flash-lite", 0.10, 0.40, 0.01),
    ("gemini-2.0-flash", 0.10, 0.40, 0.025),
    ("gemini-2.0-flash-lite", 0.075, 0.30, 0.01875),
];

/// The built-in price table.
pub fn builtin() -> Vec<ModelPrice> {
    let anthropic = ANTHROPIC
        .iter()
        .map(|&(model, input, output, cw, cw1h, cr)| ModelPrice {
            provider: "anthropic".to_string(),
            model: model.to_string(),
            input,
            output,
            cache_read: cr,
            cache_write: cw,
            cache_write_1h: cw1h,
        });
    let simple = |provider: &'static str, table: &'static [(&str, f64, f64, f64)]| {
        table
            .iter()
            .map(move |&(model, input, output, cr)| ModelPrice {
                provider: provider.to_string(),
                model: model.to_string(),
                input,
                output,
                cache_read: cr,
                cache_write: input,
                cache_write_1h: input,
            })
    };
    anthropic
        .chain(simple("openai", OPENAI))
        .chain(simple("gemini", GEMINI))
        .collect()
}

/// The provider whose list prices a provider plugin's traffic is billed at:
/// the Responses API and Azure OpenAI at OpenAI's, Bedrock's Claude at
/// Anthropic's.
fn price_family(provider: &str) -> &str {
    match provider {
        "openai-responses" | "azure-openai" => "openai",
        "bedrock" => "anthropic",
        other => other,
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    prices: Vec<RawPrice>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrice {
    provider: String,
    model: String,
    input: f64,
    output: f64,
    #[serde(default)]
    cache_read: Option<f64>,
    #[serde(default)]
    cache_write: Option<f64>,
    #[serde(default)]
    cache_write_1h: Option<f64>,
}

/// The table after applying a config's overrides (same provider + model replaces).
pub fn configured(json: &str) -> Result<Vec<ModelPrice>, String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("pricetable config is not JSON: {e}"))?;
    if !value.is_object() {
        return Err("pricetable config must be a JSON object".to_string());
    }
    let raw: RawConfig =
        serde_json::from_value(value).map_err(|e| format!("pricetable config: {e}"))?;
    let mut table = builtin();
    for p in raw.prices {
        for (what, v) in [("input", Some(p.input)), ("output", Some(p.output))]
            .into_iter()
            .chain([
                ("cache_read", p.cache_read),
                ("cache_write", p.cache_write),
                ("cache_write_1h", p.cache_write_1h),
            ])
        {
            if let Some(v) = v {
                if !v.is_finite() || v < 0.0 {
                    return Err(format!("price {what} of {} must be >= 0", p.model));
                }
            }
        }
        let price = ModelPrice {
            provider: p.provider,
            model: p.model,
            input: p.input,
            output: p.output,
            // Unset cache prices default to the usual ratios of the input price.
            cache_read: p.cache_read.unwrap_or(p.input * 0.1),
            cache_write: p.cache_write.unwrap_or(p.input * 1.25),
            cache_write_1h: p.cache_write_1h.unwrap_or(p.input * 2.0),
        };
        match table
            .iter_mut()
            .find(|m| m.provider == price.provider && m.model == price.model)
        {
            Some(slot) => *slot = price,
            None => table.push(price),
        }
    }
    Ok(table)
}

/// Candidate names for a model string, most specific first: as given, without a
/// `provider/` prefix or `@version` suffix, without `-latest`, without a `-YYYYMMDD` date.
fn candidates(model: &str) -> Vec<&str> {
    let mut out = vec![model];
    let mut m = model;
    if let Some((_, rest)) = m.rsplit_once('/') {
        m = rest;
        out.push(m);
    }
    // Bedrock ids: `us.anthropic.claude-sonnet-4-5-20250929-v1:0`.
    if let Some((_, rest)) = m.split_once("anthropic.") {
        m = rest;
        out.push(m);
    }
    if let Some((base, version)) = m.rsplit_once("-v") {
        let plain = version
            .split(':')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if plain {
            m = base;
            out.push(m);
        }
    }
    if let Some((base, _)) = m.split_once('@') {
        m = base;
        out.push(m);
    }
    if let Some(base) = m.strip_suffix("-latest") {
        m = base;
        out.push(m);
    }
    if let Some((base, date)) = m.rsplit_once('-') {
        if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) {
            out.push(base);
        }
    }
    // OpenAI snapshots: `gpt-5-2025-08-07`.
    if m.len() > 11 && m.is_char_boundary(m.len() - 11) {
        let (base, date) = m.split_at(m.len() - 11);
        let d = date.as_bytes();
        let shape = d[0] == b'-'
            && d[5] == b'-'
            && d[8] == b'-'
            && [1, 2, 3, 4, 6, 7, 9, 10]
                .iter()
                .all(|&i| d[i].is_ascii_digit());
        if shape {
            out.push(base);
        }
    }
    out
}

/// Look a model up in `table`.
pub fn lookup<'a>(table: &'a [ModelPrice], provider: &str, model: &str) -> Option<&'a ModelPrice> {
    let family = price_family(provider);
    candidates(model).into_iter().find_map(|name| {
        let matches =
            |p: &&ModelPrice, who: &str| p.model == name && (p.provider == who || who.is_empty());
        // A price configured for the plugin itself wins over its family's.
        table
            .iter()
            .find(|p| matches(p, provider))
            .or_else(|| table.iter().find(|p| matches(p, family)))
    })
}

/// Price `usage` with `p`: tokens × USD per million = micro-USD.
pub fn cost(p: &ModelPrice, usage: &Usage) -> Cost {
    let t = |n: Option<u64>| n.unwrap_or(0) as f64;
    let input = t(usage.input_tokens) * p.input;
    let output = t(usage.output_tokens) * p.output;
    let cache_read = t(usage.cache_read_tokens) * p.cache_read;
    let cache_write = t(usage.cache_write_tokens) * p.cache_write
        + t(usage.cache_write_1h_tokens) * p.cache_write_1h;
    Cost {
        input,
        output,
        cache_read,
        cache_write,
        total: input + output + cache_read + cache_write,
    }
}

thread_local! {
    static TABLE: RefCell<Option<Vec<ModelPrice>>> = const { RefCell::new(None) };
}

fn with_table<R>(f: impl FnOnce(&[ModelPrice]) -> R) -> R {
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        f(t.get_or_insert_with(builtin))
    })
}

struct PriceTable;

impl Guest for PriceTable {
    fn describe() -> CostModelInfo {
        CostModelInfo {
            id: "pricetable".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    fn configure(config: String) -> Result<(), String> {
        let table = configured(&config)?;
        TABLE.with(|t| *t.borrow_mut() = Some(table));
        Ok(())
    }

    fn price(provider: String, model: String, usage: Usage) -> Option<Cost> {
        with_table(|t| lookup(t, &provider, &model).map(|p| cost(p, &usage)))
    }

    fn known_models() -> Vec<ModelPrice> {
        with_table(<[ModelPrice]>::to_vec)
    }
}

tollgate_sdk::export_cost_model!(PriceTable);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn usage(i: u64, o: u64, cr: u64, cw: u64, cw1h: u64) -> Usage {
        Usage {
            input_tokens: Some(i),
            output_tokens: Some(o),
            cache_read_tokens: Some(cr),
            cache_write_tokens: Some(cw),
            cache_write_1h_tokens: Some(cw1h),
            reasoning_tokens: None,
            extra: None,
        }
    }

    #[test]
    fn prices_sonnet_in_micro_usd() {
        let t = builtin();
        let p = lookup(&t, "anthropic", "claude-sonnet-4-5-20250929").unwrap();
        let c = cost(p, &usage(1000, 500, 2000, 100, 10));
        assert_eq!(c.input, 3000.0);
        assert_eq!(c.output, 7500.0);
        assert!((c.cache_read - 600.0).abs() < 1e-9);
        assert!((c.cache_write - (375.0 + 60.0)).abs() < 1e-9);
        assert!((c.total - (3000.0 + 7500.0 + 600.0 + 435.0)).abs() < 1e-9);
    }

    #[test]
    fn name_forms() {
        let t = builtin();
        for (name, want) in [
            ("claude-opus-4-5", "claude-opus-4-5"),
            ("claude-opus-4-5-20251101", "claude-opus-4-5"),
            ("claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
            ("claude-opus-4-5@20251101", "claude-opus-4-5"),
            ("anthropic/claude-haiku-4-5", "claude-haiku-4-5"),
            ("claude-opus-4-20250514", "claude-opus-4"),
            ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ] {
            assert_eq!(lookup(&t, "anthropic", name).unwrap().model, want, "{name}");
        }
        assert!(lookup(&t, "anthropic", "gpt-4o").is_none());
        assert!(lookup(&t, "openai", "claude-opus-4-5").is_none());
        assert!(lookup(&t, "openai-compatible", "gpt-5").is_none());
    }

    #[test]
    fn other_providers_priced_at_their_family() {
        let t = builtin();
        assert_eq!(
            lookup(&t, "openai", "gpt-5-2025-08-07").unwrap().model,
            "gpt-5"
        );
        assert_eq!(
            lookup(&t, "openai-responses", "gpt-5-codex").unwrap().input,
            1.25
        );
        assert_eq!(
            lookup(&t, "azure-openai", "gpt-4.1-mini").unwrap().model,
            "gpt-4.1-mini"
        );
        assert_eq!(
            lookup(&t, "gemini", "models/gemini-2.5-flash")
                .unwrap()
                .output,
            2.5
        );
        let bedrock = lookup(
            &t,
            "bedrock",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        )
        .unwrap();
        assert_eq!(
            (bedrock.provider.as_str(), bedrock.model.as_str()),
            ("anthropic", "claude-sonnet-4-5")
        );
        // OpenAI-style usage: cached prompt tokens at the cached price.
        let c = cost(
            lookup(&t, "openai", "gpt-5").unwrap(),
            &usage(1_000_000, 0, 1_000_000, 0, 0),
        );
        assert!((c.total - 1_375_000.0).abs() < 1e-6, "{c:?}");
    }

    #[test]
    fn overrides() {
        let t = configured(
            r#"{"prices":[{"provider":"anthropic","model":"x","input":1.0,"output":2.0,"cache_read":0.1,"cache_write":1.25,"cache_write_1h":2.0},
                          {"provider":"anthropic","model":"claude-opus-4-5","input":1.0,"output":1.0}]}"#,
        )
        .unwrap();
        assert_eq!(t.len(), builtin().len() + 1);
        let x = lookup(&t, "anthropic", "x").unwrap();
        assert_eq!(cost(x, &usage(1_000_000, 0, 0, 0, 0)).total, 1_000_000.0);
        assert_eq!(
            lookup(&t, "anthropic", "claude-opus-4-5").unwrap().output,
            1.0
        );
        assert!(configured("[]").is_err());
        assert!(configured(r#"{"prices":[{"model":"x"}]}"#).is_err());
        assert!(configured("{}").is_ok());
    }
}
