//! [`Rate`]: how many operations may start per unit of time, and how many may
//! start at once after a quiet spell (the burst). A plain value, read from
//! config strings like `"100/s"`, `"5/ms"`, `"600/min"` or
//! `"100/s burst=20"`; it is run by a [`RateLimit`](super::RateLimit).
//!
//! # Guarantee
//! A `Rate` always describes a usable limit: the count, the period and the
//! burst are positive, and the interval between two operations
//! (period / count) is at least one nanosecond. Its [`Display`](fmt::Display)
//! form parses back to the same `Rate`.
//!
//! # Example
//! ```
//! use std::time::Duration;
//! use weir_core::limit::{Rate, RateError};
//!
//! let rate: Rate = "600/min".parse().unwrap();
//! assert_eq!(rate.interval(), Duration::from_millis(100));
//! assert_eq!(rate.burst(), 1);
//! assert_eq!(rate, Rate::per_minute(600));
//!
//! let bursty: Rate = "100/s burst=20".parse().unwrap();
//! assert_eq!(bursty, Rate::per_second(100).with_burst(20));
//! assert_eq!(bursty.to_string(), "100/s burst=20");
//!
//! assert!(matches!("100/fortnight".parse::<Rate>(), Err(RateError::UnknownUnit(_))));
//! ```

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

/// A rate of operations: `count` per `period`, and up to `burst` at once
/// after a quiet spell (1, strict pacing, unless set with
/// [`Rate::with_burst`]).
///
/// Parsed from `"100/s"`, `"5/ms"`, `"600/min"`, `"1/10s"` or
/// `"100/s burst=20"` (see [`Rate::from_str`]); its `Display` form parses
/// back to the same value. A `Rate` is always usable: count, period and
/// burst are positive and `period / count` is at least a nanosecond.
///
/// ```
/// let rate: weir_core::Rate = "600/min".parse().unwrap();
/// assert_eq!(rate.interval(), std::time::Duration::from_millis(100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    count: NonZeroU32,
    period: Duration,
    burst: NonZeroU32,
}

/// Why a [`Rate`] could not be made or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// The text is not of the form `COUNT/PERIOD [burst=N]`.
    #[error("expected a rate like \"100/s\" or \"100/s burst=20\", got {0:?}")]
    Syntax(String),
    /// The count (or the burst) is not a whole number that fits in a `u32`.
    #[error("{0:?} is not a whole number from 1 to 4294967295")]
    BadNumber(String),
    /// A count or burst of zero: nothing could ever run.
    #[error("the count and the burst of a rate must be at least 1")]
    Zero,
    /// The period's unit is not one of ns, us, ms, s, min, h, d.
    #[error("unknown time unit {0:?} (use ns, us, ms, s, min, h or d)")]
    UnknownUnit(String),
    /// The period is zero, or so short that the interval between two
    /// operations would be under a nanosecond.
    #[error("{count} per {period:?} is faster than one per nanosecond")]
    TooFast {
        /// The count asked for.
        count: u32,
        /// The period asked for.
        period: Duration,
    },
}

impl Rate {
    /// `count` operations per `period`, with a burst of 1 (strict pacing).
    ///
    /// # Errors
    /// [`RateError::Zero`] if `count` is 0; [`RateError::TooFast`] if the
    /// interval `period / count` is under a nanosecond.
    pub fn new(count: u32, period: Duration) -> Result<Rate, RateError> {
        let count = NonZeroU32::new(count).ok_or(RateError::Zero)?;
        if (period / count.get()).is_zero() {
            return Err(RateError::TooFast {
                count: count.get(),
                period,
            });
        }
        Ok(Rate {
            count,
            period,
            burst: NonZeroU32::MIN,
        })
    }

    fn known(count: u32, period: Duration, constructor: &str) -> Rate {
        Rate::new(count, period).unwrap_or_else(|err| panic!("Rate::{constructor}: {err}"))
    }

