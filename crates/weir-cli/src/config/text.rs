//! Strings in a pipeline file, with `${NAME}` replaced by the environment
//! variable `NAME` (an unset variable is an error naming it).

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer};

/// A string value of the pipeline file, environment variables interpolated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Text(pub String);

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        interpolate(&raw, |name| std::env::var(name).ok())
            .map(Text)
            .map_err(serde::de::Error::custom)
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
    fn rejects_malformed_references() {
        assert!(interpolate("${HOST", env).unwrap_err().contains("unclosed"));
        assert!(interpolate("${}", env).unwrap_err().contains("empty"));
    }
}
