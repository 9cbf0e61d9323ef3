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
//!
//! A spill link ([`crate::spill`]) may *hand off* a token once the record is
//! synced to disk: the source hears [`Outcome::Spilled`] then (it may commit
//! the record), while the books wait for the record's real outcome when it
//! leaves the spill and finishes.

use std::fmt;
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
    /// Written to a spill link's disk and synced under its sync policy: the
    /// spill now answers for it, so the source may commit it. Only sources
    /// hear this outcome; the books count the record's final outcome when it
    /// leaves the spill and finishes.
    Spilled {
        /// The stage whose input link spilled it.
        stage: Arc<str>,
    },
}

impl Outcome {
    /// How serious the outcome is; a record split into parts finishes with
    /// its most serious part's outcome. Nacked (5) > dead-lettered (4) >
    /// dropped (3) > spilled (2) > delivered (1) > filtered (0): a record is
    /// "filtered" only if every part of it was.
    pub fn severity(&self) -> u8 {
        match self {
            Outcome::Filtered { .. } => 0,
            Outcome::Delivered => 1,
            Outcome::Spilled { .. } => 2,
            Outcome::Dropped { .. } => 3,
            Outcome::DeadLettered { .. } => 4,
            Outcome::Nacked => 5,
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
            Outcome::Spilled { stage } => write!(f, "spilled to disk at {stage}"),
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
    state: Mutex<AckState>,
    /// The books this record counts in; `None` for a token that only
    /// watches a record (a spill link learning that a replayed record
    /// finished).
    accounting: Option<Arc<Accounting>>,
}

struct AckState {
    /// Parts not yet finished: the books wait for these.
    pending: usize,
    /// Parts neither finished nor handed off: the source waits for these.
    unsettled: usize,
    /// The most serious outcome of the finished parts, for the books.
    worst: Option<Outcome>,
    /// The most serious outcome the source will hear (handed-off parts count
    /// as [`Outcome::Spilled`]).
    source_worst: Option<Outcome>,
    callback: Option<AckCallback>,
}

fn keep_worst(slot: &mut Option<Outcome>, outcome: Outcome) {
    if slot
        .as_ref()
        .is_none_or(|worst| outcome.severity() > worst.severity())
    {
        *slot = Some(outcome);
    }
}

/// The acknowledgement of one part of one source record. Finish it with
/// [`AckToken::finish`]; dropping it unfinished nacks it.
pub struct AckToken {
    shared: Option<Arc<AckShared>>,
    /// Whether this part was handed off to a spill (the source was told).
    handed_off: bool,
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
        Self::with(Some(accounting), callback, origin)
    }

    fn with(
        accounting: Option<Arc<Accounting>>,
        callback: Option<AckCallback>,
        origin: Option<Arc<str>>,
    ) -> Self {
        AckToken {
            shared: Some(Arc::new(AckShared {
                state: Mutex::new(AckState {
                    pending: 1,
                    unsettled: 1,
                    worst: None,
                    source_worst: None,
                    callback,
                }),
                accounting,
            })),
            handed_off: false,
            origin,
        }
    }

    /// A token for a record the books already counted in (a record handed
    /// off to a spill and read back in the same run): finishing it counts
    /// its outcome, with no new record in; `callback` is told it.
    pub(crate) fn owed(
        accounting: Arc<Accounting>,
        origin: Option<Arc<str>>,
        callback: Option<AckCallback>,
    ) -> Self {
        Self::with(Some(accounting), callback, origin)
    }

    /// A token outside the books whose `callback` learns when the record
    /// carrying it finished.
    pub(crate) fn watch(callback: AckCallback) -> Self {
        Self::with(None, Some(callback), None)
    }

    /// Whether the token counts in the books (every token but a watch).
    pub(crate) fn counts(&self) -> bool {
        self.shared.as_ref().is_some_and(|s| s.accounting.is_some())
    }

    /// Hands this part off to the spill link at `stage`: when no other
    /// part of the source record is still unsettled, the source hears
    /// [`Outcome::Spilled`] (or a more serious outcome of another part).
    ///
    /// Returns `None` when nothing but the books' count is left to keep:
    /// the record had no other part, so the caller owes the books one
    /// record (see [`AckToken::owed`]) and keeps nothing in memory.
    /// Otherwise returns the part, to be finished as usual later.
    pub(crate) fn hand_off(mut self, stage: &Arc<str>) -> Option<AckToken> {
        let shared = self.shared.take()?;
        if self.handed_off {
            self.shared = Some(shared);
            return Some(self);
        }
        let mut state = shared.state.lock();
        keep_worst(
            &mut state.source_worst,
            Outcome::Spilled {
                stage: stage.clone(),
            },
        );
        state.unsettled -= 1;
        let told = if state.unsettled == 0 {
            state
                .callback
                .take()
                .map(|callback| (callback, state.source_worst.clone()))
        } else {
            None
        };
        let alone = state.pending == 1 && state.worst.is_none() && shared.accounting.is_some();
        drop(state);
        if let Some((callback, Some(outcome))) = told {
            callback(&outcome);
        }
        if alone {
            return None;
        }
        Some(AckToken {
            shared: Some(shared),
            handed_off: true,
            origin: self.origin.take(),
        })
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
        let handed_off = this.handed_off;
        {
            let mut state = shared.state.lock();
            state.pending += parts - 1;
            if !handed_off {
                state.unsettled += parts - 1;
            }
        }
        let origin = this.origin.take();
        (0..parts)
            .map(|part| AckToken {
                shared: Some(shared.clone()),
                handed_off,
                origin: origin
                    .as_ref()
                    .map(|origin| Arc::from(format!("{origin}#{part}"))),
            })
            .collect()
    }

    /// Finishes this part with `outcome`.
    pub fn finish(mut self, outcome: Outcome) {
        if let Some(shared) = self.shared.take() {
            Self::finish_shared(&shared, outcome, self.handed_off);
        }
    }

    fn finish_shared(shared: &AckShared, outcome: Outcome, handed_off: bool) {
        let mut state = shared.state.lock();
        if !handed_off {
            keep_worst(&mut state.source_worst, outcome.clone());
            state.unsettled -= 1;
        }
        keep_worst(&mut state.worst, outcome);
        state.pending -= 1;
        let told = if state.unsettled == 0 {
            state.callback.take()
        } else {
            None
        };
        let source_outcome = told.as_ref().and(state.source_worst.clone());
        let books = if state.pending == 0 {
            state.worst.take()
        } else {
            None
        };
        drop(state);
        if let (Some(books), Some(accounting)) = (&books, &shared.accounting) {
            accounting.record_outcome(books);
        }
        if let (Some(callback), Some(outcome)) = (told, source_outcome) {
            callback(&outcome);
        }
    }
}

impl Drop for AckToken {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            Self::finish_shared(&shared, Outcome::Nacked, self.handed_off);
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

    pub(crate) fn from_tokens(tokens: impl IntoIterator<Item = AckToken>) -> Self {
        AckSet(tokens.into_iter().collect())
    }

    pub(crate) fn into_tokens(self) -> impl Iterator<Item = AckToken> {
        self.0.into_iter()
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
    /// set merged from several. Tokens outside the books (a spill link's
    /// watch) do not count.
    pub(crate) fn origin(&self) -> Option<&Arc<str>> {
        let mut counting = self.0.iter().filter(|token| token.counts());
        match (counting.next(), counting.next()) {
            (Some(token), None) => token.origin(),
            _ => None,
        }
    }

    /// How many source records this set stands for (parts of them).
    pub(crate) fn len(&self) -> usize {
        self.0.iter().filter(|token| token.counts()).count()
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
