//! Injected faults: which fault, if any, one request gets.
//!
//! The decision is a pure function of the seed, the request's key (its path
//! and query) and how many times that key was asked before, so a run with
//! the same seed and the same requests injects the same faults whatever the
//! interleaving, and a retry of a failed request gets a fresh draw.

use std::time::Duration;

/// The rates (each in `0..=1`, summing to at most 1) of the faults to inject.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Answer 500 Internal Server Error (after the normal latency).
    pub error_rate: f64,
    /// Answer 429 Too Many Requests at once, with `Retry-After: retry_after`.
    pub throttle_rate: f64,
    /// The `Retry-After` of a 429, in whole seconds.
    pub retry_after_secs: u64,
    /// Hold the request for `hang_for` before answering (past any sane
    /// client timeout).
    pub hang_rate: f64,
    /// How long a hung request is held.
    pub hang_for: Duration,
    /// Close the connection without a response.
    pub reset_rate: f64,
}

impl Default for Faults {
    /// No faults; a 1 s `Retry-After` and 30 s hangs once rates are set.
    fn default() -> Self {
        Faults {
            error_rate: 0.0,
            throttle_rate: 0.0,
            retry_after_secs: 1,
            hang_rate: 0.0,
            hang_for: Duration::from_secs(30),
            reset_rate: 0.0,
        }
    }
}

/// What one request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Served normally.
    None,
    /// 500.
    Error,
    /// 429 with a `Retry-After`.
    Throttle,
    /// Held past the client's timeout.
    Hang,
    /// Connection closed without a response.
    Reset,
}

impl Faults {
    /// The fault for the `nth` (0-based) request with `key`, under `seed`.
    pub fn decide(&self, seed: u64, key: &str, nth: u64) -> Fault {
        let draw = unit(seed, key, nth);
        let mut edge = 0.0;
        for (rate, fault) in [
            (self.error_rate, Fault::Error),
            (self.throttle_rate, Fault::Throttle),
            (self.hang_rate, Fault::Hang),
            (self.reset_rate, Fault::Reset),
        ] {
            edge += rate;
            if draw < edge {
                return fault;
            }
        }
        Fault::None
    }
}

/// A uniform draw in `[0, 1)` from FNV-1a of the key, mixed with the seed
/// and the count by SplitMix64 (stable across platforms and Rust versions).
fn unit(seed: u64, key: &str, nth: u64) -> f64 {
    let fnv = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let mixed = splitmix(splitmix(seed ^ fnv) ^ nth);
    (mixed >> 11) as f64 / (1u64 << 53) as f64
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_honoured_and_deterministic() {
        let faults = Faults {
            error_rate: 0.1,
            throttle_rate: 0.1,
            hang_rate: 0.05,
            reset_rate: 0.05,
            ..Faults::default()
        };
        let draws: Vec<Fault> = (0..20_000)
            .map(|i| faults.decide(7, &format!("/items/{i}"), 0))
            .collect();
        let share = |f: Fault| draws.iter().filter(|d| **d == f).count() as f64 / 20_000.0;
        assert!((share(Fault::Error) - 0.1).abs() < 0.01);
        assert!((share(Fault::Throttle) - 0.1).abs() < 0.01);
        assert!((share(Fault::Reset) - 0.05).abs() < 0.01);
        assert!((share(Fault::None) - 0.7).abs() < 0.015);
        assert_eq!(faults.decide(7, "/a", 3), faults.decide(7, "/a", 3));
    }
}
