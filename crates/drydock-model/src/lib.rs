//! The model layer: a provider-neutral [`ModelClient`] and its providers.
//!
//! Providers: `anthropic` (Messages API), `openai` (Chat Completions, also any compatible server),
//! `scripted` (replays a recorded trajectory). Select one with [`build_client`] from a
//! `provider:model` string; keys come from the environment only.
//!
//! ```
//! use drydock_model::{Message, ModelClient, ModelConfig, ModelRequest, build_client};
//! use tokio_util::sync::CancellationToken;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("hello.json");
//! # std::fs::write(&path, r#"{"turns": [{"text": "Hello from the script."}]}"#)?;
//! let spec = format!("scripted:{}", path.display()); // or "anthropic:claude-sonnet-4-5"
//! let client = build_client(&spec, &ModelConfig::default(), &drydock_model::process_env)?;
//! let request = ModelRequest {
//!     system: "You are drydock.".into(),
//!     messages: vec![Message::user_text("Say hello")],
//!     tools: vec![],
//!     max_output_tokens: 1024,
//! };
//! let reply = client
//!     .complete(&request, &|event| eprintln!("{event:?}"), &CancellationToken::new())
//!     .await?;
//! assert_eq!(reply.text(), "Hello from the script.");
//! # Ok(())
//! # }
//! ```

mod anthropic;
pub mod catalog;
mod client;
mod config;
mod error;
mod http;
mod message;
mod openai;
mod pricing;
pub mod scripted;
mod select;

pub use client::{ModelClient, ModelInfo, StreamEvent, StreamObserver, estimate_request_tokens};
pub use config::{MaxTokensField, ModelConfig};
pub use error::ModelError;
pub use message::{
    ContentBlock, Message, ModelRequest, ModelResponse, Role, StopReason, ToolInput, ToolSpec,
    ToolUse,
};
pub use pricing::Price;
pub use scripted::{ScriptedClient, Trajectory};
pub use select::{ModelSpec, Provider, build_client, process_env};
