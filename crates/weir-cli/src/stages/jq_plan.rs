//! A fast path for the jq programs most pipelines run: pick a few fields,
//! compare them, keep or drop the record, build a smaller object.
//!
//! jaq's interpreter is general, and a record pays for it: the whole line
//! is read into a jq value, then every filter step goes through boxed
//! iterators and a context. `weir-bench cli` measured the jq stage running
//! `select(.level == "error") | {id, service, latency_ms}` at 0.8x the
//! `jq` binary, with 63% of the time in the stage's per-record work; with
//! this path the same run is 2.2-2.3x the `jq` binary (BENCHMARKS.md).
//!
//! A program made only of the forms below is also compiled here, from
//! jaq's own syntax tree, into a small tree that is walked directly:
//!
//! - `.`, `.name`, `."name"`, `.[0]` (chained; no `?`, no slices, no `[]`),
//!   literals, `$ENV` and `args` variables, `[f]`, `{a, "b": f, c: g}`;
//! - `f | g`, `select(f)`, `if ... then ... elif ... else ... end`,
//!   `empty`, `not`, `and`, `or`, `//`, `==` `!=` `<` `<=` `>` `>=`,
//!   `+ - * / %` and unary `-`;
//!
//! every one of which gives at most one output. When the program reads the
//! record only through top-level fields (`.level`, never `.` as a value),
//! only those fields are parsed; the others are checked as strictly as a
//! whole line would be read and skipped, and a field is read only when a
//! step uses it ([`find_fields`]). The values, comparisons, arithmetic and
//! objects are jaq's own ([`Val`], [`ValT`]), so a result is the one jaq
//! would give.
//!
//! Anything else is not guessed at: a record that is not a JSON object,
//! that serde_json cannot read, or on which a step fails (indexing a
//! number, adding a string to a number) is handed back ([`Plan::run`]
//! returns `None`) and the caller runs jaq on it, whose output or error
//! message is the one that counts. A program with any other form has no
//! plan at all.

use std::cell::{Cell, OnceCell};
use std::ops::Range;

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Term};
use jaq_core::ops::{Cmp, Math};
use jaq_core::path::{Opt, Part};
use jaq_core::ValT;
use jaq_json::Val;
use serde_json::Value;

use super::jq::json_to_val;
use super::jq_input::{find_fields, read, read_span};

/// A program compiled for the fast path.
#[derive(Debug)]
pub(crate) struct Plan {
    root: Node,
    /// The top-level fields the program reads, in slot order.
    fields: Vec<Box<str>>,
    /// The same as jq strings, to look them up in a record read whole.
    keys: Vec<Val>,
    /// Whether the program also needs the whole record as a value.
    whole: bool,
}

#[derive(Debug)]
enum Node {
    /// `.`: the input, unchanged.
    Input,
    /// `.name` of the record itself, read into slot `n`.
    Field(usize),
    /// `base[key]`, by jaq's `index`.
    Index(Box<Node>, Val),
    Lit(Val),
    Arr(Box<Node>),
    Obj(Vec<(Val, Node)>),
    Pipe(Box<Node>, Box<Node>),
    Select(Box<Node>),
    Cmp(Box<Node>, Cmp, Box<Node>),
    /// `.name == "text"` (`!=` when the flag is false): the most common
    /// test, made on the field's JSON text when that has no escapes.
    FieldIs(usize, Box<str>, bool),
    Math(Box<Node>, Math, Box<Node>),
    Neg(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Alt(Box<Node>, Box<Node>),
    Not,
    If(Vec<(Node, Node)>, Option<Box<Node>>),
    Empty,
}

/// What a node's output is, as far as the compiler can tell: the record
/// itself (`.`, `select(...)`), or some other value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Record,
    Other,
}

impl Plan {
    /// The plan of `code`, or `None` if it uses a form outside the fast
    /// path. `globals` are the program's variables with their values
    /// (`$ENV`, `$name`).
    pub(crate) fn compile(code: &str, globals: &[(String, Val)]) -> Option<Plan> {
        let term = jaq_core::load::parse(code, |parser| parser.term())?;
        let mut compiler = Compiler {
            fields: Vec::new(),
            whole: false,
            globals,
        };
        let root = compiler.value(&term, Kind::Record)?;
        Some(Plan {
            root,
            keys: (compiler.fields.iter())
                .map(|name| Val::from(String::from(&**name)))
                .collect(),
            fields: compiler.fields,
            whole: compiler.whole,
        })
    }

