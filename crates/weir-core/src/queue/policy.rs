//! What a put does when the queue is full.

use std::fmt;
use std::sync::Arc;

/// What `put` does when the queue is full. Chosen once, when the queue is
/// built; [`Overflow::Block`] is the default and the only policy under which
/// no item is ever refused or discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Overflow {
    /// Wait for room: backpressure.
    #[default]
    Block,
    /// Evict the oldest queued item to the drop handler and queue the new one.
    DropOldest,
    /// Hand the new item to the drop handler; the queue is unchanged.
    DropNewest,
    /// Fail at once with [`PutError::Full`](super::PutError::Full), which
    /// holds the item.
    Reject,
}

impl Overflow {
    /// Whether this policy discards items (and so needs a drop handler).
    pub fn drops_items(self) -> bool {
        matches!(self, Overflow::DropOldest | Overflow::DropNewest)
    }
}

/// Why an item was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Evicted from the front of a full queue by [`Overflow::DropOldest`].
    DropOldest,
    /// Refused at a full queue by [`Overflow::DropNewest`].
    DropNewest,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::DropOldest => "drop_oldest",
            DropReason::DropNewest => "drop_newest",
        })
    }
}

/// An item a dropping policy discarded, with the reason, as handed to the
/// queue's `on_drop` handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped<T> {
    /// The discarded item.
    pub item: T,
    /// Which policy discarded it.
    pub reason: DropReason,
}

/// The user's handler for dropped items.
pub(crate) type DropHandler<T> = Arc<dyn Fn(Dropped<T>) + Send + Sync>;
