//! OpenAI's Chat Completions API, and every server that speaks it (vLLM, Ollama, llama.cpp).

mod stream;
mod wire;

use async_trait::async_trait;
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderMap};
use tokio_util::sync::CancellationToken;

use crate::http::{ApiKey, Endpoint, EndpointSettings, endpoint_url};
use crate::{
    MaxTokensField, ModelClient, ModelConfig, ModelError, ModelInfo, ModelRequest, ModelResponse,
    StreamObserver, estimate_request_tokens,
};
use stream::OpenAiStream;
use wire::{BodyOptions, request_body};

/// The public API's address.
pub(crate) const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// A Chat Completions client. Its `Debug` shows where it points, never the key.
#[derive(Debug)]
pub(crate) struct OpenAiClient {
    info: ModelInfo,
    endpoint: Endpoint,
    max_tokens_field: MaxTokensField,
    temperature: Option<f64>,
}

impl OpenAiClient {
    /// A client for `info.model` at `base`; without a key no `Authorization` header is sent.
    pub fn new(
        info: ModelInfo,
        base: &Url,
        key: Option<(ApiKey, &str)>,
        config: &ModelConfig,
    ) -> Result<Self, ModelError> {
        let mut headers = HeaderMap::new();
        let key = match key {
            Some((key, variable)) => {
                headers.insert(AUTHORIZATION, key.header("Bearer ", variable)?);
                Some(key)
            }
            None => None,
        };
        let official = base.host_str() == Some("api.openai.com");
        let max_tokens_field = config.openai_max_tokens_field.unwrap_or(if official {
            MaxTokensField::MaxCompletionTokens
        } else {
            MaxTokensField::MaxTokens
        });
        let endpoint = Endpoint::new(EndpointSettings {
            provider: "openai",
            url: endpoint_url(base, "/chat/completions"),
            headers,
            key,
            config,
        })?;
        Ok(Self {
            info,
            endpoint,
            max_tokens_field,
            temperature: config.temperature,
        })
    }
}

#[async_trait]
impl ModelClient for OpenAiClient {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    async fn complete(
        &self,
        request: &ModelRequest,
        observer: StreamObserver<'_>,
        cancel: &CancellationToken,
    ) -> Result<ModelResponse, ModelError> {
        let body = request_body(
            request,
            BodyOptions {
                model: &self.info.model,
                max_tokens_field: self.max_tokens_field,
                temperature: self.temperature,
            },
        );
        let model = self.info.model.as_str();
        let estimated_input = estimate_request_tokens(request);
        self.endpoint
            .stream(
                &body,
                || OpenAiStream::new(model, estimated_input),
                observer,
                cancel,
            )
            .await
    }
}

#[cfg(test)]
#[path = "openai_tests.rs"]
mod tests;
