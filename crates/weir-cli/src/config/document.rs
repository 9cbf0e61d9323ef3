//! Reading the pipeline file in parts: TOML parsed once with every key's and
//! value's byte span kept, then each table handed to its own typed config
//! (chosen by its `type` key), so every error points into the file.

use std::ops::Range;

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml_edit::{ImDocument, InlineTable, Item, Table, Value};

use super::error::{ConfigError, SourceFile};
use super::fields::field_names;
use super::retries::MOVED_KEYS;

/// A table of the pipeline file (`[source]`, one `[[stage]]`, ...), its
/// entries still carrying their spans. Typed parts [`take`](Self::take) the
/// keys their fields name; [`finish`](Self::finish) then rejects any key
/// no part took, listing every key that was offered.
///
/// A key no part takes is reported before anything else about the table
/// (a misspelt key explains the "missing field" that follows from it): the
/// parts still to come are announced with [`expect`](Self::expect).
pub struct TablePart {
    items: InlineTable,
    /// Where the table is (its header, for a `[table]`).
    pub span: Option<Range<usize>>,
    /// What the table is, as the file writes it (`[sink]`, `[[stage]]`).
    what: String,
    /// The keys of every part taken so far, and of those announced.
    offered: Vec<&'static str>,
    /// Of `offered`, the keys of parts announced but not taken yet.
    later: Vec<&'static str>,
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

    /// Parses the file's text into its top-level table, with `${NAME}`
    /// replaced by the environment's `NAME` in every string.
    pub fn parse(&self) -> Result<Table, ConfigError> {
        self.parse_with(|name| std::env::var(name).ok())
    }

    /// [`parse`](Self::parse), with variables from `lookup`.
    pub fn parse_with(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Table, ConfigError> {
        let mut table = ImDocument::parse(self.text.to_string())
            .map(ImDocument::into_table)
            .map_err(|error| self.error(error.span(), error.message().trim_end()))?;
        self.interpolate(&mut table, &lookup)?;
        Ok(table)
    }

    /// Reads `item` as a table named `what`.
    pub fn table(&self, item: Item, what: &str) -> Result<TablePart, ConfigError> {
        match item {
            Item::Table(table) => Ok(TablePart::new(
                table.span(),
                table.into_inline_table(),
                what,
            )),
            Item::Value(Value::InlineTable(items)) => Ok(TablePart::new(items.span(), items, what)),
            other => Err(self.error(other.span(), &format!("`{what}` must be a table"))),
        }
    }

    /// Reads `item` as an array of tables (`[[what]]`).
    pub fn tables(&self, item: Item, what: &str) -> Result<Vec<TablePart>, ConfigError> {
        match item {
            Item::ArrayOfTables(array) => array
                .into_iter()
                .map(|table| self.table(Item::Table(table), &format!("[{what}]")))
                .collect(),
            Item::Value(Value::Array(array)) => array
                .into_iter()
                .map(|value| self.table(Item::Value(value), &format!("[{what}]")))
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
    fn new(span: Option<Range<usize>>, items: InlineTable, what: &str) -> Self {
        TablePart {
            items,
            span,
            what: format!("[{what}]"),
            offered: Vec::new(),
            later: Vec::new(),
        }
    }

    /// Announces that a part of type `T` will take its keys later.
    pub fn expect<T: DeserializeOwned>(&mut self) {
        for key in field_names::<T>() {
            self.offer(key);
            self.later.push(key);
        }
    }

    fn offer(&mut self, key: &'static str) {
        if !self.offered.contains(&key) {
            self.offered.push(key);
        }
    }
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

    /// Takes the entries named by `T`'s fields (see [`field_names`]) and
    /// deserializes them as a `T`; the other entries stay for other parts.
    pub fn take<T: DeserializeOwned>(&mut self, file: &SourceFile) -> Result<T, ConfigError> {
        let keys = field_names::<T>();
        let mut items = InlineTable::new();
        for key in keys {
            if let Some((key, value)) = self.items.remove_entry(key) {
                items.insert_formatted(&key, value);
            }
            self.offer(key);
        }
        self.later.retain(|key| !keys.contains(key));
        file.value(Value::InlineTable(items), self.span.clone())
            .map_err(|error| self.unknown_key(file).unwrap_or(error))
    }

    /// Checks that every entry was taken by some part: a key none took is
    /// an error naming it and every key the parts take.
    pub fn finish(self, file: &SourceFile) -> Result<(), ConfigError> {
        match self.unknown_key(file) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// The error about a key that no part took or announced, if any.
    fn unknown_key(&self, file: &SourceFile) -> Option<ConfigError> {
        let (key, _) = self
            .items
            .iter()
            .find(|(key, _)| !self.later.contains(key))?;
        let span = self.items.key(key).and_then(|k| k.span());
        if let Some((_, instead)) = MOVED_KEYS.iter().find(|(old, _)| *old == key) {
            return Some(file.error(span, &format!("`{key}` is the old form: write `{instead}`")));
        }
        let (what, expected) = (&self.what, self.offered.join(", "));
        Some(file.error(
            span,
            &format!("unknown field `{key}` in {what}: expected one of {expected}"),
        ))
    }

    /// Deserializes the whole table as a `T`.
    pub fn into_config<T: DeserializeOwned>(self, file: &SourceFile) -> Result<T, ConfigError> {
        file.value(Value::InlineTable(self.items), self.span)
    }
}