    /// Runs the plan on a record (a line of text is parsed as JSON): its
    /// output, if any, or `None` when jaq must run this record instead.
    pub(crate) fn run(&self, record: &Value) -> Option<Option<Val>> {
        thread_local! {
            /// The last record's slots, kept for their allocations.
            static SLOTS: Cell<Slots> = Cell::default();
        }
        let mut slots = SLOTS.take();
        slots.spans.clear();
        slots.vals.clear();
        slots.vals.resize_with(self.fields.len(), OnceCell::new);
        let (text, whole) = match record {
            Value::String(text) if !self.whole => {
                find_fields(text, &self.fields, &mut slots.spans)?;
                (text.as_str(), None)
            }
            Value::String(text) => ("", Some(read(text.as_bytes()).ok()?)),
            Value::Object(map) if !self.whole => {
                for (name, val) in self.fields.iter().zip(&slots.vals) {
                    let _ = val.set(map.get(&**name).map_or(Val::Null, json_to_val));
                }
                ("", None)
            }
            Value::Object(_) => ("", Some(json_to_val(record))),
            _ => return None,
        };
        if let Some(whole) = &whole {
            let Val::Obj(map) = whole else {
                return None;
            };
            for (key, val) in self.keys.iter().zip(&slots.vals) {
                let _ = val.set(map.get(key).cloned().unwrap_or(Val::Null));
            }
        }
        let record = Record {
            text,
            spans: &slots.spans,
            vals: &slots.vals,
            whole: whole.as_ref(),
        };
        let output = record.value(&self.root, In::Record);
        SLOTS.set(slots);
        output.ok()
    }
}

/// Where the fields a plan reads are in a record, and their values once
/// read.
#[derive(Default)]
struct Slots {
    /// From [`find_fields`]; empty when the values were set directly.
    spans: Vec<Option<Range<usize>>>,
    /// A field's value, read from its span when first used.
    vals: Vec<OnceCell<Val>>,
}

/// Builds a [`Node`] tree, noting which fields of the record it reads.
struct Compiler<'g> {
    fields: Vec<Box<str>>,
    whole: bool,
    globals: &'g [(String, Val)],
}