    /// `n` operations per second.
    ///
    /// # Panics
    /// If `n` is 0 or above 10^9 (use [`Rate::new`] for an error instead).
    pub fn per_second(n: u32) -> Rate {
        Rate::known(n, Duration::from_secs(1), "per_second")
    }

    /// `n` operations per millisecond.
    ///
    /// # Panics
    /// If `n` is 0 or above 10^6.
    pub fn per_millisecond(n: u32) -> Rate {
        Rate::known(n, Duration::from_millis(1), "per_millisecond")
    }

    /// `n` operations per minute.
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn per_minute(n: u32) -> Rate {
        Rate::known(n, Duration::from_secs(60), "per_minute")
    }

    /// `n` operations per hour.
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn per_hour(n: u32) -> Rate {
        Rate::known(n, Duration::from_secs(3600), "per_hour")
    }

    /// Allows up to `burst` operations to start at once after a quiet spell
    /// (the token bucket's size). The long-run rate is unchanged.
    ///
    /// # Panics
    /// If `burst` is 0.
    #[must_use]
    pub fn with_burst(self, burst: u32) -> Rate {
        let burst = NonZeroU32::new(burst).expect("Rate::with_burst: the burst must be at least 1");
        Rate { burst, ..self }
    }

    /// Operations per [`period`](Rate::period).
    pub fn count(&self) -> u32 {
        self.count.get()
    }

    /// The period the count is given for.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Operations that may start at once after a quiet spell; 1 unless set
    /// with [`Rate::with_burst`].
    pub fn burst(&self) -> u32 {
        self.burst.get()
    }

    /// The steady-state time between two operations: `period / count`.
    pub fn interval(&self) -> Duration {
        self.period / self.count.get()
    }

    /// The rate as operations per second.
    pub fn per_second_f64(&self) -> f64 {
        f64::from(self.count.get()) / self.period.as_secs_f64()
    }
}

const UNITS: &[(&str, Duration)] = &[
    ("ns", Duration::from_nanos(1)),
    ("us", Duration::from_micros(1)),
    ("µs", Duration::from_micros(1)),
    ("ms", Duration::from_millis(1)),
    ("s", Duration::from_secs(1)),
    ("sec", Duration::from_secs(1)),
    ("min", Duration::from_secs(60)),
    ("h", Duration::from_secs(3600)),
    ("hour", Duration::from_secs(3600)),
    ("d", Duration::from_secs(86_400)),
    ("day", Duration::from_secs(86_400)),
];

fn parse_number(text: &str) -> Result<u32, RateError> {
    text.parse()
        .map_err(|_| RateError::BadNumber(text.to_owned()))
}

/// Parses `[N]UNIT`, e.g. `s`, `ms`, `10s`.
fn parse_period(text: &str) -> Result<Duration, RateError> {
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (multiple, unit) = text.split_at(digits);
    let multiple = if multiple.is_empty() {
        1
    } else {
        parse_number(multiple)?
    };
    let unit = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, unit)| *unit)
        .ok_or_else(|| RateError::UnknownUnit(unit.to_owned()))?;
    Ok(unit * multiple)
}

impl FromStr for Rate {
    type Err = RateError;

    /// Parses `COUNT/[N]UNIT`, optionally followed by whitespace and
    /// `burst=N`: `"100/s"`, `"5/ms"`, `"600/min"`, `"1/10s"`,
    /// `"100/s burst=20"`. Units: `ns`, `us` (or `µs`), `ms`, `s` (or `sec`),
    /// `min`, `h` (or `hour`), `d` (or `day`).
    fn from_str(text: &str) -> Result<Rate, RateError> {
        let syntax = || RateError::Syntax(text.to_owned());
        let mut words = text.split_whitespace();
        let (count, period) = words
            .next()
            .and_then(|rate| rate.split_once('/'))
            .ok_or_else(syntax)?;
        let mut rate = Rate::new(parse_number(count.trim())?, parse_period(period.trim())?)?;
        if let Some(burst) = words.next() {
            let burst = burst.strip_prefix("burst=").ok_or_else(syntax)?;
            rate.burst = NonZeroU32::new(parse_number(burst)?).ok_or(RateError::Zero)?;
        }
        if words.next().is_some() {
            return Err(syntax());
        }
        Ok(rate)
    }
}

