//! The pipeline file: `[links]`, one `[source]`, `[[stage]]`s in order, one
//! `[sink]`, an optional `[dead_letter]`. Loading it checks everything that
//! can be checked before a run; every error names the file, line, column and
//! field (see [`error`]).

pub mod dead_letter;
mod document;
pub mod error;
pub mod links;
pub mod text;
pub mod units;
pub mod warnings;

use std::ops::Range;
use std::path::Path;

pub use dead_letter::DeadLetterConfig;
pub use document::TablePart;
pub use error::{ConfigError, Located, SourceFile};
pub use links::{LinksConfig, WhenFull};
pub use text::Text;
pub use units::{HumanDuration, HumanRate};

use crate::sinks::{SinkConfig, SinkSection};
use crate::sources::SourceConfig;
use crate::stages::StageConfig;

/// A section of the file with the span of its `type`, to point at it.
#[derive(Debug)]
pub struct Section<T> {
    /// The typed config.
    pub config: T,
    /// Where its `type = ...` is.
    pub span: Option<Range<usize>>,
}

/// A whole pipeline file, checked.
#[derive(Debug)]
pub struct PipelineConfig {
    /// The file, to point at places in it.
    pub file: SourceFile,
    /// `[links]`.
    pub links: LinksConfig,
    /// `[source]`.
    pub source: Section<SourceConfig>,
    /// `[[stage]]`, in order.
    pub stages: Vec<StageConfig>,
    /// `[sink]`.
    pub sink: Section<SinkSection>,
    /// `[dead_letter]`.
    pub dead_letter: Option<DeadLetterConfig>,
}

const SECTIONS: &[&str] = &["links", "source", "stage", "sink", "dead_letter"];

impl PipelineConfig {
    /// Reads and checks the pipeline file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Checks the text of a pipeline file (`path` only names it in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let file = SourceFile {
            path: path.to_owned(),
            text: text.into(),
        };
        let mut table = file.parse()?;
        if let Some(unknown) = table
            .iter()
            .map(|(key, _)| key)
            .find(|key| !SECTIONS.contains(key))
        {
            let span = table.key(unknown).and_then(|key| key.span());
            let expected = SECTIONS.join(", ");
            return Err(file.error(
                span,
                &format!("unknown section `{unknown}`: expected one of {expected}"),
            ));
        }
        let links = match table.remove("links") {
            Some(item) => file.table(item, "links")?.into_config(&file)?,
            None => LinksConfig::default(),
        };
        let source = match table.remove("source") {
            Some(item) => Some(SourceConfig::from_part(&file, file.table(item, "source")?)?),
            None => None,
        };
        let stages = match table.remove("stage") {
            Some(item) => file
                .tables(item, "stage")?
                .into_iter()
                .map(|part| StageConfig::from_part(&file, part))
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let sink = match table.remove("sink") {
            Some(item) => Some(SinkConfig::from_part(&file, file.table(item, "sink")?)?),
            None => None,
        };
        let dead_letter = match table.remove("dead_letter") {
            Some(item) => Some(file.table(item, "dead_letter")?.into_config(&file)?),
            None => None,
        };
        let missing = |what: &str| {
            file.error(
                Some(0..0),
                &format!("missing [{what}]: a pipeline needs one source and one sink"),
            )
        };
        let source = source.ok_or_else(|| missing("source"))?;
        let sink = sink.ok_or_else(|| missing("sink"))?;
        Ok(PipelineConfig {
            file,
            links,
            source,
            stages,
            sink,
            dead_letter,
        })
    }
}
