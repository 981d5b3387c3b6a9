//! Front-matter splitting and a located, order-preserving YAML tree.
//!
//! The front matter is parsed by `serde-saphyr` into [`Node`]s that remember the line and
//! column (1-based, counted in the whole file) of every value, so that field errors can point
//! at the offending value, and that keep mapping entries in file order (opencode permission
//! patterns are order-sensitive).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{MessageFormatter, Spanned, UserMessageFormatter};

/// A YAML value with its position in the whole file (1-based line and column; 0 = unknown).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) value: Value,
    pub(crate) line: u64,
    pub(crate) column: u64,
}

/// The shape of a YAML value; mappings keep their entries in file order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Value {
    /// A short name of the value's type for "expected X, found Y" messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::UInt(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The value rendered as a string when it is a scalar (string, number, boolean).
    pub(crate) fn scalar_string(&self) -> Option<String> {
        match self {
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::UInt(u) => Some(u.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Str(s) => Some(s.clone()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }
}

impl Node {
    /// Converts the node to JSON (used for unknown fields kept in `extra`).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::UInt(u) => J::from(*u),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    fn shift_lines(&mut self, offset: u64) {
        if self.line > 0 {
            self.line += offset;
        }
        match &mut self.value {
            Value::Seq(items) => items.iter_mut().for_each(|n| n.shift_lines(offset)),
            Value::Map(entries) => entries.iter_mut().for_each(|(_, n)| n.shift_lines(offset)),
            _ => {}
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        Ok(Node {
            value: spanned.value,
            line: spanned.referenced.line(),
            column: spanned.referenced.column(),
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::UInt(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Int)
            .or_else(|_| u64::try_from(v).map(Value::UInt))
            .map_err(|_| E::custom("integer out of range"))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        u64::try_from(v)
            .map(Value::UInt)
            .map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Node>()? {
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }
}

/// A Markdown agent file split into its front matter and body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Split<'a> {
    /// The YAML text between the fences, `None` when the file has no front matter.
    pub(crate) yaml: Option<&'a str>,
    /// The Markdown body after the closing fence (or the whole text), not yet trimmed.
    pub(crate) body: &'a str,
}

/// Splits `---\n<yaml>\n---\n<body>`; `text` must already have `\r\n` normalised to `\n` and
/// no BOM. Returns `Err(())` when an opening fence has no closing fence.
pub(crate) fn split_front_matter(text: &str) -> Result<Split<'_>, ()> {
    let Some(rest) = strip_fence_line(text) else {
        return Ok(Split {
            yaml: None,
            body: text,
        });
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Ok(Split {
                yaml: Some(&rest[..offset]),
                body: &rest[offset + line.len()..],
            });
        }
        offset += line.len();
    }
    Err(())
}

/// If `text` starts with a `---` line, returns what follows that line.
fn strip_fence_line(text: &str) -> Option<&str> {
    let (first, rest) = match text.split_once('\n') {
        Some((first, rest)) => (first, rest),
        None => (text, ""),
    };
    (first.trim_end() == "---").then_some(rest)
}

/// A YAML syntax or shape error with its position in the whole file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct YamlError {
    pub(crate) line: u64,
    pub(crate) column: Option<u64>,
    pub(crate) message: String,
}

/// Parses front-matter YAML; `line_offset` is the number of file lines before the YAML
/// (1 for the opening fence). An empty document yields an empty mapping.
pub(crate) fn parse_yaml(yaml: &str, line_offset: u64) -> Result<Node, YamlError> {
    if yaml.trim().is_empty() {
        return Ok(Node {
            value: Value::Map(Vec::new()),
            line: line_offset + 1,
            column: 1,
        });
    }
    match serde_saphyr::from_str::<Node>(yaml) {
        Ok(mut node) => {
            node.shift_lines(line_offset);
            if node.value == Value::Null {
                node.value = Value::Map(Vec::new());
            }
            Ok(node)
        }
        Err(err) => {
            let location = err.location().filter(|l| l.line() > 0);
            let message: String = UserMessageFormatter
                .format_message(err.without_snippet())
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            Err(YamlError {
                line: location.map_or(line_offset + 1, |l| l.line() + line_offset),
                column: location.map(|l| l.column()),
                message,
            })
        }
    }
}