impl Compiler<'_> {
    /// A node whose output is used as a value: if that is the record
    /// itself, the whole record is needed.
    fn value(&mut self, term: &Term<&str>, input: Kind) -> Option<Node> {
        let (node, kind) = self.node(term, input)?;
        if kind == Kind::Record {
            self.whole = true;
        }
        Some(node)
    }

    fn boxed(&mut self, term: &Term<&str>, input: Kind) -> Option<Box<Node>> {
        self.value(term, input).map(Box::new)
    }

    /// A node whose output is only tested for truth: the record is an
    /// object, always true, so it need not be read whole.
    fn truth(&mut self, term: &Term<&str>, input: Kind) -> Option<Node> {
        self.node(term, input).map(|(node, _)| node)
    }

    fn node(&mut self, term: &Term<&str>, input: Kind) -> Option<(Node, Kind)> {
        let other = |node| Some((node, Kind::Other));
        match term {
            Term::Id => Some((Node::Input, input)),
            Term::Num(_) | Term::Str(..) => other(Node::Lit(literal(term)?)),
            Term::Var(name) => {
                // The last of a name wins, as in jaq (an arg named `ENV`
                // hides the environment).
                let (_, value) = self.globals.iter().rfind(|(known, _)| known == name)?;
                other(Node::Lit(value.clone()))
            }
            Term::Arr(None) => other(Node::Lit(std::iter::empty::<Val>().collect())),
            Term::Arr(Some(item)) => other(Node::Arr(self.boxed(item, input)?)),
            Term::Obj(entries) => {
                let mut built = Vec::with_capacity(entries.len());
                for (key, value) in entries {
                    let name = literal(key).filter(|key| matches!(key, Val::TStr(_)))?;
                    let value = match value {
                        Some(value) => self.value(value, input)?,
                        None => self.path(Node::Input, input, &name)?,
                    };
                    built.push((name, value));
                }
                other(Node::Obj(built))
            }
            Term::Neg(term) => other(Node::Neg(self.boxed(term, input)?)),
            Term::Path(base, path) => {
                let (mut node, mut kind) = self.node(base, input)?;
                for (part, opt) in &path.0 {
                    let (Part::Index(key), Opt::Essential) = (part, opt) else {
                        return None;
                    };
                    node = self.path(node, kind, &literal(key)?)?;
                    kind = Kind::Other;
                }
                Some((node, kind))
            }
            Term::Call(name, args) => match (*name, &args[..]) {
                ("select", [test]) => {
                    let test = self.truth(test, input)?;
                    Some((Node::Select(Box::new(test)), input))
                }
                ("not", []) => other(Node::Not),
                // Nothing comes out, so it never stands for anything else
                // than its input (`if .a then . else empty end` is the
                // record or nothing).
                ("empty", []) => Some((Node::Empty, input)),
                ("true", []) => other(Node::Lit(Val::from(true))),
                ("false", []) => other(Node::Lit(Val::from(false))),
                ("null", []) => other(Node::Lit(Val::Null)),
                _ => None,
            },
            Term::IfThenElse(branches, otherwise) => {
                let mut built = Vec::with_capacity(branches.len());
                let mut kinds = Vec::new();
                for (test, then) in branches {
                    let test = self.truth(test, input)?;
                    let (then, kind) = self.node(then, input)?;
                    kinds.push(kind);
                    built.push((test, then));
                }
                let otherwise = match otherwise {
                    Some(term) => {
                        let (node, kind) = self.node(term, input)?;
                        kinds.push(kind);
                        Some(Box::new(node))
                    }
                    None => {
                        kinds.push(input);
                        None
                    }
                };
                if kinds.iter().all(|kind| *kind == Kind::Record) {
                    Some((Node::If(built, otherwise), Kind::Record))
                } else {
                    if kinds.contains(&Kind::Record) {
                        self.whole = true;
                    }
                    other(Node::If(built, otherwise))
                }
            }
            Term::BinOp(left, op, right) => match op {
                BinaryOp::Pipe(None) => {
                    let (left, kind) = self.node(left, input)?;
                    let (right, kind) = self.node(right, kind)?;
                    Some((Node::Pipe(Box::new(left), Box::new(right)), kind))
                }
                BinaryOp::And | BinaryOp::Or => {
                    let left = Box::new(self.truth(left, input)?);
                    let right = Box::new(self.truth(right, input)?);
                    other(match op {
                        BinaryOp::And => Node::And(left, right),
                        _ => Node::Or(left, right),
                    })
                }
                BinaryOp::Alt => other(Node::Alt(
                    self.boxed(left, input)?,
                    self.boxed(right, input)?,
                )),
                BinaryOp::Cmp(cmp) => {
                    let (left, right) = (self.boxed(left, input)?, self.boxed(right, input)?);
                    other(match (*left, cmp, *right) {
                        (Node::Field(slot), Cmp::Eq | Cmp::Ne, Node::Lit(Val::TStr(text)))
                        | (Node::Lit(Val::TStr(text)), Cmp::Eq | Cmp::Ne, Node::Field(slot)) => {
                            let text = std::str::from_utf8(&text).ok()?.into();
                            Node::FieldIs(slot, text, *cmp == Cmp::Eq)
                        }
                        (left, cmp, right) => Node::Cmp(Box::new(left), *cmp, Box::new(right)),
                    })
                }
                BinaryOp::Math(math) => other(Node::Math(
                    self.boxed(left, input)?,
                    *math,
                    self.boxed(right, input)?,
                )),
                _ => None,
            },
            _ => None,
        }
    }

    /// `base[key]`: a field of the record when `base` is the record itself
    /// and `key` a string, read into a slot; else jaq's `index`.
    fn path(&mut self, base: Node, kind: Kind, key: &Val) -> Option<Node> {
        if let (Kind::Record, Val::TStr(name)) = (kind, key) {
            let name = std::str::from_utf8(name).ok()?;
            let slot = match self.fields.iter().position(|known| **known == *name) {
                Some(slot) => slot,
                None => {
                    self.fields.push(name.into());
                    self.fields.len() - 1
                }
            };
            return Some(match base {
                Node::Input => Node::Field(slot),
                base => Node::Pipe(Box::new(base), Box::new(Node::Field(slot))),
            });
        }
        if kind == Kind::Record {
            self.whole = true;
        }
        Some(Node::Index(Box::new(base), key.clone()))
    }
}

