//! Anthropic's Messages API: streamed, with tools and prompt caching.

mod stream;
mod wire;

use async_trait::async_trait;
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderValue};
use tokio_util::sync::CancellationToken;

use crate::http::{ApiKey, Endpoint, EndpointSettings, endpoint_url};
use crate::{
    ModelClient, ModelConfig, ModelError, ModelInfo, ModelRequest, ModelResponse, StreamObserver,
};
use stream::AnthropicStream;
use wire::{BodyOptions, request_body};

/// The public API's address.
pub(crate) const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The API version drydock speaks.
const API_VERSION: &str = "2023-06-01";

/// A client of the Messages API. Its `Debug` shows where it points, never the key.
#[derive(Debug)]
pub(crate) struct AnthropicClient {
    info: ModelInfo,
    endpoint: Endpoint,
    caching: bool,
    temperature: Option<f64>,
}

impl AnthropicClient {
    /// A client for `info.model` at `base` (`https://api.anthropic.com`, or a compatible server;
    /// a base ending in `/v1` is accepted too).
    pub fn new(
        info: ModelInfo,
        base: &Url,
        key: Option<(ApiKey, &str)>,
        config: &ModelConfig,
    ) -> Result<Self, ModelError> {
        let suffix = if base.path().trim_end_matches('/').ends_with("/v1") {
            "/messages"
        } else {
            "/v1/messages"
        };
        let mut headers = HeaderMap::new();
        headers.insert("anthropic-version", HeaderValue::from_static(API_VERSION));
        let key = match key {
            Some((key, variable)) => {
                headers.insert("x-api-key", key.header("", variable)?);
                Some(key)
            }
            None => None,
        };
        let endpoint = Endpoint::new(EndpointSettings {
            provider: "anthropic",
            url: endpoint_url(base, suffix),
            headers,
            key,
            config,
        })?;
        Ok(Self {
            info,
            endpoint,
            caching: config.prompt_caching,
            temperature: config.temperature,
        })
    }
}

#[async_trait]
impl ModelClient for AnthropicClient {
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
                caching: self.caching,
                temperature: self.temperature,
            },
        );
        let model = self.info.model.as_str();
        self.endpoint
            .stream(&body, || AnthropicStream::new(model), observer, cancel)
            .await
    }
}

#[cfg(test)]
#[path = "anthropic_tests.rs"]
mod tests;
