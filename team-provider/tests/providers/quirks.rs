//! Wire quirks of real OpenAI-compatible servers (each reproduced by the scripted server's
//! [`Quirks`]) and structured output: the form each `structured_output` setting sends, and
//! `auto` moving on, once for the run, when a server refuses a form.

use crate::common;

use common::*;
use serde_json::{Value, json};
use team_provider::{
    AnswerFormat, AnthropicProvider, ApiKey, ChatMessage, OpenAiProvider, Provider, ProviderError,
    ProviderKind, StructuredOutput, ToolCall,
};
use team_testkit::{FILL_CHARS, Quirks, Reply, Rule, Script, ScriptedServer};

fn answer_format() -> AnswerFormat {
    AnswerFormat {
        name: "review_answer".into(),
        schema: json!({"type": "object", "properties": {"findings": {"type": "array"}},
            "required": ["findings"], "additionalProperties": false}),
    }
}

fn openai_with(base_url: &str, setting: StructuredOutput, max_tokens: u32) -> OpenAiProvider {
    let mut s = fast("local", ProviderKind::OpenAi, base_url);
    s.structured_output = setting;
    s.max_tokens = max_tokens;
    OpenAiProvider::new(s, None).expect("provider")
}

async fn quirky(quirks: Quirks, reply: Reply) -> ScriptedServer {
    ScriptedServer::start(Script::rules(vec![Rule::always(reply)]).with_quirks(quirks))
        .await
        .expect("server")
}

/// llama-cpp-python ignores `tools` unless `tool_choice` is sent: the tool call would come
/// back as prose. `team` sends `tool_choice: "auto"` with tools, so the call arrives.
#[tokio::test]
async fn tools_are_offered_with_tool_choice_auto() {
    let quirks = Quirks {
        tools_need_tool_choice: true,
        ..Quirks::default()
    };
    let server = quirky(quirks, Reply::tool_call("read_file", r#"{"path":"a"}"#)).await;
    let p = openai_with(&server.base_url(), StructuredOutput::Auto, 4096);
    let r = p
        .chat(&ctx("ana", 1), &request("m", "read a"))
        .await
        .expect("chat");
    assert_eq!(r.tool_calls.len(), 1, "{r:?}");
    assert_eq!(r.tool_calls[0].name, "read_file");
    let body = server.requests()[0].body().clone();
    assert_eq!(body["tool_choice"], "auto");
    // Without tools, no tool_choice (servers refuse one without tools).
    let mut plain = request("m", "hi");
    plain.tools = std::sync::Arc::from([]);
    p.chat(&ctx("ana", 2), &plain).await.expect("chat");
    assert!(server.requests()[1].body().get("tool_choice").is_none());
}

/// The quirk is real: a request without `tool_choice` gets the call back as text.
#[tokio::test]
async fn the_tool_choice_quirk_turns_calls_into_prose() {
    let quirks = Quirks {
        tools_need_tool_choice: true,
        ..Quirks::default()
    };
    let server = quirky(quirks, Reply::tool_call("read_file", r#"{"path":"a"}"#)).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/chat/completions", server.base_url()))
        .json(
            &json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "read_file", "parameters": {}}}]}),
        )
        .send()
        .await
        .expect("send");
    let v: Value = resp.json().await.expect("json");
    assert!(v["choices"][0]["message"]["tool_calls"].is_null(), "{v}");
    assert!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("read_file")
    );
}

