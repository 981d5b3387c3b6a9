//! Record/replay cassettes: JSON Lines files of provider exchanges, as [`Provider`] wrappers.
//!
//! Neither speaks HTTP: [`RecordingProvider`] wraps the provider that makes the call (for a
//! model server, [`crate::HttpProvider`], the one call path) and writes what it returned;
//! [`ReplayProvider`] stands in for it and makes no call at all.
//!
//! One line per call: `{"team", "member", "turn", "provider", "model", "request": ChatRequest,
//! "response": ChatResponse}` or `... "error": ProviderError}`. `latency` is not stored. Replay is keyed
//! by (member, turn), not by order, because parallel members interleave; several exchanges under one
//! key (e.g. a turn retried after an error) are served in recorded order.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::{BoxFuture, CallContext, ChatRequest, ChatResponse, Provider, ProviderError};

/// One recorded exchange (one line of a cassette).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CassetteEntry {
    /// Team of the caller.
    #[serde(default)]
    pub team: String,
    /// Calling member.
    pub member: String,
    /// Turn of the member's loop.
    pub turn: u32,
    /// Provider name.
    pub provider: String,
    /// Model name (without provider prefix).
    pub model: String,
    /// The request as sent to the provider.
    pub request: ChatRequest,
    /// The reply (exactly one of `response` / `error` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ChatResponse>,
    /// The error, when the call failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ProviderError>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Appends [`CassetteEntry`] lines to a file; safe to share between concurrent members (one mutex
/// around the file, one `write` + flush per line, so lines never interleave).
#[derive(Debug)]
pub struct CassetteWriter {
    path: PathBuf,
    file: Mutex<File>,
}

impl CassetteWriter {
    /// Creates (or truncates) the cassette file at `path`.
    ///
    /// Errors: [`ProviderError::Cassette`] when the file cannot be created.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, ProviderError> {
        Self::open(path.as_ref(), false)
    }

    /// Opens the cassette at `path` for appending (created when missing).
    ///
    /// Errors: [`ProviderError::Cassette`] when the file cannot be opened.
    pub fn append(path: impl AsRef<Path>) -> Result<Self, ProviderError> {
        Self::open(path.as_ref(), true)
    }

    fn open(path: &Path, append: bool) -> Result<Self, ProviderError> {
        let mut opts = OpenOptions::new();
        opts.create(true);
        if append {
            opts.append(true);
        } else {
            opts.write(true).truncate(true);
        }
        let file = opts.open(path).map_err(|e| ProviderError::Cassette {
            path: path.display().to_string(),
            reason: format!("cannot open for writing: {e}"),
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// Path of the cassette file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one entry as one line and flushes it.
    ///
    /// Errors: [`ProviderError::Cassette`] when encoding or writing fails.
    pub fn write(&self, entry: &CassetteEntry) -> Result<(), ProviderError> {
        let fail = |reason: String| ProviderError::Cassette {
            path: self.path.display().to_string(),
            reason,
        };
        let mut line = serde_json::to_string(entry)
            .map_err(|e| fail(format!("cannot encode an entry: {e}")))?;
        line.push('\n');
        let mut file = lock(&self.file);
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| fail(format!("cannot write: {e}")))
    }
}

/// Wraps a provider and records every exchange to a [`CassetteWriter`].
///
/// If the cassette cannot be written, the call fails with [`ProviderError::Cassette`] (a recording with
/// holes would replay wrongly).
pub struct RecordingProvider {
    inner: Arc<dyn Provider>,
    writer: Arc<CassetteWriter>,
}

impl std::fmt::Debug for RecordingProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingProvider")
            .field("provider", &self.inner.name())
            .field("cassette", &self.writer.path)
            .finish()
    }
}

impl RecordingProvider {
    /// Records calls to `inner` into `writer`.
    pub fn new(inner: Arc<dyn Provider>, writer: Arc<CassetteWriter>) -> Self {
        Self { inner, writer }
    }

    async fn call(
        &self,
        ctx: &CallContext,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let result = self.inner.chat(ctx, req).await;
        let (response, error) = match &result {
            Ok(r) => (Some(r.clone()), None),
            Err(e) => (None, Some(e.clone())),
        };
        self.writer.write(&CassetteEntry {
            team: ctx.team.clone(),
            member: ctx.member.clone(),
            turn: ctx.turn,
            provider: self.inner.name().to_string(),
            model: req.model.clone(),
            request: req.clone(),
            response,
            error,
        })?;
        result
    }
}

impl Provider for RecordingProvider {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn chat<'a>(
        &'a self,
        ctx: &'a CallContext,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(self.call(ctx, req))
    }
}

type Key = (String, u32);

/// A loaded cassette: recorded exchanges keyed by (member, turn), each served once.
#[derive(Debug)]
pub struct Cassette {
    path: String,
    strict: bool,
    entries: Mutex<HashMap<Key, VecDeque<CassetteEntry>>>,
    recorded: HashMap<Key, usize>,
}

