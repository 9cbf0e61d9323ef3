//! One HTTP call with retries, shared by every HTTP connector.
//!
//! Each attempt waits at the caller's [`Outage`] gate (closed while the
//! service is down: see [`super::outage`]), then runs under the limit, if
//! there is one, and reports how it went: a 2xx/3xx as a success with its
//! latency; a service signal (429, 503, a refused connection, a connection
//! closed before any response) or a timeout as an overload; anything else as
//! a failure that says nothing about load (a 500 can be fast, and would
//! fake a low latency baseline).
//!
//! Service signals are about the service, not the record: the call waits
//! (the server's `Retry-After`, seconds or an HTTP date, plus up to
//! `retries.backoff` of jitter; else exponential backoff with full jitter)
//! and tries again, without end unless `max_outage` is set. They count as
//! attempts but not against `retries.max_attempts` nor the retry budget.
//!
//! Per-record failures (other 5xx, timeouts, other connection errors) are
//! retried with exponential backoff and full jitter, each retry within
//! `retries.max_attempts` and the [`RetryBudget`]. Not retried: other
//! statuses (4xx). Nothing is retried while holding a permit.

use std::error::Error as _;
use std::io;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Client, RequestBuilder, StatusCode, Url};
use weir_core::limit::{AdaptiveConcurrency, Outcome};

use super::budget::RetryBudget;
use super::outage::{Outage, Pass, PauseStatus};
use super::tls::ClientError;
use super::CallOptions;

/// Makes calls with one client, one retry budget, one outage gate and,
/// optionally, a concurrency limit.
#[derive(Debug)]
pub(crate) struct Caller {
    client: Client,
    options: CallOptions,
    budget: RetryBudget,
    outage: Outage,
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
        /// Who answered (`host:port`).
        from: String,
    },
    /// No answer within the timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The connection could not be made.
    #[error("connect failed: {message}")]
    Connect {
        /// What went wrong, the causes included.
        message: String,
        /// The server refused the connection (nothing listens there).
        refused: bool,
        /// Where to (`host:port`).
        from: String,
    },
    /// The connection broke.
    #[error("request failed: {message}")]
    Transport {
        /// What went wrong, the causes included.
        message: String,
        /// It broke before any response came.
        before_response: bool,
        /// Where to (`host:port`).
        from: String,
    },
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
    /// The service was unavailable for longer than `max_outage`.
    OutageTooLong,
}

/// A call that failed for good.
#[derive(Debug, thiserror::Error)]
pub(crate) struct CallError {
    /// The last attempt's failure, if an attempt was made.
    pub(crate) last: Option<AttemptFailure>,
    /// Attempts made.
    pub(crate) attempts: u32,
    /// Why there was no further attempt.
    pub(crate) gave_up: GaveUp,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let attempts = self.attempts;
        let plural = if attempts == 1 { "" } else { "s" };
        if self.gave_up == GaveUp::OutageTooLong {
            write!(
                f,
                "service unavailable for longer than max_outage ({attempts} attempt{plural}"
            )?;
            if let Some(last) = &self.last {
                write!(f, ", the last: {last}")?;
            }
            return f.write_str(")");
        }
        if let Some(last) = &self.last {
            write!(f, "{last} ")?;
        }
        write!(f, "after {attempts} attempt{plural}")?;
        match self.gave_up {
            GaveUp::NotRetryable => f.write_str(" (not retryable)"),
            GaveUp::OutOfBudget => f.write_str(" (retry budget exhausted)"),
            GaveUp::OutOfAttempts | GaveUp::OutageTooLong => Ok(()),
        }
    }
}

