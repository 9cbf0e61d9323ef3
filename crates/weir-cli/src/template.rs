//! Text templates filled from a JSON record: `"/items/{id}"`,
//! `"{user.name}"`.
//!
//! A placeholder is `{` + a field path + `}`, where the path is letters,
//! digits, `_`, `-` and `.` (for nested fields). Any other `{` is literal
//! text, so JSON bodies need no escaping: in `{"id": {id}}` only `{id}` is
//! a placeholder. A string field is inserted as its text, any other value as
//! JSON.

use std::fmt::Write;

use serde_json::Value;

/// A template, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// A field path, split at the dots.
    Field(Vec<String>),
}

/// How inserted values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escape {
    /// As they are.
    None,
    /// Percent-encoded, everything but RFC 3986's unreserved characters (for
    /// URLs: a value with a `/` stays within one path segment).
    Url,
}

/// A record without a field its template needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the record has no field `{0}` (needed by the template)")]
pub(crate) struct MissingField(pub(crate) String);

impl Template {
    pub(crate) fn parse(text: &str) -> Template {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            literal.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let path_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
                .unwrap_or(after.len());
            if path_len > 0 && after[path_len..].starts_with('}') {
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                let path = after[..path_len].split('.').map(str::to_owned).collect();
                parts.push(Part::Field(path));
                rest = &after[path_len + 1..];
            } else {
                literal.push('{');
                rest = after;
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Template { parts }
    }

    /// The text before the first placeholder, and whether there is one.
    pub(crate) fn prefix(&self) -> (&str, bool) {
        match self.parts.as_slice() {
            [Part::Text(text)] => (text, false),
            [Part::Text(text), ..] => (text, true),
            _ => ("", !self.parts.is_empty()),
        }
    }

    /// Fills the placeholders from `record`.
    pub(crate) fn render(&self, record: &Value, escape: Escape) -> Result<String, MissingField> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field(path) => {
                    let value = path
                        .iter()
                        .try_fold(record, |value, key| value.get(key))
                        .ok_or_else(|| MissingField(path.join(".")))?;
                    let text = match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    match escape {
                        Escape::None => out.push_str(&text),
                        Escape::Url => percent_encode(&text, &mut out),
                    }
                }
            }
        }
        Ok(out)
    }
}

fn percent_encode(text: &str, out: &mut String) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fills_fields_and_keeps_other_braces() {
        let record = json!({"id": 7, "user": {"name": "a b/c"}, "tag": "x"});
        let url = Template::parse("http://h/items/{id}/{user.name}?t={tag}");
        assert_eq!(
            url.render(&record, Escape::Url).unwrap(),
            "http://h/items/7/a%20b%2Fc?t=x"
        );
        let body = Template::parse(r#"{"id": {id}, "name": "{user.name}", "x": { }}"#);
        assert_eq!(
            body.render(&record, Escape::None).unwrap(),
            r#"{"id": 7, "name": "a b/c", "x": { }}"#
        );
        assert_eq!(
            Template::parse("/{nope}").render(&record, Escape::None),
            Err(MissingField("nope".into()))
        );
    }
}
