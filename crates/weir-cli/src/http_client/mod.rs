//! The one HTTP client of the `weir` command, used by the `http` stage and
//! the `http` sink (and by anything else that calls an HTTP service).
//!
//! Every such connector embeds [`CallOptions`] in its table, so they take the
//! same keys with the same defaults:
//!
//! ```toml
//! connect_timeout = "2s"     # TCP (and TLS) connect, per attempt
//! timeout = "10s"            # whole request, per attempt
//! retries = { max_attempts = 3, backoff = "100ms", max_backoff = "10s" }
//! retry_budget = 0.2         # retries at most this share of requests
//! max_outage = "10m"         # default: wait for a service that is down
//! tls = { ca_file = "ca.pem", client_cert = "me.pem", client_key = "me.key" }
//! ```
//!
//! HTTPS goes through rustls (no OpenSSL): the system's root certificates
//! by default; `tls.ca_file` adds a private CA's; `tls.client_cert` and
//! `tls.client_key` (PEM) present a client certificate (mutual TLS). A URL
//! whose scheme is neither `http` nor `https` is a config error.
//!
//! A [`Caller`] makes the calls: one client, one retry budget, one outage
//! gate and an optional concurrency limit (see [`call`] for what is retried
//! and how, and [`outage`] for how a service that is down pauses the calls
//! and pushes back on the pipeline instead of failing records).

mod budget;
pub(crate) mod call;
pub(crate) mod outage;
pub(crate) mod tls;

use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;

pub(crate) use self::call::{Answer, CallError, Caller};
pub(crate) use self::tls::{ClientError, TlsOptions};
use crate::config::{ConfigError, HumanDuration, RetryOptions, SourceFile, TablePart};

/// How calls are made and retried: the keys every HTTP connector takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallOptions {
    /// TCP (and TLS) connect timeout, per attempt; 2s by default.
    #[serde(default = "default_connect_timeout")]
    pub(crate) connect_timeout: HumanDuration,
    /// Whole-request timeout, per attempt; 10s by default.
    #[serde(default = "default_timeout")]
    pub(crate) timeout: HumanDuration,
    /// Attempts in all and their backoff; 3 attempts by default.
    #[serde(default = "default_retries")]
    pub(crate) retries: RetryOptions,
    /// Retries may be at most this share of requests over 10 s (plus 10 per
    /// second); 0.2 by default; 0 disables retries.
    #[serde(default = "default_retry_budget")]
    pub(crate) retry_budget: f64,
    /// Give a record up (dead-letter it) once the service has been
    /// unavailable this long; by default wait without end.
    pub(crate) max_outage: Option<HumanDuration>,
    /// Private CAs and client certificates.
    #[serde(default)]
    pub(crate) tls: TlsOptions,
}

impl Default for CallOptions {
    fn default() -> Self {
        CallOptions {
            connect_timeout: default_connect_timeout(),
            timeout: default_timeout(),
            retries: default_retries(),
            retry_budget: default_retry_budget(),
            max_outage: None,
            tls: TlsOptions::default(),
        }
    }
}

fn default_connect_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(2))
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

fn default_retries() -> RetryOptions {
    RetryOptions::attempts(std::num::NonZeroU32::new(3).unwrap_or(std::num::NonZeroU32::MIN))
}

fn default_retry_budget() -> f64 {
    0.2
}

impl CallOptions {
    /// Reads a connector config `C` that embeds the call options (as a
    /// `#[serde(skip)]` field `call_options` points at): their keys first,
    /// so `timeout` or `retries` are the connector's own and not a generic
    /// option of the same name, then `C`'s.
    pub(crate) fn take_with<C: DeserializeOwned>(
        file: &SourceFile,
        part: &mut TablePart,
        call_options: fn(&mut C) -> &mut CallOptions,
    ) -> Result<C, ConfigError> {
        let options: CallOptions = part.take(file)?;
        let mut config: C = part.take(file)?;
        *call_options(&mut config) = options;
        Ok(config)
    }

    /// Checks what a config file can get wrong, for calls to `url` (a
    /// template, perhaps).
    pub(crate) fn check(&self, url: &str) -> Result<(), String> {
        check_url(url)?;
        if !(self.retry_budget >= 0.0 && self.retry_budget.is_finite()) {
            return Err(format!(
                "field `retry_budget`: must be 0 or more, not {}",
                self.retry_budget
            ));
        }
        self.tls.check()
    }
}

/// Checks that `url` (a template, perhaps) is an `http` or `https` URL.
fn check_url(url: &str) -> Result<(), String> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    match scheme {
        Some(scheme) if scheme.eq_ignore_ascii_case("http") => Ok(()),
        Some(scheme) if scheme.eq_ignore_ascii_case("https") => Ok(()),
        Some(scheme) => Err(format!(
            "field `url`: scheme `{scheme}` in {url:?} is not supported: use http:// or https://"
        )),
        None => Err(format!(
            "field `url`: {url:?} has no scheme: write http://... or https://..."
        )),
    }
}

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[allow(missing_docs)]
pub(crate) enum HttpMethod {
    #[default]
    #[serde(alias = "get")]
    Get,
    #[serde(alias = "post")]
    Post,
    #[serde(alias = "put")]
    Put,
    #[serde(alias = "patch")]
    Patch,
    #[serde(alias = "delete")]
    Delete,
    #[serde(alias = "head")]
    Head,
}

impl From<HttpMethod> for Method {
    fn from(method: HttpMethod) -> Self {
        match method {
            HttpMethod::Get => Method::GET,
            HttpMethod::Post => Method::POST,
            HttpMethod::Put => Method::PUT,
            HttpMethod::Patch => Method::PATCH,
            HttpMethod::Delete => Method::DELETE,
            HttpMethod::Head => Method::HEAD,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_pass() {
        assert!(check_url("http://127.0.0.1:1/{id}").is_ok());
        assert!(check_url("HTTPS://example.org/").is_ok());
        let error = check_url("ftp://example.org/x").unwrap_err();
        assert!(error.contains("scheme `ftp`"), "{error}");
        assert!(check_url("example.org/x")
            .unwrap_err()
            .contains("no scheme"));
    }

    #[test]
    fn a_negative_retry_budget_is_refused() {
        let options = CallOptions {
            retry_budget: -1.0,
            ..CallOptions::default()
        };
        let url = "http://127.0.0.1:1/";
        assert!(options.check(url).unwrap_err().contains("retry_budget"));
        assert!(CallOptions::default().check(url).is_ok());
        assert!(CallOptions::default().check("ftp://x/").is_err());
    }
}