/// A number or a plain string (no interpolation, no `@format`) as jaq
/// compiles it.
fn literal(term: &Term<&str>) -> Option<Val> {
    match term {
        Term::Num(n) => Some(match n.parse::<isize>() {
            Ok(int) => Val::from(int),
            Err(_) => Val::from_num(n).ok()?,
        }),
        Term::Str(None, parts) => {
            let mut text = String::new();
            for part in parts {
                match part {
                    StrPart::Str(s) => text.push_str(s),
                    StrPart::Char(c) => text.push(*c),
                    StrPart::Term(_) => return None,
                }
            }
            Some(Val::from(text))
        }
        _ => None,
    }
}

/// A node's input: the record, or a value made by an earlier step.
#[derive(Clone, Copy)]
enum In<'a> {
    Record,
    Val(&'a Val),
}

/// A node's output: its input unchanged, or a value.
enum Out {
    Same,
    Val(Val),
}

/// A step failed: jaq runs the record instead, for its error message.
struct Fallback;

type Step<T> = Result<Option<T>, Fallback>;

/// One record as the plan sees it.
struct Record<'a> {
    /// The record's text, which `spans` point into.
    text: &'a str,
    spans: &'a [Option<Range<usize>>],
    vals: &'a [OnceCell<Val>],
    whole: Option<&'a Val>,
}

