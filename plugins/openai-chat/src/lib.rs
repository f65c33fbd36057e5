//! The OpenAI Chat Completions dialect (`/v1/chat/completions`), shared by the
//! `openai`, `openai-compatible` and `azure-openai` provider plugins.
//!
//! Every path of the `provider` world lives here, parameterized by a [`Flavor`]
//! (fixed per plugin: what the front door answers, which routes carry the model) and
//! by [`options::Quirks`] (per target: what an upstream server accepts):
//!
//! - [`passthrough`]: summarize a client request, apply the host's edits as byte
//!   splices, summarize an upstream response.
//! - [`translate`]: client request ↔ canonical ↔ upstream request, upstream response
//!   ↔ canonical ↔ client response.
//! - [`stream`]: `chat.completion.chunk` SSE decoder and encoder.
//! - [`wire`]: usage, stop reasons, errors, the models list, `extra` bookkeeping.
//!
//! The provider crates only describe themselves and delegate here; the logic is tested
//! natively (`cargo test --target x86_64-unknown-linux-gnu -p openai-chat`).

pub mod options;
pub mod passthrough;
pub mod stream;
pub mod translate;
pub mod wire;

/// Which member of the Chat Completions family a plugin is. The flavor decides the
/// front-door behaviour and the default [`options::Quirks`] of its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// api.openai.com: `developer` role, `max_completion_tokens`, thinking is not
    /// shown to clients (Chat Completions has no field for it).
    OpenAi,
    /// vLLM, Ollama, OpenRouter, Groq, Together, Mistral, LM Studio, llama.cpp, …:
    /// `max_tokens`, no `developer` role by default, and thinking shown to clients as
    /// `reasoning_content` (the vLLM / DeepSeek convention).
    Compatible,
    /// Azure OpenAI: the deployment in the path (`model` may be absent from bodies),
    /// `api-version` query, otherwise like [`Flavor::OpenAi`].
    Azure,
}

impl Flavor {
    /// The plugin id, for messages.
    pub fn id(self) -> &'static str {
        match self {
            Flavor::OpenAi => "openai",
            Flavor::Compatible => "openai-compatible",
            Flavor::Azure => "azure-openai",
        }
    }

    /// Client answers carry thinking text as `reasoning_content` (message field and
    /// stream delta). Otherwise thinking is dropped from client answers: it never goes
    /// into `content`.
    pub fn reasoning_out(self) -> bool {
        self == Flavor::Compatible
    }

    /// Client bodies may omit `model` (Azure deployment routes name it in the path).
    pub fn model_in_path(self) -> bool {
        self == Flavor::Azure
    }
}

/// A type-level [`Flavor`], so the stream resources (constructed by the host without
/// arguments naming the plugin) know which flavor they serve.
pub trait Flavored: 'static {
    /// The flavor.
    const FLAVOR: Flavor;
}

/// Marker for [`Flavor::OpenAi`].
pub struct OpenAiFlavor;
impl Flavored for OpenAiFlavor {
    const FLAVOR: Flavor = Flavor::OpenAi;
}

/// Marker for [`Flavor::Compatible`].
pub struct CompatibleFlavor;
impl Flavored for CompatibleFlavor {
    const FLAVOR: Flavor = Flavor::Compatible;
}

/// Marker for [`Flavor::Azure`].
pub struct AzureFlavor;
impl Flavored for AzureFlavor {
    const FLAVOR: Flavor = Flavor::Azure;
}
