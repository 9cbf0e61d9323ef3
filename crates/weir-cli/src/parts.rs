//! Connectors built from the TOML of their table, outside a pipeline file:
//! the narrow surface the integration tests and the bench use to run one
//! connector in a pipeline of their own. Errors are the config errors a
//! pipeline file would get, as text.

use toml_edit::Item;
use weir::io::Sink;
use weir::stage::Stage;
use weir_core::limit::AdaptiveConcurrency;

use crate::config::{SourceFile, TablePart};
use crate::connector::StageConnector;
use crate::record::Payload;
use crate::sinks::SinkConfig;
use crate::stages::http::{build_with_limit, HttpStageConfig};
use crate::stages::StageConfig;

fn table(text: &str, what: &str) -> Result<(SourceFile, TablePart), String> {
    let file = SourceFile {
        path: format!("<{what}>").into(),
        text: text.into(),
    };
    let part = file
        .parse()
        .and_then(|table| file.table(Item::Table(table), what))
        .map_err(|error| error.to_string())?;
    Ok((file, part))
}

/// The stage a `[[stage]]` table (with its `type`) describes, named `name`,
/// run as its generic options say.
pub fn stage(text: &str, name: &str) -> Result<Stage<Payload, Payload>, String> {
    let (file, part) = table(text, "stage")?;
    let config = StageConfig::from_part(&file, part).map_err(|error| error.to_string())?;
    config.build(name).map_err(|error| error.to_string())
}

/// The `http` stage a table (without `type`) describes, named `name`, and
/// its adaptive limiter if its concurrency is adaptive, to read the limit
/// while it runs.
pub fn http_stage(
    text: &str,
    name: &str,
) -> Result<(Stage<Payload, Payload>, Option<AdaptiveConcurrency>), String> {
    let (file, mut part) = table(text, "stage")?;
    part.expect::<HttpStageConfig>();
    let config = HttpStageConfig::parse(&file, &mut part).map_err(|error| error.to_string())?;
    part.finish(&file).map_err(|error| error.to_string())?;
    StageConnector::check(&config, &Default::default())?;
    build_with_limit(&config, name).map_err(|error| error.to_string())
}

/// The sink a `[sink]` table (with its `type`) describes, opened.
pub async fn sink(text: &str) -> Result<impl Sink<Payload>, String> {
    let (file, part) = table(text, "sink")?;
    let config = SinkConfig::from_part(&file, part).map_err(|error| error.to_string())?;
    config.spec.open().await.map_err(|error| error.to_string())
}
