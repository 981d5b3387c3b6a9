//! Front matter: splitting a Markdown agent file, and deserializing its YAML into the typed
//! [`FrontMatter`] struct with `serde-saphyr`.
//!
//! Every field is a [`Spanned`] value, so that checks made after deserialization point at the
//! value's line and column. Polymorphic fields (`tools`, `permission`, `command`, `memory`,
//! `timeout`) have their own small types whose visitors accept each documented form and say
//! which forms they expect. Mappings whose order matters (opencode permission patterns) are
//! read into [`Ordered`] lists.
//!
//! Front matter that is not valid YAML because a top-level value holds an unquoted `: `
//! (`description: Use it for stats. Triggers on: 'p-value'`) is read the way Claude Code reads
//! it: `key: rest of line` (see [`repair_unquoted_colons`]), with a warning.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{MessageFormatter, Spanned, UserMessageFormatter};

/// The known front-matter fields, as typed values with their positions. Fields not listed
/// here are found by [`scan_keys`] and reported as warnings.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct FrontMatter {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) description: Option<Spanned<Text>>,
    pub(crate) model: Option<Spanned<String>>,
    pub(crate) tools: Option<Spanned<ToolsField>>,
    pub(crate) permission: Option<Spanned<PermissionField>>,
    pub(crate) memory: Option<Spanned<MemoryField>>,
    pub(crate) temperature: Option<Spanned<Number>>,
    #[serde(alias = "maxTurns", alias = "steps", alias = "maxSteps")]
    pub(crate) max_turns: Option<Spanned<Number>>,
    pub(crate) timeout: Option<Spanned<TimeoutField>>,
    pub(crate) retries: Option<Spanned<Number>>,
    pub(crate) backoff: Option<Spanned<TimeoutField>>,
    pub(crate) command: Option<Spanned<CommandField>>,
    pub(crate) runtime: Option<Spanned<String>>,
    pub(crate) env: Option<Spanned<Ordered<Text>>>,
    pub(crate) env_passthrough: Option<Spanned<NameList>>,
    pub(crate) mode: Option<Spanned<String>>,
    pub(crate) color: Option<Spanned<Text>>,
    pub(crate) plan: Option<Spanned<MemoryField>>,
    pub(crate) task_budget: Option<Spanned<Number>>,
}

/// The keys [`FrontMatter`] reads (with the `max_turns` spellings).
pub(crate) const KNOWN_KEYS: &[&str] = &[
    "name",
    "description",
    "model",
    "tools",
    "permission",
    "memory",
    "temperature",
    "max_turns",
    "maxTurns",
    "steps",
    "maxSteps",
    "timeout",
    "retries",
    "backoff",
    "command",
    "runtime",
    "env",
    "env_passthrough",
    "mode",
    "color",
    "plan",
    "task_budget",
];

/// A scalar read as text, as written (`5`, `true` and `N` stay text).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Text(pub(crate) String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("text (a string, number or boolean)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        // As a string: a plain scalar keeps its text (`N` stays `N`, not YAML 1.1's `false`).
        d.deserialize_string(V)
    }
}

/// A YAML number: integers keep their exact value, anything else is `Float`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    /// A non-negative integer.
    UInt(u64),
    /// A negative integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::UInt(u) => write!(f, "{u}"),
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x}"),
        }
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(u64::try_from(v).map_or(Number::Int(v), Number::UInt))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number::UInt(v))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Number, E> {
                Ok(Number::Float(v as f64))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Number, E> {
                Ok(Number::Float(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number::Float(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// A mapping read in file order (opencode permission patterns are order-sensitive).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ordered<T>(pub(crate) Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<T>, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<Text, T>()? {
                    entries.push((key.0, value));
                }
                Ok(Ordered(entries))
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// A list of names, as a YAML list or a comma-separated string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NameList(pub(crate) Vec<String>);

impl<'de> Deserialize<'de> for NameList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NameList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of names or a comma-separated string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NameList, E> {
                Ok(NameList(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                ))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NameList, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name.trim().to_owned());
                }
                Ok(NameList(names))
            }
        }
        d.deserialize_any(V)
    }
}

/// `tools:`: a Claude Code allow-list (list or comma-separated string) or opencode toggles.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ToolsField {
    /// Tool names as written.
    List(Vec<String>),
    /// Tool name → enabled, in file order.
    Toggles(Vec<(String, bool)>),
}

