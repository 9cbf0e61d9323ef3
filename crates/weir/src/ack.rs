//! Acknowledgements: how a source learns what became of each record.
//!
//! Every record a source emits gets one [`AckToken`]. The token travels with
//! the record through the stages; when the record is finished, its token is
//! finished with an [`Outcome`], and the source's callback (if it gave one)
//! is told. A record split into parts (`flat_map`, broadcast) splits its token:
//! the original is finished when every part is, with the most serious outcome
//! of its parts (see [`Outcome::severity`]). Records merged into a batch
//! carry all their tokens, and each is finished with the batch.
//!
//! A record may carry an *origin*: an id its source gives it (a stream and
//! sequence, a file and offset) that is the same when the record is read
//! again after a restart. A sink can use it to let its destination drop
//! duplicates (see [`Sink::write_from`](crate::io::Sink::write_from)). The
//! parts of a split record get `origin#0`, `origin#1`, ...; a record merged
//! from several (a batch) has none, since which records a batch holds
//! depends on timing.
//!
//! A token dropped without being finished (a record abandoned at shutdown, or
//! lost to a bug) finishes as [`Outcome::Nacked`], so a durable source can
//! deliver it again and the run's accounting still balances.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use smallvec::SmallVec;

use crate::accounting::Accounting;

/// What became of a record, as told to its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The sink wrote it.
    Delivered,
    /// A filter (or a `flat_map` that produced nothing) removed it on purpose.
    Filtered {
        /// The stage that removed it.
        stage: Arc<str>,
    },
    /// It failed (after its retries) and went to the dead-letter output.
    DeadLettered {
        /// The stage where it failed.
        stage: Arc<str>,
        /// Why.
        reason: String,
    },
    /// A full link's dropping policy discarded it.
    Dropped {
        /// The stage whose input link dropped it.
        stage: Arc<str>,
        /// The link's overflow policy that dropped it.
        policy: DropPolicy,
    },
    /// Abandoned unfinished (shutdown): never committed; deliver it again.
    Nacked,
}

impl Outcome {
    /// How serious the outcome is; a record split into parts finishes with
    /// its most serious part's outcome. Nacked (4) > dead-lettered (3) >
    /// dropped (2) > delivered (1) > filtered (0): a record is "filtered"
    /// only if every part of it was.
    pub fn severity(&self) -> u8 {
        match self {
            Outcome::Filtered { .. } => 0,
            Outcome::Delivered => 1,
            Outcome::Dropped { .. } => 2,
            Outcome::DeadLettered { .. } => 3,
            Outcome::Nacked => 4,
        }
    }

    /// Whether the source may commit (checkpoint) this record: every outcome
    /// but [`Outcome::Nacked`].
    pub fn is_final(&self) -> bool {
        !matches!(self, Outcome::Nacked)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Delivered => f.write_str("delivered"),
            Outcome::Filtered { stage } => write!(f, "filtered by {stage}"),
            Outcome::DeadLettered { stage, reason } => {
                write!(f, "dead-lettered at {stage}: {reason}")
            }
            Outcome::Dropped { stage, policy } => write!(f, "dropped at {stage} ({policy})"),
            Outcome::Nacked => f.write_str("nacked"),
        }
    }
}

/// The overflow policy under which a full link dropped a record. Its
/// [`Display`](fmt::Display) is the policy's name in pipeline files
/// (`drop_oldest`, `drop_newest`, `reject`).
///
/// ```
/// use weir::ack::DropPolicy;
/// assert_eq!(DropPolicy::DropNewest.to_string(), "drop_newest");
/// assert_eq!(DropPolicy::from(weir_core::DropReason::DropOldest), DropPolicy::DropOldest);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropPolicy {
    /// The oldest queued record was evicted to make room.
    DropOldest,
    /// The incoming record was discarded.
    DropNewest,
    /// The incoming record was refused (in a pipeline, a refused record
    /// cannot go anywhere else, so it is dropped too).
    Reject,
}

