//! Native fuzz target bodies over the provider plugins' decoders. Input layouts
//! match the `plugin_*` targets of `tollgate-fuzz` (see its `plugins` module),
//! so the two share the seed corpus in `fuzz/corpus/plugin_*`:
//!
//! | target | layout |
//! |---|---|
//! | `native_decode_request` | provider, flags (bits 0-1 op, bit 2 stream, bit 3 path model), [len, model], body |
//! | `native_summarize` | provider, flags (bits 0-1 op, bit 2 want text, bit 3 rename), body |
//! | `native_decode_response` | provider, flags (bits 0-1 op), body |
//! | `native_decode_error` | provider, status (u16 BE), body |
//! | `native_stream_decoder` | provider, flags (bit 0 with content), n, n chunk lengths, body |
//!
//! Provider indices: 0 anthropic, 1 openai, 2 openai-compatible, 3 azure-openai,
//! 4 openai-responses, 5 gemini, 6 bedrock. Natively a plugin panic is a panic:
//! every one is a finding (in the gateway it would be a trap, a 500 instead of
//! the dialect's 400).

use openai_chat::Flavor;
use tollgate_sdk::provider::{
    ApiError, ChatRequest, ChatResponse, Operation, RequestEdits, RequestSummary, ResponseSummary,
    StreamEvent,
};

/// The plugins, by index (mod 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plugin {
    Anthropic,
    Chat(Flavor),
    Responses,
    Gemini,
    Bedrock,
}

pub fn plugin(b: u8) -> Plugin {
    match b % 7 {
        0 => Plugin::Anthropic,
        1 => Plugin::Chat(Flavor::OpenAi),
        2 => Plugin::Chat(Flavor::Compatible),
        3 => Plugin::Chat(Flavor::Azure),
        4 => Plugin::Responses,
        5 => Plugin::Gemini,
        _ => Plugin::Bedrock,
    }
}

fn operation(flags: u8) -> Operation {
    match flags & 3 {
        1 => Operation::CountTokens,
        2 => Operation::ListModels,
        _ => Operation::Chat,
    }
}

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}

fn p_decode_request(
    p: Plugin,
    op: Operation,
    body: &[u8],
    path_model: Option<String>,
    stream: bool,
) -> Result<ChatRequest, ApiError> {
    match p {
        Plugin::Anthropic => {
            provider_anthropic::translate::decode_request(op, body, path_model, stream)
        }
        Plugin::Chat(f) => openai_chat::translate::decode_request(f, op, body, path_model, stream),
        Plugin::Responses => {
            provider_openai_responses::translate::decode_request(op, body, path_model, stream)
        }
        Plugin::Gemini => provider_gemini::translate::decode_request(op, body, path_model, stream),
        Plugin::Bedrock => {
            provider_bedrock::translate::decode_request(op, body, path_model, stream)
        }
    }
}

fn p_summarize(
    p: Plugin,
    op: Operation,
    body: &[u8],
    want: bool,
) -> Result<RequestSummary, ApiError> {
    match p {
        Plugin::Anthropic => provider_anthropic::passthrough::summarize(op, body, want),
        Plugin::Chat(f) => openai_chat::passthrough::summarize(f, op, body, want),
        Plugin::Responses => provider_openai_responses::passthrough::summarize(op, body, want),
        Plugin::Gemini => provider_gemini::passthrough::summarize(op, body, want),
        Plugin::Bedrock => provider_bedrock::passthrough::summarize(op, body, want),
    }
}

fn p_edit(p: Plugin, op: Operation, body: Vec<u8>, e: &RequestEdits) -> Result<Vec<u8>, ApiError> {
    match p {
        Plugin::Anthropic => provider_anthropic::passthrough::edit(op, body, e),
        Plugin::Chat(f) => openai_chat::passthrough::edit(f, op, body, e),
        Plugin::Responses => provider_openai_responses::passthrough::edit(op, body, e),
        Plugin::Gemini => provider_gemini::passthrough::edit(op, body, e),
        Plugin::Bedrock => provider_bedrock::passthrough::edit(op, body, e),
    }
}