impl Record<'_> {
    /// A field of the record, read from the text on first use: a record
    /// that fails a test early never pays for the fields it would output.
    fn field(&self, slot: usize) -> Result<Val, Fallback> {
        if let Some(val) = self.vals[slot].get() {
            return Ok(val.clone());
        }
        let val = match self.spans.get(slot).cloned().flatten() {
            Some(span) => read_span(self.text, span).ok_or(Fallback)?,
            None => Val::Null,
        };
        Ok(self.vals[slot].get_or_init(|| val).clone())
    }

    fn eval(&self, node: &Node, input: In<'_>) -> Step<Out> {
        let val = |val| Ok(Some(Out::Val(val)));
        // Both sides run, so that a failure on either goes to jaq even
        // when the other gives nothing (whichever order jaq runs them in).
        let both = |left: &Node, right: &Node| -> Step<(Val, Val)> {
            let left = self.value(left, input)?;
            let right = self.value(right, input)?;
            Ok(left.zip(right))
        };
        match node {
            Node::Input => Ok(Some(Out::Same)),
            Node::Field(slot) => val(self.field(*slot)?),
            Node::Index(base, key) => match self.value(base, input)? {
                Some(base) => val(base.index(key).map_err(|_| Fallback)?),
                None => Ok(None),
            },
            Node::Lit(lit) => val(lit.clone()),
            Node::Arr(item) => val(self.value(item, input)?.into_iter().collect()),
            Node::Obj(entries) => {
                let mut map = jaq_json::Map::default();
                let mut complete = true;
                for (key, value) in entries {
                    match self.value(value, input)? {
                        Some(value) => {
                            map.insert(key.clone(), value);
                        }
                        None => complete = false,
                    }
                }
                Ok(complete.then(|| Out::Val(Val::obj(map))))
            }
            Node::Pipe(left, right) => match self.eval(left, input)? {
                None => Ok(None),
                Some(Out::Same) => self.eval(right, input),
                Some(Out::Val(mid)) => Ok(match self.eval(right, In::Val(&mid))? {
                    Some(Out::Same) => Some(Out::Val(mid)),
                    out => out,
                }),
            },
            Node::Select(test) => Ok(match self.truth(test, input)? {
                Some(true) => Some(Out::Same),
                _ => None,
            }),
            Node::Cmp(left, cmp, right) => match both(left, right)? {
                Some((left, right)) => val(Val::from(cmp.run(&left, &right))),
                None => Ok(None),
            },
            Node::FieldIs(slot, text, eq) => {
                let same = match self.plain_string(*slot) {
                    Some(raw) => raw == &**text,
                    None => self.field(*slot)? == Val::from(String::from(&**text)),
                };
                val(Val::from(same == *eq))
            }
            Node::Math(left, math, right) => match both(left, right)? {
                Some((left, right)) => val(math.run(left, right).map_err(|_| Fallback)?),
                None => Ok(None),
            },
            Node::Neg(term) => match self.value(term, input)? {
                Some(term) => val((-term).map_err(|_| Fallback)?),
                None => Ok(None),
            },
            Node::And(left, right) | Node::Or(left, right) => {
                let and = matches!(node, Node::And(..));
                let Some(left) = self.truth(left, input)? else {
                    return Ok(None);
                };
                if left != and {
                    return val(Val::from(left));
                }
                Ok(self
                    .truth(right, input)?
                    .map(|right| Out::Val(Val::from(right))))
            }
            Node::Alt(left, right) => match self.value(left, input)? {
                Some(left) if left.as_bool() => val(left),
                _ => self.eval(right, input),
            },
            Node::Not => val(Val::from(!self.is_true(Out::Same, input))),
            Node::If(branches, otherwise) => {
                for (test, then) in branches {
                    match self.truth(test, input)? {
                        None => return Ok(None),
                        Some(true) => return self.eval(then, input),
                        Some(false) => {}
                    }
                }
                match otherwise {
                    Some(otherwise) => self.eval(otherwise, input),
                    None => Ok(Some(Out::Same)),
                }
            }
            Node::Empty => Ok(None),
        }
    }

    /// A field's text between its quotes, if it is a JSON string without
    /// escapes not read yet: what it says is that text.
    fn plain_string(&self, slot: usize) -> Option<&str> {
        if self.vals[slot].get().is_some() {
            return None;
        }
        let raw = &self.text[self.spans.get(slot).cloned().flatten()?];
        let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
        (!inner.contains('\\')).then_some(inner)
    }

    /// A node's output as a value.
    fn value(&self, node: &Node, input: In<'_>) -> Step<Val> {
        match self.eval(node, input)? {
            None => Ok(None),
            Some(Out::Val(val)) => Ok(Some(val)),
            Some(Out::Same) => match input {
                In::Val(val) => Ok(Some(val.clone())),
                // The compiler asked for the whole record when it is used
                // as a value; if it did not, leave the record to jaq.
                In::Record => self.whole.cloned().map(Some).ok_or(Fallback),
            },
        }
    }

    /// A node's output tested for truth (neither null nor false).
    fn truth(&self, node: &Node, input: In<'_>) -> Step<bool> {
        Ok(self.eval(node, input)?.map(|out| self.is_true(out, input)))
    }

    fn is_true(&self, out: Out, input: In<'_>) -> bool {
        match (out, input) {
            (Out::Val(val), _) => val.as_bool(),
            (Out::Same, In::Val(val)) => val.as_bool(),
            // The plan only runs on records that are objects.
            (Out::Same, In::Record) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::stages::jq::JqProgram;
    use weir::stage::Emit;

    fn compile(code: &str) -> JqProgram {
        let args = BTreeMap::from([("who".to_owned(), "api".to_owned())]);
        JqProgram::compile(code, &args).unwrap()
    }

    /// What jaq alone makes of `text`: its outputs, printed, or its error.
    fn by_jaq(program: &JqProgram, text: &str) -> Result<Vec<String>, String> {
        let input = read(text.as_bytes())?;
        let outputs = program.run(input)?;
        Ok(outputs.iter().map(ToString::to_string).collect())
    }

    /// Whether the plan of `code` ran on `record` (rather than handing it
    /// to jaq); panics if its answer differs from jaq's, or if the stage's
    /// output (the plan's, or jaq's when it hands over) differs from jaq's
    /// alone, error messages included.
    fn agrees_on(code: &str, record: &Value) -> bool {
        let program = compile(code);
        let plan = program
            .plan()
            .unwrap_or_else(|| panic!("no plan for {code}"));
        let shown = |emit: Result<Emit<crate::record::Payload>, weir::BoxError>| {
            emit.map_err(|error| error.to_string())
        };
        assert_eq!(
            shown(program.emit(record)),
            shown(program.emit_by_jaq(record)),
            "{code} on {record}"
        );
        // The json stage's test: the first output's truth, or the error.
        let truth_by_jaq = crate::stages::jq::record_to_val(record)
            .and_then(|input| Ok(program.run(input)?))
            .map(|outputs| outputs.first().is_some_and(ValT::as_bool))
            .map_err(|error| error.to_string());
        assert_eq!(
            program.test(record).map_err(|error| error.to_string()),
            truth_by_jaq,
            "test: {code} on {record}"
        );
        let Some(output) = plan.run(record) else {
            return false;
        };
        if let Value::String(text) = record {
            let output: Vec<String> = output.iter().map(ToString::to_string).collect();
            assert_eq!(Ok(output), by_jaq(&program, text), "{code} on {text}");
        }
        true
    }

    fn agrees(code: &str, text: &str) -> bool {
        agrees_on(code, &Value::String(text.to_owned()))
    }

    const PROGRAMS: &[&str] = &[
        r#"select(.level == "error") | {id, service, latency_ms}"#,
        ".a",
        r#"select("info" != .level)"#,
        r#".service == "a\"pi""#,
        r#".n == "3""#,
        ".a.b",
        ".a.b.c",
        r#"."a""#,
        ".a + 1",
        ".a * .n - 2",
        "-.n",
        ".n % 2",
        "{x: .a, \"y z\": .b.c, a}",
        "[.a]",
        "[]",
        "{}",
        r#"if .n > 3 then "big" elif .n == 3 then "three" else "small" end"#,
        "if .a then . else empty end",
        "if .a then . else 1 end",
        "if .a then .b end",
        "select(.a) | .b",
        "select(.a == null and (.b | not))",
        r#"select(.a >= 2 or .level != "info")"#,
        r#".a // "default""#,
        ".",
        "select(.n < 10)",
        "{rec: ., n}",
        ".a | .b",
        ".b | select(. != null)",
        r#"select(.service == $who) | .id"#,
        ".a - 18446744073709551615",
        "select(.n == 100000000000000000000)",
        "$ENV",
        ".[0]",
        "empty",
        "not",
        "null, true", /* no plan: checked below */
        "true",
        ".a == 1.0",
        ".n / 0",
        "select(empty == 1)",
        "{a: empty, b: 1}",
        r#""a\tb\u00e9""#,
    ];

    const INPUTS: &[&str] = &[
        r#"{"a":1,"b":{"c":"x"},"level":"error","id":7,"service":"api","latency_ms":12.5,"n":3}"#,
        r#"{"a":2,"b":"text","level":"info","n":11}"#,
        r#"{"a":null,"b":false}"#,
        "{}",
        r#"{"a":"str","b":[1,2],"n":-4}"#,
        r#"{"a":1,"n":2,"a":5}"#,
        r#"{"a":1.0,"b":1e3,"n":2.5}"#,
        r#"{"a":{"b":{"c":1}},"n":0}"#,
        r#"{"level":"err\u006fr","id":1,"service":"a\"pi"}"#,
        r#"  {"a" : [ {"x": 1} ] , "msg": "skipped \" \\ \u263a"}  "#,
        r#"{"a": 1e1000}"#,
        r#"{"msg": 1e1000, "a": 1}"#,
        r#"{"a":1,"b":"#,
        r#"{"a":1,"m":"\ud800"}"#,
        r#"{"a":1,"m":"\udc00x"}"#,
        r#"{"a":"\ud83d\ude00","n":1}"#,
        r#"{"x":1e1000,"a":18446744073709551616,"n":100000000000000000001}"#,
        r#"{"a":18446744073709551616,"n":-9223372036854775809}"#,
        r#"{"a":1} {}"#,
        "[1,2]",
        r#""text""#,
        "3",
        "null",
    ];

    #[test]
    fn a_field_nested_near_the_depth_limit_reads_as_the_whole_record_would() {
        // serde_json stops at 128 levels; the record's own braces count,
        // so a field's value may go one level less deep than a record.
        for depth in [120, 125, 126, 127, 128, 200] {
            let value = format!("{}1.50{}", "[".repeat(depth), "]".repeat(depth));
            for text in [
                format!(r#"{{"a":{value},"n":1}}"#),
                format!(r#"{{"n":1,"b":{value}}}"#),
            ] {
                for code in [".a", ".n", "select(.n == 1) | .b"] {
                    agrees(code, &text);
                }
            }
        }
        // Wide is not deep, and brackets in strings do not nest.
        let wide = format!(r#"{{"a":[{}],"n":1}}"#, vec!["{}"; 200].join(","));
        let quoted = format!(r#"{{"a":"{}\"[{{","n":1}}"#, "[".repeat(300));
        for text in [wide, quoted] {
            assert!(agrees(".a", &text), "{text} went to jaq");
        }
    }

    #[test]
    fn agrees_with_jaq_on_every_program_and_record() {
        for code in PROGRAMS {
            if code.contains(',') && !code.contains('{') {
                assert!(Plan::compile(code, &[]).is_none(), "{code}");
                continue;
            }
            for text in INPUTS {
                let ran = agrees(code, text);
                // On an object serde_json reads, the plan must not need
                // jaq unless jaq itself fails.
                let object = serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object());
                if object && by_jaq(&compile(code), text).is_ok() {
                    assert!(ran, "{code} on {text} went to jaq");
                }
            }
        }
    }

    #[test]
    fn an_arg_named_env_hides_the_environment_as_in_jaq() {
        let args = BTreeMap::from([("ENV".to_owned(), "x".to_owned())]);
        let program = JqProgram::compile("$ENV", &args).unwrap();
        assert!(program.plan().is_some());
        let record = Value::String("{}".to_owned());
        let out = program.emit(&record).unwrap();
        assert_eq!(out, program.emit_by_jaq(&record).unwrap());
        assert_eq!(out, Emit::One(crate::record::payload(Value::from("x"))));
    }

    #[test]
    fn reads_only_the_fields_a_program_uses() {
        let plan = Plan::compile(
            r#"select(.level == "error") | {id, service, latency_ms}"#,
            &[],
        )
        .unwrap();
        assert!(!plan.whole);
        assert_eq!(
            plan.fields.iter().map(|f| &**f).collect::<Vec<_>>(),
            ["level", "id", "service", "latency_ms"]
        );
        for whole in [
            "select(.n < 10)",
            ".",
            "{rec: ., n}",
            "if .a then . else 1 end",
        ] {
            assert!(Plan::compile(whole, &[]).unwrap().whole, "{whole}");
        }
        for code in [
            "if .a then . else empty end | .b",
            ".a | .b",
            "select(.a) | .b",
        ] {
            assert!(!Plan::compile(code, &[]).unwrap().whole, "{code}");
        }
    }

    #[test]
    fn other_forms_have_no_plan() {
        for code in [
            ".[]",
            ".a?",
            ".a[1:]",
            "map(. + 1)",
            ".a, .b",
            "def f: 1; f",
            r#""x\(.a)""#,
            "@base64",
            ".a as $x | $x",
            "reduce .[] as $x (0; . + $x)",
            "length",
            "$missing",
            "try .a",
            ".a = 1",
            "(",
        ] {
            assert!(Plan::compile(code, &[]).is_none(), "{code}");
        }
    }

    fn scalar() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-5i64..5).prop_map(Value::from),
            (-5.0f64..5.0).prop_map(Value::from),
            prop::sample::select(vec!["error", "info", "", "é\"\\"]).prop_map(Value::from),
        ]
    }

    fn json() -> impl Strategy<Value = serde_json::Value> {
        scalar().prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(vec!["a", "b", "c", "level"]),
                    inner,
                    0..3
                )
                .prop_map(|fields| Value::Object(
                    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )),
            ]
        })
    }

    /// A field's value as JSON text: a generated value, or one of the
    /// texts where readers part ways.
    fn field_text() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => json().prop_map(|value| value.to_string()),
            1 => prop::sample::select(vec![
                "1e1000",
                "18446744073709551616",
                "-9223372036854775809",
                "1.0",
                "-0",
                "1E2",
                r#""\ud800""#,
                r#""\u00e9\"\n""#,
                r#""\ud83d\ude00""#,
                "[[[[1]]]]",
                r#"{"a":{"b":null}}"#,
            ])
            .prop_map(str::to_owned),
        ]
    }

    proptest! {
        /// Any record, any program of the corpus that has a plan: the
        /// stage's answer is jaq's, and the plan answers every object that
        /// serde_json reads and jaq answers.
        #[test]
        fn agrees_with_jaq_on_any_record(
            fields in prop::collection::vec(
                (prop::sample::select(vec!["a", "b", "c", "n", "level", "id"]), field_text()),
                0..6,
            ),
            code in prop::sample::select(
                PROGRAMS
                    .iter()
                    .copied()
                    .filter(|code| compile(code).plan().is_some())
                    .collect::<Vec<_>>()
            ),
        ) {
            let text = format!(
                "{{{}}}",
                fields
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", Value::from(*k)))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let ran = agrees(code, &text);
            if let Ok(parsed) = serde_json::from_str::<Value>(&text) {
                if by_jaq(&compile(code), &text).is_ok() {
                    prop_assert!(ran, "{} on {} went to jaq", code, text);
                }
                // The same record already parsed (a source that parses).
                agrees_on(code, &parsed);
            }
        }
    }
}
