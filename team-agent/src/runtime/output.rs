//! Reading what a runtime prints: the result text, an error, the token usage.

use serde_json::Value;

use super::OutputKind;

/// Tokens a runtime's turn used, summed over its model calls.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Input tokens, cached ones included (`prompt_tokens` in `team`'s records).
    pub prompt_tokens: u64,
    /// Output tokens, reasoning included (`completion_tokens`).
    pub completion_tokens: u64,
    /// The cost the CLI reports, in US dollars, if it does.
    pub cost_usd: Option<f64>,
    /// Model calls (steps) the CLI reported.
    pub calls: u64,
}

/// What a runtime's output says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    /// The answer: the text of the last step that had text. `None` when it printed none.
    pub text: Option<String>,
    /// The errors it reported (error events, a failed turn, `is_error`), in order.
    pub errors: Vec<String>,
    /// The usage, summed.
    pub usage: Usage,
    /// Lines that were not JSON events of the expected kind (skipped).
    pub skipped_lines: usize,
}

/// Reads `stdout` (escape codes already stripped) as the runtime's output of `kind`. Never
/// fails: what cannot be read is counted in [`Output::skipped_lines`].
pub fn parse_output(kind: OutputKind, stdout: &str) -> Output {
    let mut out = Output::default();
    let mut step_text: Option<String> = None;
    for line in stdout.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            out.skipped_lines += 1;
            continue;
        };
        let kind_of = str_at(&event, &["type"]).unwrap_or_default();
        match kind {
            OutputKind::OpenCodeJson => opencode_event(&event, kind_of, &mut out, &mut step_text),
            OutputKind::ClaudeJson => claude_event(&event, kind_of, &mut out),
            OutputKind::CodexJson => codex_event(&event, kind_of, &mut out),
        }
    }
    if let Some(t) = step_text {
        out.text = Some(t);
    }
    out
}

fn opencode_event(event: &Value, kind: &str, out: &mut Output, step_text: &mut Option<String>) {
    let part = event.get("part").unwrap_or(&Value::Null);
    match kind {
        "step_start" => {
            // A new step: the answer is the text of the last step that has text.
            if let Some(t) = step_text.take() {
                out.text = Some(t);
            }
        }
        "text" => {
            if let Some(t) = str_at(part, &["text"]) {
                let text = step_text.get_or_insert_with(String::new);
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(t);
            }
        }
        "step_finish" => {
            let tokens = part.get("tokens").unwrap_or(&Value::Null);
            out.usage.prompt_tokens += u64_at(tokens, &["input"])
                + u64_at(tokens, &["cache", "read"])
                + u64_at(tokens, &["cache", "write"]);
            out.usage.completion_tokens +=
                u64_at(tokens, &["output"]) + u64_at(tokens, &["reasoning"]);
            out.usage.calls += 1;
            if let Some(c) = part.get("cost").and_then(Value::as_f64) {
                *out.usage.cost_usd.get_or_insert(0.0) += c;
            }
        }
        "error" => {
            let error = event.get("error").unwrap_or(&Value::Null);
            let message = str_at(error, &["data", "message"])
                .or_else(|| str_at(error, &["message"]))
                .map(str::to_owned)
                .or_else(|| str_at(error, &["name"]).map(str::to_owned))
                .unwrap_or_else(|| error.to_string());
            out.errors.push(message);
        }
        _ => {}
    }
}

fn claude_event(event: &Value, kind: &str, out: &mut Output) {
    if kind != "result" {
        return;
    }
    let usage = event.get("usage").unwrap_or(&Value::Null);
    out.usage.prompt_tokens += u64_at(usage, &["input_tokens"])
        + u64_at(usage, &["cache_creation_input_tokens"])
        + u64_at(usage, &["cache_read_input_tokens"]);
    out.usage.completion_tokens += u64_at(usage, &["output_tokens"]);
    out.usage.calls += event.get("num_turns").and_then(Value::as_u64).unwrap_or(1);
    if let Some(c) = event.get("total_cost_usd").and_then(Value::as_f64) {
        *out.usage.cost_usd.get_or_insert(0.0) += c;
    }
    let result = str_at(event, &["result"]).map(str::to_owned);
    let is_error = event.get("is_error").and_then(Value::as_bool) == Some(true)
        || str_at(event, &["subtype"]).is_some_and(|s| s.starts_with("error"));
    if is_error {
        let detail = result.clone().filter(|r| !r.is_empty()).unwrap_or_else(|| {
            let errors: Vec<&str> = event
                .get("errors")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if errors.is_empty() {
                str_at(event, &["subtype"]).unwrap_or("error").to_owned()
            } else {
                errors.join("; ")
            }
        });
        out.errors.push(detail);
    } else if let Some(r) = result {
        out.text = Some(r);
    }
}

fn codex_event(event: &Value, kind: &str, out: &mut Output) {
    match kind {
        "item.completed" => {
            let item = event.get("item").unwrap_or(&Value::Null);
            if str_at(item, &["type"]) == Some("agent_message")
                && let Some(t) = str_at(item, &["text"])
            {
                out.text = Some(t.to_owned());
            }
        }
        "turn.completed" => {
            let usage = event.get("usage").unwrap_or(&Value::Null);
            // `input_tokens` counts the cached ones too (`cached_input_tokens` is a part).
            out.usage.prompt_tokens += u64_at(usage, &["input_tokens"]);
            out.usage.completion_tokens += u64_at(usage, &["output_tokens"]);
            out.usage.calls += 1;
        }
        "turn.failed" => {
            let message = str_at(event, &["error", "message"]).unwrap_or("the turn failed");
            if !out.errors.iter().any(|e| e == message) {
                out.errors.push(message.to_owned());
            }
        }
        "error" => {
            if let Some(m) = str_at(event, &["message"])
                && !out.errors.iter().any(|e| e == m)
            {
                out.errors.push(m.to_owned());
            }
        }
        _ => {}
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str()
}

fn u64_at(v: &Value, path: &[&str]) -> u64 {
    let mut cur = v;
    for key in path {
        match cur.get(key) {
            Some(next) => cur = next,
            None => return 0,
        }
    }
    cur.as_u64().unwrap_or(0)
}
