//! Values written the human way in config files: durations ("250ms", "2s",
//! "1m") and rates ("100/s", "5/ms", "600/min").

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use weir_core::limit::Rate;

/// A duration written like "250ms", "2s", "1h 30m".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        humantime::parse_duration(text)
            .map(HumanDuration)
            .map_err(|error| format!("expected a duration like \"250ms\" or \"2s\": {error}"))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// A rate written like "100/s".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HumanRate(pub Rate);

impl<'de> Deserialize<'de> for HumanRate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse::<Rate>().map(HumanRate).map_err(|error| {
            serde::de::Error::custom(format!("expected a rate like \"100/s\": {error}"))
        })
    }
}
