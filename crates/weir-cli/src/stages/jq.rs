//! `type = "jq"`: each record through a jq program, run by
//! [jaq](https://github.com/01mf02/jaq) (jaq-core, jaq-std, jaq-json).
//!
//! The program is compiled once, when the pipeline file is read, so a
//! program that does not compile is a config error at its `program` field
//! (`weir validate` exits 2). Per record:
//!
//! - a text record (a line read with `format = "lines"`) is parsed as JSON,
//!   as `jq` reads its input; a record already parsed is taken as is;
//! - no output: the record is filtered; one output: the record becomes it;
//!   several: as many records, the source's acknowledgement split between
//!   them (as `flat_map` does);
//! - a runtime error (`error("...")`, `.a` of a number, ...): the record is
//!   dead-lettered with jq's message, and the stage goes on.
//!
//! Outputs are what `jq -c` prints. A string output is a JSON string, which
//! the line sinks write as its raw text (as `jq -r` would).
//!
//! Variables: `$ENV` (the environment, read when the pipeline is built) and
//! `args = { name = "value" }` bound as `$name` (as `jq --arg`).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{data, Compiler, Ctx, ValT, Vars};
use jaq_json::Val;
use serde::Deserialize;
use serde_json::Value;
use serde_spanned::Spanned;
use weir::stage::{Emit, Stage};
use weir::BoxError;

use crate::config::{ConfigError, SourceFile, TablePart};
use crate::connector::StageConnector;
use crate::record::{payload, Payload};

use super::jq_plan::Plan;

/// The `[[stage]]` options of `type = "jq"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JqStageConfig {
    /// The jq program, e.g. `'select(.level == "error") | {id, msg}'`.
    program: Option<Spanned<String>>,
    /// A file holding the program, instead of `program`.
    program_file: Option<Spanned<String>>,
    /// Strings bound as `$name` in the program, like `jq --arg name value`.
    #[serde(default)]
    args: BTreeMap<String, String>,
    /// The program, compiled by `parse`.
    #[serde(skip)]
    compiled: Option<Arc<JqProgram>>,
}

impl StageConnector for JqStageConfig {
    const TYPE: &'static str = "jq";
    type Error = std::convert::Infallible;

    fn parse(file: &SourceFile, part: &mut TablePart) -> Result<Self, ConfigError> {
        let mut config: JqStageConfig = part.take(file)?;
        let program = match (&config.program, &config.program_file) {
            (Some(program), None) => compile_field(file, program, &config.args, "")?,
            (None, Some(path)) => {
                let code = std::fs::read_to_string(path.get_ref()).map_err(|error| {
                    file.error(
                        Some(path.span()),
                        &format!("cannot read {}: {error}", path.get_ref()),
                    )
                })?;
                JqProgram::compile(&code, &config.args).map_err(|error| {
                    let at = error.position(&code);
                    file.error(
                        Some(path.span()),
                        &format!("jq: {} (at {}:{at})", error.message, path.get_ref()),
                    )
                })?
            }
            _ => {
                return Err(file.error(
                    part.span.clone(),
                    "a jq stage needs exactly one of `program` and `program_file`",
                ))
            }
        };
        config.compiled = Some(Arc::new(program));
        Ok(config)
    }

    fn build(&self, _name: &str) -> Result<Stage<Payload, Payload>, Self::Error> {
        let program = self
            .compiled
            .clone()
            .expect("a jq stage is compiled when its table is parsed");
        Ok(Stage::emit(move |record: Payload| program.emit(&record)))
    }
}

/// Compiles the jq program of a string field, a compile error pointing at
/// the field, with jq's position inside the program; `hint` is added to the
/// message.
pub(crate) fn compile_field(
    file: &SourceFile,
    field: &Spanned<String>,
    args: &BTreeMap<String, String>,
    hint: &str,
) -> Result<JqProgram, ConfigError> {
    JqProgram::compile(field.get_ref(), args).map_err(|error| {
        let at = error.position(field.get_ref());
        file.error(
            Some(field.span()),
            &format!(
                "jq: {} (at line {}, column {} of the program){hint}",
                error.message, at.line, at.column
            ),
        )
    })
}

/// A compiled jq program with the values of its variables.
pub(crate) struct JqProgram {
    filter: jaq_core::Filter<data::JustLut<Val>>,
    /// The same program on the fast path, if it has one (see `jq_plan`).
    plan: Option<Plan>,
    /// `$ENV` then each of `args`, in the order given to the compiler.
    globals: Vec<Val>,
    /// The program's text, for `Debug`.
    text: String,
}

