//! Reading the pipeline file in parts: TOML parsed once with every key's and
//! value's byte span kept, then each table handed to its own typed config
//! (chosen by its `type` key), so every error points into the file.

use std::ops::Range;

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml_edit::{ImDocument, InlineTable, Item, Table, Value};

use super::error::{ConfigError, SourceFile};

/// A table of the pipeline file (`[source]`, one `[[stage]]`, ...), its
/// entries still carrying their spans.
pub struct TablePart {
    items: InlineTable,
    /// Where the table is (its header, for a `[table]`).
    pub span: Option<Range<usize>>,
}

impl SourceFile {
    /// The error for a `type` that is none of `kinds`.
    pub fn unknown_type(
        &self,
        what: &str,
        kind: &str,
        span: Option<Range<usize>>,
        kinds: &[&str],
    ) -> ConfigError {
        let expected = kinds.join(", ");
        self.error(
            span,
            &format!("field `type`: unknown {what} type \"{kind}\": expected one of {expected}"),
        )
    }

    /// Parses the file's text into its top-level table.
    pub fn parse(&self) -> Result<Table, ConfigError> {
        ImDocument::parse(self.text.to_string())
            .map(ImDocument::into_table)
            .map_err(|error| self.error(error.span(), error.message().trim_end()))
    }

    /// Reads `item` as a table named `what`.
    pub fn table(&self, item: Item, what: &str) -> Result<TablePart, ConfigError> {
        match item {
            Item::Table(table) => Ok(TablePart {
                span: table.span(),
                items: table.into_inline_table(),
            }),
            Item::Value(Value::InlineTable(items)) => Ok(TablePart {
                span: items.span(),
                items,
            }),
            other => Err(self.error(other.span(), &format!("`{what}` must be a table"))),
        }
    }

    /// Reads `item` as an array of tables (`[[what]]`).
    pub fn tables(&self, item: Item, what: &str) -> Result<Vec<TablePart>, ConfigError> {
        match item {
            Item::ArrayOfTables(array) => array
                .into_iter()
                .map(|table| self.table(Item::Table(table), what))
                .collect(),
            Item::Value(Value::Array(array)) => array
                .into_iter()
                .map(|value| self.table(Item::Value(value), what))
                .collect(),
            other => Err(self.error(
                other.span(),
                &format!("`{what}` must be a list of tables, written [[{what}]]"),
            )),
        }
    }

    /// Deserializes a value with its spans; errors point at the value.
    pub fn value<T: DeserializeOwned>(
        &self,
        value: Value,
        fallback: Option<Range<usize>>,
    ) -> Result<T, ConfigError> {
        T::deserialize(value.into_deserializer()).map_err(|error| {
            let span = error.span().or(fallback);
            self.error(span, error.message().trim_end())
        })
    }
}

impl TablePart {
    /// Removes the `type` key and returns its value and span.
    pub fn take_type(
        &mut self,
        file: &SourceFile,
        what: &str,
    ) -> Result<(String, Option<Range<usize>>), ConfigError> {
        let Some((key, value)) = self.items.remove_entry("type") else {
            return Err(file.error(self.span.clone(), &format!("[{what}] needs a `type`")));
        };
        let span = value.span().or_else(|| key.span());
        match value.as_str() {
            Some(kind) => Ok((kind.to_owned(), span)),
            None => Err(file.error(span, "field `type`: expected a string")),
        }
    }

    /// Moves the entries named in `keys` to a table of their own.
    pub fn split_off(&mut self, keys: &[&str]) -> TablePart {
        let mut items = InlineTable::new();
        for key in keys {
            if let Some((key, value)) = self.items.remove_entry(key) {
                items.insert_formatted(&key, value);
            }
        }
        TablePart {
            items,
            span: self.span.clone(),
        }
    }

    /// Deserializes the table's remaining entries as a `T`.
    pub fn into_config<T: DeserializeOwned>(self, file: &SourceFile) -> Result<T, ConfigError> {
        file.value(Value::InlineTable(self.items), self.span)
    }
}
