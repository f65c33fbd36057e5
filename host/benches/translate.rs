//! What translating between dialects costs on the plugin side, without the network:
//! the calls the host makes on the translated path (`server/translate.rs`), on pooled
//! instances, with the same 1 KB requests and the same upstream bytes the benchmark's
//! mock sends (`bench/`). Machine noise moves these far less than the end-to-end run.
//!
//! - `request/*`: the client's body decoded into the canonical request by the front
//!   door, then encoded for the target (two plugin calls, once per request); also a
//!   coding agent's ~68 KB request (tools, history, thinking) against its summary.
//! - `response/*`: a non-streamed answer decoded by the target, encoded by the front.
//! - `call/encode_models_empty`: the floor of any plugin call (checkout, async call,
//!   nothing to do).
//! - `stream/*`: one upstream delta chunk fed to the target's stream decoder, and the
//!   events encoded by the front's stream encoder — the per-chunk cost. The
//!   passthrough path's per-chunk plugin work (usage-only decoding on the side) is
//!   `stream/passthrough_observe` for comparison.
//!
//! Run: `cargo bench -p tollgate --bench translate`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::executor::block_on;
use serde_json::{json, Value};
use tollgate::plugin::{
    CallLimits, ChatRequest, Operation, PluginEngine, PluginSet, ProviderPlugin, QuarantinePolicy,
    StreamDecoder, StreamEncoder, StreamEvent, TargetInfo,
};

const SYSTEM: &str = "You are a benchmark. Answer briefly.";
const FILLER: &str = "The quick brown fox jumps over the lazy dog while the gateway \
    counts every byte; agents send long histories of code, tool output and prose. ";

/// A request built by `make(text)`, padded to about `target` bytes.
fn padded(target: usize, make: impl Fn(&str) -> Value) -> Vec<u8> {
    let base = serde_json::to_vec(&make("")).expect("json").len();
    let text: String = FILLER
        .chars()
        .cycle()
        .take(target.saturating_sub(base))
        .collect();
    serde_json::to_vec(&make(&text)).expect("json")
}

fn anthropic_body(target: usize, stream: bool) -> Vec<u8> {
    padded(target, |text| {
        json!({
            "model": "bench", "max_tokens": 256, "stream": stream,
            "system": [{"type": "text", "text": SYSTEM}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
        })
    })
}

fn responses_body(target: usize, stream: bool) -> Vec<u8> {
    padded(target, |text| {
        json!({
            "model": "bench", "max_output_tokens": 256, "stream": stream, "store": false,
            "instructions": SYSTEM,
            "input": [{"type": "message", "role": "user",
                       "content": [{"type": "input_text", "text": text}]}],
        })
    })
}

/// An Anthropic request shaped like a coding agent's (about 68 KB).
fn agent_body() -> Vec<u8> {
    let tools: Vec<Value> = (0..18)
        .map(|i| {
            let props: serde_json::Map<String, Value> = (0..8)
                .map(|j| {
                    (
                        format!("p{j}"),
                        json!({"type": "string", "description": "A parameter that does something useful for the tool, described at length ".repeat(2)}),
                    )
                })
                .collect();
            json!({"name": format!("tool_{i}"), "description": "Tool description ".repeat(30),
                   "input_schema": {"type": "object", "properties": props, "required": ["p0"],
                                    "additionalProperties": false,
                                    "$schema": "http://json-schema.org/draft-07/schema#"}})
        })
        .collect();
    let mut messages = Vec::new();
    for i in 0..10 {
        let mut user =
            vec![json!({"type": "text", "text": "Some user text with code ".repeat(40)})];
        if i > 0 {
            user.push(
                json!({"type": "tool_result", "tool_use_id": format!("toolu_{}", i - 1),
                             "content": "result ".repeat(100)}),
            );
        }
        messages.push(json!({"role": "user", "content": user}));
        messages.push(json!({"role": "assistant", "content": [
            {"type": "text", "text": "Reply ".repeat(50)},
            {"type": "tool_use", "id": format!("toolu_{i}"), "name": "tool_1",
             "input": {"p0": "x".repeat(100)}}]}));
    }
    messages.push(json!({"role": "user", "content": "go"}));
    serde_json::to_vec(&json!({
        "model": "bench", "max_tokens": 32000, "stream": false,
        "system": [{"type": "text", "text": "You are a coding agent. ".repeat(200),
                    "cache_control": {"type": "ephemeral"}}],
        "tools": tools, "messages": messages, "metadata": {"user_id": "u"},
        "thinking": {"type": "enabled", "budget_tokens": 8000},
    }))
    .expect("json")
}

fn sse_event(name: &str, data: &Value) -> Vec<u8> {
    format!("event: {name}\ndata: {data}\n\n").into_bytes()
}

fn sse_data(data: &Value) -> Vec<u8> {
    format!("data: {data}\n\n").into_bytes()
}

const CHAT_ID: &str = "chatcmpl-01benchbenchbenchbenchbe";

fn chat_chunk(delta: Value, finish: Option<&str>) -> Vec<u8> {
    sse_data(&json!({
        "id": CHAT_ID, "object": "chat.completion.chunk", "created": 1_767_225_600,
        "model": "bench", "service_tier": "default", "system_fingerprint": "fp_mock0001",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
    }))
}

/// The mock's non-streamed Chat Completions answer.
fn chat_completion() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": CHAT_ID, "object": "chat.completion", "created": 1_767_225_600, "model": "bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok",
                     "refusal": null, "annotations": []},
                     "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
        "service_tier": "default", "system_fingerprint": "fp_mock0001",
    }))
    .expect("json")
}

