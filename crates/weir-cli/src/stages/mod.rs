//! Stages of the `weir` command, one file each: a typed config and a
//! `build` giving the engine's [`Stage`]. Every stage also takes the
//! generic [`StageOptions`] (name, concurrency, timeout, retries, ...).

pub mod batch;
pub mod command;
pub mod condition;
pub mod http;
pub mod json;
pub mod options;
pub mod throttle;

use std::ops::Range;
use std::time::Duration;

use weir::stage::Stage;

pub use options::StageOptions;

use crate::config::{ConfigError, SourceFile, TablePart};
use crate::record::Payload;

/// One `[[stage]]` table.
#[derive(Debug, Clone)]
pub struct StageConfig {
    /// What the stage does, by its `type`.
    pub kind: StageKind,
    /// How it runs.
    pub options: StageOptions,
    /// Where its `type = ...` is.
    pub span: Option<Range<usize>>,
}

/// A stage's own options, by its `type`.
#[derive(Debug, Clone)]
pub enum StageKind {
    /// `type = "json"`.
    Json(json::JsonStageConfig),
    /// `type = "command"`.
    Command(command::CommandStageConfig),
    /// `type = "batch"`.
    Batch(batch::BatchStageConfig),
    /// `type = "throttle"` or `"rate_limit"`.
    Throttle(throttle::ThrottleStageConfig),
    /// `type = "http"`.
    Http(http::HttpStageConfig),
}

const STAGE_TYPES: &[&str] = &["json", "command", "batch", "throttle", "rate_limit", "http"];

/// Generic option names the HTTP stage takes as its own (it runs its
/// requests with its own limiter, timeout and retry budget).
const HTTP_OWN_OPTIONS: &[&str] = &["concurrency", "timeout", "retries"];

/// A stage ready to be added to the pipeline.
pub enum BuiltStage {
    /// One of the engine's transforming stages.
    Transform(Stage<Payload, Payload>),
    /// The engine's batching stage (its batches joined into arrays).
    Batch {
        /// Records per batch at most.
        size: usize,
        /// How long a partial batch waits.
        max_wait: Duration,
    },
}

impl StageConfig {
    /// Reads one `[[stage]]` table and checks what a stage of its type needs.
    pub fn from_part(file: &SourceFile, mut part: TablePart) -> Result<Self, ConfigError> {
        let (kind, span) = part.take_type(file, "stage")?;
        let generic: Vec<&str> = StageOptions::KEYS
            .iter()
            .copied()
            .filter(|key| kind != "http" || !HTTP_OWN_OPTIONS.contains(key))
            .collect();
        let options: StageOptions = part.split_off(&generic).into_config(file)?;
        let kind = match kind.as_str() {
            "json" => StageKind::Json(part.into_config(file)?),
            "command" => StageKind::Command(part.into_config(file)?),
            "batch" => StageKind::Batch(part.into_config(file)?),
            "throttle" | "rate_limit" => StageKind::Throttle(part.into_config(file)?),
            "http" => StageKind::Http(part.into_config(file)?),
            other => return Err(file.unknown_type("stage", other, span, STAGE_TYPES)),
        };
        match &kind {
            StageKind::Batch(_) if options.sets_run_options() => {
                return Err(file.error(
                    span,
                    "a batch stage takes only `name`, `size` and `max_wait`",
                ))
            }
            StageKind::Throttle(_) if options.rate.is_none() => {
                return Err(file.error(span, "a throttle stage needs a `rate`, like \"100/s\""))
            }
            _ => {}
        }
        Ok(StageConfig {
            kind,
            options,
            span,
        })
    }

    /// The stage's `type`.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            StageKind::Json(_) => "json",
            StageKind::Command(_) => "command",
            StageKind::Batch(_) => "batch",
            StageKind::Throttle(_) => "throttle",
            StageKind::Http(_) => "http",
        }
    }

    /// Builds the stage, named `name`.
    pub fn build(&self, name: &str) -> Result<BuiltStage, String> {
        let stage = match &self.kind {
            StageKind::Json(config) => json::build(config),
            StageKind::Command(config) => command::build(config)?,
            StageKind::Throttle(_) => throttle::build(),
            StageKind::Http(config) => http::build(config, name)?,
            StageKind::Batch(config) => {
                return Ok(BuiltStage::Batch {
                    size: config.size.get(),
                    max_wait: config.max_wait.0,
                })
            }
        };
        Ok(BuiltStage::Transform(self.options.apply(stage)))
    }
}

/// Each stage's name: its `name`, else its type, numbered if the type
/// repeats.
pub fn stage_names(stages: &[StageConfig]) -> Vec<String> {
    stages
        .iter()
        .enumerate()
        .map(|(index, stage)| match &stage.options.name {
            Some(name) => name.0.clone(),
            None => {
                let kind = stage.kind_name();
                let repeats = stages.iter().filter(|s| s.kind_name() == kind).count() > 1;
                if repeats {
                    format!("{kind}-{}", index + 1)
                } else {
                    kind.to_owned()
                }
            }
        })
        .collect()
}
