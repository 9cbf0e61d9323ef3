//! `type = "json"`: parse a text record as JSON, keep the records matching
//! a condition, pick fields, rename fields.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use weir::stage::{Emit, Stage};
use weir::BoxError;

use std::convert::Infallible;

use super::condition::Condition;
use crate::connector::StageConnector;
use crate::record::{payload, Payload};

/// The `[[stage]]` options of `type = "json"`, applied in this order:
/// parse, filter, pick, rename.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonStageConfig {
    /// Keep only records for which this holds (`level == "error"`,
    /// `latency_ms > 100`, `exists(user.id)`); the others are filtered.
    filter: Option<Condition>,
    /// Keep only these top-level fields.
    #[serde(default)]
    pick: Vec<String>,
    /// Rename top-level fields: `{ old = "new" }`.
    #[serde(default)]
    rename: BTreeMap<String, String>,
}

impl StageConnector for JsonStageConfig {
    const TYPE: &'static str = "json";
    type Error = Infallible;

    /// The stage's function (run inline: it is cheap).
    fn build(&self, _name: &str) -> Result<Stage<Payload, Payload>, Infallible> {
        let config = self.clone();
        Ok(Stage::emit(move |record: Payload| {
            transform(&config, record)
        }))
    }
}

fn transform(config: &JsonStageConfig, record: Payload) -> Result<Emit<Payload>, BoxError> {
    let mut value = match &*record {
        Value::String(text) => {
            serde_json::from_str(text).map_err(|error| format!("malformed JSON: {error}"))?
        }
        other => other.clone(),
    };
    if config.filter.as_ref().is_some_and(|c| !c.holds(&value)) {
        return Ok(Emit::Skip);
    }
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

    fn config(toml_text: &str) -> JsonStageConfig {
        let value: toml_edit::Value = format!("{{ {toml_text} }}").parse().unwrap();
        JsonStageConfig::deserialize(serde::de::IntoDeserializer::into_deserializer(value)).unwrap()
    }

    fn run(config: &JsonStageConfig, record: Value) -> Result<Emit<Payload>, BoxError> {
        transform(config, payload(record))
    }

    #[test]
    fn parses_filters_picks_and_renames() {
        let config = config(r#"filter = "n > 1", pick = ["n", "name"], rename = { name = "who" }"#);
        let out = run(&config, json!(r#"{"n": 2, "name": "a", "extra": true}"#)).unwrap();
        assert_eq!(out, Emit::One(payload(json!({"n": 2, "who": "a"}))));
        assert_eq!(run(&config, json!({"n": 1})).unwrap(), Emit::Skip);
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
