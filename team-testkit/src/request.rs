//! Parsed view of a request received by the scripted server, for both wire formats.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// Which wire format a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// OpenAI Chat Completions (`/v1/chat/completions`, `/chat/completions`).
    OpenAi,
    /// Anthropic Messages (`/v1/messages`, `/messages`).
    Anthropic,
    /// OpenAI Responses (`/v1/responses`, `/responses`), always answered as a stream of
    /// events: what Codex speaks.
    Responses,
}

/// One message of a request, flattened to (role, text).
///
/// Roles: `system`, `user`, `assistant`, `tool`. Anthropic `tool_result` blocks become `tool` messages,
/// `text` blocks of a user message become `user` messages; an assistant message's text is the join of
/// its text blocks (tool calls are listed in [`ScriptRequest::tool_calls`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptMessage {
    /// `user`, `assistant`, `tool` (or `system` for OpenAI system messages after the first position).
    pub role: String,
    /// Text content (array contents joined with `\n`).
    pub text: String,
}

/// A request as the script sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ScriptRequest {
    /// Wire format.
    pub protocol: Protocol,
    /// Request path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Request headers as (lowercase name, value); kept as sent (tests use fake keys).
    pub headers: Vec<(String, String)>,
    /// The body as received. The fields below are read from it on arrival; the whole JSON
    /// is parsed again only when a test asks for it ([`ScriptRequest::body`]): kept parsed,
    /// a 1,000-request burst held ~50 MB of `Value`s, and growing the heap for them was half
    /// of this server's CPU, taken from the orchestrator it measures (bench/findings.md § 10).
    #[serde(rename = "body", serialize_with = "body_json")]
    raw: Bytes,
    #[serde(skip)]
    parsed: OnceLock<Value>,
    /// `model` field, empty when absent.
    pub model: String,
    /// System prompt: OpenAI `system`/`developer` messages joined with `\n`, Anthropic top-level `system`.
    pub system: String,
    /// Messages in order (system ones excluded).
    pub messages: Vec<ScriptMessage>,
    /// Names of the tools offered.
    pub tools: Vec<String>,
    /// Tool calls sent back in assistant messages, as (id, name).
    pub tool_calls: Vec<(String, String)>,
    /// Turn number: number of assistant messages in the request + 1.
    pub turn: u32,
    /// The body says `"stream": true` (the answer goes as server-sent events).
    pub stream: bool,
    /// Time since the server started when the request arrived (its handler was entered,
    /// the body read, nothing parsed yet).
    #[serde(skip)]
    pub received_after: Duration,
    /// The same instant on this process's monotonic clock (to line up with other timings
    /// of the process that runs the server).
    #[serde(skip)]
    pub received_at: Instant,
}

impl ScriptRequest {
    /// The JSON body (`Value::Null` when it was not JSON), parsed on the first call.
    pub fn body(&self) -> &Value {
        self.parsed.get_or_init(|| parse_body(&self.raw))
    }

    /// The body's bytes, as received.
    pub fn raw_body(&self) -> &[u8] {
        &self.raw
    }

