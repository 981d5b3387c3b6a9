//! JSON Schemas from argument structs (schemars), in the plain form providers accept, and the
//! "expected shape" text of argument errors.

use schemars::generate::SchemaSettings;
use serde::de::value::Error as ProbeError;
use serde::de::{self, Deserializer, Visitor};
use serde_json::{Map, Value};

use super::ToolArgs;

/// The schema of `T`'s arguments object: generated, subschemas inlined, then made plain
/// ([`plain`]).
pub(super) fn schema_of<T: ToolArgs>() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let mut v = generator.into_root_schema_for::<T>().to_value();
    plain(&mut v);
    if let Value::Object(root) = &mut v {
        // The tool's description says what it does; the struct's doc comment is for Rust.
        root.remove("description");
        root.entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        root.entry("required")
            .or_insert_with(|| Value::Array(Vec::new()));
        root.insert("additionalProperties".into(), Value::Bool(false));
    }
    v
}

/// Rewrites a generated schema into the plain form: no `$schema`, `title`, `default` or
/// `format` keywords (some servers refuse formats such as `uint64`); an optional field is its
/// plain type (`{"type": "integer"}`, not `{"type": ["integer", "null"]}` nor an `anyOf` with
/// `null`: absent means default, `null` is not offered); a documented unit enum (a `oneOf` of
/// `const` strings) is `{"type": "string", "enum": [...]}`.
fn plain(v: &mut Value) {
    let Value::Object(map) = v else {
        return;
    };
    for key in ["$schema", "title", "default", "format"] {
        map.remove(key);
    }
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            map.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(values)) = map.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    if let Some(Value::Array(any)) = map.get_mut("anyOf") {
        any.retain(|s| s.get("type").and_then(Value::as_str) != Some("null"));
        if any.len() == 1 {
            let only = any.remove(0);
            map.remove("anyOf");
            if let Value::Object(inner) = only {
                for (k, val) in inner {
                    map.entry(k).or_insert(val);
                }
            }
        }
    }
    let consts: Option<Vec<Value>> = match map.get("oneOf") {
        Some(Value::Array(variants)) => variants
            .iter()
            .map(|s| match s.get("const") {
                Some(c @ Value::String(_)) => Some(c.clone()),
                _ => None,
            })
            .collect(),
        _ => None,
    };
    if let Some(consts) = consts {
        map.remove("oneOf");
        map.insert("type".into(), Value::String("string".into()));
        map.insert("enum".into(), Value::Array(consts));
    }
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        for prop in props.values_mut() {
            plain(prop);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = map.get_mut(key) {
            plain(child);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(list)) = map.get_mut(key) {
            list.iter_mut().for_each(plain);
        }
    }
}

/// The serde field names of `T` in declaration order, read from what its derived
/// `Deserialize` passes to `deserialize_struct` (a JSON Schema's `properties` map is sorted).
pub(super) fn fields_of<T: ToolArgs>() -> &'static [&'static str] {
    let mut found: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldProbe(&mut found));
    found
}

/// A deserializer that only records the fields a struct asks for, then stops.
struct FieldProbe<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = ProbeError;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, ProbeError> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, ProbeError> {
        *self.0 = fields;
        Err(de::Error::custom("fields recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// `{"path": string, "offset"?: integer >= 0}`: each field of `fields` with its type from
/// `schema`, `?` after an optional one.
pub(super) fn shape(fields: &[&str], schema: &Value) -> String {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let parts: Vec<String> = fields
        .iter()
        .map(|name| {
            let mark = if required.contains(name) { "" } else { "?" };
            format!(
                "\"{name}\"{mark}: {}",
                type_text(&schema["properties"][*name])
            )
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// A property's type in words: `string`, `integer 1..=600`, `"list" | "add"`, `array of
/// integer`.
fn type_text(prop: &Value) -> String {
    if let Some(values) = prop["enum"].as_array() {
        let names: Vec<String> = values.iter().map(Value::to_string).collect();
        return names.join(" | ");
    }
    match prop["type"].as_str().unwrap_or("any") {
        "integer" => match (prop["minimum"].as_i64(), prop["maximum"].as_i64()) {
            (Some(min), Some(max)) => format!("integer {min}..={max}"),
            (Some(min), None) => format!("integer >= {min}"),
            (None, Some(max)) => format!("integer <= {max}"),
            (None, None) => "integer".to_owned(),
        },
        "array" => format!("array of {}", type_text(&prop["items"])),
        other => other.to_owned(),
    }
}
