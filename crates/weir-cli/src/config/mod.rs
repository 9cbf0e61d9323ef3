//! The parsing kit for pipeline files: the TOML document with every span
//! kept ([`document`]), errors that point at a file, line, column and field
//! ([`error`]), the keys a config type takes ([`fields`]), `${NAME}`
//! interpolation ([`text`]), units ([`units`]), the retry dialect
//! ([`retries`]) and `[links]` ([`links`]). It imports no connector: the
//! pipeline file type ([`crate::pipeline_file`]) and the connectors sit on
//! top of it.

mod document;
pub(crate) mod error;
mod fields;
pub(crate) mod links;
mod retries;
mod text;
pub(crate) mod units;

pub(crate) use document::TablePart;
pub(crate) use error::{ConfigError, Located, SourceFile};
#[cfg(test)]
pub(crate) use fields::field_names;
pub(crate) use links::{LinkPart, LinksConfig};
pub(crate) use retries::RetryOptions;
pub(crate) use units::{ByteSize, HumanDuration, HumanRate};
