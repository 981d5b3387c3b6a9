//! The answers a workflow asks of its agents: their JSON Schemas (derived from the Rust types
//! that read them, with `schemars`) and a tolerant reader.
//!
//! Models answer in the shape asked for less often than asked: JSON in a code fence, JSON
//! after a sentence, a missing key, a reply cut off at the token limit. [`read`] finds the JSON
//! wherever it is and, when none fits, says why in words a model can act on; the workflow
//! then sends the model that error and the schema ([`repair_prompt`]) for another try.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};
use serde::de::DeserializeOwned;
use serde_json::Value;

use team_provider::AnswerFormat;

/// Repair turns a specialist gets for an answer that cannot be read, unless the workflow's
/// `max_repairs` parameter says otherwise.
pub const DEFAULT_MAX_REPAIRS: u32 = 2;

/// The JSON Schema of `T`, ready for every structured-output form: no `$ref` (sub-schemas
/// inlined), no `$schema`, `title` or `default` keywords, and every object closed
/// (`additionalProperties: false`) with all its properties required, as OpenAI's strict mode
/// requires. (The reader stays lenient: fields with a serde default may still be missing.)
pub fn schema_of<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let schema: Schema = generator.into_root_schema_for::<T>();
    let mut v = schema.to_value();
    strict(&mut v);
    v
}

/// The [`AnswerFormat`] named `name` for answers read as `T`.
pub fn format_of<T: JsonSchema>(name: &str) -> AnswerFormat {
    AnswerFormat {
        name: name.to_owned(),
        schema: schema_of::<T>(),
    }
}

/// Closes every object schema in `v` and drops the keywords some servers refuse.
fn strict(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove("$schema");
            map.remove("title");
            map.remove("default");
            if let Some(Value::Object(props)) = map.get("properties") {
                let required: Vec<Value> = props.keys().map(|k| Value::String(k.clone())).collect();
                map.insert("required".into(), Value::Array(required));
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for (_, child) in map.iter_mut() {
                strict(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strict),
        _ => {}
    }
}

/// Reads an answer of shape `T` from a model's text: the JSON object may stand alone, sit in
/// a code fence (```` ```json ````), or be surrounded by prose; the first object that has the
/// shape wins.
///
/// # Errors
/// Why no JSON object of the shape was found, for the model to fix: no object at all, an
/// object that is not valid or not complete JSON (a reply cut off), or an object that lacks a
/// field or has a wrong type (serde's message, with line and column).
pub fn read<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let mut shape_error: Option<String> = None;
    let mut syntax_error: Option<String> = None;
    for candidate in candidates(text) {
        let mut stream = serde_json::Deserializer::from_str(candidate).into_iter::<Value>();
        match stream.next() {
            Some(Ok(value)) => match serde_json::from_value::<T>(value) {
                Ok(answer) => return Ok(answer),
                Err(e) => {
                    shape_error.get_or_insert_with(|| e.to_string());
                }
            },
            Some(Err(e)) => {
                syntax_error.get_or_insert_with(|| e.to_string());
            }
            None => {}
        }
    }
    Err(match (shape_error, syntax_error) {
        (Some(e), _) => format!("the JSON object does not have the shape asked for: {e}"),
        (None, Some(e)) => {
            format!("the answer holds no complete, valid JSON object: {e}")
        }
        (None, None) => "the answer holds no JSON object".to_owned(),
    })
}

/// The places a JSON object may start in `text`, most likely first: the insides of code
/// fences, then every `{` in order.
fn candidates(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        // Skip the info string (`json`) up to the end of the line.
        let body_start = after.find('\n').map(|i| i + 1).unwrap_or(after.len());
        let body = &after[body_start..];
        let Some(close) = body.find("```") else {
            // An unclosed fence (a reply cut off): its body is still a candidate.
            out.push(body.trim());
            break;
        };
        out.push(body[..close].trim());
        rest = &body[close + 3..];
    }
    out.extend(text.match_indices('{').map(|(i, _)| &text[i..]));
    out.retain(|c| c.starts_with('{'));
    out
}

/// The message that asks a model to answer again: what was wrong with its answer and the
/// schema the answer must match.
pub fn repair_prompt(error: &str, format: &AnswerFormat) -> String {
    format!(
        "Your answer could not be read: {error}.\n\
         Answer again with one JSON object and nothing else (no prose, no code fence), matching this JSON Schema:\n{}",
        serde_json::to_string(&format.schema).unwrap_or_default()
    )
}

