//! The `http` stage: one HTTP request per record, with a concurrency limit
//! (fixed or adaptive), timeouts, and retries that respect `Retry-After`
//! and a retry budget.
//!
//! ```toml
//! [[stage]]
//! type = "http"
//! name = "fetch"
//! url = "http://127.0.0.1:8080/items/{id}"   # {field} filled from the record
//! method = "GET"                              # default
//! concurrency = "adaptive"                    # or a number (default 16)
//! max_concurrency = 256
//! timeout = "5s"
//! retries = { max_attempts = 4, backoff = "100ms", max_backoff = "10s" }
//! ```
//!
//! It takes the HTTP client's options (`connect_timeout`, `timeout`,
//! `retries`, `retry_budget`, `tls`; see [`crate::http_client`]).
//!
//! # Templates
//! In `url` and `body`, `{field}` (or `{a.b}` for a nested field) is
//! replaced by the record's field: a string as its text, any other value as
//! JSON; in the URL, percent-encoded. Any other `{` is literal, so a JSON
//! body needs no escaping: in `{"id": {id}}` only `{id}` is a placeholder.
//! A record without the field is dead-lettered.
//!
//! # Output
//! Each record becomes `{"status": 200, "body": ..., "input": ...}`: the
//! final status, the response body (parsed as JSON if it is JSON, else as a
//! string) and the input record.
//!
//! # Failures and outages
//! The retries happen inside the stage (so they can honour `Retry-After`):
//! do not also give the stage an engine retry policy. See
//! [`crate::http_client`] for the rules. In short: a record whose request
//! fails for good is dead-lettered with the reason, e.g. `HTTP 500 Internal
//! Server Error after 3 attempts` or `HTTP 404 Not Found after 1 attempt
//! (not retryable)`. But `429`, `503`, a refused connection and a
//! connection closed before any response are about the service, not the
//! record: the stage backs off, and when they keep coming it **pauses**
//! (one probe at a time, spaced by `Retry-After` or backoff), its records
//! wait, its input link fills, and the pipeline pushes back up to its
//! source. A record is dead-lettered for an outage only once it lasted
//! `max_outage` (if set): "service unavailable for longer than max_outage".
//! The `paused` gauge is 1 while it is paused.
//!
//! # Fixed concurrency
//! `concurrency = N` is a ceiling. Latency alone never lowers it: against a
//! service that never refuses work, `N` requests are in flight. A service
//! signal (429, 503, ...) halves the limit (at most once a round trip) and
//! shows that `N` is more than the service takes; from then on the limit
//! moves under `N` as the adaptive one does (see below), so it settles
//! where the service keeps up rather than at the level it refused at.

//! # Adaptive concurrency
//! With `concurrency = "adaptive"` the engine runs up to `max_concurrency`
//! records at once and each attempt waits for a permit of a
//! [`weir_core::limit::AdaptiveConcurrency`] (`algorithm = "aimd"` or
//! `"gradient"`), which backs off on 429, 503 and timeouts and grows while
//! latency stays low. [`build_with_limit`] returns the limiter handle, to
//! read its limit; the final limit is also logged (`tracing`, info) when the
//! stage is dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use weir::stage::{AttemptsError, Stage};
use weir::BoxError;
use weir_core::limit::{AdaptiveConcurrency, AdaptiveConfig, Aimd, Algorithm, WatchLatency};

use crate::config::{ConfigError, SourceFile, TablePart};
use crate::connector::StageConnector;
use crate::http_client::{Answer, CallError, CallOptions, Caller, ClientError, HttpMethod};
use crate::record::Payload;
use crate::stages::StageOptions;
use crate::template::{Escape, MissingField, Template};

/// The `[[stage]]` table of `type = "http"` (without `type` and `name`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpStageConfig {
    /// URL template; `{field}` is replaced by the record's field,
    /// percent-encoded (see the module doc).
    url: String,
    /// GET (default), POST, PUT, PATCH, DELETE or HEAD.
    #[serde(default)]
    method: HttpMethod,
    /// The request body: `"record"` sends the record as JSON; any other text
    /// is a template (`{field}` inserted as is). None by default.
    body: Option<String>,
    /// Requests at once: a number, or `"adaptive"`. 16 by default.
    #[serde(default)]
    concurrency: Concurrency,
    /// Adaptive only: the lowest limit (default 1).
    min_concurrency: Option<usize>,
    /// Adaptive only: the highest limit (default 256).
    max_concurrency: Option<usize>,
    /// Adaptive only: `aimd` (default) or `gradient`.
    algorithm: Option<AlgorithmName>,
    /// The HTTP client's options, read from the same table.
    #[serde(skip)]
    call: CallOptions,
}

