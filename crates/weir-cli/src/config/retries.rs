//! `retries = { max_attempts = 3, backoff = "100ms", max_backoff = "10s" }`:
//! how every component of a pipeline file retries, in one dialect.
//!
//! The HTTP connectors once had a dialect of their own (`retries = 4`,
//! `backoff_base`, `backoff_max`); those forms are errors that show the new
//! one (see [`MOVED_KEYS`]).

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use weir::stage::RetryPolicy;

use super::HumanDuration;

/// The first retry's delay scale when `backoff` is not given.
const DEFAULT_BACKOFF: Duration = Duration::from_millis(100);
/// The longest delay when `max_backoff` is not given.
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(10);

/// `retries = { max_attempts = 3, backoff = "100ms", max_backoff = "10s" }`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryOptions {
    /// Attempts in all, the first included.
    pub max_attempts: NonZeroU32,
    /// The scale of the first retry's delay (exponential, jittered).
    pub backoff: Duration,
    /// The longest delay between two attempts.
    pub max_backoff: Duration,
}

/// Keys of the old HTTP retry dialect, and what to write instead.
pub const MOVED_KEYS: &[(&str, &str)] = &[
    (
        "backoff_base",
        "retries = { max_attempts = 3, backoff = \"100ms\" }",
    ),
    (
        "backoff_max",
        "retries = { max_attempts = 3, max_backoff = \"10s\" }",
    ),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryTable {
    max_attempts: NonZeroU32,
    backoff: Option<HumanDuration>,
    max_backoff: Option<HumanDuration>,
}

impl RetryOptions {
    /// `max_attempts` attempts with the default delays.
    pub fn attempts(max_attempts: NonZeroU32) -> Self {
        RetryOptions {
            max_attempts,
            backoff: DEFAULT_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
        }
    }

    /// The engine's retry policy.
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy::new(self.max_attempts.get())
            .base_delay(self.backoff)
            .max_delay(self.max_backoff)
    }
}

impl<'de> Deserialize<'de> for RetryOptions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RetryVisitor)
    }
}

struct RetryVisitor;

impl<'de> Visitor<'de> for RetryVisitor {
    type Value = RetryOptions;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table like { max_attempts = 3, backoff = \"100ms\", max_backoff = \"10s\" }")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RetryOptions, A::Error> {
        let table = RetryTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(RetryOptions {
            max_attempts: table.max_attempts,
            backoff: table.backoff.map_or(DEFAULT_BACKOFF, |d| d.0),
            max_backoff: table.max_backoff.map_or(DEFAULT_MAX_BACKOFF, |d| d.0),
        })
    }

    fn visit_i64<E: de::Error>(self, attempts: i64) -> Result<RetryOptions, E> {
        Err(E::custom(format!(
            "`retries = {attempts}` is the old form: write \
             `retries = {{ max_attempts = {attempts}, backoff = \"100ms\", max_backoff = \"10s\" }}`"
        )))
    }

    fn visit_u64<E: de::Error>(self, attempts: u64) -> Result<RetryOptions, E> {
        self.visit_i64(i64::try_from(attempts).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RetryOptions, String> {
        let value: toml_edit::Value = text.parse().unwrap();
        RetryOptions::deserialize(serde::de::IntoDeserializer::into_deserializer(value))
            .map_err(|error| error.to_string())
    }

    #[test]
    fn reads_the_table_with_defaults() {
        let retries = parse(r#"{ max_attempts = 4, backoff = "5ms" }"#).unwrap();
        assert_eq!(retries.max_attempts.get(), 4);
        assert_eq!(retries.backoff, Duration::from_millis(5));
        assert_eq!(retries.max_backoff, DEFAULT_MAX_BACKOFF);
        assert_eq!(retries.policy().max_attempts(), 4);
    }

    #[test]
    fn the_old_number_form_shows_the_new_one() {
        let error = parse("4").unwrap_err();
        assert!(
            error.contains("`retries = 4` is the old form: write `retries = { max_attempts = 4,"),
            "{error}"
        );
    }

    #[test]
    fn unknown_and_missing_keys_are_named() {
        assert!(parse(r#"{ max_attempts = 2, jitter = true }"#)
            .unwrap_err()
            .contains("unknown field `jitter`"));
        assert!(parse(r#"{ backoff = "1s" }"#)
            .unwrap_err()
            .contains("missing field `max_attempts`"));
    }
}
