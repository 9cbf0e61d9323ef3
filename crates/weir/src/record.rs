//! The envelope every record travels in.

use std::sync::Arc;

use crate::ack::{AckSet, Outcome};

/// A record on its way through the pipeline: an id, the payload, how many
/// times the current stage has tried it, and the acknowledgements of the
/// source records it stands for.
#[derive(Debug)]
pub struct Record<T> {
    /// Assigned by the engine when the source emitted the record; parts of a
    /// split record keep their parent's id.
    pub id: u64,
    /// The data.
    pub payload: T,
    /// Attempts the last stage made on it (1 when it succeeded at once).
    pub attempts: u32,
    pub(crate) acks: AckSet,
}

impl<T> Record<T> {
    pub(crate) fn new(id: u64, payload: T, acks: AckSet) -> Self {
        Record {
            id,
            payload,
            attempts: 0,
            acks,
        }
    }

    /// The same envelope around a new payload.
    pub(crate) fn with_payload<U>(self, payload: U) -> Record<U> {
        self.map_payload(|_| payload)
    }

    /// The same envelope around `f(payload)`.
    pub(crate) fn map_payload<U>(self, f: impl FnOnce(T) -> U) -> Record<U> {
        Record {
            id: self.id,
            payload: f(self.payload),
            attempts: self.attempts,
            acks: self.acks,
        }
    }

    /// Splits into one record per payload, sharing the acknowledgement; no
    /// payloads finishes the record as filtered by `stage`.
    pub(crate) fn split<U>(self, payloads: Vec<U>, stage: &Arc<str>) -> Vec<Record<U>> {
        if payloads.len() == 1 {
            let payload = payloads.into_iter().next().expect("one payload");
            return vec![self.with_payload(payload)];
        }
        let (id, attempts) = (self.id, self.attempts);
        self.acks
            .split(payloads.len(), stage)
            .into_iter()
            .zip(payloads)
            .map(|(acks, payload)| Record {
                id,
                payload,
                attempts,
                acks,
            })
            .collect()
    }

    /// Finishes the record, telling its sources `outcome`; returns the payload.
    pub(crate) fn finish(self, outcome: Outcome) -> T {
        self.acks.finish(outcome);
        self.payload
    }

    /// How many source records (or parts of them) this record stands for.
    pub fn source_records(&self) -> usize {
        self.acks.len()
    }
}