    /// Value of a header (name case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Text of the last `user` or `tool` message, empty when there is none.
    pub fn last_user_or_tool_text(&self) -> &str {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == "user" || m.role == "tool")
            .map(|m| m.text.as_str())
            .unwrap_or("")
    }

    /// Total characters of the system prompt and all messages (used for computed usage).
    pub fn text_chars(&self) -> usize {
        self.system.chars().count()
            + self
                .messages
                .iter()
                .map(|m| m.text.chars().count())
                .sum::<usize>()
    }

    /// Reads the fields of a received body. Returns the request and whether the body is
    /// JSON. Unknown shapes give empty fields, never an error.
    ///
    /// An OpenAI body is read into a lean typed view ([`OpenAiBody`]: the tool schemas,
    /// most of an agent's request, are skipped without being built), else — and for a
    /// shape the view does not take — through a [`Value`], dropped after: the bodies are
    /// parsed whole again only when a test asks ([`ScriptRequest::body`]).
    pub fn from_body(
        protocol: Protocol,
        path: String,
        headers: Vec<(String, String)>,
        raw: Bytes,
        received_at: Instant,
        received_after: Duration,
    ) -> (Self, bool) {
        let mut req = Self {
            protocol,
            path,
            headers,
            model: String::new(),
            system: String::new(),
            messages: Vec::new(),
            tools: Vec::new(),
            tool_calls: Vec::new(),
            turn: 1,
            stream: false,
            received_after,
            received_at,
            raw: Bytes::new(),
            parsed: OnceLock::new(),
        };
        if protocol == Protocol::OpenAi
            && let Ok(body) = serde_json::from_slice::<OpenAiBody>(&raw)
        {
            req.read_openai(body);
            req.raw = raw;
            return (req, true);
        }
        let json: Option<Value> = serde_json::from_slice(&raw).ok();
        let valid = json.is_some();
        let body = json.as_ref().unwrap_or(&Value::Null);
        req.model = str_at(body, &["model"]);
        req.stream = body.get("stream").and_then(Value::as_bool) == Some(true);
        match protocol {
            Protocol::OpenAi => req.parse_openai(body),
            Protocol::Anthropic => req.parse_anthropic(body),
            Protocol::Responses => req.parse_responses(body),
        }
        req.raw = raw;
        (req, valid)
    }

    /// Reads the fields of a received body; `json` is `raw` parsed (`Value::Null` when it
    /// is not JSON). Unknown shapes give empty fields, never an error.
    pub fn parse(
        protocol: Protocol,
        path: String,
        headers: Vec<(String, String)>,
        raw: Bytes,
        json: &Value,
        received_at: Instant,
        received_after: Duration,
    ) -> Self {
        let body = json;
        let mut req = Self {
            protocol,
            path,
            headers,
            model: body
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            system: String::new(),
            messages: Vec::new(),
            tools: Vec::new(),
            tool_calls: Vec::new(),
            turn: 1,
            stream: body.get("stream").and_then(Value::as_bool) == Some(true),
            received_after,
            received_at,
            raw,
            parsed: OnceLock::new(),
        };
        match protocol {
            Protocol::OpenAi => req.parse_openai(body),
            Protocol::Anthropic => req.parse_anthropic(body),
            Protocol::Responses => req.parse_responses(body),
        }
        req
    }

    /// The typed view's fields, as [`ScriptRequest::parse_openai`] reads them from a `Value`.
    fn read_openai(&mut self, body: OpenAiBody) {
        self.model = body.model.unwrap_or_default();
        self.stream = body.stream == Some(true);
        let mut system = Vec::new();
        let mut assistants = 0u32;
        for m in body.messages.unwrap_or_default() {
            let role = m.role.unwrap_or_default();
            let text = m.content.map(|c| c.0).unwrap_or_default();
            match role.as_str() {
                "system" | "developer" => system.push(text),
                "assistant" => {
                    assistants += 1;
                    for call in m.tool_calls.unwrap_or_default() {
                        let name = call.function.and_then(|f| f.name).unwrap_or_default();
                        self.tool_calls.push((call.id.unwrap_or_default(), name));
                    }
                    self.messages.push(ScriptMessage { role, text });
                }
                _ => self.messages.push(ScriptMessage { role, text }),
            }
        }
        self.system = system.join("\n");
        self.turn = assistants + 1;
        for t in body.tools.unwrap_or_default() {
            let name = t.function.and_then(|f| f.name).unwrap_or_default();
            let name = if name.is_empty() {
                t.name.unwrap_or_default()
            } else {
                name
            };
            self.tools.push(name);
        }
    }

    fn parse_openai(&mut self, body: &Value) {
        let mut system = Vec::new();
        let mut assistants = 0u32;
        for m in array(body.get("messages")) {
            let role = m
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let text = content_text(m.get("content"));
            match role.as_str() {
                "system" | "developer" => system.push(text),
                "assistant" => {
                    assistants += 1;
                    for call in array(m.get("tool_calls")) {
                        let id = str_at(call, &["id"]);
                        let name = str_at(call, &["function", "name"]);
                        self.tool_calls.push((id, name));
                    }
                    self.messages.push(ScriptMessage { role, text });
                }
                _ => self.messages.push(ScriptMessage { role, text }),
            }
        }
        self.system = system.join("\n");
        self.turn = assistants + 1;
        for t in array(body.get("tools")) {
            let name = str_at(t, &["function", "name"]);
            let name = if name.is_empty() {
                str_at(t, &["name"])
            } else {
                name
            };
            self.tools.push(name);
        }
    }

    /// Responses: `instructions` and `developer`/`system` messages are the system prompt;
    /// `input` items are messages (`input_text`/`output_text` parts), `function_call`s (an
    /// assistant turn each run of them) and `function_call_output`s (`tool` messages).
    fn parse_responses(&mut self, body: &Value) {
        let mut system = vec![content_text(body.get("instructions"))];
        system.retain(|s| !s.is_empty());
        let mut assistants = 0u32;
        let mut in_calls = false;
        let items: Vec<Value> = match body.get("input") {
            Some(Value::String(s)) => {
                vec![serde_json::json!({"type": "message", "role": "user", "content": s})]
            }
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        for item in &items {
            let kind = item
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("message");
            match kind {
                "function_call" => {
                    if !in_calls {
                        assistants += 1;
                        self.messages.push(ScriptMessage {
                            role: "assistant".into(),
                            text: String::new(),
                        });
                    }
                    in_calls = true;
                    self.tool_calls
                        .push((str_at(item, &["call_id"]), str_at(item, &["name"])));
                    continue;
                }
                "function_call_output" => {
                    let text = match item.get("output") {
                        Some(Value::String(s)) => s.clone(),
                        other => content_text(other),
                    };
                    self.messages.push(ScriptMessage {
                        role: "tool".into(),
                        text,
                    });
                }
                "message" => {
                    let role = str_at(item, &["role"]);
                    let text = content_text(item.get("content"));
                    match role.as_str() {
                        "system" | "developer" => system.push(text),
                        "assistant" => {
                            assistants += 1;
                            self.messages.push(ScriptMessage { role, text });
                        }
                        _ => self.messages.push(ScriptMessage { role, text }),
                    }
                }
                _ => {}
            }
            in_calls = false;
        }
        self.system = system.join("\n");
        self.turn = assistants + 1;
        for t in array(body.get("tools")) {
            let name = str_at(t, &["name"]);
            match t.get("tools") {
                // A namespace (Codex groups an MCP server's tools so): `NAMESPACE__TOOL`.
                Some(Value::Array(inner)) => {
                    for sub in inner {
                        self.tools
                            .push(format!("{name}__{}", str_at(sub, &["name"])));
                    }
                }
                _ => self.tools.push(name),
            }
        }
    }

    fn parse_anthropic(&mut self, body: &Value) {
        self.system = content_text(body.get("system"));
        let mut assistants = 0u32;
        for m in array(body.get("messages")) {
            let role = m
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if role == "assistant" {
                assistants += 1;
                for block in array(m.get("content")) {
                    if block.get("type").and_then(Value::as_str) == Some("tool_use") {
                        self.tool_calls
                            .push((str_at(block, &["id"]), str_at(block, &["name"])));
                    }
                }
                let text = content_text(m.get("content"));
                self.messages.push(ScriptMessage { role, text });
                continue;
            }
            match m.get("content") {
                Some(Value::Array(blocks)) => {
                    for block in blocks {
                        let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
                        if kind == "tool_result" {
                            let text = content_text(block.get("content"));
                            self.messages.push(ScriptMessage {
                                role: "tool".into(),
                                text,
                            });
                        } else if kind == "text" {
                            self.messages.push(ScriptMessage {
                                role: role.clone(),
                                text: str_at(block, &["text"]),
                            });
                        }
                    }
                }
                other => self.messages.push(ScriptMessage {
                    role,
                    text: content_text(other),
                }),
            }
        }
        self.turn = assistants + 1;
        for t in array(body.get("tools")) {
            self.tools.push(str_at(t, &["name"]));
        }
    }
}