impl<'de> Deserialize<'de> for ToolsField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ToolsField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a list of tool names, a comma-separated string (`Read, Grep`) or a \
                     mapping of tool names to `true`/`false`",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ToolsField, E> {
                Ok(ToolsField::List(v.split(',').map(str::to_owned).collect()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ToolsField, A::Error> {
                NameList::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(|l| ToolsField::List(l.0))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ToolsField, A::Error> {
                let mut toggles = Vec::new();
                while let Some((key, on)) = map.next_entry::<Text, Toggle>()? {
                    toggles.push((key.0, on.0));
                }
                Ok(ToolsField::Toggles(toggles))
            }
        }
        d.deserialize_any(V)
    }
}

/// `true` or `false`, with a message that says so.
struct Toggle(bool);

impl<'de> Deserialize<'de> for Toggle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Toggle;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`true` or `false`")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Toggle, E> {
                Ok(Toggle(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// `permission:`: one action for every tool, or per-tool rules in file order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PermissionField {
    /// `permission: ask`.
    All(String),
    /// `permission: {edit: deny, bash: {"git *": allow}}`.
    Rules(Vec<(String, PermissionValue)>),
}

/// One tool's entry under `permission:`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PermissionValue {
    /// `bash: ask`.
    Action(String),
    /// `bash: {"git diff *": allow, "*": ask}`, in file order.
    Patterns(Vec<(String, String)>),
}

