//! What the HTTP providers share: the key, the endpoint, one streamed call with its retries.

mod address;
mod retry;
pub(crate) mod sse;

use std::fmt;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Response, StatusCode, Url};
use tokio_util::sync::CancellationToken;

pub(crate) use address::{endpoint_url, is_private_host, parse_base_url};
pub(crate) use retry::RetryPolicy;
use retry::{is_retryable_status, retry_after, should_retry_header};
use sse::{SseDecoder, SseEvent};

use crate::{ModelConfig, ModelError, ModelResponse, StreamEvent, StreamObserver};

/// Largest single SSE line or event accepted.
const MAX_EVENT_BYTES: usize = 4 << 20;
/// Largest streamed reply accepted; a reply bounded by `max_output_tokens` is far smaller.
const MAX_STREAM_BYTES: usize = 64 << 20;
/// Largest error body read; the message is in the first few hundred bytes.
const MAX_ERROR_BODY_BYTES: usize = 64 << 10;
/// Longest provider message kept in an error.
const MAX_MESSAGE_CHARS: usize = 500;

/// A key read from the environment. Its `Debug` never shows it, and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ApiKey(String);

impl ApiKey {
    /// Wraps a key, trimming the whitespace a `$(cat keyfile)` leaves; `None` when empty.
    pub fn new(raw: &str) -> Option<Self> {
        let key = raw.trim();
        (!key.is_empty()).then(|| Self(key.to_owned()))
    }

