//! Running the dead-letter output: write each letter, flush, then finish its
//! records as dead-lettered.

use std::sync::Arc;

use weir_core::Queue;

use super::hand_off::Taker;
use super::unflushed::{next_or_flush, Next, Unflushed};
use crate::ack::Outcome;
use crate::error::PipelineError;
use crate::io::DeadLetterSink;
use crate::pipeline::context::{DeadLetterEntry, RunContext};

pub(crate) async fn run_dead_letters(
    mut sink: impl DeadLetterSink,
    ctx: Arc<RunContext>,
    input: Queue<DeadLetterEntry>,
) {
    let mut written = Unflushed::default();
    let mut input = Taker::new(input);
    loop {
        let (letter, acks) = match next_or_flush(
            &mut input,
            || flush(&mut sink, &mut written, &ctx),
            |_| {},
        )
        .await
        {
            Next::Item(entry) => entry,
            Next::End => break,
            Next::Stop => return,
        };
        if let Err(error) = sink.write(&letter).await {
            ctx.fail(PipelineError::DeadLetterFailed(error.to_string()));
            return; // this letter's and the unflushed letters' records are nacked
        }
        let outcome = Outcome::DeadLettered {
            stage: letter.stage.clone(),
            reason: letter.reason.clone(),
        };
        written.push(acks, outcome);
    }
    flush(&mut sink, &mut written, &ctx).await;
}

async fn flush(sink: &mut impl DeadLetterSink, written: &mut Unflushed, ctx: &RunContext) -> bool {
    if written.is_empty() {
        return true;
    }
    let flushed = sink.flush().await;
    written
        .settle(flushed)
        .map_err(|reason| ctx.fail(PipelineError::DeadLetterFailed(reason)))
        .is_ok()
}