impl fmt::Display for Rate {
    /// The form [`FromStr`] reads: `100/s`, `1/10s`, `3/250ms`,
    /// `100/s burst=20`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/", self.count)?;
        let period = self.period.as_nanos();
        // The largest unit that divides the period exactly.
        let (name, unit) = [
            ("d", 86_400_000_000_000u128),
            ("h", 3_600_000_000_000),
            ("min", 60_000_000_000),
            ("s", 1_000_000_000),
            ("ms", 1_000_000),
            ("us", 1_000),
            ("ns", 1),
        ]
        .into_iter()
        .find(|(_, unit)| period.is_multiple_of(*unit))
        .expect("every period is a whole number of nanoseconds");
        match period / unit {
            1 => write!(f, "{name}")?,
            multiple => write!(f, "{multiple}{name}")?,
        }
        if self.burst.get() > 1 {
            write!(f, " burst={}", self.burst)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        let ms = Duration::from_millis;
        assert_eq!("100/s".parse::<Rate>().unwrap().interval(), ms(10));
        assert_eq!(
            "5/ms".parse::<Rate>().unwrap().interval(),
            Duration::from_micros(200)
        );
        assert_eq!("600/min".parse::<Rate>().unwrap().interval(), ms(100));
        assert_eq!("1/10s".parse::<Rate>().unwrap().interval(), ms(10_000));
        assert_eq!(" 3/h ".parse::<Rate>(), Ok(Rate::per_hour(3)));
        let bursty: Rate = "100/s  burst=7".parse().unwrap();
        assert_eq!((bursty.count(), bursty.burst()), (100, 7));
    }

    #[test]
    fn rejects_nonsense_with_the_reason() {
        let parse = |text: &str| text.parse::<Rate>().unwrap_err();
        assert_eq!(parse(""), RateError::Syntax(String::new()));
        assert_eq!(parse("100"), RateError::Syntax("100".into()));
        assert_eq!(parse("x/s"), RateError::BadNumber("x".into()));
        assert_eq!(parse("-1/s"), RateError::BadNumber("-1".into()));
        assert_eq!(parse("0/s"), RateError::Zero);
        assert_eq!(parse("1/s burst=0"), RateError::Zero);
        assert_eq!(parse("1/s burst=x"), RateError::BadNumber("x".into()));
        assert_eq!(parse("1/s bust=2"), RateError::Syntax("1/s bust=2".into()));
        assert_eq!(
            parse("1/s burst=2 x"),
            RateError::Syntax("1/s burst=2 x".into())
        );
        assert_eq!(parse("1/m"), RateError::UnknownUnit("m".into()));
        assert_eq!(
            parse("1/0s"),
            RateError::TooFast {
                count: 1,
                period: Duration::ZERO
            }
        );
        assert!(matches!(parse("2/ns"), RateError::TooFast { count: 2, .. }));
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "100/s",
            "5/ms",
            "600/min",
            "1/10s",
            "3/250ms",
            "7/us",
            "1/d",
            "100/s burst=20",
        ] {
            let rate: Rate = text.parse().unwrap();
            assert_eq!(rate.to_string(), text);
            assert_eq!(rate.to_string().parse::<Rate>(), Ok(rate));
        }
        assert_eq!("60/60s".parse::<Rate>().unwrap().to_string(), "60/min");
    }

    #[test]
    #[should_panic(expected = "at least 1")]
    fn per_second_zero_panics() {
        let _ = Rate::per_second(0);
    }
}
