//! Stages of the `weir` command, one file each, known through [`STAGES`].
//! Every stage builds the engine's [`Stage`](weir::stage::Stage) and also
//! takes the generic [`StageOptions`] (name, concurrency, timeout, retries,
//! ...), applied by the engine around it.
//!
//! To add a stage: a file here with its config type implementing
//! [`StageConnector`](crate::connector::StageConnector), and its line in
//! [`STAGES`].

mod batch;
mod command;
pub(crate) mod http;
mod jq;
mod jq_input;
mod jq_plan;
mod json;
pub(crate) mod options;
mod throttle;

use std::ops::Range;

use weir::stage::Stage;
use weir::BoxError;

pub(crate) use options::StageOptions;

use crate::config::{ConfigError, LinkPart, SourceFile, TablePart};
use crate::connector::{parse_connector, ConnectorType, StageSpec};
use crate::record::Payload;

/// Every stage type, by its `type`.
pub(crate) const STAGES: &[ConnectorType<dyn StageSpec>] = &[
    ConnectorType::stage::<jq::JqStageConfig>(),
    ConnectorType::stage::<json::JsonStageConfig>(),
    ConnectorType::stage::<command::CommandStageConfig>(),
    ConnectorType::stage::<batch::BatchStageConfig>(),
    ConnectorType::stage::<throttle::ThrottleStageConfig>(),
    ConnectorType::stage::<http::HttpStageConfig>(),
];

/// One `[[stage]]` table.
#[derive(Debug)]
pub(crate) struct StageConfig {
    /// What the stage does, by its `type`.
    pub(crate) spec: Box<dyn StageSpec>,
    /// How it runs.
    pub(crate) options: StageOptions,
    /// The link into it, where it differs from `[links]`.
    pub(crate) link: LinkPart,
    /// Where its `type = ...` is.
    pub(crate) span: Option<Range<usize>>,
}

impl StageConfig {
    /// Reads one `[[stage]]` table and checks what a stage of its type needs.
    pub(crate) fn from_part(file: &SourceFile, mut part: TablePart) -> Result<Self, ConfigError> {
        part.expect::<StageOptions>();
        part.expect::<LinkPart>();
        let (spec, span) = parse_connector(file, &mut part, "stage", STAGES)?;
        let options: StageOptions = part.take(file)?;
        let link: LinkPart = part.take(file)?;
        part.finish(file)?;
        spec.check(&options)
            .map_err(|message| file.error(span.clone(), &message))?;
        Ok(StageConfig {
            spec,
            options,
            link,
            span,
        })
    }

    /// Builds the stage, named `name`, run as its generic options say.
    pub(crate) fn build(&self, name: &str) -> Result<Stage<Payload, Payload>, BoxError> {
        Ok(self.options.apply(self.spec.build(name)?))
    }
}

/// Each stage's name: its `name`, else its type, numbered if the type
/// repeats.
pub(crate) fn stage_names(stages: &[StageConfig]) -> Vec<String> {
    stages
        .iter()
        .enumerate()
        .map(|(index, stage)| match &stage.options.name {
            Some(name) => name.clone(),
            None => {
                let kind = stage.spec.kind();
                let repeats = stages.iter().filter(|s| s.spec.kind() == kind).count() > 1;
                if repeats {
                    format!("{kind}-{}", index + 1)
                } else {
                    kind.to_owned()
                }
            }
        })
        .collect()
}
