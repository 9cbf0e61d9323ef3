//! `[links]`: the capacity and overflow policy of every link between two
//! components of the pipeline.

use std::num::NonZeroUsize;

use serde::Deserialize;
use serde_spanned::Spanned;
use weir::LinkConfig;
use weir_core::Overflow;

/// The `[links]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinksConfig {
    /// Records a link holds at most (default 64).
    #[serde(default = "default_capacity")]
    pub capacity: Spanned<NonZeroUsize>,
    /// What a full link does (default: block, i.e. backpressure).
    #[serde(default)]
    pub when_full: Option<Spanned<WhenFull>>,
}

impl Default for LinksConfig {
    fn default() -> Self {
        LinksConfig {
            capacity: default_capacity(),
            when_full: None,
        }
    }
}

fn default_capacity() -> Spanned<NonZeroUsize> {
    let capacity = NonZeroUsize::new(LinkConfig::default().capacity).unwrap_or(NonZeroUsize::MIN);
    Spanned::new(0..0, capacity)
}

/// `when_full`: what a full link does with one more record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Wait for room (backpressure).
    #[default]
    Block,
    /// Drop the oldest queued record (counted as dropped).
    DropOldest,
    /// Drop the new record (counted as dropped).
    DropNewest,
    /// Refuse the new record (counted as dropped, with the policy `reject`).
    Reject,
}

impl WhenFull {
    /// Whether the policy discards records. In a pipeline a rejected record
    /// is discarded too: no producer can hand it to anyone else.
    pub fn drops(self) -> bool {
        self != WhenFull::Block
    }

    fn overflow(self) -> Overflow {
        match self {
            WhenFull::Block => Overflow::Block,
            WhenFull::DropOldest => Overflow::DropOldest,
            WhenFull::DropNewest => Overflow::DropNewest,
            WhenFull::Reject => Overflow::Reject,
        }
    }
}

impl LinksConfig {
    /// The policy, `block` if not given.
    pub fn when_full(&self) -> WhenFull {
        self.when_full
            .as_ref()
            .map_or(WhenFull::default(), |w| *w.get_ref())
    }

    /// The engine's link settings.
    pub fn link_config(&self) -> LinkConfig {
        LinkConfig {
            capacity: self.capacity.get_ref().get(),
            overflow: self.when_full().overflow(),
        }
    }
}
