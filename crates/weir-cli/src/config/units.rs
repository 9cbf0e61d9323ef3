//! Values written the human way in config files: durations ("250ms", "2s",
//! "1m"), rates ("100/s", "5/ms", "600/min") and sizes ("1 GiB", "500MB").

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

/// A size in bytes, written like `1048576`, "512 KiB", "1.5 GB" (KB, MB, GB
/// are powers of 1000; KiB, MiB, GiB of 1024); shown like "9.5 MB".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

const BYTE_UNITS: &[(&str, u64)] = &[
    ("b", 1),
    ("kb", 1000),
    ("mb", 1000 * 1000),
    ("gb", 1000 * 1000 * 1000),
    ("tb", 1000 * 1000 * 1000 * 1000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
];

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let unit = unit.trim().to_ascii_lowercase();
        let bad = || format!("expected a size like \"512 MiB\" or \"1 GB\", not {text:?}");
        let number: f64 = number.parse().map_err(|_| bad())?;
        let scale = match unit.as_str() {
            "" => 1,
            unit => BYTE_UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, scale)| *scale)
                .ok_or_else(bad)?,
        };
        Ok(ByteSize((number * scale as f64).round() as u64))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(u64),
            Text(String),
        }
        match Written::deserialize(deserializer)? {
            Written::Number(n) => Ok(ByteSize(n)),
            Written::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0;
        if bytes < 1000 {
            return write!(f, "{bytes} B");
        }
        let (name, scale) = [("GB", 1e9), ("MB", 1e6), ("KB", 1e3)]
            .into_iter()
            .find(|(_, scale)| bytes as f64 >= *scale)
            .unwrap_or(("KB", 1e3));
        write!(f, "{:.1} {name}", bytes as f64 / scale)
    }
}

#[cfg(test)]
mod byte_size_tests {
    use super::ByteSize;

    #[test]
    fn sizes_read_and_show_the_human_way() {
        let read = |text: &str| text.parse::<ByteSize>().map(|size| size.0);
        assert_eq!(read("1 GiB"), Ok(1 << 30));
        assert_eq!(read("512kb"), Ok(512_000));
        assert_eq!(read("1.5 MB"), Ok(1_500_000));
        assert_eq!(read("42"), Ok(42));
        assert!(read("12 parsecs").unwrap_err().contains("expected a size"));
        assert_eq!(ByteSize(9_500_000).to_string(), "9.5 MB");
        assert_eq!(ByteSize(999).to_string(), "999 B");
        assert_eq!(ByteSize(1_000).to_string(), "1.0 KB");
    }
}
