//! Request bodies in shared pieces: a request's own JSON, with its tool list spliced in as
//! bytes encoded once per list.
//!
//! Every member of an agent offers the model the same tools (one `Arc<[ToolSpec]>`, see
//! [`crate::ChatRequest::tools`]), ~7 KB of JSON schemas. Encoding them into every
//! request cost each member in flight that much memory and CPU (BENCHMARKS.md § 9); here each
//! list is encoded once per provider and every request refers to the same bytes.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use serde::Serialize;

use crate::ToolSpec;

/// A JSON request body as pieces sent back to back (no copy of a shared piece is made).
#[derive(Debug, Clone)]
pub(crate) struct JsonBody {
    parts: Vec<Bytes>,
}

impl JsonBody {
    /// Encodes `head`, a JSON object whose encoding leaves the tools out, and splices
    /// `"tools": <tools>` in before its closing brace when `tools` is given.
    ///
    /// Errors: `head` cannot be encoded, or does not encode as a JSON object.
    pub fn spliced(head: &impl Serialize, tools: Option<Bytes>) -> serde_json::Result<Self> {
        let mut own = serde_json::to_vec(head)?;
        let parts = match tools {
            Some(tools) => {
                if own.pop() != Some(b'}') {
                    return Err(serde::ser::Error::custom(
                        "the request is not a JSON object",
                    ));
                }
                if own.len() > 1 {
                    own.push(b',');
                }
                own.extend_from_slice(br#""tools":"#);
                // Encoding doubles the buffer as it grows: keep only the bytes.
                own.shrink_to_fit();
                vec![Bytes::from(own), tools, Bytes::from_static(b"}")]
            }
            None => {
                own.shrink_to_fit();
                vec![Bytes::from(own)]
            }
        };
        Ok(Self { parts })
    }

    /// The body `head` + `tools` (encoded by `encode_tools`, not cached) as it would be sent,
    /// decoded back into a `Value`; `Value::Null` if it cannot be encoded. What
    /// `wire::request_body` shows of a provider's request.
    pub fn decoded(
        head: &impl Serialize,
        tools: &[ToolSpec],
        encode_tools: impl FnOnce(&[ToolSpec]) -> serde_json::Result<Vec<u8>>,
    ) -> serde_json::Value {
        let tools = (!tools.is_empty())
            .then(|| encode_tools(tools).map(Bytes::from))
            .transpose();
        tools
            .and_then(|tools| Self::spliced(head, tools))
            .and_then(|body| serde_json::from_slice(&body.to_vec()))
            .unwrap_or(serde_json::Value::Null)
    }

    /// The body's length in bytes.
    pub fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }

    /// The body as one `reqwest` body for one attempt: a plain buffer when it is one piece,
    /// else a stream of the pieces with an exact length (sent with `Content-Length`).
    pub fn to_reqwest(&self) -> reqwest::Body {
        match self.parts.as_slice() {
            [one] => reqwest::Body::from(one.clone()),
            _ => reqwest::Body::wrap(Pieces {
                remaining: self.len() as u64,
                parts: self.parts.clone().into_iter(),
            }),
        }
    }

    /// The body as one contiguous buffer (for [`JsonBody::decoded`] and tests).
    fn to_vec(&self) -> Vec<u8> {
        self.parts.concat()
    }
}

/// The pieces of one attempt's body, as an `http_body::Body` of known length.
struct Pieces {
    parts: std::vec::IntoIter<Bytes>,
    remaining: u64,
}

