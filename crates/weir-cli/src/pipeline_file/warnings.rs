//! Choices that are valid but defeat backpressure or bounded memory; `weir
//! validate` (and `weir run`, unless `--quiet`) warns about them.

use serde_spanned::Spanned;

use super::PipelineConfig;
use crate::config::Located;

/// Links larger than this hold a lot of records in memory.
const LARGE_CAPACITY: usize = 100_000;

/// The warnings for `config`; `dead_letter_given` says whether a
/// dead-letter file is set (in the file or by `--dead-letter`).
pub(crate) fn warnings(config: &PipelineConfig, dead_letter_given: bool) -> Vec<Located> {
    let file = &config.file;
    let mut found = Vec::new();
    if let Some(when_full) = &config.links.when_full {
        let span = Some(when_full.span());
        if when_full.get_ref().drops() && !dead_letter_given {
            found.push(file.locate(
                span,
                "a dropping `when_full` discards records whenever a link is full, and with no \
                 dead-letter file nothing but a count is kept of them; `block` keeps them all",
            ));
        }
    }
    let spills = config.links.spill().is_some();
    if let (true, Some(when_full)) = (spills, &config.links.when_full) {
        if !config.source.spec.keeps_state() {
            found.push(file.locate(
                Some(when_full.span()),
                &format!(
                    "`when_full = \"spill\"` with a `{}` source, which cannot replay: what \
                     is on disk survives a crash, what is only in memory (links, stages) is lost",
                    config.source.spec.kind()
                ),
            ));
        }
    }
    let spill_keys = [
        config.links.spill_max_bytes.as_ref().map(Spanned::span),
        config.links.spill_sync.as_ref().map(Spanned::span),
    ];
    for span in spill_keys.into_iter().flatten() {
        if !spills {
            found.push(file.locate(
                Some(span),
                "this spill setting has no effect unless `when_full = \"spill\"`",
            ));
        }
    }
    let capacity = config.links.capacity.get_ref().get();
    if capacity > LARGE_CAPACITY {
        found.push(file.locate(
            Some(config.links.capacity.span()),
            &format!("links of capacity {capacity} can hold that many records each in memory"),
        ));
    }
    for stage in &config.stages {
        let options = &stage.options;
        if let (Some(concurrency), None) = (&options.concurrency, options.timeout) {
            found.push(file.locate(
                Some(concurrency.span()),
                "`concurrency` without a `timeout`: a call that never returns holds its slot \
                 for good, and enough of them stall the pipeline",
            ));
        }
        for warning in stage.spec.warnings(options) {
            found.push(file.locate(stage.span.clone(), warning));
        }
    }
    found
}
