//! The model layer: a provider-neutral [`ModelClient`] and its providers.
//!
//! Providers: `anthropic` (Messages API), `openai` (Chat Completions, also any compatible server),
//! `scripted` (replays a recorded trajectory). Select one with [`build_client`] from a
//! `provider:model` string.

mod client;
mod error;
mod message;
mod pricing;

pub use client::{ModelClient, ModelInfo, StreamEvent, StreamObserver, estimate_request_tokens};
pub use error::ModelError;
pub use message::{
    ContentBlock, Message, ModelRequest, ModelResponse, Role, StopReason, ToolInput, ToolSpec,
    ToolUse,
};
pub use pricing::Price;
