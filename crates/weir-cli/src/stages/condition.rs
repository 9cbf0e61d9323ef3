//! The filter conditions of the `json` stage: `field == value`,
//! `field != value`, `field > n` (and `>=`, `<`, `<=`), `exists(field)`.
//! A field is a dotted path (`user.age`); a value is JSON (`42`, `"ok"`,
//! `true`, `null`) or a bare word, read as a string.

use std::cmp::Ordering;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `exists(field)`: the field is present (and not null).
    Exists(FieldPath),
    /// `field OP value`.
    Compare {
        /// The field.
        field: FieldPath,
        /// The operator.
        op: Op,
        /// The value compared with.
        value: Value,
    },
}

/// A dotted path into a JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath(Vec<String>);

impl FieldPath {
    fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<String> = text.trim().split('.').map(str::to_owned).collect();
        if parts.iter().any(|part| part.is_empty()) {
            return Err(format!(
                "bad field name {text:?}: expected a name like `user.id`"
            ));
        }
        Ok(FieldPath(parts))
    }

    /// The field's value in `record`, if present.
    pub fn find<'a>(&self, record: &'a Value) -> Option<&'a Value> {
        self.0
            .iter()
            .try_fold(record, |value, key| value.as_object()?.get(key))
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

/// Longest operators first, so `>=` is not read as `>`.
const OPERATORS: &[(&str, Op)] = &[
    ("==", Op::Eq),
    ("!=", Op::Ne),
    (">=", Op::Ge),
    ("<=", Op::Le),
    (">", Op::Gt),
    ("<", Op::Lt),
];

const EXPECTED: &str = "expected `field == value`, `field != value`, `field > n`, `field >= n`, `field < n`, `field <= n` or `exists(field)`";

impl FromStr for Condition {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(inner) = text
            .strip_prefix("exists(")
            .and_then(|t| t.strip_suffix(')'))
        {
            return Ok(Condition::Exists(FieldPath::parse(inner)?));
        }
        let (at, symbol, op) = OPERATORS
            .iter()
            .filter_map(|(symbol, op)| text.find(symbol).map(|at| (at, *symbol, *op)))
            .min_by_key(|(at, symbol, _)| (*at, std::cmp::Reverse(symbol.len())))
            .ok_or_else(|| format!("bad condition {text:?}: {EXPECTED}"))?;
        let field = FieldPath::parse(&text[..at])?;
        let literal = text[at + symbol.len()..].trim();
        if literal.is_empty() {
            return Err(format!("bad condition {text:?}: no value after `{symbol}`"));
        }
        let value = serde_json::from_str(literal).unwrap_or_else(|_| Value::from(literal));
        if matches!(op, Op::Gt | Op::Ge | Op::Lt | Op::Le) && !value.is_number() {
            return Err(format!("bad condition {text:?}: `{symbol}` needs a number"));
        }
        Ok(Condition::Compare { field, op, value })
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Condition {
    /// Whether `record` satisfies the condition (a missing field satisfies
    /// only `!=`).
    pub fn holds(&self, record: &Value) -> bool {
        match self {
            Condition::Exists(field) => field.find(record).is_some_and(|v| !v.is_null()),
            Condition::Compare { field, op, value } => {
                let found = field.find(record);
                match op {
                    Op::Eq => found == Some(value),
                    Op::Ne => found != Some(value),
                    Op::Gt | Op::Ge | Op::Lt | Op::Le => {
                        let ordering = found
                            .and_then(Value::as_f64)
                            .zip(value.as_f64())
                            .and_then(|(a, b)| a.partial_cmp(&b));
                        ordering.is_some_and(|ordering| op.accepts(ordering))
                    }
                }
            }
        }
    }
}

impl Op {
    fn accepts(self, ordering: Ordering) -> bool {
        match self {
            Op::Eq => ordering.is_eq(),
            Op::Ne => ordering.is_ne(),
            Op::Gt => ordering.is_gt(),
            Op::Ge => ordering.is_ge(),
            Op::Lt => ordering.is_lt(),
            Op::Le => ordering.is_le(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn holds(condition: &str, record: Value) -> bool {
        condition.parse::<Condition>().unwrap().holds(&record)
    }

    #[test]
    fn compares_fields() {
        assert!(holds("level == \"error\"", json!({"level": "error"})));
        assert!(holds("level == error", json!({"level": "error"})));
        assert!(!holds("level != error", json!({"level": "error"})));
        assert!(holds("user.age >= 18", json!({"user": {"age": 18}})));
        assert!(!holds("user.age > 18", json!({"user": {"age": 18}})));
        assert!(holds("n < 2.5", json!({"n": 2})));
        assert!(!holds("n < 2", json!({})));
    }

    #[test]
    fn checks_presence() {
        assert!(holds("exists(a.b)", json!({"a": {"b": 0}})));
        assert!(!holds("exists(a.b)", json!({"a": {"b": null}})));
        assert!(!holds("exists(a)", json!("text")));
    }

    #[test]
    fn rejects_malformed_conditions() {
        assert!("level"
            .parse::<Condition>()
            .unwrap_err()
            .contains("expected"));
        assert!("n > many"
            .parse::<Condition>()
            .unwrap_err()
            .contains("needs a number"));
        assert!(" == 1"
            .parse::<Condition>()
            .unwrap_err()
            .contains("bad field"));
    }
}
