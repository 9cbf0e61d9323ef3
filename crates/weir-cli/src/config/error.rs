//! What can be wrong with a pipeline file, with where it is wrong: the file,
//! the byte span, its line and column, and the field.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

/// A pipeline file that cannot be read or does not describe a pipeline.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or a value is not what was expected.
    #[error("{0}")]
    Invalid(Box<Located>),
}

/// A message about one place in a pipeline file.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}:{}:{}: {}", path.display(), line, column, message)]
pub struct Located {
    /// The file.
    pub path: PathBuf,
    /// The file's text, to show the place in context.
    pub text: Arc<str>,
    /// Byte range of the place in `text`.
    pub span: Range<usize>,
    /// 1-based line of the span's start.
    pub line: usize,
    /// 1-based column (in characters) of the span's start.
    pub column: usize,
    /// What is wrong, naming the field and what was expected.
    pub message: String,
}

/// The text of a pipeline file with its name, to point at places in it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The file.
    pub path: PathBuf,
    /// Its text.
    pub text: Arc<str>,
}

impl SourceFile {
    /// A message about `span`, naming the field there (the key of the
    /// `key = value` line the span starts on) when the message does not;
    /// `type` is not named: it stands for its whole table.
    pub fn locate(&self, span: Option<Range<usize>>, message: &str) -> Located {
        let span = span.unwrap_or(0..0);
        let start = span.start.min(self.text.len());
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        let message = match self.field_at(line_start) {
            Some(field) if field != "type" && !message.contains(&format!("`{field}`")) => {
                format!("field `{field}`: {message}")
            }
            _ => message.to_owned(),
        };
        Located {
            path: self.path.clone(),
            text: self.text.clone(),
            span,
            line,
            column,
            message,
        }
    }

    /// The key of a `key = value` line starting at `line_start`.
    fn field_at(&self, line_start: usize) -> Option<&str> {
        let line = self.text[line_start..].lines().next()?;
        let (key, _) = line.split_once('=')?;
        let key = key.trim();
        let is_key = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        is_key.then_some(key)
    }

    /// A [`ConfigError`] about `span`.
    pub fn error(&self, span: Option<Range<usize>>, message: &str) -> ConfigError {
        ConfigError::Invalid(Box::new(self.locate(span, message)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> SourceFile {
        SourceFile {
            path: "p.toml".into(),
            text: text.into(),
        }
    }

    #[test]
    fn names_line_column_and_field() {
        let text = "[links]\ncapacity = 0\n";
        let at = file(text).locate(Some(19..20), "must be at least 1");
        assert_eq!((at.line, at.column), (2, 12));
        assert_eq!(at.message, "field `capacity`: must be at least 1");
        assert_eq!(
            at.to_string(),
            "p.toml:2:12: field `capacity`: must be at least 1"
        );
    }

    #[test]
    fn does_not_repeat_a_named_field() {
        let text = "[source]\npth = 1\n";
        let at = file(text).locate(Some(9..12), "unknown field `pth`");
        assert_eq!(at.message, "unknown field `pth`");
    }
}
