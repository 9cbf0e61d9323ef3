//! From a checked pipeline file to a pipeline ready to start: opens the
//! source (binding its listener), builds the stages, opens the sink and the
//! dead-letter output.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use weir::stage::Stage;
use weir::{Pipeline, ReadyPipeline};

use crate::config::PipelineConfig;
use crate::sinks::dead_letter::DeadLetterOutput;
use crate::stages::{batch, stage_names, BuiltStage};

/// A connector that could not be opened or built.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {message}")]
pub struct AssembleError {
    /// Which part of the pipeline (`source`, `stage parse`, `sink`, ...).
    pub what: String,
    /// Why.
    pub message: String,
    /// Where the part is in the pipeline file, if it is there.
    pub span: Option<Range<usize>>,
}

/// A pipeline ready to start, and what to tell the user about it.
pub struct Assembled {
    /// The pipeline.
    pub pipeline: ReadyPipeline,
    /// The address the source listens on, for a listening source.
    pub listening: Option<SocketAddr>,
    /// The dead-letter file, if any.
    pub dead_letter_path: Option<PathBuf>,
}

/// Builds the pipeline `config` describes; `dead_letter` (from
/// `--dead-letter`) overrides the file's `[dead_letter]`.
pub async fn assemble(
    config: &PipelineConfig,
    dead_letter: Option<&Path>,
    quiet: bool,
) -> Result<Assembled, AssembleError> {
    let fail = |what: &str, span: &Option<Range<usize>>| {
        let what = what.to_owned();
        let span = span.clone();
        move |message: String| AssembleError {
            what,
            message,
            span,
        }
    };
    let source_kind = config.source.config.kind();
    let source = config
        .source
        .config
        .build()
        .await
        .map_err(fail("source", &config.source.span))?;
    let listening = source.local_addr();
    let mut flow = Pipeline::builder()
        .links(config.links.link_config())
        .source(source_kind, source);
    for (stage, name) in config.stages.iter().zip(stage_names(&config.stages)) {
        let built = stage
            .build(&name)
            .map_err(fail(&format!("stage {name}"), &stage.span))?;
        flow = match built {
            BuiltStage::Transform(stage) => flow.stage(&name, stage),
            BuiltStage::Batch { size, max_wait } => flow.stage(
                &name,
                Stage::batch(size, max_wait, |records| Ok(batch::join(records))),
            ),
        };
    }
    let sink_section = &config.sink.config;
    let sink = sink_section
        .config
        .build()
        .await
        .map_err(fail("sink", &config.sink.span))?;
    let dead_letter_path = dead_letter.map(Path::to_owned).or_else(|| {
        config
            .dead_letter
            .as_ref()
            .map(|d| PathBuf::from(&d.path.0))
    });
    let dead_letters = DeadLetterOutput::open(dead_letter_path.as_deref(), quiet)
        .await
        .map_err(|error| fail("dead-letter output", &None)(error.to_string()))?;
    let pipeline = flow
        .sink_with_retry(
            sink_section.config.kind(),
            sink,
            sink_section.options.retry_policy(),
        )
        .dead_letters(dead_letters);
    Ok(Assembled {
        pipeline,
        listening,
        dead_letter_path,
    })
}