/// Lets another probe go if a probe's call is dropped before its answer.
struct ProbeGuard<'a> {
    outage: &'a Outage,
    armed: bool,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.outage.probe_abandoned();
        }
    }
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
            outage: Outage::default(),
            limit,
        })
    }

    pub(crate) fn limit(&self) -> Option<&AdaptiveConcurrency> {
        self.limit.as_ref()
    }

    /// The pause, while the service is down.
    pub(crate) fn pause_status(&self) -> Option<PauseStatus> {
        self.outage.status()
    }

    /// Sends the request `request` builds, retrying as the module doc says;
    /// `retried` is told of each retry.
    pub(crate) async fn call(
        &self,
        request: impl Fn(&Client) -> RequestBuilder,
        retried: impl Fn(),
    ) -> Result<Answer, CallError> {
        self.budget.deposit(Instant::now());
        let max_outage = self.options.max_outage.map(|max| max.0);
        let mut attempts = 0;
        let mut failures = 0;
        let mut signals = 0;
        let mut last = None;
        loop {
            let Ok(pass) = self.outage.gate(max_outage).await else {
                return Err(CallError {
                    last,
                    attempts,
                    gave_up: GaveUp::OutageTooLong,
                });
            };
            if attempts > 0 {
                retried();
            }
            attempts += 1;
            let mut probe = ProbeGuard {
                outage: &self.outage,
                armed: pass == Pass::Probe,
            };
            let result = self.attempt(request(&self.client), pass).await;
            probe.armed = false;
            let failure = match result {
                Ok(answer) => {
                    self.outage.answered();
                    return Ok(answer);
                }
                Err(failure) => failure,
            };
            let delay = if let Some(from) = failure.service_signal() {
                signals += 1;
                let retry_after = failure.retry_after();
                self.outage
                    .signal(format!("{} from {from}", failure.kind()), retry_after, pass);
                self.signal_delay(signals, retry_after)
            } else {
                self.outage.answered();
                failures += 1;
                match self.delay(failures, &failure) {
                    Ok(delay) => delay,
                    Err(gave_up) => {
                        return Err(CallError {
                            last: Some(failure),
                            attempts,
                            gave_up,
                        })
                    }
                }
            };
            last = Some(failure);
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt, under a permit of the limit if there is one.
    ///
    /// A probe that fails with a service signal teaches the limit nothing:
    /// the pause is the backing off, and a service that is down says
    /// nothing about how much it takes once up. Cutting the limit on every
    /// failed probe would leave it at its minimum when the service returns.
    async fn attempt(&self, request: RequestBuilder, pass: Pass) -> Result<Answer, AttemptFailure> {
        let permit = match &self.limit {
            Some(limit) => Some(limit.acquire().await),
            None => None,
        };
        let result = self.send(request).await;
        if let Some(permit) = permit {
            match &result {
                Ok(_) => permit.success(),
                Err(failure) if pass == Pass::Probe && failure.service_signal().is_some() => {
                    drop(permit);
                }
                Err(failure) if failure.overloaded() => permit.record(Outcome::Overloaded),
                Err(_) => permit.record(Outcome::Failed),
            }
        }
        result
    }

    async fn send(&self, request: RequestBuilder) -> Result<Answer, AttemptFailure> {
        let response = request
            .send()
            .await
            .map_err(|error| self.transport_failure(error, true))?;
        let status = response.status();
        if !(status.is_success() || status.is_redirection()) {
            return Err(AttemptFailure::Status {
                status,
                retry_after: retry_after(response.headers()),
                from: authority(response.url()),
            });
        }
        let body = response
            .bytes()
            .await
            .map_err(|error| self.transport_failure(error, false))?;
        Ok(Answer { status, body })
    }

    fn transport_failure(&self, error: reqwest::Error, before_response: bool) -> AttemptFailure {
        if error.is_timeout() {
            return AttemptFailure::Timeout(self.options.timeout.0);
        }
        // reqwest's own message is generic; the cause is in the chain.
        let mut message = error.to_string();
        let mut kinds = Vec::new();
        let mut incomplete = false;
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            if let Some(io) = cause.downcast_ref::<io::Error>() {
                kinds.push(io.kind());
            }
            if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
                incomplete |= hyper.is_incomplete_message();
            }
            source = cause.source();
        }
        let from = error.url().map(authority).unwrap_or_default();
        if error.is_connect() {
            AttemptFailure::Connect {
                message,
                refused: kinds.contains(&io::ErrorKind::ConnectionRefused),
                from,
            }
        } else {
            let reset = incomplete
                || kinds.iter().any(|kind| {
                    matches!(
                        kind,
                        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                    )
                });
            AttemptFailure::Transport {
                message,
                before_response: before_response && reset,
                from,
            }
        }
    }

    /// The wait after a service signal: its `Retry-After` plus jitter, else
    /// exponential backoff with full jitter (the `signals`-th in a row for
    /// this call).
    fn signal_delay(&self, signals: u32, retry_after: Option<Duration>) -> Duration {
        let retries = &self.options.retries;
        let mut rng = rand::rng();
        match retry_after {
            Some(after) => after + retries.backoff.mul_f64(rng.random()),
            None => {
                backoff_ceiling(retries.backoff, retries.max_backoff, signals).mul_f64(rng.random())
            }
        }
    }

    /// The wait before the attempt after `failures` failed ones (service
    /// signals not counted), or why there is none.
    fn delay(&self, failures: u32, last: &AttemptFailure) -> Result<Duration, GaveUp> {
        let retries = &self.options.retries;
        if !last.retryable() {
            return Err(GaveUp::NotRetryable);
        }
        if failures >= retries.max_attempts.get() {
            return Err(GaveUp::OutOfAttempts);
        }
        let ceiling = backoff_ceiling(retries.backoff, retries.max_backoff, failures);
        if !self.budget.withdraw(Instant::now()) {
            return Err(GaveUp::OutOfBudget);
        }
        Ok(ceiling.mul_f64(rand::rng().random()))
    }
}

