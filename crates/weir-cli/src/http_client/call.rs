//! One HTTP call with retries, shared by the HTTP stage and the HTTP sink.
//!
//! Each attempt runs under the adaptive limit, if there is one, and reports
//! how it went: a 2xx/3xx as a success with its latency; a 429, a 503 or a
//! timeout as an overload; anything else as a failure that says nothing
//! about load (a reset or a 500 can be fast, and would fake a low latency
//! baseline).
//!
//! Retried: 429 and 503 after the server's `Retry-After` (seconds or an
//! HTTP date) plus up to `retries.backoff` of jitter, or with backoff if it gave
//! none; other 5xx, timeouts and connection errors with exponential backoff
//! and full jitter. Not retried: other statuses (4xx). Every retry must also
//! fit the [`RetryBudget`]. Nothing is retried while holding a permit.

use std::error::Error as _;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Client, RequestBuilder, StatusCode};
use weir_core::limit::{AdaptiveConcurrency, Outcome};

use super::budget::RetryBudget;
use super::tls::ClientError;
use super::CallOptions;

/// Makes calls with one client, one retry budget and, optionally, an
/// adaptive limit.
#[derive(Debug)]
pub(crate) struct Caller {
    client: Client,
    options: CallOptions,
    budget: RetryBudget,
    limit: Option<AdaptiveConcurrency>,
}

/// A 2xx or 3xx answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

/// Why one attempt failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AttemptFailure {
    /// The server answered with a status other than 2xx/3xx.
    #[error("HTTP {status}{}", retry_after.map(|d| format!(" (Retry-After {d:?})")).unwrap_or_default())]
    Status {
        /// The status (its display includes the reason phrase).
        status: StatusCode,
        /// The server's `Retry-After`, if it gave one.
        retry_after: Option<Duration>,
    },
    /// No answer within the timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The connection could not be made.
    #[error("connect failed: {0}")]
    Connect(String),
    /// The connection broke (e.g. closed without a response).
    #[error("request failed: {0}")]
    Transport(String),
}

/// Why the caller stopped retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GaveUp {
    /// The failure is not worth retrying (a 4xx other than 429).
    NotRetryable,
    /// Every attempt was used.
    OutOfAttempts,
    /// The retry budget was spent (the service is failing broadly).
    OutOfBudget,
    /// The server's `Retry-After` is longer than `retries.max_backoff`.
    RetryAfterTooLong,
}

/// A call that failed for good.
#[derive(Debug, thiserror::Error)]
#[error("{last} after {attempts} attempt{}{}", if *attempts == 1 { "" } else { "s" }, match gave_up {
    GaveUp::NotRetryable => " (not retryable)",
    GaveUp::OutOfAttempts => "",
    GaveUp::OutOfBudget => " (retry budget exhausted)",
    GaveUp::RetryAfterTooLong => " (Retry-After longer than retries.max_backoff)",
})]
pub(crate) struct CallError {
    /// The last attempt's failure.
    pub(crate) last: AttemptFailure,
    /// Attempts made.
    pub(crate) attempts: u32,
    /// Why there was no further attempt.
    pub(crate) gave_up: GaveUp,
}

impl Caller {
    /// A caller making calls as `options` say, keeping up to `pool` idle
    /// connections per host (the connector's concurrency), each attempt
    /// under a permit of `limit` if there is one.
    pub(crate) fn new(
        options: &CallOptions,
        pool: usize,
        limit: Option<AdaptiveConcurrency>,
    ) -> Result<Self, ClientError> {
        let builder = Client::builder()
            .connect_timeout(options.connect_timeout.0)
            .timeout(options.timeout.0)
            .pool_max_idle_per_host(pool)
            .tcp_nodelay(true);
        let client = options
            .tls
            .apply(builder)?
            .build()
            .map_err(ClientError::Build)?;
        Ok(Caller {
            client,
            options: options.clone(),
            budget: RetryBudget::new(options.retry_budget),
            limit,
        })
    }

    pub(crate) fn limit(&self) -> Option<&AdaptiveConcurrency> {
        self.limit.as_ref()
    }