impl<'de> Deserialize<'de> for PermissionField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PermissionField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`allow`, `ask`, `deny` or a mapping of tool names to them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PermissionField, E> {
                Ok(PermissionField::All(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PermissionField, A::Error> {
                Ordered::<PermissionValue>::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|o| PermissionField::Rules(o.0))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for PermissionValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PermissionValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`allow`, `ask`, `deny` or a mapping of patterns to them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PermissionValue, E> {
                Ok(PermissionValue::Action(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PermissionValue, A::Error> {
                let mut patterns = Vec::new();
                while let Some((key, action)) = map.next_entry::<Text, String>()? {
                    patterns.push((key.0, action));
                }
                Ok(PermissionValue::Patterns(patterns))
            }
        }
        d.deserialize_any(V)
    }
}

/// `memory:`: a boolean or a word (`local`, `none`, Claude Code's `project`/`user`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MemoryField {
    /// `memory: true` / `false`.
    Bool(bool),
    /// `memory: local` and the like.
    Word(String),
}

impl<'de> Deserialize<'de> for MemoryField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = MemoryField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`local` or `none`")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<MemoryField, E> {
                Ok(MemoryField::Bool(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MemoryField, E> {
                Ok(MemoryField::Word(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `timeout:`: whole seconds as a number, or a duration string (`90s`, `5m`, `1h30m`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TimeoutField {
    /// A YAML number.
    Number(Number),
    /// A string, parsed later with `humantime`.
    Text(String),
}

impl<'de> Deserialize<'de> for TimeoutField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TimeoutField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(super::fields::TIMEOUT_SHAPE)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TimeoutField, E> {
                Ok(TimeoutField::Number(
                    u64::try_from(v).map_or(Number::Int(v), Number::UInt),
                ))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TimeoutField, E> {
                Ok(TimeoutField::Number(Number::UInt(v)))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<TimeoutField, E> {
                Ok(TimeoutField::Number(Number::Float(v as f64)))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<TimeoutField, E> {
                Ok(TimeoutField::Number(Number::Float(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<TimeoutField, E> {
                Ok(TimeoutField::Number(Number::Float(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TimeoutField, E> {
                Ok(TimeoutField::Text(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `command:`: a list of arguments or a shell-style command line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CommandField {
    /// A command line, split later with `shlex`.
    Line(String),
    /// The arguments (scalars rendered as text).
    Args(Vec<String>),
}

impl<'de> Deserialize<'de> for CommandField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CommandField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of arguments or a shell-style command line")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CommandField, E> {
                Ok(CommandField::Line(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CommandField, A::Error> {
                let mut args = Vec::new();
                while let Some(arg) = seq.next_element::<Text>()? {
                    args.push(arg.0);
                }
                Ok(CommandField::Args(args))
            }
        }
        d.deserialize_any(V)
    }
}

/// The top-level keys of the front matter in file order, with their 1-based line (in the
/// YAML text) and their values as JSON (for fields `team` does not read).
#[derive(Debug, Default)]
pub(crate) struct KeyScan(pub(crate) Vec<(String, u64, serde_json::Value)>);

impl<'de> Deserialize<'de> for KeyScan {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyScan;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of fields (`name: value`)")
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyScan, E> {
                Ok(KeyScan::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<KeyScan, E> {
                Ok(KeyScan::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyScan, A::Error> {
                let mut keys = Vec::new();
                while let Some((key, value)) =
                    map.next_entry::<Spanned<Text>, serde_json::Value>()?
                {
                    keys.push((key.value.0, key.referenced.line(), value));
                }
                Ok(KeyScan(keys))
            }
        }
        d.deserialize_any(V)
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

/// A YAML syntax or type error with its 1-based position in the YAML text (line 0 = unknown).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct YamlError {
    pub(crate) line: u64,
    pub(crate) column: Option<u64>,
    pub(crate) message: String,
}

impl YamlError {
    fn from_saphyr(err: &serde_saphyr::Error) -> Self {
        let location = err.location().filter(|l| l.line() > 0);
        let message: String = UserMessageFormatter
            .format_message(err.without_snippet())
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        YamlError {
            line: location.map_or(0, |l| l.line()),
            column: location.map(|l| l.column()),
            message,
        }
    }
}

/// The front matter read: the typed fields, the top-level keys, and the lines (in the YAML
/// text) of values read with the `key: rest of line` fallback, with their keys.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) fields: Result<FrontMatter, YamlError>,
    pub(crate) keys: KeyScan,
    pub(crate) repaired: Vec<(u64, String)>,
}

/// Parses front-matter YAML. A syntax error (or a top level that is not a mapping) is `Err`;
/// a field of the wrong type is reported in [`Parsed::fields`], with the keys still known so
/// that the caller can name the field. When the text is not valid YAML but becomes valid
/// once top-level values holding an unquoted `: ` are quoted, that reading is used and the
/// repaired lines are listed.
pub(crate) fn parse_front_matter(yaml: &str) -> Result<Parsed, YamlError> {
    if yaml.trim().is_empty() {
        return Ok(Parsed {
            fields: Ok(FrontMatter::default()),
            keys: KeyScan::default(),
            repaired: Vec::new(),
        });
    }
    let (text, keys, repaired) = match serde_saphyr::from_str::<KeyScan>(yaml) {
        Ok(keys) => (yaml.to_owned(), keys, Vec::new()),
        Err(err) => {
            let original = YamlError::from_saphyr(&err);
            let (text, repaired) = repair_unquoted_colons(yaml);
            if repaired.is_empty() {
                return Err(original);
            }
            match serde_saphyr::from_str::<KeyScan>(&text) {
                Ok(keys) => (text, keys, repaired),
                Err(_) => return Err(original),
            }
        }
    };
    let fields = serde_saphyr::from_str::<FrontMatter>(&text).map_err(|e| {
        let mut err = YamlError::from_saphyr(&e);
        // serde-saphyr reports errors of a `Spanned` value's content with the whole
        // document's start; an unknown position is the caller's to fill.
        if err.line == 0 {
            err.column = None;
        }
        err
    });
    Ok(Parsed {
        fields,
        keys,
        repaired,
    })
}

/// Quotes top-level plain values that hold an unquoted `: ` (invalid YAML that Claude Code
/// reads as `key: rest of line`): `description: Use it. Triggers on: 'x'` becomes
/// `description: "Use it. Triggers on: 'x'"`. Lines keep their numbers. Returns the new text
/// and the 1-based lines changed, with their keys.
pub(crate) fn repair_unquoted_colons(yaml: &str) -> (String, Vec<(u64, String)>) {
    let mut out = String::with_capacity(yaml.len() + 16);
    let mut repaired = Vec::new();
    for (i, line) in yaml.split_inclusive('\n').enumerate() {
        let (content, newline) = match line.strip_suffix('\n') {
            Some(c) => (c, "\n"),
            None => (line, ""),
        };
        match fallback_entry(content) {
            Some((key, value)) => {
                let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
                out.push_str(&format!("{key}: \"{escaped}\"{newline}"));
                repaired.push((i as u64 + 1, key.to_owned()));
            }
            None => out.push_str(line),
        }
    }
    (out, repaired)
}

/// A top-level `key: value` line whose plain value holds `: ` (or ends in `:`).
fn fallback_entry(line: &str) -> Option<(&str, &str)> {
    if line.starts_with(|c: char| c.is_whitespace() || c == '#' || c == '-') {
        return None;
    }
    let (key, value) = line.split_once(": ")?;
    let key_ok = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let value = value.trim();
    let plain = !value.starts_with([
        '"', '\'', '[', '{', '|', '>', '&', '*', '!', '%', '@', '`', '#',
    ]);
    (key_ok && plain && (value.contains(": ") || value.ends_with(':'))).then_some((key, value))
}