/// Sets `maxItems` on the array property `field` of an object schema (e.g. the `findings`
/// of a review answer, from the `max_findings` parameter): a model constrained by a grammar
/// then cannot list findings until its token limit cuts the JSON off.
pub fn limit_items(format: &mut AnswerFormat, field: &str, max: u64) {
    if let Some(Value::Object(prop)) = format
        .schema
        .get_mut("properties")
        .and_then(|p| p.get_mut(field))
    {
        prop.insert("maxItems".into(), Value::from(max));
    }
}

/// The first JSON object in `text` that deserializes as `T` (models wrap JSON in prose or
/// code fences); see [`read`], which also says why none fits.
pub fn extract_json<T: DeserializeOwned>(text: &str) -> Option<T> {
    read(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use team_report::{CrossReviewAnswer, ReviewAnswer, SynthesisAnswer};

    #[test]
    fn json_is_found_inside_prose_and_fences() {
        let t = "Here you go:\n```json\n{\"findings\": [{\"severity\": \"major\", \"finding\": \"x\"}]}\n```";
        let a: ReviewAnswer = extract_json(t).unwrap();
        assert_eq!(a.findings[0].severity, "major");
        assert!(extract_json::<ReviewAnswer>("no json {here").is_none());
    }

    #[test]
    fn schemas_are_derived_closed_and_inline() {
        let s = schema_of::<ReviewAnswer>();
        assert_eq!(s["type"], "object");
        assert_eq!(s["additionalProperties"], false);
        assert_eq!(s["required"], serde_json::json!(["findings"]));
        let item = &s["properties"]["findings"]["items"];
        assert_eq!(item["type"], "object", "{s}");
        assert_eq!(
            item["required"],
            // serde_json keeps keys sorted (no `preserve_order` in this workspace).
            serde_json::json!(["finding", "location", "severity", "suggestion"])
        );
        assert_eq!(
            item["properties"]["severity"]["enum"],
            serde_json::json!(["blocker", "major", "minor", "nit"])
        );
        let text = s.to_string();
        assert!(
            !text.contains("$ref") && !text.contains("$schema"),
            "{text}"
        );
        assert!(!text.contains("\"default\""), "{text}");
        let c = schema_of::<CrossReviewAnswer>();
        assert_eq!(c["required"], serde_json::json!(["added", "responses"]));
        let y = schema_of::<SynthesisAnswer>();
        assert!(y["properties"]["duplicates"].is_object(), "{y}");
    }

    #[test]
    fn json_is_found_in_fences_prose_and_alone() {
        let fenced = "Sure! Here is my review:\n```json\n{\"findings\": [{\"severity\": \"major\", \"finding\": \"x\"}]}\n```\nHope it helps.";
        let a: ReviewAnswer = read(fenced).unwrap();
        assert_eq!(a.findings[0].finding, "x");
        let prose = "I found {one} issue: {\"findings\": []} and that is all.";
        assert!(read::<ReviewAnswer>(prose).unwrap().findings.is_empty());
        let alone =
            "  {\"findings\": [{\"severity\": \"nit\", \"finding\": \"y\", \"location\": \"§1\"}]}";
        assert_eq!(
            read::<ReviewAnswer>(alone).unwrap().findings[0].location,
            "§1"
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let missing =
            read::<ReviewAnswer>("{\"findings\": [{\"severity\": \"major\"}]}").unwrap_err();
        assert!(
            missing.contains("shape asked for") && missing.contains("missing field `finding`"),
            "{missing}"
        );
        let truncated =
            read::<ReviewAnswer>("```json\n{\"findings\": [{\"severity\": \"major\", \"fin")
                .unwrap_err();
        assert!(truncated.contains("no complete, valid JSON"), "{truncated}");
        let prose = read::<ReviewAnswer>("The spec looks fine to me.").unwrap_err();
        assert_eq!(prose, "the answer holds no JSON object");
        let code = read::<ReviewAnswer>("```python\nprint('hi')\n```").unwrap_err();
        assert_eq!(code, "the answer holds no JSON object");
    }

    #[test]
    fn repair_prompt_names_error_and_schema() {
        let mut f = format_of::<ReviewAnswer>("review_answer");
        limit_items(&mut f, "findings", 3);
        assert_eq!(f.schema["properties"]["findings"]["maxItems"], 3);
        let p = repair_prompt("the answer holds no JSON object", &f);
        assert!(p.contains("the answer holds no JSON object"));
        assert!(p.contains("\"maxItems\":3"), "{p}");
    }
}