impl fmt::Debug for JqProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JqProgram").field(&self.text).finish()
    }
}

/// Why a program does not compile, and where in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CompileError {
    /// Byte range in the program.
    pub(crate) span: Range<usize>,
    /// jq's message.
    pub(crate) message: String,
}

/// A 1-based line and column (in characters) in a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

impl CompileError {
    /// The error's line and column in `code`.
    pub(crate) fn position(&self, code: &str) -> Position {
        let before = &code[..self.span.start.min(code.len())];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl JqProgram {
    /// Parses and compiles `code` with jq's standard library, `$ENV` and
    /// `$name` for each of `args`.
    pub(crate) fn compile(
        code: &str,
        args: &BTreeMap<String, String>,
    ) -> Result<Self, CompileError> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let names: Vec<String> = std::iter::once("$ENV".to_owned())
            .chain(args.keys().map(|name| format!("${name}")))
            .collect();
        let arena = Arena::default();
        let modules = Loader::new(defs)
            .load(&arena, File { code, path: () })
            .map_err(|errors| load_error(code, errors))?;
        let filter = Compiler::default()
            .with_funs(funs)
            .with_global_vars(names.iter().map(String::as_str))
            .compile(modules)
            .map_err(|errors| {
                let (name, undefined) = errors
                    .into_iter()
                    .flat_map(|(_, errors)| errors)
                    .next()
                    .expect("a failed compilation has an error");
                let name_shown = match undefined {
                    jaq_core::compile::Undefined::Filter(arity) => format!("{name}/{arity}"),
                    _ => name.to_owned(),
                };
                CompileError {
                    span: jaq_core::load::span(code, name),
                    message: format!("undefined {} `{name_shown}`", undefined.as_str()),
                }
            })?;
        let env: jaq_json::Map = std::env::vars()
            .map(|(name, value)| (Val::from(name), Val::from(value)))
            .collect();
        let globals: Vec<Val> = std::iter::once(Val::obj(env))
            .chain(args.values().map(|value| Val::from(value.clone())))
            .collect();
        let named: Vec<(String, Val)> = names.into_iter().zip(globals.iter().cloned()).collect();
        Ok(JqProgram {
            filter,
            plan: Plan::compile(code, &named),
            globals,
            text: code.to_owned(),
        })
    }

    /// Runs the program on `input`: its outputs, or the first runtime
    /// error's message.
    pub(crate) fn run(&self, input: Val) -> Result<Vec<Val>, String> {
        let vars = Vars::new(self.globals.iter().cloned());
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, vars);
        self.filter
            .id
            .run((ctx, input))
            .map(|output| output.map_err(runtime_error))
            .collect()
    }

    /// The program's fast path, if it has one.
    #[cfg(test)]
    pub(crate) fn plan(&self) -> Option<&Plan> {
        self.plan.as_ref()
    }

    /// Runs the program on a record, as the jq stage does: on the fast
    /// path when the program and the record allow it, else by jaq.
    pub(crate) fn emit(&self, record: &Value) -> Result<Emit<Payload>, BoxError> {
        if let Some(output) = self.plan.as_ref().and_then(|plan| plan.run(record)) {
            return Ok(output.map_or(Emit::Skip, |out| Emit::One(payload(val_to_json(out)))));
        }
        self.emit_by_jaq(record)
    }

    /// Whether the program's first output on `record` is true (neither
    /// null nor false; no output is false), as the `json` stage's
    /// `filter` asks: on the fast path when it can, else by jaq.
    pub(crate) fn test(&self, record: &Value) -> Result<bool, BoxError> {
        if let Some(output) = self.plan.as_ref().and_then(|plan| plan.run(record)) {
            return Ok(output.is_some_and(|out| out.as_bool()));
        }
        let first = self.run(record_to_val(record)?)?.into_iter().next();
        Ok(first.is_some_and(|out| out.as_bool()))
    }

    /// Runs the program on a record by jaq alone.
    pub(crate) fn emit_by_jaq(&self, record: &Value) -> Result<Emit<Payload>, BoxError> {
        let mut outputs = self.run(record_to_val(record)?)?;
        Ok(match outputs.len() {
            0 => Emit::Skip,
            1 => Emit::One(payload(val_to_json(outputs.remove(0)))),
            _ => Emit::Many(
                outputs
                    .into_iter()
                    .map(|out| payload(val_to_json(out)))
                    .collect(),
            ),
        })
    }
}