/// `backoff` doubled per earlier try (`tries` made so far), at most `max`.
fn backoff_ceiling(backoff: Duration, max: Duration, tries: u32) -> Duration {
    let exponent = tries.saturating_sub(1).min(30);
    backoff.saturating_mul(1 << exponent).min(max)
}

/// `host:port` of `url`, to say where a failure came from.
fn authority(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => url.to_string(),
    }
}

impl AttemptFailure {
    /// Where a service signal came from (`host:port`), if this failure is
    /// one: a 429, a 503, a refused connection, or a connection closed
    /// before any response.
    pub(crate) fn service_signal(&self) -> Option<&str> {
        match self {
            AttemptFailure::Status { status, from, .. }
                if matches!(
                    *status,
                    StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
                ) =>
            {
                Some(from)
            }
            AttemptFailure::Connect {
                refused: true,
                from,
                ..
            } => Some(from),
            AttemptFailure::Transport {
                before_response: true,
                from,
                ..
            } => Some(from),
            _ => None,
        }
    }

    /// What happened, briefly: `HTTP 503 Service Unavailable`,
    /// `connection refused`, `connection closed`.
    fn kind(&self) -> String {
        match self {
            AttemptFailure::Status { status, .. } => format!("HTTP {status}"),
            AttemptFailure::Timeout(after) => format!("timed out after {after:?}"),
            AttemptFailure::Connect { refused: true, .. } => "connection refused".to_owned(),
            AttemptFailure::Connect { .. } => "connect failed".to_owned(),
            AttemptFailure::Transport { .. } => "connection closed".to_owned(),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            AttemptFailure::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the service showed strain: a service signal or a timeout.
    fn overloaded(&self) -> bool {
        self.service_signal().is_some() || matches!(self, AttemptFailure::Timeout(_))
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

    fn status(code: u16) -> AttemptFailure {
        AttemptFailure::Status {
            status: StatusCode::from_u16(code).unwrap(),
            retry_after: None,
            from: "127.0.0.1:1".into(),
        }
    }

    #[test]
    fn classifies_failures() {
        let transport = |before_response| AttemptFailure::Transport {
            message: "reset".into(),
            before_response,
            from: "127.0.0.1:1".into(),
        };
        let connect = |refused| AttemptFailure::Connect {
            message: "no".into(),
            refused,
            from: "127.0.0.1:1".into(),
        };
        for (failure, retryable, overloaded, signal) in [
            (status(429), true, true, true),
            (status(503), true, true, true),
            (status(500), true, false, false),
            (status(404), false, false, false),
            (
                AttemptFailure::Timeout(Duration::from_secs(1)),
                true,
                true,
                false,
            ),
            (transport(true), true, true, true),
            (transport(false), true, false, false),
            (connect(true), true, true, true),
            (connect(false), true, false, false),
        ] {
            assert_eq!(failure.retryable(), retryable, "{failure}");
            assert_eq!(failure.overloaded(), overloaded, "{failure}");
            assert_eq!(failure.service_signal().is_some(), signal, "{failure}");
        }
        assert_eq!(status(404).to_string(), "HTTP 404 Not Found");
        assert_eq!(status(503).kind(), "HTTP 503 Service Unavailable");
    }

    #[test]
    fn a_call_error_says_how_many_attempts_and_why() {
        let error = |last, attempts, gave_up| CallError {
            last,
            attempts,
            gave_up,
        };
        assert_eq!(
            error(Some(status(500)), 3, GaveUp::OutOfAttempts).to_string(),
            "HTTP 500 Internal Server Error after 3 attempts"
        );
        assert_eq!(
            error(Some(status(404)), 1, GaveUp::NotRetryable).to_string(),
            "HTTP 404 Not Found after 1 attempt (not retryable)"
        );
        assert_eq!(
            error(Some(status(503)), 7, GaveUp::OutageTooLong).to_string(),
            "service unavailable for longer than max_outage \
             (7 attempts, the last: HTTP 503 Service Unavailable)"
        );
        assert_eq!(
            error(None, 0, GaveUp::OutageTooLong).to_string(),
            "service unavailable for longer than max_outage (0 attempts)"
        );
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
