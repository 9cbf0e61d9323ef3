//! `[links]`: the capacity and overflow policy of every link between two
//! components of the pipeline, and where a spilling link writes; and
//! `link = { ... }` in a `[[stage]]` or the `[sink]`: the same settings for
//! the one link into it, where they differ from `[links]`.

use std::num::NonZeroUsize;

use serde::Deserialize;
use serde_spanned::Spanned;
use weir::spill::SpillSync;
use weir::LinkConfig;
use weir_core::Overflow;

use super::ByteSize;

/// The default disk budget of a spilling link.
pub const DEFAULT_SPILL_MAX_BYTES: ByteSize = ByteSize(1 << 30);

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
    /// The disk budget of each spilling link (default 1 GiB).
    #[serde(default)]
    pub spill_max_bytes: Option<Spanned<ByteSize>>,
    /// When a spilling link fsyncs (default `batch`).
    #[serde(default)]
    pub spill_sync: Option<Spanned<SpillSyncConfig>>,
}

impl Default for LinksConfig {
    fn default() -> Self {
        LinksConfig {
            capacity: default_capacity(),
            when_full: None,
            spill_max_bytes: None,
            spill_sync: None,
        }
    }
}

/// `link = { ... }` in a `[[stage]]` or the `[sink]`: the link into it.
/// A setting not given here comes from `[links]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkOverride {
    /// Records the link holds at most.
    pub capacity: Option<Spanned<NonZeroUsize>>,
    /// What the link does when full.
    pub when_full: Option<Spanned<WhenFull>>,
    /// The link's disk budget, if it spills.
    pub spill_max_bytes: Option<Spanned<ByteSize>>,
    /// When the link fsyncs, if it spills.
    pub spill_sync: Option<Spanned<SpillSyncConfig>>,
}

/// The `link` key a `[[stage]]` and the `[sink]` take (a part of their
/// table, beside their own keys).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkPart {
    /// The link into the component, where it differs from `[links]`.
    pub link: Option<LinkOverride>,
}

/// `spill_sync`: when a spilling link fsyncs, and so when a record's source
/// hears it was handed off (see [`weir::spill::SpillSync`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpillSyncConfig {
    /// One fsync per batch of records, at most 100 ms apart.
    #[default]
    Batch,
    /// One fsync per record.
    Always,
    /// No fsync: survives the process being killed, not a power loss.
    Never,
}

impl From<SpillSyncConfig> for SpillSync {
    fn from(sync: SpillSyncConfig) -> Self {
        match sync {
            SpillSyncConfig::Batch => SpillSync::Batch,
            SpillSyncConfig::Always => SpillSync::Always,
            SpillSyncConfig::Never => SpillSync::Never,
        }
    }
}

/// Where and how much a spilling link writes, from `[links]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpillSettings {
    /// The disk budget of each link.
    pub max_bytes: ByteSize,
    /// When it fsyncs.
    pub sync: SpillSync,
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
    /// Write the record to disk (in the data directory), up to
    /// `spill_max_bytes`, then block; the consumer reads it back in order.
    Spill,
}

impl WhenFull {
    /// Whether the policy discards records. In a pipeline a rejected record
    /// is discarded too: no producer can hand it to anyone else.
    pub fn drops(self) -> bool {
        !matches!(self, WhenFull::Block | WhenFull::Spill)
    }

    fn overflow(self) -> Overflow {
        match self {
            // A spilling link's memory part blocks while it writes to disk.
            WhenFull::Block | WhenFull::Spill => Overflow::Block,
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

    /// The spill settings, if links spill.
    pub fn spill(&self) -> Option<SpillSettings> {
        (self.when_full() == WhenFull::Spill).then(|| SpillSettings {
            max_bytes: self
                .spill_max_bytes
                .as_ref()
                .map_or(DEFAULT_SPILL_MAX_BYTES, |b| *b.get_ref()),
            sync: self
                .spill_sync
                .as_ref()
                .map_or(SpillSyncConfig::default(), |s| *s.get_ref())
                .into(),
        })
    }

    /// The settings of one link: these, with what `link` sets instead.
    pub fn with(&self, link: &LinkPart) -> LinksConfig {
        let Some(link) = &link.link else {
            return self.clone();
        };
        LinksConfig {
            capacity: link.capacity.clone().unwrap_or(self.capacity.clone()),
            when_full: link.when_full.clone().or(self.when_full.clone()),
            spill_max_bytes: link
                .spill_max_bytes
                .clone()
                .or(self.spill_max_bytes.clone()),
            spill_sync: link.spill_sync.clone().or(self.spill_sync.clone()),
        }
    }

    /// The engine's link settings.
    pub fn link_config(&self) -> LinkConfig {
        LinkConfig {
            capacity: self.capacity.get_ref().get(),
            overflow: self.when_full().overflow(),
        }
    }
}
