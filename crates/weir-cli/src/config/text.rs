//! `${NAME}` in any string of a pipeline file is replaced by the
//! environment variable `NAME` (an unset variable is an error naming it and
//! pointing at the string). It happens once, on the parsed document, before
//! any part reads it, so every string field is covered, templates included:
//! `{field}` (without `$`) is left for the template.

use std::ops::Range;

use toml_edit::{Item, Table, Value};

use super::error::{ConfigError, SourceFile};

impl SourceFile {
    /// Interpolates every string value in `table` with `lookup`.
    pub fn interpolate(
        &self,
        table: &mut Table,
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        for (_, item) in table.iter_mut() {
            self.interpolate_item(item, lookup)?;
        }
        Ok(())
    }

    fn interpolate_item(
        &self,
        item: &mut Item,
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        match item {
            Item::Value(value) => self.interpolate_value(value, lookup),
            Item::Table(table) => self.interpolate(table, lookup),
            Item::ArrayOfTables(tables) => tables
                .iter_mut()
                .try_for_each(|table| self.interpolate(table, lookup)),
            Item::None => Ok(()),
        }
    }

    fn interpolate_value(
        &self,
        value: &mut Value,
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        match value {
            Value::String(text) if text.value().contains("${") => {
                let span: Option<Range<usize>> = text.span();
                let replaced =
                    interpolate(text.value(), lookup).map_err(|error| self.error(span, &error))?;
                // The new value has no span of its own: an error about it
                // later points at its table.
                *value = Value::from(replaced);
                Ok(())
            }
            Value::Array(values) => values
                .iter_mut()
                .try_for_each(|value| self.interpolate_value(value, lookup)),
            Value::InlineTable(table) => table
                .iter_mut()
                .try_for_each(|(_, value)| self.interpolate_value(value, lookup)),
            _ => Ok(()),
        }
    }
}

/// Replaces each `${NAME}` in `raw` by `lookup(NAME)`.
pub fn interpolate(raw: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed `${{` in {raw:?}: expected `${{NAME}}`"))?;
        let name = &after[..end];
        if name.is_empty() {
            return Err(format!("empty `${{}}` in {raw:?}: expected `${{NAME}}`"));
        }
        let value =
            lookup(name).ok_or_else(|| format!("environment variable `{name}` is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "HOST").then(|| "example.org".to_owned())
    }

    #[test]
    fn replaces_variables() {
        assert_eq!(
            interpolate("http://${HOST}/x/${HOST}", env).unwrap(),
            "http://example.org/x/example.org"
        );
        assert_eq!(interpolate("no variables", env).unwrap(), "no variables");
    }

    #[test]
    fn names_an_unset_variable() {
        let error = interpolate("${TOKEN}", env).unwrap_err();
        assert_eq!(error, "environment variable `TOKEN` is not set");
    }

    #[test]
    fn every_string_of_a_document_is_interpolated_and_templates_kept() {
        let text = "[sink]\nurl = \"https://${HOST}/{id}\"\n\
                    argv = [\"echo\", \"${HOST}\"]\n\
                    retries = { note = \"${HOST}\" }\n\
                    [[stage]]\nbody = '{\"host\": \"${HOST}\", \"id\": {id}}'\n";
        let file = SourceFile {
            path: "p.toml".into(),
            text: text.into(),
        };
        let mut table = file.parse_with(env).unwrap();
        let sink = table["sink"].as_table().unwrap();
        assert_eq!(sink["url"].as_str(), Some("https://example.org/{id}"));
        assert_eq!(
            sink["argv"].as_array().unwrap().get(1).unwrap().as_str(),
            Some("example.org")
        );
        assert_eq!(
            sink["retries"]
                .as_inline_table()
                .unwrap()
                .get("note")
                .unwrap()
                .as_str(),
            Some("example.org")
        );
        let stage = table["stage"]
            .as_array_of_tables_mut()
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(
            stage["body"].as_str(),
            Some(r#"{"host": "example.org", "id": {id}}"#)
        );
    }

    #[test]
    fn an_unset_variable_points_at_its_string() {
        let file = SourceFile {
            path: "p.toml".into(),
            text: "[sink]\ntype = \"http\"\nurl = \"${TOKEN}\"\n".into(),
        };
        let error = file.parse_with(env).unwrap_err().to_string();
        assert_eq!(
            error,
            "p.toml:3:7: field `url`: environment variable `TOKEN` is not set"
        );
    }

    #[test]
    fn rejects_malformed_references() {
        assert!(interpolate("${HOST", env).unwrap_err().contains("unclosed"));
        assert!(interpolate("${}", env).unwrap_err().contains("empty"));
    }
}
