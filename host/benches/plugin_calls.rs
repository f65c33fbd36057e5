//! What a plugin call costs on the request path, and why instances are pooled:
//! the same `summarize` on a pooled, reused instance versus a fresh `Store` and
//! instance per call. Also the per-request router and cost-model calls and the
//! per-chunk cost of reading usage from a stream on the side.
//!
//! Run: `cargo bench -p tollgate --bench plugin_calls`

use std::hint::black_box;

use futures::executor::block_on;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tollgate::plugin::bindings::provider::ProviderPre;
use tollgate::plugin::registry::builtin_plugins;
use tollgate::plugin::{
    CallLimits, Candidate, Operation, PluginEngine, PluginSet, QuarantinePolicy, RouteRequest,
    Usage,
};
use wasmtime::component::Component;

fn body(target_len: usize) -> Vec<u8> {
    let filler = "The quick brown fox jumps over the lazy dog. ";
    let mut text = String::new();
    while text.len() + 200 < target_len {
        text.push_str(filler);
    }
    serde_json::to_vec(&serde_json::json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "stream": true,
        "messages": [{"role": "user", "content": text}]
    }))
    .expect("json")
}

fn benches(c: &mut Criterion) {
    let limits = CallLimits::default();
    let engine = PluginEngine::new(None, limits).expect("engine");
    let set = PluginSet::load(&engine, limits, QuarantinePolicy::default(), None, None);
    let provider = set
        .provider("anthropic")
        .expect("built-in anthropic provider");

    let mut g = c.benchmark_group("summarize");
    for size in [1024usize, 200 * 1024] {
        let b = body(size);
        g.throughput(Throughput::Bytes(b.len() as u64));
        g.bench_with_input(BenchmarkId::new("pooled", size), &b, |bench, b| {
            bench.iter(|| {
                black_box(
                    block_on(provider.summarize(Operation::Chat, b, false))
                        .expect("call")
                        .expect("ok"),
                )
            });
        });
        g.bench_with_input(
            BenchmarkId::new("pooled_with_text", size),
            &b,
            |bench, b| {
                bench.iter(|| {
                    black_box(
                        block_on(provider.summarize(Operation::Chat, b, true))
                            .expect("call")
                            .expect("ok"),
                    )
                });
            },
        );
    }
    // The alternative: a fresh Store and instance for every call.
    let bytes = builtin_plugins()
        .iter()
        .find(|(n, _)| *n == "provider-anthropic")
        .map(|(_, b)| *b)
        .expect("embedded provider");
    let component = Component::new(engine.engine(), bytes).expect("compile");
    let pre =
        ProviderPre::new(engine.linker().instantiate_pre(&component).expect("link")).expect("pre");
    let small = body(1024);
    g.bench_function(BenchmarkId::new("fresh_store_per_call", 1024), |bench| {
        bench.iter(|| {
            let mut store = engine.new_store(limits);
            store.set_epoch_deadline(limits.deadline_ticks());
            block_on(async {
                let p = pre
                    .instantiate_async(&mut store)
                    .await
                    .expect("instantiate");
                black_box(
                    p.tollgate_plugin_provider_api()
                        .call_summarize(&mut store, Operation::Chat, &small, false)
                        .await
                        .expect("call"),
                )
            })
        });
    });
    g.finish();

    // Reading usage from a stream on the side: one feed per upstream chunk.
    let delta = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello, world\"}}\n\n";
    let mut g = c.benchmark_group("stream_observe");
    g.bench_function("feed_text_delta_chunk", |bench| {
        let mut decoder = block_on(provider.stream_decoder(false)).expect("decoder");
        bench.iter(|| black_box(block_on(decoder.feed(delta)).expect("call").expect("ok")));
    });
    g.finish();

    let router = set
        .router("router-weighted", &serde_json::json!({}))
        .expect("router");
    let candidates: Vec<Candidate> = (0..2)
        .map(|i| Candidate {
            name: format!("t{i}"),
            provider: "anthropic".into(),
            model: "claude-sonnet-4-5".into(),
            weight: 1,
            priority: i,
            healthy: true,
            error_rate: 0.0,
            latency_p50_us: 0,
            in_flight: 0,
        })
        .collect();
    let request = RouteRequest {
        endpoint: "bench".into(),
        operation: Operation::Chat,
        model: "claude-sonnet-4-5".into(),
        stream: false,
        random: 42,
    };
    c.bench_function("router/route_2_targets", |bench| {
        bench.iter(|| black_box(block_on(router.route(&request, &candidates)).expect("call")));
    });

    let cost = set
        .cost_model("cost-pricetable", &serde_json::json!({}))
        .expect("cost model");
    let usage = Usage {
        input_tokens: Some(1200),
        output_tokens: Some(350),
        cache_read_tokens: Some(40_000),
        cache_write_tokens: Some(2_000),
        cache_write_1h_tokens: None,
        reasoning_tokens: None,
        extra: None,
    };
    c.bench_function("cost/price", |bench| {
        bench.iter(|| {
            black_box(
                block_on(cost.price("anthropic", "claude-sonnet-4-5-20250929", &usage))
                    .expect("call"),
            )
        });
    });
}

criterion_group!(plugin_calls, benches);
criterion_main!(plugin_calls);