fn p_decode_response(p: Plugin, op: Operation, body: &[u8]) -> Result<ChatResponse, ApiError> {
    match p {
        Plugin::Anthropic => provider_anthropic::translate::decode_response(op, body),
        Plugin::Chat(_) => openai_chat::translate::decode_response(op, body),
        Plugin::Responses => provider_openai_responses::translate::decode_response(op, body),
        Plugin::Gemini => provider_gemini::translate::decode_response(op, body),
        Plugin::Bedrock => provider_bedrock::translate::decode_response(op, body),
    }
}

fn p_summarize_response(
    p: Plugin,
    op: Operation,
    body: &[u8],
) -> Result<ResponseSummary, ApiError> {
    match p {
        Plugin::Anthropic => provider_anthropic::passthrough::summarize_response(op, body),
        Plugin::Chat(_) => openai_chat::passthrough::summarize_response(op, body),
        Plugin::Responses => provider_openai_responses::passthrough::summarize_response(op, body),
        Plugin::Gemini => provider_gemini::passthrough::summarize_response(op, body),
        Plugin::Bedrock => provider_bedrock::passthrough::summarize_response(op, body),
    }
}

fn p_decode_error(p: Plugin, status: u16, body: &[u8]) -> ApiError {
    match p {
        Plugin::Anthropic => provider_anthropic::wire::decode_error(status, body),
        Plugin::Chat(_) => openai_chat::wire::decode_error(status, body),
        Plugin::Responses => provider_openai_responses::wire::decode_error(status, body),
        Plugin::Gemini => provider_gemini::wire::decode_error(status, body),
        Plugin::Bedrock => provider_bedrock::wire::decode_error(status, body),
    }
}

/// One stream decoder of any dialect.
enum Decoder {
    Anthropic(provider_anthropic::stream::DecodeState),
    Chat(openai_chat::stream::DecodeState),
    Responses(provider_openai_responses::stream::DecodeState),
    Gemini(provider_gemini::stream::DecodeState),
    Bedrock(provider_bedrock::stream::DecodeState),
}

impl Decoder {
    fn new(p: Plugin, with_content: bool) -> Decoder {
        match p {
            Plugin::Anthropic => {
                Decoder::Anthropic(provider_anthropic::stream::DecodeState::new(with_content))
            }
            Plugin::Chat(_) => Decoder::Chat(openai_chat::stream::DecodeState::new(with_content)),
            Plugin::Responses => Decoder::Responses(
                provider_openai_responses::stream::DecodeState::new(with_content),
            ),
            Plugin::Gemini => {
                Decoder::Gemini(provider_gemini::stream::DecodeState::new(with_content))
            }
            Plugin::Bedrock => {
                Decoder::Bedrock(provider_bedrock::stream::DecodeState::new(with_content))
            }
        }
    }
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<StreamEvent>, ApiError> {
        match self {
            Decoder::Anthropic(d) => d.feed(chunk),
            Decoder::Chat(d) => d.feed(chunk),
            Decoder::Responses(d) => d.feed(chunk),
            Decoder::Gemini(d) => d.feed(chunk),
            Decoder::Bedrock(d) => d.feed(chunk),
        }
    }
    fn finish(&mut self) -> Result<Vec<StreamEvent>, ApiError> {
        match self {
            Decoder::Anthropic(d) => d.finish(),
            Decoder::Chat(d) => d.finish(),
            Decoder::Responses(d) => d.finish(),
            Decoder::Gemini(d) => d.finish(),
            Decoder::Bedrock(d) => d.finish(),
        }
    }
}

/// An error the gateway would send to a client must carry a real HTTP status.
fn check_error(what: &str, p: Plugin, e: &ApiError) {
    assert!(
        (400..=599).contains(&e.status),
        "{p:?} {what}: error with status {} ({})",
        e.status,
        e.message
    );
}

pub fn decode_request(data: &[u8]) {
    let mut input = Input(data);
    let p = plugin(input.byte());
    let flags = input.byte();
    let path_model = (flags & 8 != 0).then(|| {
        let n = usize::from(input.byte()) % 65;
        String::from_utf8_lossy(input.take(n)).into_owned()
    });
    if let Err(e) = p_decode_request(p, operation(flags), input.0, path_model, flags & 4 != 0) {
        check_error("decode_request", p, &e);
    }
}