impl Cassette {
    /// Loads a JSON Lines cassette (blank lines skipped).
    ///
    /// Errors: [`ProviderError::Cassette`] naming the path (and line number for a bad line).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ProviderError> {
        let path = path.as_ref();
        let label = path.display().to_string();
        let fail = |reason: String| ProviderError::Cassette {
            path: label.clone(),
            reason,
        };
        let file = File::open(path).map_err(|e| fail(format!("cannot open for replay: {e}")))?;
        let mut entries = Vec::new();
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| fail(format!("cannot read line {}: {e}", i + 1)))?;
            if line.trim().is_empty() {
                continue;
            }
            let entry: CassetteEntry = serde_json::from_str(&line)
                .map_err(|e| fail(format!("line {} is not a cassette entry: {e}", i + 1)))?;
            if entry.response.is_some() == entry.error.is_some() {
                return Err(fail(format!(
                    "line {} must have exactly one of `response` and `error`",
                    i + 1
                )));
            }
            entries.push(entry);
        }
        Ok(Self::from_entries(label, entries))
    }

    /// A cassette from entries in memory; `path` is only used in messages.
    pub fn from_entries(path: impl Into<String>, entries: Vec<CassetteEntry>) -> Self {
        let mut map: HashMap<Key, VecDeque<CassetteEntry>> = HashMap::new();
        for e in entries {
            map.entry((e.member.clone(), e.turn))
                .or_default()
                .push_back(e);
        }
        let recorded = map.iter().map(|(k, v)| (k.clone(), v.len())).collect();
        Self {
            path: path.into(),
            strict: false,
            entries: Mutex::new(map),
            recorded,
        }
    }

    /// Strict mode: a replayed call whose model or messages differ from the recorded request is a
    /// [`ProviderError::CassetteMiss`]. Default off (only the (member, turn) key must match).
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Path (or label) of the cassette.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Exchanges not served yet.
    pub fn remaining(&self) -> usize {
        lock(&self.entries).values().map(VecDeque::len).sum()
    }

    /// Takes the next recorded exchange for `ctx`'s (member, turn), checking it against `req`.
    ///
    /// Errors: [`ProviderError::CassetteMiss`] naming member, turn and the cassette path.
    pub fn take(
        &self,
        ctx: &CallContext,
        req: &ChatRequest,
    ) -> Result<CassetteEntry, ProviderError> {
        let key = (ctx.member.clone(), ctx.turn);
        let miss = |detail: String| ProviderError::CassetteMiss {
            member: ctx.member.clone(),
            turn: ctx.turn,
            path: self.path.clone(),
            detail,
        };
        let mut entries = lock(&self.entries);
        let queue = entries.get_mut(&key);
        let Some(entry) = queue.and_then(VecDeque::pop_front) else {
            let detail = match self.recorded.get(&key) {
                Some(n) => format!(" (all {n} recorded exchange(s) for it were already served)"),
                None => String::new(),
            };
            return Err(miss(detail));
        };
        if self.strict
            && (entry.request.model != req.model
                || entry.request.messages != req.messages
                || entry.request.system != req.system)
        {
            return Err(miss(" (an exchange is recorded, but its request differs: model, system prompt or messages changed)".into()));
        }
        Ok(entry)
    }
}

/// Serves calls from a [`Cassette`] without any network access.
#[derive(Debug, Clone)]
pub struct ReplayProvider {
    name: String,
    cassette: Arc<Cassette>,
}

impl ReplayProvider {
    /// A replaying provider reporting `name` (the recorded provider's name).
    pub fn new(name: impl Into<String>, cassette: Arc<Cassette>) -> Self {
        Self {
            name: name.into(),
            cassette,
        }
    }

    fn call(&self, ctx: &CallContext, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let start = Instant::now();
        let entry = self.cassette.take(ctx, req)?;
        if entry.provider != self.name || entry.model != req.model {
            tracing::debug!(
                member = %ctx.member,
                turn = ctx.turn,
                recorded_provider = %entry.provider,
                recorded_model = %entry.model,
                "replayed exchange was recorded with another provider or model"
            );
        }
        match (entry.response, entry.error) {
            (Some(mut r), _) => {
                r.latency = start.elapsed();
                Ok(r)
            }
            (None, Some(e)) => Err(e),
            (None, None) => Err(ProviderError::Cassette {
                path: self.cassette.path.clone(),
                reason: format!(
                    "entry for member `{}` turn {} has neither response nor error",
                    ctx.member, ctx.turn
                ),
            }),
        }
    }
}

impl Provider for ReplayProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat<'a>(
        &'a self,
        ctx: &'a CallContext,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        let result = self.call(ctx, req);
        Box::pin(async move { result })
    }
}

/// Whether a [`crate::ProviderRegistry`] records, replays, or neither.
#[derive(Debug, Clone, Default)]
pub enum CassetteMode {
    /// Real calls, nothing recorded.
    #[default]
    Off,
    /// Real calls, each recorded to the writer.
    Record(Arc<CassetteWriter>),
    /// No network: calls are served from the cassette (no API keys needed).
    Replay(Arc<Cassette>),
}