/// `concurrency`: a fixed number, or `"adaptive"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "ConcurrencyText")]
enum Concurrency {
    /// At most this many requests at once.
    Fixed(usize),
    /// Found by an [`AdaptiveConcurrency`].
    Adaptive,
}

impl Default for Concurrency {
    fn default() -> Self {
        Concurrency::Fixed(16)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ConcurrencyText {
    Number(usize),
    Word(String),
}

impl TryFrom<ConcurrencyText> for Concurrency {
    type Error = String;

    fn try_from(text: ConcurrencyText) -> Result<Self, String> {
        match text {
            ConcurrencyText::Number(0) => Err("concurrency must be at least 1".into()),
            ConcurrencyText::Number(n) => Ok(Concurrency::Fixed(n)),
            ConcurrencyText::Word(word) if word == "adaptive" => Ok(Concurrency::Adaptive),
            ConcurrencyText::Word(word) => Err(format!(
                "concurrency must be a number or \"adaptive\", not {word:?}"
            )),
        }
    }
}

/// `algorithm` of an adaptive concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum AlgorithmName {
    /// Additive increase, multiplicative decrease.
    Aimd,
    /// Latency gradient.
    Gradient,
}

/// What the stage sends for a record.
struct RequestTemplate {
    method: Method,
    url: Template,
    body: Option<BodyTemplate>,
}

enum BodyTemplate {
    Record,
    Text(Template),
}

/// The stage's state, shared by its concurrent calls.
struct HttpStage {
    name: String,
    request: RequestTemplate,
    caller: Caller,
    /// Retries made inside calls, counted in the stage's `retries`.
    retries: AtomicU64,
}

impl HttpStageConfig {
    /// The engine's concurrency, and the limit under it.
    fn limits(&self) -> Result<(usize, Option<AdaptiveConcurrency>), String> {
        let adaptive_only = self.min_concurrency.is_some()
            || self.max_concurrency.is_some()
            || self.algorithm.is_some();
        match self.concurrency {
            Concurrency::Fixed(_) if adaptive_only => Err(
                "min_concurrency, max_concurrency and algorithm need concurrency = \"adaptive\""
                    .into(),
            ),
            Concurrency::Fixed(n) => {
                // A fixed limit is a ceiling. Until the service signals
                // overload it stays at `n`, whatever the latency. A signal
                // halves it (at most once a round trip) and shows that `n`
                // is more than the service takes: from then on it moves as
                // an adaptive limit under `n`, so it settles where the
                // service keeps up instead of sawing between half and all
                // of the level it refused at (0.63x the oracle on the
                // bench's overload suite, where latency at the refusal
                // level is 4x the base).
                let config = AdaptiveConfig {
                    algorithm: Algorithm::Aimd(Aimd {
                        backoff: 0.5,
                        watch_latency: WatchLatency::AfterOverload,
                        ..Aimd::default()
                    }),
                    initial_limit: n,
                    min_limit: 1,
                    max_limit: n,
                };
                let limit = AdaptiveConcurrency::new(config)
                    .map_err(|error| format!("concurrency: {error}"))?;
                Ok((n, Some(limit)))
            }
            Concurrency::Adaptive => {
                let algorithm = match self.algorithm.unwrap_or(AlgorithmName::Aimd) {
                    AlgorithmName::Aimd => AdaptiveConfig::aimd().algorithm,
                    AlgorithmName::Gradient => AdaptiveConfig::gradient().algorithm,
                };
                let config = self.adaptive_config(algorithm);
                let limit = AdaptiveConcurrency::new(config)
                    .map_err(|error| format!("adaptive concurrency: {error}"))?;
                Ok((config.max_limit, Some(limit)))
            }
        }
    }

    fn adaptive_config(&self, algorithm: Algorithm) -> AdaptiveConfig {
        let defaults = AdaptiveConfig::new(algorithm);
        let min_limit = self.min_concurrency.unwrap_or(defaults.min_limit);
        let max_limit = self.max_concurrency.unwrap_or(256);
        AdaptiveConfig {
            min_limit,
            max_limit,
            initial_limit: defaults
                .initial_limit
                .clamp(min_limit, max_limit.max(min_limit)),
            algorithm,
        }
    }
}

impl StageConnector for HttpStageConfig {
    const TYPE: &'static str = "http";
    type Error = ClientError;