/// What the server reads of an OpenAI Chat Completions body; the rest (tool schemas,
/// sampling options) is skipped by the parser without being built. A body whose fields have
/// other types than these fails this view and is read through a `Value` instead (same result
/// as before the view: wrong types give empty fields). `null` reads as absent.
#[derive(Deserialize)]
struct OpenAiBody {
    model: Option<String>,
    stream: Option<bool>,
    messages: Option<Vec<OpenAiMessage>>,
    tools: Option<Vec<OpenAiTool>>,
}

#[derive(Deserialize)]
struct OpenAiMessage {
    role: Option<String>,
    content: Option<ContentText>,
    tool_calls: Option<Vec<OpenAiToolCall>>,
}

#[derive(Deserialize)]
struct OpenAiToolCall {
    id: Option<String>,
    function: Option<OpenAiFunction>,
}

#[derive(Deserialize)]
struct OpenAiTool {
    function: Option<OpenAiFunction>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct OpenAiFunction {
    name: Option<String>,
}

/// A `content` field read as [`content_text`] reads it: a string, or an array whose
/// strings and blocks' string `text` fields are joined with `\n` (other entries skipped).
struct ContentText(String);

impl<'de> Deserialize<'de> for ContentText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Content;
        impl<'de> Visitor<'de> for Content {
            type Value = ContentText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an array of text blocks")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ContentText, E> {
                Ok(ContentText(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<ContentText, E> {
                Ok(ContentText(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ContentText, A::Error> {
                let mut text = String::new();
                let mut first = true;
                while let Some(part) = seq.next_element::<PartText>()? {
                    if let Some(t) = part.0 {
                        if !first {
                            text.push('\n');
                        }
                        first = false;
                        text.push_str(&t);
                    }
                }
                Ok(ContentText(text))
            }
        }
        d.deserialize_any(Content)
    }
}

/// One entry of a `content` array: its text (a string entry, or a block's string `text`
/// field), None for anything else.
struct PartText(Option<String>);

impl<'de> Deserialize<'de> for PartText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Part;
        impl<'de> Visitor<'de> for Part {
            type Value = PartText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a content block")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PartText, E> {
                Ok(PartText(Some(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<PartText, E> {
                Ok(PartText(Some(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PartText, A::Error> {
                let mut text = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "text" {
                        // The last `text` wins, as in a `Value`; a non-string one is no text.
                        text = map.next_value::<TextOrOther>()?.0;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(PartText(text))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PartText, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(PartText(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<PartText, E> {
                Ok(PartText(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<PartText, E> {
                Ok(PartText(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<PartText, E> {
                Ok(PartText(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<PartText, E> {
                Ok(PartText(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<PartText, E> {
                Ok(PartText(None))
            }
        }
        d.deserialize_any(Part)
    }
}

/// A value that is a string (Some) or anything else (None, skipped).
struct TextOrOther(Option<String>);

impl<'de> Deserialize<'de> for TextOrOther {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Ok(TextOrOther(match v {
            Value::String(s) => Some(s),
            _ => None,
        }))
    }
}

/// The JSON a body holds, `Value::Null` when it is not JSON.
fn parse_body(raw: &[u8]) -> Value {
    serde_json::from_slice(raw).unwrap_or(Value::Null)
}

/// Serializes the raw body as the JSON it holds (`null` when it is not JSON).
fn body_json<S: Serializer>(raw: &Bytes, out: S) -> Result<S::Ok, S::Error> {
    parse_body(raw).serialize(out)
}

fn array(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn str_at(v: &Value, path: &[&str]) -> String {
    let mut cur = v;
    for key in path {
        match cur.get(key) {
            Some(next) => cur = next,
            None => return String::new(),
        }
    }
    cur.as_str().unwrap_or("").to_string()
}

/// Text of a `content` field: a string, or an array of blocks whose `text` fields are joined with `\n`.
fn content_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| match p {
                Value::String(s) => Some(s.clone()),
                _ => p.get("text").and_then(Value::as_str).map(str::to_string),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields as the typed view reads them (None when the view refuses the body).
    fn typed(body: &str) -> Option<ScriptRequest> {
        serde_json::from_str::<OpenAiBody>(body).ok().map(|b| {
            let (mut req, _) = ScriptRequest::from_body(
                Protocol::Responses,
                String::new(),
                Vec::new(),
                Bytes::new(),
                Instant::now(),
                Duration::ZERO,
            );
            req.protocol = Protocol::OpenAi;
            req.read_openai(b);
            req
        })
    }

    /// The fields as the `Value` path reads them.
    fn by_value(body: &str) -> ScriptRequest {
        let json = parse_body(body.as_bytes());
        ScriptRequest::parse(
            Protocol::OpenAi,
            String::new(),
            Vec::new(),
            Bytes::new(),
            &json,
            Instant::now(),
            Duration::ZERO,
        )
    }

    fn fields(r: &ScriptRequest) -> impl PartialEq + std::fmt::Debug + use<> {
        (
            r.model.clone(),
            r.stream,
            r.system.clone(),
            r.messages.clone(),
            r.tools.clone(),
            r.tool_calls.clone(),
            r.turn,
        )
    }

    #[test]
    fn the_typed_openai_view_reads_what_the_value_parse_reads() {
        let bodies = [
            r#"{"model":"m","stream":true,"messages":[{"role":"system","content":"sys"},{"role":"developer","content":[{"type":"text","text":"dev"}]},{"role":"user","content":[{"type":"text","text":"a"},"b",{"type":"image_url","image_url":{"url":"x"}},{"text":7},{"text":"c","text":null},3,null,[1]]},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"read_file","arguments":"{}"}},{"type":"function"}]},{"role":"tool","tool_call_id":"c1","content":"file text"}],"tools":[{"type":"function","function":{"name":"read_file","parameters":{"type":"object","properties":{"path":{"type":"string","description":"a \"quoted\" \u00e9 path"}}}}},{"name":"bare"},{"function":null}],"temperature":0.2,"max_tokens":null}"#,
            r#"{"messages":[{"role":"user","content":"hi"}],"stream":false}"#,
            r#"{"model":null,"messages":null,"tools":null,"stream":null}"#,
            r#"{}"#,
            r#"{"messages":[{"content":"no role"},{"role":"assistant"}]}"#,
        ];
        for body in bodies {
            let t = typed(body).unwrap_or_else(|| panic!("the view refuses {body}"));
            assert_eq!(fields(&t), fields(&by_value(body)), "{body}");
        }
        // Shapes the view refuses are read through a `Value`: same fields as before.
        for body in [
            r#"{"model":3,"messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"messages":{"role":"user"}}"#,
            r#"{"messages":[{"role":"user","content":5}]}"#,
            r#"{"stream":"yes","messages":[]}"#,
            r#"{"model":"a","model":"b"}"#,
            r#"[1,2]"#,
        ] {
            assert!(typed(body).is_none(), "{body}");
            let (req, valid) = ScriptRequest::from_body(
                Protocol::OpenAi,
                String::new(),
                Vec::new(),
                Bytes::from(body.to_string()),
                Instant::now(),
                Duration::ZERO,
            );
            assert!(valid, "{body}");
            assert_eq!(fields(&req), fields(&by_value(body)), "{body}");
            assert_eq!(req.body(), &parse_body(body.as_bytes()));
        }
        let (_, valid) = ScriptRequest::from_body(
            Protocol::OpenAi,
            String::new(),
            Vec::new(),
            Bytes::from_static(b"{not json"),
            Instant::now(),
            Duration::ZERO,
        );
        assert!(!valid);
    }
}
