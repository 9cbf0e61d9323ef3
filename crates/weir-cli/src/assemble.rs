//! From a checked pipeline file to a pipeline ready to start: opens the
//! source (binding its listener), builds the stages, opens the sink and the
//! dead-letter output.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use tokio::task::JoinHandle;
use weir::{BoxError, Pipeline, ReadyPipeline};

use weir::spill::SpillConfig;

use crate::connector::SourceContext;
use crate::pipeline_file::PipelineConfig;
use crate::record::Payload;
use crate::sinks::dead_letter::DeadLetterOutput;
use crate::stages::stage_names;

/// A connector that could not be opened or built.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub(crate) struct AssembleError {
    /// Which part of the pipeline (`source`, `stage parse`, `sink`, ...).
    pub(crate) what: String,
    /// Why.
    #[source]
    pub(crate) source: BoxError,
    /// Where the part is in the pipeline file, if it is there.
    pub(crate) span: Option<Range<usize>>,
}

/// A pipeline ready to start, and what to tell the user about it.
pub(crate) struct Assembled {
    /// The pipeline.
    pub(crate) pipeline: ReadyPipeline,
    /// The address the source listens on, for a listening source.
    pub(crate) listening: Option<SocketAddr>,
    /// Work the source leaves running after the run, to wait for before
    /// exiting (see [`OpenedSource::take_lingering`]).
    ///
    /// [`OpenedSource::take_lingering`]: crate::connector::OpenedSource::take_lingering
    pub(crate) lingering: Option<JoinHandle<()>>,
    /// The dead-letter file, if any.
    pub(crate) dead_letter_path: Option<PathBuf>,
}

/// Builds the pipeline `config` describes; `dead_letter` (from
/// `--dead-letter`) overrides the file's `[dead_letter]`; the source is
/// opened with `context` (the data directory, `--from-start`).
pub(crate) async fn assemble(
    config: &PipelineConfig,
    context: &SourceContext,
    dead_letter: Option<&Path>,
    quiet: bool,
) -> Result<Assembled, AssembleError> {
    let fail = |what: &str, span: &Option<Range<usize>>| {
        let what = what.to_owned();
        let span = span.clone();
        move |source: BoxError| AssembleError { what, source, span }
    };
    let source_spec = &config.source.spec;
    let context = SourceContext {
        link_capacity: config.links.link_config().capacity,
        ..context.clone()
    };
    let mut source = source_spec
        .open(&context)
        .await
        .map_err(fail("source", &config.source.span))?;
    let listening = source.local_addr();
    let lingering = source.take_lingering();
    let mut flow = Pipeline::builder()
        .links(config.links.link_config())
        .source(source_spec.kind(), source);
    let spill = |flow: weir::Flow<Payload>, into: &str| match config.links.spill() {
        None => Ok(flow),
        Some(settings) => {
            let dir = context
                .data_dir
                .as_ref()
                .ok_or("links spill, but no data directory is open")?
                .subdir("spill")?
                .join(format!("into-{into}"));
            let mut spill = SpillConfig::new(dir);
            spill.max_bytes = settings.max_bytes.0;
            spill.sync = settings.sync;
            flow.spill(spill).map_err(BoxError::from)
        }
    };
    let links_span = config.links.when_full.as_ref().map(|w| w.span());
    for (stage, name) in config.stages.iter().zip(stage_names(&config.stages)) {
        let built = stage
            .build(&name)
            .map_err(fail(&format!("stage {name}"), &stage.span))?;
        flow = spill(flow, &name).map_err(fail(&format!("link into {name}"), &links_span))?;
        flow = flow.stage(&name, built);
    }
    flow = spill(flow, "sink").map_err(fail("link into the sink", &links_span))?;
    let sink_config = &config.sink;
    let sink = sink_config
        .spec
        .open()
        .await
        .map_err(fail("sink", &sink_config.span))?;
    let dead_letter_path = dead_letter
        .map(Path::to_owned)
        .or_else(|| config.dead_letter.as_ref().map(|d| PathBuf::from(&d.path)));
    let dead_letters = DeadLetterOutput::open(dead_letter_path.as_deref(), quiet)
        .await
        .map_err(|error| fail("dead-letter output", &None)(error.into()))?;
    let pipeline = flow
        .sink_with_retry(
            sink_config.spec.kind(),
            sink,
            sink_config.options.retry_policy(),
        )
        .dead_letters(dead_letters);
    Ok(Assembled {
        pipeline,
        listening,
        lingering,
        dead_letter_path,
    })
}