/// The mock's non-streamed Anthropic answer.
fn anthropic_message() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": "msg_01benchbenchbenchbenchbe", "type": "message", "role": "assistant",
        "model": "bench", "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 1},
    }))
    .expect("json")
}

/// The mock's Anthropic stream head (message_start, ping, content_block_start).
fn anthropic_stream_head() -> Vec<u8> {
    let mut out = sse_event(
        "message_start",
        &json!({"type": "message_start", "message": {
            "id": "msg_01benchbenchbenchbenchbe", "type": "message", "role": "assistant",
            "model": "bench", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 1}}}),
    );
    out.extend(sse_event("ping", &json!({"type": "ping"})));
    out.extend(sse_event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}),
    ));
    out
}

fn anthropic_delta() -> Vec<u8> {
    sse_event(
        "content_block_delta",
        &json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": "tok "}}),
    )
}

fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    block_on(f)
}

fn decode(p: &ProviderPlugin, body: &[u8]) -> ChatRequest {
    run(p.decode_request(Operation::Chat, body, None, false))
        .expect("call")
        .expect("decoded")
}

fn target_info() -> TargetInfo {
    TargetInfo {
        model: "bench".into(),
        options: "{}".into(),
    }
}

fn bench_request(c: &mut Criterion, set: &PluginSet) {
    let anthropic = set.provider("anthropic").expect("anthropic");
    let openai = set.provider("openai").expect("openai");
    let responses = set.provider("openai-responses").expect("openai-responses");
    let info = target_info();
    let mut g = c.benchmark_group("request");
    for (name, front, target, body) in [
        (
            "anthropic_to_openai",
            &anthropic,
            &openai,
            anthropic_body(1024, false),
        ),
        (
            "responses_to_anthropic",
            &responses,
            &anthropic,
            responses_body(1024, false),
        ),
    ] {
        g.throughput(Throughput::Bytes(body.len() as u64));
        let canonical = decode(front, &body);
        g.bench_function(format!("{name}/decode_1k"), |b| {
            b.iter(|| black_box(decode(front, &body)));
        });
        g.bench_function(format!("{name}/encode_1k"), |b| {
            b.iter(|| {
                black_box(
                    run(target.encode_request(Operation::Chat, &canonical, &info))
                        .expect("call")
                        .expect("encoded"),
                )
            });
        });
        g.bench_function(format!("{name}/decode+encode_1k"), |b| {
            b.iter(|| {
                let req = decode(front, &body);
                black_box(
                    run(target.encode_request(Operation::Chat, &req, &info))
                        .expect("call")
                        .expect("encoded"),
                )
            });
        });
        // The passthrough path's only request-side plugin call, for comparison.
        g.bench_function(format!("{name}/passthrough_summarize_1k"), |b| {
            b.iter(|| {
                black_box(
                    run(front.summarize(Operation::Chat, &body, false))
                        .expect("call")
                        .expect("ok"),
                )
            });
        });
    }
    // A coding agent's request as Claude Code sends it (18 tools with schemas, ten
    // turns with tool calls and results, thinking on): the size real traffic has.
    let agent = agent_body();
    g.throughput(Throughput::Bytes(agent.len() as u64));
    g.bench_function("anthropic_to_openai/decode+encode_agent_68k", |b| {
        b.iter(|| {
            let req = decode(&anthropic, &agent);
            black_box(
                run(openai.encode_request(Operation::Chat, &req, &info))
                    .expect("call")
                    .expect("encoded"),
            )
        });
    });
    g.bench_function("anthropic_to_openai/passthrough_summarize_agent_68k", |b| {
        b.iter(|| {
            black_box(
                run(anthropic.summarize(Operation::Chat, &agent, false))
                    .expect("call")
                    .expect("ok"),
            )
        });
    });
    g.finish();

    let mut g = c.benchmark_group("response");
    for (name, front, target, upstream) in [
        (
            "openai_to_anthropic",
            &anthropic,
            &openai,
            chat_completion(),
        ),
        (
            "anthropic_to_responses",
            &responses,
            &anthropic,
            anthropic_message(),
        ),
    ] {
        let decoded = run(target.decode_response(Operation::Chat, &upstream))
            .expect("call")
            .expect("decoded");
        g.bench_function(format!("{name}/decode"), |b| {
            b.iter(|| {
                black_box(
                    run(target.decode_response(Operation::Chat, &upstream))
                        .expect("call")
                        .expect("decoded"),
                )
            });
        });
        g.bench_function(format!("{name}/encode"), |b| {
            b.iter(|| {
                black_box(
                    run(front.encode_response(&decoded))
                        .expect("call")
                        .expect("encoded"),
                )
            });
        });
        g.bench_function(format!("{name}/decode+encode"), |b| {
            b.iter(|| {
                let decoded = run(target.decode_response(Operation::Chat, &upstream))
                    .expect("call")
                    .expect("decoded");
                black_box(
                    run(front.encode_response(&decoded))
                        .expect("call")
                        .expect("encoded"),
                )
            });
        });
    }
    g.finish();

    // The floor of any plugin call: checkout, async call on a fiber, tiny in/out.
    let mut g = c.benchmark_group("call");
    g.bench_function("encode_models_empty", |b| {
        b.iter(|| black_box(run(anthropic.encode_models(&[])).expect("call")));
    });
    g.finish();
}