    /// A header value carrying the key, marked sensitive so that no HTTP layer logs it.
    pub fn header(&self, prefix: &str, variable: &str) -> Result<HeaderValue, ModelError> {
        let mut value = HeaderValue::from_str(&format!("{prefix}{}", self.0)).map_err(|_| {
            ModelError::Config {
                message: format!(
                    "{variable} holds characters that cannot be sent in an HTTP header"
                ),
            }
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Removes the key, and anything shaped like a vendor key, from text a provider sent back.
pub(crate) fn scrub(text: &str, key: Option<&ApiKey>) -> String {
    let mut text = match key {
        Some(key) if key.0.len() >= 4 => text.replace(&key.0, "[REDACTED]"),
        _ => text.to_owned(),
    };
    let mut from = 0;
    while let Some(found) = text[from..].find("sk-") {
        let start = from + found + 3;
        let len = text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-_*".contains(c)))
            .unwrap_or(text.len() - start);
        let at_word_start = text[..start - 3]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        if len >= 8 && at_word_start {
            text.replace_range(start..start + len, "[REDACTED]");
        }
        from = start;
    }
    text
}

/// How an endpoint is reached.
pub(crate) struct EndpointSettings<'a> {
    /// Provider name, for errors and logs.
    pub provider: &'static str,
    /// The URL requests are posted to.
    pub url: Url,
    /// Headers sent with every request, the key's included.
    pub headers: HeaderMap,
    /// The key, so that errors can be scrubbed of it.
    pub key: Option<ApiKey>,
    /// Retries and timeouts.
    pub config: &'a ModelConfig,
}

/// A provider's streaming endpoint, with its retry policy.
pub(crate) struct Endpoint {
    provider: &'static str,
    url: Url,
    display_url: String,
    http: reqwest::Client,
    headers: HeaderMap,
    key: Option<ApiKey>,
    retry: RetryPolicy,
    request_timeout: Duration,
    idle_timeout: Duration,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("provider", &self.provider)
            .field("url", &self.display_url)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("retry", &self.retry)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

/// Whether a provider's stream has more to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Keep reading.
    More,
    /// The reply is complete; stop reading.
    Done,
}

/// Turns one provider's events into a [`ModelResponse`]; a fresh one serves each attempt.
pub(crate) trait StreamDecoder: Send {
    /// Takes the next event.
    fn event(
        &mut self,
        event: SseEvent,
        observer: StreamObserver<'_>,
    ) -> Result<Progress, AttemptError>;

    /// The stream is over (completed, or ended by the server): the reply, or why there is none.
    fn finish(self) -> Result<ModelResponse, AttemptError>;
}

/// A failed attempt: worth another try, or final.
#[derive(Debug)]
pub(crate) enum AttemptError {
    /// Transient: retry after a delay.
    Retry(Transient),
    /// Retrying would not help.
    Fatal(ModelError),
}

/// A transient failure.
#[derive(Debug)]
pub(crate) struct Transient {
    /// The HTTP status (or the status the provider's in-stream error stands for); `None` for
    /// connection failures, timeouts and broken streams.
    pub status: Option<u16>,
    /// What happened, scrubbed.
    pub message: String,
    /// How long the provider asked us to wait.
    pub retry_after: Option<Duration>,
}

impl AttemptError {
    /// A connection-level failure.
    pub fn network(message: impl Into<String>) -> Self {
        AttemptError::Retry(Transient {
            status: None,
            message: message.into(),
            retry_after: None,
        })
    }

    /// The provider broke its own protocol.
    pub fn protocol(provider: &str, message: impl Into<String>) -> Self {
        AttemptError::Fatal(ModelError::Protocol {
            provider: provider.to_owned(),
            message: message.into(),
        })
    }
}

/// Classifies an error status: 401/403 are authentication failures, retryable statuses are
/// transient unless the provider says otherwise, anything else is final.
pub(crate) fn status_failure(
    provider: &str,
    status: u16,
    message: String,
    retry_after: Option<Duration>,
    should_retry: Option<bool>,
) -> AttemptError {
    if status == 401 || status == 403 {
        return AttemptError::Fatal(ModelError::Auth {
            provider: provider.to_owned(),
            message,
        });
    }
    let retryable = StatusCode::from_u16(status).is_ok_and(is_retryable_status);
    if should_retry.unwrap_or(retryable) {
        AttemptError::Retry(Transient {
            status: Some(status),
            message,
            retry_after,
        })
    } else {
        AttemptError::Fatal(ModelError::Http {
            provider: provider.to_owned(),
            status,
            message,
        })
    }
}

/// The human part of a provider's error body (`{"error":{"message":..}}`, `{"error":".."}`,
/// `{"message":..}` or plain text), shortened and stripped of control characters.
pub(crate) fn error_message(body: &[u8]) -> String {
    let json = serde_json::from_slice::<serde_json::Value>(body).ok();
    let found = json.as_ref().and_then(|json| {
        json.pointer("/error/message")
            .or_else(|| json.get("error"))
            .or_else(|| json.get("message"))
            .or_else(|| json.get("detail"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    });
    let text = found.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let mut clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if let Some((cut, _)) = clean.char_indices().nth(MAX_MESSAGE_CHARS) {
        clean.truncate(cut);
        clean.push('…');
    }
    if clean.is_empty() {
        clean = "(empty response body)".into();
    }
    clean
}

impl Endpoint {
    /// Builds the HTTP client for an endpoint.
    pub fn new(settings: EndpointSettings<'_>) -> Result<Self, ModelError> {
        let config = settings.config;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(config.connect_timeout_secs))
            .user_agent(concat!("drydock/", env!("CARGO_PKG_VERSION")));
        if is_private_host(&settings.url) {
            // A local server is reached directly, never through the machine's HTTP proxy.
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|error| ModelError::Config {
            message: format!("cannot build the HTTP client: {error}"),
        })?;
        let mut headers = settings.headers;
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        Ok(Self {
            provider: settings.provider,
            display_url: address::display(&settings.url),
            url: settings.url,
            http,
            headers,
            key: settings.key,
            retry: config.retry_policy(),
            request_timeout: Duration::from_secs(config.request_timeout_secs),
            idle_timeout: Duration::from_secs(config.stream_idle_timeout_secs),
        })
    }

    /// Posts `body` and streams the reply through a fresh decoder per attempt, retrying transient
    /// failures (a stream that breaks mid-way is retried from scratch) until the policy gives up.
    pub async fn stream<D, F>(
        &self,
        body: &serde_json::Value,
        new_decoder: F,
        observer: StreamObserver<'_>,
        cancel: &CancellationToken,
    ) -> Result<ModelResponse, ModelError>
    where
        D: StreamDecoder,
        F: Fn() -> D + Send + Sync,
    {
        let body = Bytes::from(
            serde_json::to_vec(body).map_err(|error| ModelError::Protocol {
                provider: self.provider.to_owned(),
                message: format!("cannot encode the request: {error}"),
            })?,
        );
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            if cancel.is_cancelled() {
                return Err(ModelError::Cancelled);
            }
            let outcome = tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(ModelError::Cancelled),
                outcome = self.attempt(body.clone(), new_decoder(), observer) => outcome,
            };
            let transient = match outcome.map_err(|error| self.scrubbed(error)) {
                Ok(response) => return Ok(response),
                Err(AttemptError::Fatal(error)) => return Err(error),
                Err(AttemptError::Retry(transient)) => transient,
            };
            let delay = match transient.retry_after {
                _ if attempt > self.retry.max_retries => {
                    return Err(self.exhausted(transient, attempt));
                }
                Some(wait) if wait > self.retry.max_retry_after => {
                    return Err(self.exhausted(transient, attempt));
                }
                Some(wait) => wait,
                None => self.retry.backoff(attempt),
            };
            tracing::warn!(
                provider = self.provider,
                attempt,
                delay_ms = delay.as_millis() as u64,
                reason = %transient.message,
                "model call failed; retrying"
            );
            observer(StreamEvent::Retrying {
                attempt,
                delay,
                reason: transient.message,
            });
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(ModelError::Cancelled),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// The error with the key (and key-shaped text) removed from every message it carries,
    /// whichever layer wrote it.
    fn scrubbed(&self, error: AttemptError) -> AttemptError {
        let key = self.key.as_ref();
        match error {
            AttemptError::Retry(mut transient) => {
                transient.message = scrub(&transient.message, key);
                AttemptError::Retry(transient)
            }
            AttemptError::Fatal(ModelError::Auth { provider, message }) => {
                AttemptError::Fatal(ModelError::Auth {
                    provider,
                    message: scrub(&message, key),
                })
            }
            AttemptError::Fatal(ModelError::Http {
                provider,
                status,
                message,
            }) => AttemptError::Fatal(ModelError::Http {
                provider,
                status,
                message: scrub(&message, key),
            }),
            AttemptError::Fatal(ModelError::Protocol { provider, message }) => {
                AttemptError::Fatal(ModelError::Protocol {
                    provider,
                    message: scrub(&message, key),
                })
            }
            fatal @ AttemptError::Fatal(_) => fatal,
        }
    }

    fn exhausted(&self, transient: Transient, attempts: u32) -> ModelError {
        let provider = self.provider.to_owned();
        match transient.status {
            Some(429 | 529) => ModelError::RateLimited {
                provider,
                attempts,
                retry_after: transient.retry_after,
            },
            Some(status) => ModelError::Http {
                provider,
                status,
                message: match transient.retry_after {
                    Some(wait) => format!(
                        "{} (asked to retry after {}s)",
                        transient.message,
                        wait.as_secs()
                    ),
                    None => transient.message,
                },
            },
            None => ModelError::Network {
                provider,
                url: self.display_url.clone(),
                message: format!("{} (after {attempts} attempts)", transient.message),
            },
        }
    }

    async fn attempt<D: StreamDecoder>(
        &self,
        body: Bytes,
        mut decoder: D,
        observer: StreamObserver<'_>,
    ) -> Result<ModelResponse, AttemptError> {
        // Bounded until the reply starts; from then on only silence ends it, so that a long
        // generation that keeps streaming is never cut off and paid for twice.
        let sent = self
            .http
            .post(self.url.clone())
            .headers(self.headers.clone())
            .body(body)
            .send();
        let response = tokio::time::timeout(self.request_timeout, sent)
            .await
            .map_err(|_| {
                AttemptError::network(format!(
                    "no answer within {}s (request_timeout_secs)",
                    self.request_timeout.as_secs()
                ))
            })?
            .map_err(|error| self.transport_error("cannot send the request", error))?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.status_error(response).await);
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !content_type.contains("event-stream") {
            let body = self.read_limited(response).await?;
            return Err(AttemptError::protocol(
                self.provider,
                format!(
                    "expected a text/event-stream reply, got {:?}: {}",
                    content_type,
                    scrub(&error_message(&body), self.key.as_ref())
                ),
            ));
        }
        let mut stream = response.bytes_stream();
        let mut sse = SseDecoder::new(MAX_EVENT_BYTES);
        let mut received = 0usize;
        loop {
            let chunk = tokio::time::timeout(self.idle_timeout, stream.next())
                .await
                .map_err(|_| {
                    AttemptError::network(format!(
                        "the stream went silent for {}s (stream_idle_timeout_secs)",
                        self.idle_timeout.as_secs()
                    ))
                })?;
            let events = match chunk {
                None => {
                    if let Some(event) = sse.finish() {
                        decoder.event(event, observer)?;
                    }
                    return decoder.finish();
                }
                Some(Err(error)) => {
                    return Err(self.transport_error("the stream broke", error));
                }
                Some(Ok(bytes)) => {
                    received += bytes.len();
                    if received > MAX_STREAM_BYTES {
                        return Err(AttemptError::protocol(
                            self.provider,
                            format!("the reply exceeds {MAX_STREAM_BYTES} bytes"),
                        ));
                    }
                    sse.push(&bytes)
                        .map_err(|error| AttemptError::protocol(self.provider, error.to_string()))?
                }
            };
            for event in events {
                if decoder.event(event, observer)? == Progress::Done {
                    return decoder.finish();
                }
            }
        }
    }

    async fn status_error(&self, response: Response) -> AttemptError {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match self.read_limited(response).await {
            Ok(body) => body,
            Err(error) => return error,
        };
        let message = scrub(&error_message(&body), self.key.as_ref());
        status_failure(
            self.provider,
            status,
            message,
            retry_after(&headers, SystemTime::now()),
            should_retry_header(&headers),
        )
    }

    async fn read_limited(&self, response: Response) -> Result<Vec<u8>, AttemptError> {
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while body.len() < MAX_ERROR_BODY_BYTES {
            match tokio::time::timeout(self.idle_timeout, stream.next()).await {
                Ok(Some(Ok(bytes))) => body.extend_from_slice(&bytes),
                Ok(None) => break,
                Ok(Some(Err(error))) => {
                    return Err(self.transport_error("the error body broke off", error));
                }
                Err(_) => return Err(AttemptError::network("the error body went silent")),
            }
        }
        body.truncate(MAX_ERROR_BODY_BYTES);
        Ok(body)
    }

    fn transport_error(&self, what: &str, error: reqwest::Error) -> AttemptError {
        let kind = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "connection failed"
        } else {
            "transport error"
        };
        // The URL is reported separately and without credentials; the error's own copy goes.
        let error = error.without_url();
        let mut detail = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            detail.push_str(": ");
            detail.push_str(&cause.to_string());
            source = cause.source();
        }
        AttemptError::network(format!(
            "{what} ({kind}): {}",
            scrub(&detail, self.key.as_ref())
        ))
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
