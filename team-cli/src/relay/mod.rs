//! The local relay: a runner on this host (`team runner`, the engine of `team run`) that
//! already holds pooled store connections serves `team send` and `team inbox` (without
//! `--wait`) of other processes of the same user over a Unix domain socket, so these
//! commands do not start a database session of their own (on PostgreSQL ~3 ms of the
//! server's: a backend started, set up, the migration check; bench/findings.md, issue 19).
//!
//! - **Where**: a runner gives its command agents its socket as `TEAM_RUNNER_SOCKET`; a
//!   person at a shell finds the well-known socket of the database, [`socket_path`]: in
//!   [`runtime_dir`] (`$XDG_RUNTIME_DIR/team/`, else `/tmp/team-<uid>/`, mode 0700), named by
//!   a hash of the normalized database URL ([`db_key`], [`db_hash`]: never the URL itself,
//!   which may hold a password). The first runner of a database binds it; another one binds a
//!   socket of its own (`<hash>.<pid>.sock`) for its members, and removes a socket file only
//!   when nothing answers on it (stale: the well-known one when it binds, and at its start
//!   those of the database's killed runners).
//! - **Protocol** ([`PROTOCOL`]): one connection per request; the client writes one JSON
//!   line ([`Request`]: protocol version, database hash, the operation with the command's own
//!   arguments and its actor, [`ActorEnv`]); the runner answers [`Reply::Ready`] (or
//!   [`Reply::Refused`]); the client writes [`GO`]; the runner runs the request and answers
//!   one JSON line ([`Reply`]). The runner
//!   runs the same functions as the command (`commands::message::send_in`, `inbox_target`,
//!   `inbox_take`, `ack_inbox`): the same rules, refusals and messages; the client prints
//!   what the command prints.
//! - **Who**: the runner answers only a peer of its own uid (`SO_PEERCRED`, checked on
//!   accept, before anything is read), who could open
//!   the database directly anyway: no new authority; and not one with `no_new_privs` (an LLM
//!   member's sandboxed `bash`, which Landlock does not keep from a socket's path, must not
//!   gain writes through it: `server::peer_refusal`). The client, in turn, uses a socket
//!   only when the process serving it runs as its own uid. A runner serves at most
//!   `server::MAX_AT_ONCE` commands at once (one more is declined as busy).
//! - **Falling back** (the rule that nothing is lost or doubled): the command opens the
//!   database itself, as without a relay, when no socket answers (no file, connection
//!   refused, a stale file), when the relay is off (`TEAM_RELAY=0`), when writing the request
//!   fails (the runner acts only on a whole line), and when the runner refuses the request
//!   ([`Reply::Refused`]: another database, another protocol version, another uid; it did
//!   nothing), or does not say [`Reply::Ready`] within `client::READY_TIMEOUT` (a frozen or
//!   swamped runner: no [`GO`] is written, so it never runs the request). Once [`GO`] was
//!   written, a missing or broken answer falls back only
//!   for what is safe to repeat (`--peek`, `--after`, an acknowledgement, a send with
//!   `--key`); otherwise (a send, a leased take) the command fails (exit 1) saying the
//!   outcome is unknown and how to check (see `client`).
//!
//! Off with `TEAM_RELAY=0` (also `false`, `off`, `no`): no socket is tried, and a runner
//! started with it serves none.

pub mod client;
pub mod server;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use team_core::Message;

use crate::cli::{InboxArgs, SendArgs};
use crate::commands::message::ActorEnv;

/// The version of the relay's protocol: a runner answers a request of another version with
/// [`Reply::Refused`] (the client then opens the database itself). Raise it on any change of
/// [`Request`] or [`Reply`].
pub const PROTOCOL: u32 = 2;

/// The line a client writes after [`Reply::Ready`] for the runner to run the request.
pub const GO: &[u8] = b"go\n";

/// The variable a runner gives its command agents with its relay's socket path.
pub const ENV_SOCKET: &str = "TEAM_RUNNER_SOCKET";

/// `TEAM_RELAY=0` (or `false`, `off`, `no`) turns the relay off for a command and a runner.
pub const ENV_RELAY: &str = "TEAM_RELAY";

/// Whether the relay is on: `TEAM_RELAY` is not `0`, `false`, `off` or `no` (any case).
pub fn enabled() -> bool {
    !std::env::var(ENV_RELAY).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "0" | "false" | "off" | "no"
        )
    })
}

/// The identity of a database for the relay: a PostgreSQL URL as given (trimmed); a SQLite
/// file (`PATH`, `sqlite://PATH`, `sqlite:PATH`) as its absolute path, symbolic links
/// resolved when it exists. Two spellings of one PostgreSQL database are two keys (their
/// commands then open the database directly, as without a relay).
pub fn db_key(url: &str) -> String {
    let url = url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return url.to_owned();
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let abs = std::path::absolute(path).unwrap_or_else(|_| PathBuf::from(path));
    let abs = std::fs::canonicalize(&abs).unwrap_or(abs);
    format!("sqlite:{}", abs.to_string_lossy())
}

