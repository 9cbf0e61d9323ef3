//! `type = "json"`: parse a text record as JSON, keep the records for which
//! a jq expression holds, pick fields, rename fields.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};
use serde_spanned::Spanned;
use weir::stage::{Emit, Stage};
use weir::BoxError;

use super::jq::{compile_field, record_to_val, val_to_json, JqProgram};
use crate::config::{ConfigError, SourceFile, TablePart};
use crate::connector::StageConnector;
use crate::record::{payload, Payload};

/// Added to a `filter` that does not compile: it may be a condition of the
/// hand-written syntax `filter` had before it became jq.
const MOVED_TO_JQ: &str = "; `filter` is a jq expression (it was a condition of its own \
     syntax before): fields start with a dot (`.level == \"error\"`, \
     `.latency_ms > 100 and .user.id != null`); `exists(user.id)` is `.user.id != null`";

/// The `[[stage]]` options of `type = "json"`, applied in this order:
/// parse, filter, pick, rename.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonStageConfig {
    /// Keep only records for which this jq expression holds (its first
    /// output is neither `false` nor `null`), e.g. `.level == "error"`; the
    /// others are filtered.
    filter: Option<Spanned<String>>,
    /// Keep only these top-level fields.
    #[serde(default)]
    pick: Vec<String>,
    /// Rename top-level fields: `{ old = "new" }`.
    #[serde(default)]
    rename: BTreeMap<String, String>,
    /// `filter`, compiled by `parse`.
    #[serde(skip)]
    condition: Option<Arc<JqProgram>>,
}

impl StageConnector for JsonStageConfig {
    const TYPE: &'static str = "json";
    type Error = Infallible;

    fn parse(file: &SourceFile, part: &mut TablePart) -> Result<Self, ConfigError> {
        let mut config: JsonStageConfig = part.take(file)?;
        if let Some(filter) = &config.filter {
            let program = compile_field(file, filter, &BTreeMap::new(), MOVED_TO_JQ)?;
            config.condition = Some(Arc::new(program));
        }
        Ok(config)
    }

    /// The stage's function (run inline: it is cheap).
    fn build(&self, _name: &str) -> Result<Stage<Payload, Payload>, Infallible> {
        let config = self.clone();
        Ok(Stage::emit(move |record: Payload| {
            transform(&config, record)
        }))
    }
}

fn transform(config: &JsonStageConfig, record: Payload) -> Result<Emit<Payload>, BoxError> {
    let mut value = match &config.condition {
        Some(condition) => {
            // Only a record kept is read whole; the test reads what it
            // needs (the jq stage's fast path, when the filter has one).
            if !condition.test(&record)? {
                return Ok(Emit::Skip);
            }
            val_to_json(record_to_val(&record)?)
        }
        None => match &*record {
            Value::String(text) => {
                serde_json::from_str(text).map_err(|error| format!("malformed JSON: {error}"))?
            }
            other => other.clone(),
        },
    };
    if !config.pick.is_empty() || !config.rename.is_empty() {
        let Value::Object(fields) = &mut value else {
            return Err("expected a JSON object to pick or rename fields in".into());
        };
        if !config.pick.is_empty() {
            let picked: Map<String, Value> = config
                .pick
                .iter()
                .filter_map(|name| fields.remove_entry(name.as_str()))
                .collect();
            *fields = picked;
        }
        for (old, new) in &config.rename {
            if let Some(field) = fields.remove(old) {
                fields.insert(new.clone(), field);
            }
        }
    }
    Ok(Emit::One(payload(value)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The config of a table holding `toml_text`, read as a pipeline file's.
    fn config(toml_text: &str) -> JsonStageConfig {
        let file = SourceFile {
            path: "p.toml".into(),
            text: toml_text.into(),
        };
        let table = file.parse().unwrap();
        let mut part = file.table(toml_edit::Item::Table(table), "stage").unwrap();
        JsonStageConfig::parse(&file, &mut part).unwrap()
    }

    fn run(config: &JsonStageConfig, record: Value) -> Result<Emit<Payload>, BoxError> {
        transform(config, payload(record))
    }

    #[test]
    fn parses_filters_picks_and_renames() {
        let config = config(
            r#"filter = '.n > 1 and (.name | startswith("a"))'
               pick = ["n", "name"]
               rename = { name = "who" }"#,
        );
        let out = run(&config, json!(r#"{"n": 2, "name": "ab", "extra": true}"#)).unwrap();
        assert_eq!(out, Emit::One(payload(json!({"n": 2, "who": "ab"}))));
        assert_eq!(
            run(&config, json!({"n": 1, "name": "a"})).unwrap(),
            Emit::Skip
        );
        assert_eq!(
            run(&config, json!({"n": 3, "name": "b"})).unwrap(),
            Emit::Skip
        );
    }

    #[test]
    fn a_filter_that_yields_null_or_nothing_filters() {
        let missing = config(r#"filter = ".missing""#);
        assert_eq!(run(&missing, json!({"n": 1})).unwrap(), Emit::Skip);
        let empty = config(r#"filter = "empty""#);
        assert_eq!(run(&empty, json!({"n": 1})).unwrap(), Emit::Skip);
        let zero = config(r#"filter = ".n""#);
        assert_eq!(
            run(&zero, json!({"n": 0})).unwrap(),
            Emit::One(payload(json!({"n": 0})))
        );
    }

    #[test]
    fn a_filter_error_is_the_records_error() {
        let config = config(r#"filter = ".n.x""#);
        assert!(run(&config, json!({"n": 1})).is_err());
        let error = run(&config, json!("{oops")).unwrap_err();
        assert!(error.to_string().starts_with("malformed JSON"));
    }

    #[test]
    fn malformed_json_is_an_error() {
        let error = run(&JsonStageConfig::default(), json!("{oops")).unwrap_err();
        assert!(error.to_string().starts_with("malformed JSON"));
    }

    #[test]
    fn picking_from_a_non_object_is_an_error() {
        let config = config(r#"pick = ["a"]"#);
        assert!(run(&config, json!([1, 2])).is_err());
    }
}