impl http_body::Body for Pieces {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        Poll::Ready(this.parts.next().map(|part| {
            this.remaining -= part.len() as u64;
            Ok(Frame::data(part))
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.parts.len() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// The encoded tool lists of one provider (one wire format), keyed by the list's allocation.
/// An entry lives as long as its list: it is dropped at the first lookup after the last
/// member holding the list is gone.
#[derive(Debug, Default)]
pub(crate) struct EncodedTools {
    entries: Mutex<Vec<(Weak<[ToolSpec]>, Bytes)>>,
}

impl EncodedTools {
    /// The encoding of `tools` by `encode`: made on the first request with this list, then
    /// shared. `None` for an empty list (the request then has no `tools` member).
    ///
    /// Errors: those of `encode`.
    pub fn get(
        &self,
        tools: &Arc<[ToolSpec]>,
        encode: impl FnOnce(&[ToolSpec]) -> serde_json::Result<Vec<u8>>,
    ) -> serde_json::Result<Option<Bytes>> {
        if tools.is_empty() {
            return Ok(None);
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Tidy up: the encodings of lists no member holds any more. (A held `Weak` keeps its
        // list's allocation, so a new list never shares an address with a listed one.)
        entries.retain(|(list, _)| list.strong_count() > 0);
        let key = Arc::as_ptr(tools);
        if let Some((_, bytes)) = entries
            .iter()
            .find(|(list, _)| std::ptr::addr_eq(list.as_ptr(), key))
        {
            return Ok(Some(bytes.clone()));
        }
        let mut encoded = encode(tools)?;
        encoded.shrink_to_fit();
        let bytes = Bytes::from(encoded);
        entries.push((Arc::downgrade(tools), bytes.clone()));
        Ok(Some(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn spec(name: &str) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            description: "d".into(),
            parameters: json!({"type": "object"}),
        }
    }

    #[test]
    fn spliced_body_is_the_whole_object() {
        let head = json!({"model": "m", "messages": [{"role": "user", "content": "}"}]});
        let tools = Bytes::from_static(br#"[{"name":"t"}]"#);
        let body = JsonBody::spliced(&head, Some(tools)).expect("encode");
        let v: Value = serde_json::from_slice(&body.to_vec()).expect("valid JSON");
        assert_eq!(v["tools"], json!([{"name": "t"}]));
        assert_eq!(v["messages"][0]["content"], "}");
        assert_eq!(body.len(), body.to_vec().len());
        // An empty head object takes no comma; no tools = the head alone.
        let empty = JsonBody::spliced(&json!({}), Some(Bytes::from_static(b"[]"))).expect("e");
        assert_eq!(empty.to_vec(), br#"{"tools":[]}"#);
        let plain = JsonBody::spliced(&head, None).expect("plain");
        assert_eq!(plain.to_vec(), serde_json::to_vec(&head).expect("head"));
        assert!(JsonBody::spliced(&json!([1]), Some(Bytes::new())).is_err());
    }

    #[test]
    fn each_list_is_encoded_once_while_it_lives() {
        let cache = EncodedTools::default();
        let a: Arc<[ToolSpec]> = Arc::from([spec("a")]);
        let b: Arc<[ToolSpec]> = Arc::from([spec("b")]);
        let encodes = std::cell::Cell::new(0);
        let enc = |t: &[ToolSpec]| {
            encodes.set(encodes.get() + 1);
            serde_json::to_vec(&t.iter().map(|s| &s.name).collect::<Vec<_>>())
        };
        let first = cache.get(&a, enc).expect("a").expect("some");
        let again = cache.get(&a.clone(), enc).expect("a").expect("some");
        assert_eq!(first, again);
        assert_eq!(
            cache.get(&b, enc).expect("b").expect("some"),
            &br#"["b"]"#[..]
        );
        assert_eq!(encodes.get(), 2, "one encoding per list");
        assert!(cache.get(&Arc::from([]), enc).expect("empty").is_none());
        drop(a);
        let c: Arc<[ToolSpec]> = Arc::from([spec("c")]);
        assert_eq!(
            cache.get(&c, enc).expect("c").expect("some"),
            &br#"["c"]"#[..]
        );
        assert_eq!(
            cache.entries.lock().expect("lock").len(),
            2,
            "a's entry dropped"
        );
    }
}