    /// Its own keys and the HTTP client's: `concurrency`, `timeout` and
    /// `retries` are the stage's own, not the engine's.
    fn parse(file: &SourceFile, part: &mut TablePart) -> Result<Self, ConfigError> {
        CallOptions::take_with(file, part, |config: &mut Self| &mut config.call)
    }

    fn check(&self, _options: &StageOptions) -> Result<(), String> {
        self.call.check(&self.url)?;
        self.limits().map(drop)
    }

    fn build(&self, name: &str) -> Result<Stage<Payload, Payload>, ClientError> {
        build_with_limit(self, name).map(|(stage, _)| stage)
    }
}

/// Builds the stage `name` from its config, also returning the adaptive
/// limiter (if the concurrency is adaptive), to read its limit and stats
/// while the stage runs.
///
/// # Errors
/// The client could not be set up (a TLS file is unreadable, ...).
pub(crate) fn build_with_limit(
    config: &HttpStageConfig,
    name: &str,
) -> Result<(Stage<Payload, Payload>, Option<AdaptiveConcurrency>), ClientError> {
    // The limits were checked when the config was read.
    let (concurrency, limit) = config.limits().unwrap_or((1, None));
    let body = config.body.as_deref().map(|body| match body {
        "record" => BodyTemplate::Record,
        text => BodyTemplate::Text(Template::parse(text)),
    });
    let stage = Arc::new(HttpStage {
        name: name.to_owned(),
        request: RequestTemplate {
            method: config.method.into(),
            url: Template::parse(&config.url),
            body,
        },
        caller: Caller::new(&config.call, concurrency, limit.clone())?,
        retries: AtomicU64::new(0),
    });
    let running = stage.clone();
    let function = Stage::map_async(move |record: Payload| {
        let stage = running.clone();
        async move {
            stage
                .run(record)
                .await
                .map_err(HttpStageError::into_attempts)
        }
    });
    let (paused, status, retries) = (stage.clone(), stage.clone(), stage.clone());
    let function = function
        .gauge("paused", move || {
            f64::from(u8::from(paused.caller.pause_status().is_some()))
        })
        .status(move || status.caller.pause_status().map(|pause| pause.to_string()))
        .retries_inside(move || retries.retries.load(Ordering::Relaxed));
    let function = match &limit {
        Some(adaptive) => {
            let adaptive = adaptive.clone();
            function.gauge("concurrency_limit", move || adaptive.current_limit() as f64)
        }
        None => function,
    };
    Ok((function.concurrency(concurrency), limit))
}

/// Why a record failed in the stage.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpStageError {
    /// The URL or body template needs a field the record lacks.
    #[error(transparent)]
    Template(#[from] MissingField),
    /// The request failed for good.
    #[error(transparent)]
    Call(#[from] CallError),
}

impl HttpStageError {
    /// The engine's error, with the attempts the call made (so a dead
    /// letter's `attempts` agrees with its reason).
    fn into_attempts(self) -> BoxError {
        match self {
            HttpStageError::Call(error) => Box::new(AttemptsError {
                attempts: error.attempts,
                error: Box::new(HttpStageError::Call(error)),
            }),
            template => Box::new(template),
        }
    }
}

impl HttpStage {
    async fn run(&self, record: Payload) -> Result<Payload, HttpStageError> {
        let request = &self.request;
        let url = request.url.render(&record, Escape::Url)?;
        let body = match &request.body {
            None => None,
            Some(BodyTemplate::Record) => Some(("application/json", record.to_string())),
            Some(BodyTemplate::Text(template)) => Some((
                "text/plain; charset=utf-8",
                template.render(&record, Escape::None)?,
            )),
        };
        let Answer {
            status,
            body: bytes,
        } = self
            .caller
            .call(
                |client| {
                    let builder = client.request(request.method.clone(), &url);
                    match &body {
                        Some((content_type, body)) => builder
                            .header(reqwest::header::CONTENT_TYPE, *content_type)
                            .body(body.clone()),
                        None => builder,
                    }
                },
                || {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                },
            )
            .await?;
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok(Arc::new(json!({
            "status": status.as_u16(),
            "body": body,
            "input": Arc::unwrap_or_clone(record),
        })))
    }
}

impl Drop for HttpStage {
    fn drop(&mut self) {
        if let Some(limit) = self.caller.limit() {
            let stats = limit.stats();
            tracing::info!(
                stage = %self.name,
                limit = stats.limit,
                decreases = stats.decreases,
                overloaded = stats.overloaded,
                min_latency = ?stats.min_latency,
                "adaptive concurrency: final limit"
            );
        }
    }
}