/// The message of a runtime error, as jq words it: an error whose value is
/// a string is that string.
fn runtime_error(exn: jaq_core::Exn<Val>) -> String {
    match exn.get_err() {
        Ok(error) => match error.into_val() {
            Val::TStr(text) => String::from_utf8_lossy(&text).into_owned(),
            other => format!("{other} (not a string)"),
        },
        Err(exn) => match exn.get_halt() {
            Ok(code) => format!("the program called halt (exit code {code})"),
            Err(_) => "the program raised an exception".to_owned(),
        },
    }
}

/// The first error of a failed load, with its place in `code`.
fn load_error(code: &str, errors: jaq_core::load::Errors<&str, ()>) -> CompileError {
    use jaq_core::load::Error;
    let at = |part: &str| {
        if part.is_empty() {
            code.len()..code.len()
        } else {
            jaq_core::load::span(code, part)
        }
    };
    let found = |part: &str| {
        if part.is_empty() {
            "the end of the program".to_owned()
        } else {
            let token: String = part.chars().take(20).collect();
            format!("`{token}`")
        }
    };
    let (_, error) = errors
        .into_iter()
        .next()
        .expect("a failed load has an error");
    match error {
        Error::Io(errors) => {
            let (path, message) = errors.into_iter().next().unwrap_or(("", String::new()));
            CompileError {
                span: at(path),
                message: format!("cannot load module {path}: {message}"),
            }
        }
        Error::Lex(errors) => {
            let (expected, part) = errors.into_iter().next().expect("a lex error");
            CompileError {
                span: at(part),
                message: format!("expected {}, found {}", expected.as_str(), found(part)),
            }
        }
        Error::Parse(errors) => {
            let (expected, part) = errors.into_iter().next().expect("a parse error");
            CompileError {
                span: at(part),
                message: format!("expected {}, found {}", expected.as_str(), found(part)),
            }
        }
    }
}

/// A record as jq's input: a text record is parsed as JSON.
pub(crate) fn record_to_val(record: &Value) -> Result<Val, BoxError> {
    match record {
        Value::String(text) => super::jq_input::read(text.as_bytes())
            .map_err(|error| format!("malformed JSON: {error}").into()),
        other => Ok(json_to_val(other)),
    }
}

/// A JSON value as a jq value.
pub(crate) fn json_to_val(value: &Value) -> Val {
    match value {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Val::Num(jaq_json::Num::from_integral(i)),
            (None, Some(u)) => Val::Num(jaq_json::Num::from_integral(u)),
            _ => super::jq_input::float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Val::from(s.clone()),
        Value::Array(items) => items.iter().map(json_to_val).collect(),
        Value::Object(fields) => Val::obj(
            fields
                .iter()
                .map(|(k, v)| (Val::from(k.clone()), json_to_val(v)))
                .collect(),
        ),
    }
}

/// A jq value as JSON, numbers written as `jq -c` writes them: an
/// integral number as an integer, NaN as null, infinities as the largest
/// finite number.
pub(crate) fn val_to_json(val: Val) -> Value {
    match val {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(b),
        Val::Num(n) => num_to_json(&n),
        Val::TStr(bytes) | Val::BStr(bytes) => {
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        }
        Val::Arr(items) => Value::Array(
            jaq_json::Rc::try_unwrap(items)
                .unwrap_or_else(|shared| (*shared).clone())
                .into_iter()
                .map(val_to_json)
                .collect(),
        ),
        Val::Obj(fields) => Value::Object(
            jaq_json::Rc::try_unwrap(fields)
                .unwrap_or_else(|shared| (*shared).clone())
                .into_iter()
                .map(|(k, v)| (key_to_string(k), val_to_json(v)))
                .collect(),
        ),
    }
}

