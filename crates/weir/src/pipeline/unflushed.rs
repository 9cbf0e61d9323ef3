//! Records written to an output but not yet flushed. They are finished
//! (acknowledged to their sources) only once a flush succeeds; if it fails,
//! they are dropped unfinished, which nacks them.

use crate::ack::{AckSet, Outcome};
use crate::error::BoxError;

#[derive(Default)]
pub(crate) struct Unflushed {
    written: Vec<(AckSet, Outcome)>,
}

impl Unflushed {
    /// Notes a written record and the outcome it gets once flushed.
    pub(crate) fn push(&mut self, acks: AckSet, outcome: Outcome) {
        self.written.push((acks, outcome));
    }

    pub(crate) fn len(&self) -> usize {
        self.written.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.written.is_empty()
    }

    /// Settles what was written by the flush's result: on success every
    /// record is finished with its outcome; on failure they are nacked and
    /// the error comes back as text.
    pub(crate) fn settle(&mut self, flushed: Result<(), BoxError>) -> Result<(), String> {
        match flushed {
            Ok(()) => {
                for (acks, outcome) in self.written.drain(..) {
                    acks.finish(outcome);
                }
                Ok(())
            }
            Err(error) => {
                self.written.clear();
                Err(error.to_string())
            }
        }
    }
}
