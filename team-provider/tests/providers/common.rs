//! Shared helpers for the integration tests (scripted server from team-testkit, fast retry settings).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use team_provider::{
    AnthropicProvider, ApiKey, CallContext, ChatRequest, EnvFn, OpenAiProvider, ProviderConfig,
    ProviderKind, ProviderSettings, ToolSpec,
};

/// A fake key used by tests (never a real one).
pub const KEY: &str = "sk-test-TOPSECRET-0123456789abcdef";

/// Settings with small retry delays, pointing at `base_url`.
pub fn fast(name: &str, kind: ProviderKind, base_url: &str) -> ProviderSettings {
    let mut s = ProviderSettings::new(name, kind, base_url);
    s.retry_base_ms = 10;
    s.retry_max_ms = 50;
    s.max_retries = 3;
    s.request_timeout_secs = 10;
    s
}

pub fn openai(base_url: &str) -> OpenAiProvider {
    OpenAiProvider::new(
        fast("scripted", ProviderKind::OpenAi, base_url),
        ApiKey::new(KEY),
    )
    .expect("provider")
}

pub fn anthropic(base_url: &str) -> AnthropicProvider {
    AnthropicProvider::new(
        fast("scripted-anthropic", ProviderKind::Anthropic, base_url),
        ApiKey::new(KEY),
    )
    .expect("provider")
}

pub fn ctx(member: &str, turn: u32) -> CallContext {
    CallContext::new("alpha", member, turn)
}

pub fn request(model: &str, user: &str) -> ChatRequest {
    let mut req = ChatRequest::new(model, "You are member of team alpha.");
    req.messages.push(team_provider::ChatMessage::user(user));
    req.tools = std::sync::Arc::from([ToolSpec {
        name: "read_file".into(),
        description: "Read a file".into(),
        parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
    }]);
    req
}

/// An environment with only the given variables.
pub fn env(vars: &[(&str, &str)]) -> EnvFn {
    let map: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Arc::new(move |name| map.get(name).cloned())
}

/// A `[providers.NAME]` table pointing at a scripted server with fast retries.
pub fn config(
    kind: Option<ProviderKind>,
    base_url: &str,
    key_env: &str,
    max_concurrent: usize,
) -> ProviderConfig {
    ProviderConfig {
        kind,
        base_url: Some(base_url.to_string()),
        api_key_env: Some(key_env.to_string()),
        max_concurrent_requests: Some(max_concurrent),
        retry_base_ms: Some(10),
        retry_max_ms: Some(50),
        max_retries: Some(3),
        ..ProviderConfig::default()
    }
}
