//! Streamable HTTP: `team mcp --http ADDR` serves MCP at `http://ADDR/mcp` (rmcp's
//! `StreamableHttpService` in an axum router), each request checked for
//! `Authorization: Bearer TOKEN` first: a missing or wrong token gets `401 Unauthorized` (with
//! `WWW-Authenticate: Bearer`) and reaches no MCP code. The token is compared in constant time
//! and never logged.

use std::net::SocketAddr;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::{McpError, McpServer};

/// The path MCP is served at.
pub const PATH: &str = "/mcp";

/// A new bearer token: 32 random bytes from the OS-seeded generator, as 64 hex digits.
pub fn new_token() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn check_token(token: std::sync::Arc<String>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(t) if same(t.trim().as_bytes(), token.as_bytes()) => next.run(req).await,
        _ => {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                "a bearer token is required (Authorization: Bearer TOKEN): the one `team mcp \
                 --http` printed, or the value of its --token-env variable\n",
            )
                .into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        }
    }
}

impl McpServer {
    /// Serves MCP over streamable HTTP on `listener` (at [`PATH`]) until `shutdown` is
    /// cancelled, refusing every request without `Authorization: Bearer token`. Each client
    /// session gets its own [`crate::server::Session`]; all act as this server's seat.
    ///
    /// # Errors
    /// [`McpError::Io`] when the listener fails.
    pub async fn serve_http(
        self,
        listener: tokio::net::TcpListener,
        token: String,
        shutdown: CancellationToken,
    ) -> Result<(), McpError> {
        let addr: SocketAddr = listener.local_addr()?;
        let _poller = self.start_poller();
        let mut hosts = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        hosts.push(addr.ip().to_string());
        let config = StreamableHttpServerConfig::default()
            .with_allowed_hosts(hosts)
            .with_cancellation_token(shutdown.child_token());
        let server = self.clone();
        let service = StreamableHttpService::new(
            move || Ok(server.session()),
            LocalSessionManager::default().into(),
            config,
        );
        let token = std::sync::Arc::new(token);
        let router =
            axum::Router::new()
                .nest_service(PATH, service)
                .layer(axum::middleware::from_fn(move |req, next| {
                    check_token(token.clone(), req, next)
                }));
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_64_hex_digits_and_differ() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn same_compares_whole_values() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        assert!(!same(b"", b"a"));
    }
}