/// A stream decoder (target) and encoder (front) that have seen the stream's head.
struct Pair {
    decoder: StreamDecoder,
    encoder: StreamEncoder,
}

async fn open_pair(front: &ProviderPlugin, target: &ProviderPlugin, head: &[u8]) -> Pair {
    let mut decoder = target.stream_decoder(true).await.expect("decoder");
    let mut encoder = front.stream_encoder("bench", "").await.expect("encoder");
    let events = decoder.feed(head).await.expect("call").expect("head");
    encoder
        .encode(&events)
        .await
        .expect("call")
        .expect("encoded");
    Pair { decoder, encoder }
}

async fn close_pair(p: Pair) {
    p.decoder.close().await;
    p.encoder.close().await;
}

/// Which part of the per-chunk work to time.
#[derive(Clone, Copy)]
enum Part {
    Feed,
    Encode,
    Both,
}

/// Times `iters` chunks through fresh decoder/encoder pairs (renewed every 200
/// chunks, untimed, so the encoders' accumulated text stays the size of a real
/// answer).
fn time_chunks(
    front: &ProviderPlugin,
    target: &ProviderPlugin,
    head: &[u8],
    delta: &[u8],
    part: Part,
    iters: u64,
) -> Duration {
    run(async {
        let mut total = Duration::ZERO;
        let mut pair = open_pair(front, target, head).await;
        let events: Vec<StreamEvent> = pair
            .decoder
            .feed(delta)
            .await
            .expect("call")
            .expect("delta");
        let mut in_pair = 1u64;
        for _ in 0..iters {
            if in_pair == 200 {
                close_pair(pair).await;
                pair = open_pair(front, target, head).await;
                in_pair = 0;
            }
            in_pair += 1;
            let t = Instant::now();
            match part {
                Part::Feed => {
                    black_box(pair.decoder.feed(delta).await.expect("call").expect("ok"));
                }
                Part::Encode => {
                    black_box(
                        pair.encoder
                            .encode(&events)
                            .await
                            .expect("call")
                            .expect("ok"),
                    );
                }
                Part::Both => {
                    let ev = pair.decoder.feed(delta).await.expect("call").expect("ok");
                    black_box(pair.encoder.encode(&ev).await.expect("call").expect("ok"));
                }
            }
            total += t.elapsed();
        }
        close_pair(pair).await;
        total
    })
}

fn bench_stream(c: &mut Criterion, set: &PluginSet) {
    let anthropic = set.provider("anthropic").expect("anthropic");
    let openai = set.provider("openai").expect("openai");
    let responses = set.provider("openai-responses").expect("openai-responses");
    let chat_head = chat_chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        None,
    );
    let chat_delta = chat_chunk(json!({"content": "tok "}), None);
    let a_head = anthropic_stream_head();
    let a_delta = anthropic_delta();

    let mut g = c.benchmark_group("stream");
    for (name, front, target, head, delta) in [
        (
            "openai_to_anthropic",
            &anthropic,
            &openai,
            &chat_head,
            &chat_delta,
        ),
        (
            "anthropic_to_responses",
            &responses,
            &anthropic,
            &a_head,
            &a_delta,
        ),
    ] {
        for (label, part) in [
            ("feed", Part::Feed),
            ("encode", Part::Encode),
            ("feed+encode", Part::Both),
        ] {
            g.bench_function(format!("{name}/{label}_per_chunk"), |b| {
                b.iter_custom(|iters| time_chunks(front, target, head, delta, part, iters));
            });
        }
    }
    // Passthrough: the only per-chunk plugin call is the usage-only decoder, on the side.
    g.bench_function("passthrough_observe/anthropic_feed_per_chunk", |b| {
        let mut decoder = run(anthropic.stream_decoder(false)).expect("decoder");
        run(decoder.feed(&a_head)).expect("call").expect("head");
        b.iter(|| black_box(run(decoder.feed(&a_delta)).expect("call").expect("ok")));
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let limits = CallLimits::default();
    let engine = PluginEngine::new(None, limits).expect("engine");
    let set = PluginSet::load(&engine, limits, QuarantinePolicy::default(), None, None);
    bench_request(c, &set);
    bench_stream(c, &set);
}

criterion_group! {
    name = translate;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(translate);