impl DropPolicy {
    /// The policy's name in pipeline files.
    pub fn as_str(self) -> &'static str {
        match self {
            DropPolicy::DropOldest => "drop_oldest",
            DropPolicy::DropNewest => "drop_newest",
            DropPolicy::Reject => "reject",
        }
    }
}

impl fmt::Display for DropPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<weir_core::DropReason> for DropPolicy {
    fn from(reason: weir_core::DropReason) -> Self {
        match reason {
            weir_core::DropReason::DropOldest => DropPolicy::DropOldest,
            weir_core::DropReason::DropNewest => DropPolicy::DropNewest,
        }
    }
}

/// A source's callback, told once what became of one of its records.
pub type AckCallback = Box<dyn FnOnce(&Outcome) + Send>;

struct AckShared {
    /// Parts not yet finished.
    pending: AtomicUsize,
    /// The most serious outcome so far, and the callback still to call.
    state: Mutex<(Option<Outcome>, Option<AckCallback>)>,
    accounting: Arc<Accounting>,
}

/// The acknowledgement of one part of one source record. Finish it with
/// [`AckToken::finish`]; dropping it unfinished nacks it.
pub struct AckToken {
    shared: Option<Arc<AckShared>>,
    /// The source's id of this record (or part), if it gave one.
    origin: Option<Arc<str>>,
}

impl fmt::Debug for AckToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AckToken")
            .field("finished", &self.shared.is_none())
            .finish()
    }
}

impl AckToken {
    pub(crate) fn new(
        accounting: Arc<Accounting>,
        callback: Option<AckCallback>,
        origin: Option<Arc<str>>,
    ) -> Self {
        accounting.record_in();
        AckToken {
            shared: Some(Arc::new(AckShared {
                pending: AtomicUsize::new(1),
                state: Mutex::new((None, callback)),
                accounting,
            })),
            origin,
        }
    }

    /// The source's id of this record (or part), if it gave one.
    pub(crate) fn origin(&self) -> Option<&Arc<str>> {
        self.origin.as_ref()
    }

    /// Splits this token into `parts` tokens (0 finishes it as filtered by
    /// `stage`). The original record is finished when all parts are.
    pub fn split(self, parts: usize, stage: &Arc<str>) -> Vec<AckToken> {
        if parts == 0 {
            self.finish(Outcome::Filtered {
                stage: stage.clone(),
            });
            return Vec::new();
        }
        if parts == 1 {
            return vec![self];
        }
        let mut this = self;
        let shared = this.shared.take().expect("an unfinished token");
        shared.pending.fetch_add(parts - 1, Ordering::AcqRel);
        let origin = this.origin.take();
        (0..parts)
            .map(|part| AckToken {
                shared: Some(shared.clone()),
                origin: origin
                    .as_ref()
                    .map(|origin| Arc::from(format!("{origin}#{part}"))),
            })
            .collect()
    }

    /// Finishes this part with `outcome`.
    pub fn finish(mut self, outcome: Outcome) {
        if let Some(shared) = self.shared.take() {
            Self::finish_shared(&shared, outcome);
        }
    }

    fn finish_shared(shared: &AckShared, outcome: Outcome) {
        let mut state = shared.state.lock();
        if state
            .0
            .as_ref()
            .is_none_or(|worst| outcome.severity() > worst.severity())
        {
            state.0 = Some(outcome);
        }
        if shared.pending.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let outcome = state.0.take().expect("an outcome was just recorded");
        let callback = state.1.take();
        drop(state);
        shared.accounting.record_outcome(&outcome);
        if let Some(callback) = callback {
            callback(&outcome);
        }
    }
}

impl Drop for AckToken {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            Self::finish_shared(&shared, Outcome::Nacked);
        }
    }
}

/// The tokens a record carries: one for a plain record, several for a batch.
#[derive(Debug)]
pub struct AckSet(SmallVec<[AckToken; 1]>);

impl AckSet {
    pub(crate) fn one(token: AckToken) -> Self {
        AckSet(smallvec::smallvec![token])
    }