    /// Sends the request `request` builds, retrying as the module doc says.
    pub(crate) async fn call(
        &self,
        request: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Answer, CallError> {
        self.budget.deposit(Instant::now());
        let mut attempts = 0;
        loop {
            attempts += 1;
            let last = match self.attempt(request(&self.client)).await {
                Ok(answer) => return Ok(answer),
                Err(failure) => failure,
            };
            match self.delay(attempts, &last) {
                Ok(delay) => tokio::time::sleep(delay).await,
                Err(gave_up) => {
                    return Err(CallError {
                        last,
                        attempts,
                        gave_up,
                    })
                }
            }
        }
    }

    /// One attempt, under a permit of the adaptive limit if there is one.
    async fn attempt(&self, request: RequestBuilder) -> Result<Answer, AttemptFailure> {
        let permit = match &self.limit {
            Some(limit) => Some(limit.acquire().await),
            None => None,
        };
        let result = self.send(request).await;
        if let Some(permit) = permit {
            match &result {
                Ok(_) => permit.success(),
                Err(failure) if failure.overloaded() => permit.record(Outcome::Overloaded),
                Err(_) => permit.record(Outcome::Failed),
            }
        }
        result
    }

    async fn send(&self, request: RequestBuilder) -> Result<Answer, AttemptFailure> {
        let transport = |error: reqwest::Error| self.transport_failure(error);
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        if !(status.is_success() || status.is_redirection()) {
            return Err(AttemptFailure::Status {
                status,
                retry_after: retry_after(response.headers()),
            });
        }
        let body = response.bytes().await.map_err(transport)?;
        Ok(Answer { status, body })
    }

    fn transport_failure(&self, error: reqwest::Error) -> AttemptFailure {
        if error.is_timeout() {
            return AttemptFailure::Timeout(self.options.timeout.0);
        }
        // reqwest's own message is generic; the cause is in the chain.
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        if error.is_connect() {
            AttemptFailure::Connect(message)
        } else {
            AttemptFailure::Transport(message)
        }
    }

    /// The wait before the attempt after `attempts` failed ones, or why
    /// there is none.
    fn delay(&self, attempts: u32, last: &AttemptFailure) -> Result<Duration, GaveUp> {
        let retries = &self.options.retries;
        if !last.retryable() {
            return Err(GaveUp::NotRetryable);
        }
        if attempts >= retries.max_attempts.get() {
            return Err(GaveUp::OutOfAttempts);
        }
        let mut rng = rand::rng();
        let delay = match last {
            AttemptFailure::Status {
                retry_after: Some(after),
                ..
            } => {
                if *after > retries.max_backoff {
                    return Err(GaveUp::RetryAfterTooLong);
                }
                *after + retries.backoff.mul_f64(rng.random())
            }
            _ => {
                let exponent = attempts.saturating_sub(1).min(30);
                let ceiling = retries
                    .backoff
                    .saturating_mul(1 << exponent)
                    .min(retries.max_backoff);
                ceiling.mul_f64(rng.random())
            }
        };
        if !self.budget.withdraw(Instant::now()) {
            return Err(GaveUp::OutOfBudget);
        }
        Ok(delay)
    }
}

impl AttemptFailure {
    /// Whether the service showed strain: 429, 503 or a timeout.
    fn overloaded(&self) -> bool {
        match self {
            AttemptFailure::Status { status, .. } => {
                matches!(
                    *status,
                    StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
                )
            }
            AttemptFailure::Timeout(_) => true,
            AttemptFailure::Connect(_) | AttemptFailure::Transport(_) => false,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            AttemptFailure::Status { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
            }
            _ => true,
        }
    }
}

/// The `Retry-After` header: delay-seconds or an HTTP date (a date in the
/// past is no wait).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn classifies_failures() {
        let status = |code: u16| AttemptFailure::Status {
            status: StatusCode::from_u16(code).unwrap(),
            retry_after: None,
        };
        for (failure, retryable, overloaded) in [
            (status(429), true, true),
            (status(503), true, true),
            (status(500), true, false),
            (status(404), false, false),
            (AttemptFailure::Timeout(Duration::from_secs(1)), true, true),
            (AttemptFailure::Transport("reset".into()), true, false),
        ] {
            assert_eq!(failure.retryable(), retryable, "{failure}");
            assert_eq!(failure.overloaded(), overloaded, "{failure}");
        }
        assert_eq!(status(404).to_string(), "HTTP 404 Not Found");
    }

    #[test]
    fn parses_retry_after_seconds_and_dates() {
        let header = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
            retry_after(&headers)
        };
        assert_eq!(header("3"), Some(Duration::from_secs(3)));
        let later = SystemTime::now() + Duration::from_secs(120);
        let wait = header(&httpdate::fmt_http_date(later)).unwrap();
        assert!(wait > Duration::from_secs(110) && wait <= Duration::from_secs(120));
        assert_eq!(
            header("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(header("soon"), None);
    }
}
