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
    let links = config.links_into();
    // A setting in `[links]` stands for every link that does not set its
    // own: each warning is said once, at the setting.
    let mut said = std::collections::HashSet::new();
    let mut warn = |span: std::ops::Range<usize>, message: String| {
        if said.insert((span.clone(), message.clone())) {
            found.push(file.locate(Some(span), &message));
        }
    };
    for link in &links {
        let settings = &link.settings;
        let spills = settings.spill().is_some();
        if let Some(when_full) = &settings.when_full {
            if when_full.get_ref().drops() && !dead_letter_given {
                warn(
                    when_full.span(),
                    "a dropping `when_full` discards records whenever a link is full, and with \
                     no dead-letter file nothing but a count is kept of them; `block` keeps \
                     them all"
                        .into(),
                );
            }
            if spills && !config.source.spec.keeps_state() {
                warn(
                    when_full.span(),
                    format!(
                        "`when_full = \"spill\"` with a `{}` source, which cannot replay: what \
                         is on disk survives a crash, what is only in memory (links, stages) \
                         is lost",
                        config.source.spec.kind()
                    ),
                );
            }
        }
        let capacity = settings.capacity.get_ref().get();
        if capacity > LARGE_CAPACITY {
            warn(
                settings.capacity.span(),
                format!("links of capacity {capacity} can hold that many records each in memory"),
            );
        }
    }
    // A spill setting that no link it applies to uses.
    let spill_keys = |settings: &crate::config::LinksConfig| {
        [
            settings.spill_max_bytes.as_ref().map(Spanned::span),
            settings.spill_sync.as_ref().map(Spanned::span),
        ]
    };
    let used: Vec<_> = links
        .iter()
        .filter(|link| link.settings.spill().is_some())
        .flat_map(|link| spill_keys(&link.settings))
        .flatten()
        .collect();
    let given = links
        .iter()
        .flat_map(|link| spill_keys(&link.settings))
        .chain(spill_keys(&config.links))
        .flatten();
    for span in given {
        if !used.contains(&span) {
            warn(
                span,
                "this spill setting has no effect unless `when_full = \"spill\"`".into(),
            );
        }
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