    pub(crate) fn merge(sets: impl IntoIterator<Item = AckSet>) -> Self {
        AckSet(sets.into_iter().flat_map(|set| set.0).collect())
    }

    /// Splits into `parts` sets, each holding a part of every token.
    pub(crate) fn split(self, parts: usize, stage: &Arc<str>) -> Vec<AckSet> {
        let mut sets: Vec<AckSet> = (0..parts).map(|_| AckSet(SmallVec::new())).collect();
        for token in self.0 {
            for (set, part) in sets.iter_mut().zip(token.split(parts, stage)) {
                set.0.push(part);
            }
        }
        sets
    }

    /// Finishes every token with `outcome`.
    pub(crate) fn finish(self, outcome: Outcome) {
        for token in self.0 {
            token.finish(outcome.clone());
        }
    }

    /// The origin of the one source record this set stands for; none for a
    /// set merged from several.
    pub(crate) fn origin(&self) -> Option<&Arc<str>> {
        match self.0.as_slice() {
            [token] => token.origin(),
            _ => None,
        }
    }

    /// How many source records this set stands for (parts of them).
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead(stage: &str) -> Outcome {
        Outcome::DeadLettered {
            stage: stage.into(),
            reason: "r".into(),
        }
    }

    #[test]
    fn only_a_nacked_record_may_not_be_committed() {
        let filtered = Outcome::Filtered { stage: "s".into() };
        for outcome in [Outcome::Delivered, filtered, dead("s")] {
            assert!(outcome.is_final(), "{outcome}");
        }
        assert!(!Outcome::Nacked.is_final());
    }

    #[test]
    fn outcomes_say_where_and_why() {
        let filtered = Outcome::Filtered { stage: "f".into() };
        assert_eq!(Outcome::Delivered.to_string(), "delivered");
        assert_eq!(filtered.to_string(), "filtered by f");
        assert_eq!(dead("d").to_string(), "dead-lettered at d: r");
        assert_eq!(Outcome::Nacked.to_string(), "nacked");
    }

    #[test]
    fn a_set_counts_the_source_records_it_stands_for() {
        let books = Arc::new(Accounting::default());
        let one = || AckSet::one(AckToken::new(books.clone(), None, None));
        assert_eq!(one().len(), 1);
        let batch = AckSet::merge([one(), one(), one()]);
        assert_eq!(batch.len(), 3);
        let parts = batch.split(2, &"s".into());
        assert_eq!(parts.iter().map(AckSet::len).collect::<Vec<_>>(), [3, 3]);
        for part in parts {
            part.finish(Outcome::Delivered);
        }
        let snapshot = books.snapshot();
        assert_eq!((snapshot.received, snapshot.delivered), (4, 3));
    }

    #[test]
    fn the_parts_of_a_split_record_get_numbered_origins_and_a_batch_none() {
        let books = Arc::new(Accounting::default());
        let token = |origin: &str| AckToken::new(books.clone(), None, Some(origin.into()));
        let one = AckSet::one(token("S:7"));
        assert_eq!(one.origin().map(|o| &**o), Some("S:7"));
        let kept = AckSet::one(token("S:8")).split(1, &"s".into());
        assert_eq!(kept[0].origin().map(|o| &**o), Some("S:8"));
        let parts = AckSet::one(token("S:9")).split(2, &"s".into());
        let origins: Vec<_> = parts.iter().map(|p| p.origin().cloned()).collect();
        assert_eq!(origins, [Some("S:9#0".into()), Some("S:9#1".into())]);
        let batch = AckSet::merge([AckSet::one(token("S:1")), AckSet::one(token("S:2"))]);
        assert!(batch.origin().is_none());
        for set in [one, batch].into_iter().chain(kept).chain(parts) {
            set.finish(Outcome::Delivered);
        }
    }

    #[test]
    fn a_token_shows_whether_it_is_finished() {
        let token = AckToken::new(Arc::new(Accounting::default()), None, None);
        assert_eq!(format!("{token:?}"), "AckToken { finished: false }");
    }
}