/// A hash of [`db_key`] of `url`: 16 hex digits (64-bit FNV-1a, stable across builds and
/// versions), the name of its socket and what a request names its database by. Not a
/// secret and not a defence (the socket's directory and uid check are).
pub fn db_hash(url: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in b"team-relay\0".iter().chain(db_key(url).as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The per-user directory of relay sockets: `$XDG_RUNTIME_DIR/team` when that variable names
/// an absolute path, else `/tmp/team-<uid>`. Created by a runner with mode 0700.
pub fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d).join("team"),
        _ => PathBuf::from(format!("/tmp/team-{}", nix::unistd::geteuid())),
    }
}

/// The well-known socket of the database `url` ([`runtime_dir`]`/<`[`db_hash`]`>.sock`).
pub fn socket_path(url: &str) -> PathBuf {
    runtime_dir().join(format!("{}.sock", db_hash(url)))
}

/// Connects to the socket at `path` without waiting: a Unix socket's `connect` blocks while
/// the listener's queue is full (a frozen runner that many commands tried), and a command
/// must then open the database itself, not hang. The stream returned blocks as usual.
pub(crate) fn connect_now(
    path: &std::path::Path,
) -> std::io::Result<std::os::unix::net::UnixStream> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};
    use std::os::fd::AsRawFd;
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let addr = UnixAddr::new(path)?;
    connect(fd.as_raw_fd(), &addr).map_err(|e| {
        if e == nix::errno::Errno::EAGAIN {
            std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "the runner's queue of connections is full (is it frozen?)",
            )
        } else {
            std::io::Error::from(e)
        }
    })?;
    let stream = std::os::unix::net::UnixStream::from(fd);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// Whether something listens on the socket at `path` (a connection is taken, or its queue
/// is full): a socket nothing answers on is stale.
pub(crate) fn answers(path: &Path) -> bool {
    match connect_now(path) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
    }
}

/// One request: the first line a client writes.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    /// [`PROTOCOL`] of the client.
    pub v: u32,
    /// The client's `team` version (`CARGO_PKG_VERSION`): a runner of another version
    /// refuses the request, since the command's arguments travel in it as that version's
    /// structs (a flag an older runner does not know would be dropped without a word).
    pub version: String,
    /// [`db_hash`] of the database the client would open.
    pub db: String,
    /// What to do.
    pub op: Op,
}

/// The operations of the relay: those of `team send` and `team inbox`, with the command's
/// own arguments and actor.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// `team send`: `commands::message::send_in`.
    Send {
        /// The command's arguments.
        args: SendArgs,
        /// Who the command acts as.
        env: ActorEnv,
        /// The team named (`commands::message::send_target`).
        team: String,
        /// The body as the client read it (argument or stdin), or the usage error reading
        /// it gave (reported after the team and sender are checked, as by the command).
        body: Result<String, String>,
        /// `[team] max_message_bytes` of the client's project.
        max_bytes: usize,
    },
    /// One read of `team inbox` (`inbox_target`, then `inbox_take`).
    Inbox {
        /// The command's arguments.
        args: InboxArgs,
        /// Who the command acts as.
        env: ActorEnv,
    },
    /// The acknowledgement of a leased take (`Store::ack_inbox`), after the client printed it.
    Ack {
        /// The team's id.
        team_id: String,
        /// The member whose inbox it is.
        member: String,
        /// The lease token of [`Reply::Taken`].
        lease: String,
    },
}

/// The one line a runner answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The runner did nothing and says why (another database or protocol version, a peer of
    /// another uid, a request it cannot read): the client opens the database itself.
    Refused {
        /// Why, for the client's debug trace.
        reason: String,
    },
    /// The request is accepted: the runner runs it once the client writes [`GO`] (see
    /// `client`: a runner that does not say this in time, e.g. a frozen one, never runs it).
    Ready,
    /// [`Op::Send`] done: what was sent, one row per recipient.
    Sent {
        /// The messages.
        messages: Vec<Message>,
    },
    /// [`Op::Inbox`] done.
    Taken {
        /// The team's id.
        team_id: String,
        /// The team's name.
        team_name: String,
        /// The member whose inbox was read.
        member: String,
        /// The messages, oldest first.
        messages: Vec<Message>,
        /// The lease token of a leased take, to acknowledge with ([`Op::Ack`]).
        lease: Option<String>,
    },
    /// [`Op::Ack`] done.
    Acked,
    /// The operation failed as the command would: its error, printed by the client.
    Error {
        /// `Kind::name` (the exit code).
        kind: String,
        /// The message.
        message: String,
        /// The hints.
        hints: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_one_database_one_way_and_hide_the_url() {
        let pg = "postgres://u:secret@127.0.0.1/db";
        assert_eq!(db_key(&format!("  {pg} ")), pg);
        assert_eq!(db_hash(pg), db_hash(&format!(" {pg}")));
        assert_ne!(db_hash(pg), db_hash("postgres://u:secret@127.0.0.1/other"));
        let h = db_hash(pg);
        assert_eq!(h.len(), 16);
        assert!(!socket_path(pg).to_string_lossy().contains("secret"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.db");
        std::fs::write(&file, b"").unwrap();
        let p = file.to_string_lossy().into_owned();
        assert_eq!(db_hash(&p), db_hash(&format!("sqlite://{p}")));
        assert_eq!(db_hash(&p), db_hash(&format!("sqlite:{p}")));
    }
}
