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
use crate::pipeline_file::{LinkInto, PipelineConfig};
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
    let links = config.links_into();
    let context = SourceContext {
        // The source's own link: the one into the first stage (or sink).
        link_capacity: links[0].settings.link_config().capacity,
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
    // Each link as `[links]` and the component's own `link` set it: its
    // capacity and policy where they differ from `[links]`, and a spill.
    let default_link = config.links.link_config();
    let link = |flow: weir::Flow<Payload>, link: &LinkInto| -> Result<_, AssembleError> {
        let settings = &link.settings;
        let mut flow = flow;
        if settings.link_config() != default_link {
            flow = flow.link(settings.link_config());
        }
        let Some(spill) = settings.spill() else {
            return Ok(flow);
        };
        let span = settings.when_full.as_ref().map(|w| w.span());
        let open = || -> Result<_, BoxError> {
            let dir = context
                .data_dir
                .as_ref()
                .ok_or("links spill, but no data directory is open")?
                .subdir("spill")?
                .join(format!("into-{}", link.dir));
            let mut config = SpillConfig::new(dir);
            config.max_bytes = spill.max_bytes.0;
            config.sync = spill.sync;
            flow.spill(config).map_err(BoxError::from)
        };
        open().map_err(fail(&link.what, &span))
    };
    for ((stage, name), into) in config
        .stages
        .iter()
        .zip(stage_names(&config.stages))
        .zip(&links)
    {
        let built = stage
            .build(&name)
            .map_err(fail(&format!("stage {name}"), &stage.span))?;
        flow = link(flow, into)?;
        flow = flow.stage(&name, built);
    }
    flow = link(flow, links.last().expect("a link into the sink"))?;
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