pub fn summarize(data: &[u8]) {
    let mut input = Input(data);
    let p = plugin(input.byte());
    let flags = input.byte();
    let body = input.0;
    let op = operation(flags);
    let want_text = flags & 4 != 0;
    let rename = flags & 8 != 0;
    let summary = match p_summarize(p, op, body, want_text) {
        Ok(s) => s,
        Err(e) => return check_error("summarize", p, &e),
    };
    let texts: Vec<(u32, String)> = (0..summary.text_parts.len())
        .filter(|n| n % 2 == 0)
        .filter_map(|n| u32::try_from(n).ok())
        .map(|n| {
            (
                n,
                format!("[redacted {n}] \u{1F512} \"quoted\" \\ </script>"),
            )
        })
        .collect();
    if !rename && texts.is_empty() {
        return;
    }
    let edits = RequestEdits {
        model: rename.then(|| "fuzz-renamed/model:v1".to_string()),
        texts,
    };
    let edited = match p_edit(p, op, body.to_vec(), &edits) {
        Ok(b) => b,
        Err(e) => return check_error("edit", p, &e),
    };
    match p_summarize(p, op, &edited, want_text) {
        Ok(s2) => {
            if rename && !summary.model.is_empty() {
                assert_eq!(
                    s2.model, "fuzz-renamed/model:v1",
                    "{p:?}: `edit` renamed the model but `summarize` reads {:?}",
                    s2.model
                );
            }
            assert_eq!(
                s2.stream, summary.stream,
                "{p:?}: `edit` changed the stream flag"
            );
        }
        Err(e) => panic!(
            "{p:?}: a body `edit` produced no longer summarizes: {} {}\nedited: {}",
            e.status,
            e.message,
            String::from_utf8_lossy(&edited)
        ),
    }
}

pub fn decode_response(data: &[u8]) {
    let mut input = Input(data);
    let p = plugin(input.byte());
    let op = operation(input.byte());
    if let Err(e) = p_decode_response(p, op, input.0) {
        check_error("decode_response", p, &e);
    }
    if let Err(e) = p_summarize_response(p, op, input.0) {
        check_error("summarize_response", p, &e);
    }
}

pub fn decode_error(data: &[u8]) {
    let mut input = Input(data);
    let p = plugin(input.byte());
    let status = u16::from_be_bytes([input.byte(), input.byte()]);
    let _ = p_decode_error(p, status, input.0);
}

pub fn stream_decoder(data: &[u8]) {
    let mut input = Input(data);
    let p = plugin(input.byte());
    let flags = input.byte();
    let n = usize::from(input.byte() % 17);
    let lens: Vec<usize> = input.take(n).iter().map(|b| usize::from(*b)).collect();
    let mut body = input.0;
    let mut d = Decoder::new(p, flags & 1 != 0);
    for len in lens {
        let (chunk, rest) = body.split_at(len.min(body.len()));
        body = rest;
        if let Err(e) = d.feed(chunk) {
            return check_error("stream feed", p, &e);
        }
    }
    if let Err(e) = d.feed(body) {
        return check_error("stream feed", p, &e);
    }
    if let Err(e) = d.finish() {
        check_error("stream finish", p, &e);
    }
}

/// A fuzz target: its name and body.
#[derive(Clone, Copy)]
pub struct Target {
    pub name: &'static str,
    /// The `fuzz/corpus/<dir>` whose seeds it shares.
    pub corpus: &'static str,
    pub run: fn(&[u8]),
}

pub const TARGETS: &[Target] = &[
    Target {
        name: "native_decode_request",
        corpus: "plugin_decode_request",
        run: decode_request,
    },
    Target {
        name: "native_summarize",
        corpus: "plugin_summarize",
        run: summarize,
    },
    Target {
        name: "native_decode_response",
        corpus: "plugin_decode_response",
        run: decode_response,
    },
    Target {
        name: "native_decode_error",
        corpus: "plugin_decode_error",
        run: decode_error,
    },
    Target {
        name: "native_stream_decoder",
        corpus: "plugin_stream_decoder",
        run: stream_decoder,
    },
];

/// `main` of a fuzz binary built without libFuzzer: replay the named files.
pub fn replay(run: fn(&[u8])) {
    for arg in std::env::args_os().skip(1) {
        let path = std::path::PathBuf::from(arg);
        let files: Vec<std::path::PathBuf> = match std::fs::read_dir(&path) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => vec![path],
        };
        for f in files {
            if let Ok(data) = std::fs::read(&f) {
                eprintln!("running {}", f.display());
                run(&data);
            }
        }
    }
}