/// A server that refuses `content: null` in an assistant message (400): the assistant's
/// tool-call message is sent with `content: ""`, so the next call of the loop goes through.
#[tokio::test]
async fn an_assistant_tool_call_message_has_empty_content_not_null() {
    let quirks = Quirks {
        reject_null_content: true,
        ..Quirks::default()
    };
    let server = quirky(quirks, Reply::text("done")).await;
    let p = openai_with(&server.base_url(), StructuredOutput::Auto, 4096);
    let mut req = request("m", "read a");
    let call = ToolCall {
        id: "c1".into(),
        name: "read_file".into(),
        arguments: r#"{"path":"a"}"#.into(),
    };
    req.messages.push(ChatMessage::Assistant {
        content: None,
        tool_calls: vec![call.clone()],
    });
    req.messages
        .push(ChatMessage::tool_result(&call, "hello", false));
    let r = p.chat(&ctx("ana", 2), &req).await.expect("accepted");
    assert_eq!(r.content.as_deref(), Some("done"));
    assert_eq!(server.requests()[0].body()["messages"][2]["content"], "");
    // The quirk is real: `null` is refused.
    let resp = reqwest::Client::new()
        .post(format!("{}/chat/completions", server.base_url()))
        .json(&json!({"model": "m", "messages": [{"role": "assistant", "content": null}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
}

/// A server that generates until its context is full without `max_tokens`: the provider's
/// default `max_tokens` is sent, so the scripted answer comes back; with `max_tokens = 0`
/// (none sent) the filler does, which shows the quirk is reproduced.
#[tokio::test]
async fn max_tokens_is_sent_by_default() {
    let quirks = Quirks {
        fill_without_max_tokens: true,
        ..Quirks::default()
    };
    let server = quirky(quirks, Reply::text("short answer")).await;
    let p = openai_with(&server.base_url(), StructuredOutput::Auto, 1234);
    let r = p
        .chat(&ctx("ana", 1), &request("m", "hi"))
        .await
        .expect("chat");
    assert_eq!(r.content.as_deref(), Some("short answer"));
    assert_eq!(server.requests()[0].body()["max_tokens"], 1234);
    let mut own = request("m", "hi");
    own.max_tokens = Some(77);
    p.chat(&ctx("ana", 2), &own).await.expect("chat");
    assert_eq!(server.requests()[1].body()["max_tokens"], 77);
    let unlimited = openai_with(&server.base_url(), StructuredOutput::Auto, 0);
    let r = unlimited
        .chat(&ctx("ana", 3), &request("m", "hi"))
        .await
        .expect("chat");
    assert!(r.content.unwrap().len() >= FILL_CHARS - 12);
}

/// Each setting's form on the wire; `none` and a request without a format send nothing.
#[tokio::test]
async fn each_structured_output_form_on_the_wire() {
    let server = quirky(Quirks::default(), Reply::text(r#"{"findings": []}"#)).await;
    let mut req = request("m", "review");
    req.response_format = Some(answer_format());
    let schema = answer_format().schema;
    let cases = [
        (
            StructuredOutput::Auto,
            "response_format",
            json!({"type": "json_schema", "json_schema": {"name": "review_answer", "schema": schema, "strict": true}}),
        ),
        (
            StructuredOutput::JsonObject,
            "response_format",
            json!({"type": "json_object", "schema": schema}),
        ),
        (StructuredOutput::LlamaCpp, "json_schema", schema.clone()),
        (StructuredOutput::Ollama, "format", schema.clone()),
    ];
    for (i, (setting, field, want)) in cases.iter().enumerate() {
        let p = openai_with(&server.base_url(), *setting, 4096);
        p.chat(&ctx("ana", 1), &req).await.expect("chat");
        let body = server.requests()[i].body().clone();
        assert_eq!(body[*field], *want, "{setting:?}: {body}");
        for other in ["response_format", "json_schema", "format"] {
            if other != *field {
                assert!(
                    body.get(other).is_none(),
                    "{setting:?} sent {other}: {body}"
                );
            }
        }
    }
    let none = openai_with(&server.base_url(), StructuredOutput::None, 4096);
    none.chat(&ctx("ana", 1), &req).await.expect("chat");
    let auto = openai_with(&server.base_url(), StructuredOutput::Auto, 4096);
    auto.chat(&ctx("ana", 1), &request("m", "free text"))
        .await
        .expect("chat");
    for r in &server.requests()[4..] {
        let body = r.body();
        for field in ["response_format", "json_schema", "format"] {
            assert!(body.get(field).is_none(), "{body}");
        }
    }
}

/// `auto` against llama-cpp-python (it knows `json_object` only, and refuses `json_schema`
/// with HTTP 500 or 400 naming `response_format`): the refused form is not retried, the next
/// one is sent at once, and later calls start from it (one refusal per run).
#[tokio::test]
async fn auto_falls_back_once_and_remembers() {
    for status in [400u16, 422, 500] {
        let quirks = Quirks {
            response_format_types: vec!["text".into(), "json_object".into()],
            refusal_status: Some(status),
            ..Quirks::default()
        };
        let server = quirky(quirks, Reply::text(r#"{"findings": []}"#)).await;
        let p = openai_with(&server.base_url(), StructuredOutput::Auto, 4096);
        let mut req = request("m", "review");
        req.response_format = Some(answer_format());
        let r = p.chat(&ctx("ana", 1), &req).await.expect("falls back");
        assert_eq!(r.content.as_deref(), Some(r#"{"findings": []}"#));
        p.chat(&ctx("bob", 1), &req).await.expect("second call");
        let kinds: Vec<Value> = server
            .requests()
            .iter()
            .map(|r| r.body()["response_format"]["type"].clone())
            .collect();
        assert_eq!(
            kinds,
            [
                json!("json_schema"),
                json!("json_object"),
                json!("json_object")
            ],
            "HTTP {status}"
        );
    }
}

/// A server that knows no form at all walks the whole chain down to none, each refusal once.
#[tokio::test]
async fn auto_walks_the_chain_to_none() {
    let quirks = Quirks {
        response_format_types: vec!["text".into()],
        reject_fields: vec!["json_schema".into(), "format".into()],
        ..Quirks::default()
    };
    let server = quirky(quirks, Reply::text("ok")).await;
    let p = openai_with(&server.base_url(), StructuredOutput::Auto, 4096);
    let mut req = request("m", "review");
    req.response_format = Some(answer_format());
    p.chat(&ctx("ana", 1), &req).await.expect("ends with none");
    p.chat(&ctx("ana", 2), &req).await.expect("none again");
    let forms: Vec<&'static str> = server
        .requests()
        .iter()
        .map(|r| {
            let b = r.body();
            match (
                b["response_format"]["type"].as_str(),
                b.get("json_schema"),
                b.get("format"),
            ) {
                (Some("json_schema"), _, _) => "json_schema",
                (Some("json_object"), _, _) => "json_object",
                (_, Some(_), _) => "llama_cpp",
                (_, _, Some(_)) => "ollama",
                _ => "none",
            }
        })
        .collect();
    assert_eq!(
        forms,
        [
            "json_schema",
            "json_object",
            "llama_cpp",
            "ollama",
            "none",
            "none"
        ]
    );
}

/// A form set explicitly is not given up: the refusal is the call's error. A 4xx that does
/// not name the field is an error under `auto` too.
#[tokio::test]
async fn an_explicit_form_or_an_unrelated_4xx_is_an_error() {
    let quirks = Quirks {
        response_format_types: vec!["json_object".into()],
        ..Quirks::default()
    };
    let server = quirky(quirks, Reply::text("{}")).await;
    let p = openai_with(&server.base_url(), StructuredOutput::JsonSchema, 4096);
    let mut req = request("m", "review");
    req.response_format = Some(answer_format());
    let e = p.chat(&ctx("ana", 1), &req).await.unwrap_err();
    assert!(matches!(e, ProviderError::Http { status: 400, .. }), "{e}");
    assert_eq!(server.request_count(), 1);
    let other = ScriptedServer::start(Script::rules(vec![Rule::always(Reply::error(
        400,
        r#"{"error": {"message": "model not found"}}"#,
    ))]))
    .await
    .expect("server");
    let p = openai_with(&other.base_url(), StructuredOutput::Auto, 4096);
    let e = p.chat(&ctx("ana", 1), &req).await.unwrap_err();
    assert!(e.to_string().contains("model not found"), "{e}");
    assert_eq!(other.request_count(), 1);
}

/// Anthropic: the answer is asked as a forced call of a tool named after the format; the
/// call's input comes back as the reply's text, not as a tool call.
#[tokio::test]
async fn anthropic_answers_through_a_forced_tool_call() {
    let server = quirky(
        Quirks::default(),
        Reply::tool_call("review_answer", r#"{"findings":[]}"#),
    )
    .await;
    let p = AnthropicProvider::new(
        fast(
            "anthropic",
            ProviderKind::Anthropic,
            &server.anthropic_base_url(),
        ),
        ApiKey::new(KEY),
    )
    .expect("provider");
    let mut req = request("claude", "review");
    req.response_format = Some(answer_format());
    let r = p.chat(&ctx("ana", 1), &req).await.expect("chat");
    assert_eq!(r.content.as_deref(), Some(r#"{"findings":[]}"#));
    assert!(r.tool_calls.is_empty());
    let body = server.requests()[0].body().clone();
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "review_answer"})
    );
    let tools: Vec<&str> = body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["read_file", "review_answer"]);
    assert_eq!(body["tools"][1]["input_schema"], answer_format().schema);
}

/// A structured-output setting that does not fit the provider's kind is a configuration error.
#[test]
fn a_form_of_the_other_kind_is_refused() {
    let mut s = fast("x", ProviderKind::Anthropic, "http://127.0.0.1:1");
    s.structured_output = StructuredOutput::JsonSchema;
    let e = s.validate().unwrap_err().to_string();
    assert!(e.contains("structured_output = \"json_schema\""), "{e}");
    let mut s = fast("x", ProviderKind::OpenAi, "http://127.0.0.1:1");
    s.structured_output = StructuredOutput::Tool;
    assert!(s.validate().is_err());
}