fn key_to_string(key: Val) -> String {
    match key {
        Val::TStr(bytes) | Val::BStr(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        other => other.to_string(),
    }
}

fn num_to_json(n: &jaq_json::Num) -> Value {
    use jaq_json::Num;
    match n {
        Num::Int(i) => Value::from(*i as i64),
        Num::BigInt(_) | Num::Dec(_) => {
            let text = n.to_string();
            match (text.parse::<i64>(), text.parse::<u64>()) {
                (Ok(i), _) => Value::from(i),
                (_, Ok(u)) => Value::from(u),
                _ => float_to_json(text.parse().unwrap_or(f64::NAN)),
            }
        }
        Num::Float(f) => float_to_json(*f),
    }
}

fn float_to_json(f: f64) -> Value {
    if f.is_nan() {
        return Value::Null;
    }
    let f = f.clamp(f64::MIN, f64::MAX);
    if f.fract() == 0.0 && f.abs() < 1e17 {
        return Value::from(f as i64);
    }
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn program(code: &str) -> JqProgram {
        JqProgram::compile(code, &BTreeMap::new()).unwrap()
    }

    fn outputs(code: &str, input: Value) -> Result<Emit<Payload>, BoxError> {
        program(code).emit(&input)
    }

    #[test]
    fn no_output_filters_one_output_maps_several_split() {
        let record = json!(r#"{"a": 1, "b": [1, 2]}"#);
        assert_eq!(
            outputs("select(.a > 1)", record.clone()).unwrap(),
            Emit::Skip
        );
        assert_eq!(
            outputs("{b, a}", record.clone()).unwrap(),
            Emit::One(payload(json!({"b": [1, 2], "a": 1})))
        );
        assert_eq!(
            outputs(".b[]", record).unwrap(),
            Emit::Many(vec![payload(json!(1)), payload(json!(2))])
        );
    }

    #[test]
    fn keeps_the_programs_key_order() {
        let out = outputs("{z: 1, a: 2}", json!(null)).unwrap();
        let Emit::One(value) = out else {
            panic!("one output expected")
        };
        assert_eq!(serde_json::to_string(&*value).unwrap(), r#"{"z":1,"a":2}"#);
    }

    #[test]
    fn a_runtime_error_is_the_records_error_with_jqs_message() {
        let error = outputs(r#"error("boom")"#, json!({})).unwrap_err();
        assert_eq!(error.to_string(), "boom");
        let error = outputs(".a.b", json!({"a": 1})).unwrap_err();
        assert!(error.to_string().contains("cannot index"), "{error}");
        let error = outputs(".", json!("{oops")).unwrap_err();
        assert!(error.to_string().starts_with("malformed JSON"), "{error}");
    }

    #[test]
    fn numbers_come_out_as_jq_prints_them() {
        let out = outputs("[.a / 2, .a / 3, .a * 1.5, 1e1000, nan]", json!({"a": 4})).unwrap();
        let Emit::One(value) = out else {
            panic!("one output expected")
        };
        assert_eq!(
            serde_json::to_string(&*value).unwrap(),
            "[2,1.3333333333333333,6,1.7976931348623157e+308,null]"
        );
    }

    #[test]
    fn binds_env_and_args() {
        let args = BTreeMap::from([
            ("first".to_owned(), "1st".to_owned()),
            ("second".to_owned(), "2nd".to_owned()),
        ]);
        let program = JqProgram::compile("[$first, $second, $ENV.PATH]", &args).unwrap();
        let out = program.emit(&json!(null)).unwrap();
        let path = std::env::var("PATH").unwrap();
        assert_eq!(out, Emit::One(payload(json!(["1st", "2nd", path]))));
    }

    #[test]
    fn compile_errors_say_where_in_the_program() {
        let code = ".a |\n  (.b";
        let error = JqProgram::compile(code, &BTreeMap::new()).unwrap_err();
        assert_eq!(
            error.position(code),
            Position { line: 2, column: 6 },
            "{error:?}"
        );
        assert!(error.message.contains("closing parenthesis"), "{error:?}");
        let code = "{a: 1} |\n .a | | .b";
        let error = JqProgram::compile(code, &BTreeMap::new()).unwrap_err();
        assert_eq!(
            error.position(code),
            Position { line: 2, column: 7 },
            "{error:?}"
        );
        assert_eq!(error.message, "expected term, found `|`");
        let code = ". | nosuchthing(1)";
        let error = JqProgram::compile(code, &BTreeMap::new()).unwrap_err();
        assert_eq!(error.message, "undefined filter `nosuchthing/1`");
        assert_eq!(error.position(code), Position { line: 1, column: 5 });
        let error = JqProgram::compile("$missing", &BTreeMap::new()).unwrap_err();
        assert!(error.message.contains("undefined variable"), "{error:?}");
    }
}
