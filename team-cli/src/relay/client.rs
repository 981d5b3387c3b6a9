//! The command's side of the relay (see the module above): a plain `std` Unix socket, no
//! async runtime. [`early`] connects before the arguments are parsed (instead of starting
//! the PostgreSQL connection, which a relayed command does not need); [`send`] and
//! [`inbox`] then run the command through it, or say why it falls back ([`Outcome`]).

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use super::{ENV_SOCKET, GO, Op, PROTOCOL, Reply, Request};
use crate::cli::{InboxArgs, SendArgs};
use crate::commands::message::{self, ActorEnv};
use crate::error::{CommandError, Kind, Result};
use crate::output::Out;
use crate::project;

/// How long a client waits for the runner's answer once its request is written. A send
/// waits for the runner's commit, which under contention can take seconds.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a client waits for [`Reply::Ready`] before it opens the database itself (the
/// runner, frozen or swamped, then never runs the request: it runs one only after [`GO`]).
pub const READY_TIMEOUT: Duration = Duration::from_secs(3);

/// How long writing a request may block.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the command waits for the runner's answer to an acknowledgement before it
/// acknowledges directly (an acknowledgement can be repeated).
const ACK_TIMEOUT: Duration = Duration::from_secs(3);

/// A connection to a runner's relay socket, made by [`early`].
#[derive(Debug)]
pub struct Conn {
    stream: UnixStream,
    path: PathBuf,
}

/// What [`early`] found: a connection, or why there is none (for the debug trace).
#[derive(Debug)]
pub enum Early {
    /// Connected to the socket.
    Connected(Conn),
    /// Not tried or not there: the reason.
    Not(String),
}

/// What a relayed command came to.
#[derive(Debug)]
pub enum Outcome {
    /// The runner ran it (successfully or not): the command's result.
    Done(Result<()>),
    /// Nothing was done through the relay: open the database. The reason (debug trace) and,
    /// for a send, the body already read from stdin (it cannot be read twice).
    Fallback(String, Option<Result<String>>),
}

/// The command and database `args` name, scanned as `early_url` in main does: the first
/// word that is not an option, the value of the last `--db`, and whether `--wait` is given.
fn scan(args: &[std::ffi::OsString]) -> Option<(String, Option<String>, bool)> {
    let mut db = None;
    let mut command = None;
    let mut wait = false;
    let mut args = args.iter().map(|a| a.to_str());
    while let Some(arg) = args.next() {
        let arg = arg?;
        match arg {
            "--" => break,
            "-h" | "--help" | "-V" | "--version" => return None,
            "--db" => db = Some(args.next()??.to_owned()),
            "--wait" => wait = true,
            _ if arg.starts_with("--db=") => db = Some(arg["--db=".len()..].to_owned()),
            _ if command.is_none() && !arg.starts_with('-') => command = Some(arg.to_owned()),
            _ => {}
        }
    }
    Some((command?, db, wait))
}

/// The socket a command should try: `TEAM_RUNNER_SOCKET` when set, else the well-known
/// socket of the database `db` (`--db`, `TEAM_DATABASE_URL`, else the project's SQLite file).
fn socket_for(db: Option<String>) -> Option<PathBuf> {
    if let Some(s) = std::env::var_os(ENV_SOCKET).filter(|s| !s.is_empty()) {
        return Some(PathBuf::from(s));
    }
    let url = match db {
        Some(url) => url,
        None => project::locate(None).ok()?.0,
    };
    Some(super::socket_path(&url))
}

/// Connects to the relay for a `team send` or `team inbox` (without `--wait`) in the raw
/// arguments `args` (without the program name), before clap parses them; `env_db` is
/// `TEAM_DATABASE_URL`. Costs a failed `connect` (a few µs) when no runner listens.
pub fn early(args: &[std::ffi::OsString], env_db: Option<String>) -> Early {
    if !super::enabled() {
        return Early::Not("the relay is off (TEAM_RELAY)".into());
    }
    let Some((command, db, wait)) = scan(args) else {
        return Early::Not("not a relayed command".into());
    };
    if !(command == "send" || command == "inbox" && !wait) {
        return Early::Not("not a relayed command".into());
    }
    let Some(path) = socket_for(db.or(env_db)) else {
        return Early::Not("no database to find a runner's socket for".into());
    };
    match connect(&path) {
        Ok(stream) => Early::Connected(Conn { stream, path }),
        Err(e) => Early::Not(format!("no runner's relay at {}: {e}", path.display())),
    }
}

/// Connects to the socket at `path` and checks that the process listening on it runs as
/// this user (`SO_PEERCRED`): a socket in a shared directory (`/tmp/team-<uid>`, made by
/// someone else first) could be another user's, who would then read the request and could
/// forge its answer. Such a socket counts as no relay (the command opens the database).
fn connect(path: &std::path::Path) -> std::io::Result<UnixStream> {
    let stream = super::connect_now(path)?;
    let cred = nix::sys::socket::getsockopt(&stream, nix::sys::socket::sockopt::PeerCredentials)
        .map_err(std::io::Error::from)?;
    let me = nix::unistd::geteuid().as_raw();
    if cred.uid() != me {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "the socket is served by uid {}, not by this user (uid {me}); remove {} if you do not know it",
                cred.uid(),
                path.parent().unwrap_or(path).display()
            ),
        ));
    }
    Ok(stream)
}

/// Why an exchange did not give a reply.
enum Failed {
    /// The runner was not told to go ([`GO`]): it runs nothing, safe to do directly.
    BeforeSent(String),
    /// [`GO`] was written; the answer is missing or unreadable: the outcome is unknown.
    AfterSent(String),
}

/// Writes `req` as one line on `stream`, waits for [`Reply::Ready`], writes [`GO`] and
/// reads the one-line reply. Everything up to a written [`GO`] fails
/// [`Failed::BeforeSent`]: the runner runs nothing without it.
fn exchange(stream: UnixStream, req: &Request) -> Result<Reply, Failed> {
    exchange_within(stream, req, REPLY_TIMEOUT)
}

/// [`exchange`] waiting at most `reply_timeout` for the reply after [`GO`].
fn exchange_within(
    stream: UnixStream,
    req: &Request,
    reply_timeout: Duration,
) -> Result<Reply, Failed> {
    let mut line = serde_json::to_vec(req).map_err(|e| Failed::BeforeSent(e.to_string()))?;
    line.push(b'\n');
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let _ = stream.set_read_timeout(Some(READY_TIMEOUT));
    send_all(&stream, &line)
        .map_err(|e| Failed::BeforeSent(format!("writing the request: {e}")))?;
    let mut reader = BufReader::new(&stream);
    let mut reply = String::new();
    match reader.read_line(&mut reply) {
        Ok(0) => {
            return Err(Failed::BeforeSent(
                "the runner closed the connection".into(),
            ));
        }
        Ok(_) => {}
        Err(e) => return Err(Failed::BeforeSent(format!("no answer: {e}"))),
    }
    match serde_json::from_str(&reply) {
        Ok(Reply::Ready) => {}
        Ok(other) => return Ok(other),
        Err(e) => return Err(Failed::BeforeSent(format!("an unreadable answer: {e}"))),
    }
    // A failed write of GO left the runner without it: it runs nothing.
    send_all(&stream, GO).map_err(|e| Failed::BeforeSent(format!("writing go: {e}")))?;
    let _ = stream.set_read_timeout(Some(reply_timeout));
    reply.clear();
    match reader.read_line(&mut reply) {
        Ok(0) => return Err(Failed::AfterSent("the runner closed the connection".into())),
        Ok(_) => {}
        Err(e) => return Err(Failed::AfterSent(format!("reading the answer: {e}"))),
    }
    serde_json::from_str(&reply)
        .map_err(|e| Failed::AfterSent(format!("an unreadable answer: {e}")))
}

/// Writes all of `buf` to `stream` with `MSG_NOSIGNAL`: a runner that went away makes the
/// write fail (`EPIPE`) instead of killing this process, whose SIGPIPE is the default
/// (`default_sigpipe` in main).
#[allow(unsafe_code)]
fn send_all(stream: &UnixStream, mut buf: &[u8]) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    while !buf.is_empty() {
        // SAFETY: `buf` is a live slice of `buf.len()` bytes and the descriptor is the open
        // socket `stream` borrows for the call.
        let n = unsafe {
            libc::send(
                stream.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf = &buf[n.unsigned_abs()..];
    }
    Ok(())
}

/// The request's envelope for the database `db_url`.
fn request(db_url: &str, op: Op) -> Request {
    Request {
        v: PROTOCOL,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        db: super::db_hash(db_url),
        op,
    }
}

/// The [`CommandError`] of a [`Reply::Error`].
fn error_of(kind: &str, message: String, hints: Vec<String>) -> CommandError {
    let kind = Kind::ALL
        .iter()
        .copied()
        .find(|k| k.name() == kind)
        .unwrap_or(Kind::Failure);
    let mut e = CommandError::new(kind, message);
    e.hints = hints;
    e
}

/// `team send` through the relay `conn`, for the database `db_url` of the project at
/// `root`.
pub fn send(conn: Conn, db_url: &str, root: &std::path::Path, a: &SendArgs, out: Out) -> Outcome {
    let env = ActorEnv::from_process();
    let (team, body) = match message::send_target(a, &env) {
        Ok(t) => t,
        Err(e) => return Outcome::Done(Err(e)),
    };
    let body = project::text_or_stdin(body, "message body");
    let op = Op::Send {
        args: a.clone(),
        env,
        team: team.clone(),
        body: body
            .as_ref()
            .map(Clone::clone)
            .map_err(|e| e.message.clone()),
        max_bytes: message::max_message_bytes(root),
    };
    let path = conn.path.clone();
    match exchange(conn.stream, &request(db_url, op)) {
        Ok(Reply::Sent { messages }) => {
            tracing::debug!("relay: sent through the runner at {}", path.display());
            Outcome::Done(message::print_sent(&out, messages))
        }
        Ok(Reply::Error {
            kind,
            message,
            hints,
        }) => {
            tracing::debug!("relay: the runner at {} refused the send", path.display());
            Outcome::Done(Err(error_of(&kind, message, hints)))
        }
        Ok(Reply::Refused { reason }) => Outcome::Fallback(
            format!("the runner at {} declined: {reason}", path.display()),
            Some(body),
        ),
        Ok(other) => Outcome::Done(Err(unknown_send(&path, &team, a, &format!("{other:?}")))),
        Err(Failed::BeforeSent(why)) => Outcome::Fallback(
            format!("the runner at {} took no request: {why}", path.display()),
            Some(body),
        ),
        // A key makes a second send store nothing new: safe to repeat directly.
        Err(Failed::AfterSent(why)) if a.key.is_some() => Outcome::Fallback(
            format!(
                "no answer from the runner at {} ({why}); sending directly with the same --key",
                path.display()
            ),
            Some(body),
        ),
        Err(Failed::AfterSent(why)) => Outcome::Done(Err(unknown_send(&path, &team, a, &why))),
    }
}

/// The error of a send whose request reached the runner without an answer.
fn unknown_send(path: &std::path::Path, team: &str, a: &SendArgs, why: &str) -> CommandError {
    let to = a.to.clone().unwrap_or_else(|| "MEMBER".into());
    CommandError::failure(format!(
        "the message to team {team} was handed to the runner at {} but no answer came ({why}): it may or may not have been sent",
        path.display()
    ))
    .hint(format!(
        "check with `team inbox {team} {to} --peek` (or `team logs {team}`) before sending it again"
    ))
    .hint("a send with --key KEY can be repeated safely: one with a key already used stores nothing new")
}

/// `team inbox` (without `--wait`) through the relay `conn`; `direct` opens the database
/// when an acknowledgement must be made without the runner.
pub fn inbox(
    conn: Conn,
    db_url: &str,
    a: &InboxArgs,
    out: Out,
    direct: impl FnOnce() -> Result<project::Ctx>,
) -> Outcome {
    let env = ActorEnv::from_process();
    let path = conn.path.clone();
    let op = Op::Inbox {
        args: a.clone(),
        env,
    };
    let reading = a.peek || a.after.is_some();
    match exchange(conn.stream, &request(db_url, op)) {
        Ok(Reply::Taken {
            team_id,
            team_name,
            member,
            messages,
            lease,
        }) => {
            tracing::debug!("relay: inbox read through the runner at {}", path.display());
            Outcome::Done(message::print_inbox(
                &out,
                &team_name,
                &member,
                &messages,
                lease.as_deref(),
                |token| ack(db_url, &path, &team_id, &member, token, direct),
            ))
        }
        Ok(Reply::Error {
            kind,
            message,
            hints,
        }) => {
            tracing::debug!(
                "relay: the runner at {} refused the inbox read",
                path.display()
            );
            Outcome::Done(Err(error_of(&kind, message, hints)))
        }
        Ok(Reply::Refused { reason }) => Outcome::Fallback(
            format!("the runner at {} declined: {reason}", path.display()),
            None,
        ),
        Err(Failed::BeforeSent(why)) => Outcome::Fallback(
            format!("the runner at {} took no request: {why}", path.display()),
            None,
        ),
        // `--peek` and `--after` only read: safe to repeat.
        Err(Failed::AfterSent(why)) if reading => Outcome::Fallback(
            format!("no answer from the runner at {} ({why})", path.display()),
            None,
        ),
        Ok(other) => Outcome::Done(Err(unknown_take(&path, a, &format!("{other:?}")))),
        Err(Failed::AfterSent(why)) => Outcome::Done(Err(unknown_take(&path, a, &why))),
    }
}

/// The error of a leased take whose request reached the runner without an answer: the
/// messages it may have taken are hidden for the lease, then come back (nothing is lost).
fn unknown_take(path: &std::path::Path, a: &InboxArgs, why: &str) -> CommandError {
    let secs = a.lease.map_or(
        team_core::delivery::DEFAULT_INBOX_LEASE_MS as f64 / 1000.0,
        |l| l.as_secs_f64(),
    );
    CommandError::failure(format!(
        "the inbox read was handed to the runner at {} but no answer came ({why}): messages it took are hidden for the lease ({secs} s), then come back unread",
        path.display()
    ))
    .hint(format!(
        "run `team inbox` again after {secs} s; `--peek` shows what is there now"
    ))
}

/// Acknowledges the leased take `token` through the relay, else (no runner, no answer:
/// an acknowledgement can be repeated) directly.
fn ack(
    db_url: &str,
    path: &std::path::Path,
    team_id: &str,
    member: &str,
    token: &str,
    direct: impl FnOnce() -> Result<project::Ctx>,
) -> Result<()> {
    let op = Op::Ack {
        team_id: team_id.to_owned(),
        member: member.to_owned(),
        lease: token.to_owned(),
    };
    // A short wait: an acknowledgement that comes after the lease ended acknowledges
    // nothing (the messages come back), so a slow runner is passed by well before it.
    let why = match connect(path) {
        Ok(stream) => match exchange_within(stream, &request(db_url, op), ACK_TIMEOUT) {
            Ok(Reply::Acked) => return Ok(()),
            Ok(Reply::Error {
                kind,
                message,
                hints,
            }) => return Err(error_of(&kind, message, hints)),
            Ok(other) => format!("{other:?}"),
            Err(Failed::BeforeSent(w) | Failed::AfterSent(w)) => w,
        },
        Err(e) => e.to_string(),
    };
    tracing::debug!(
        "relay: acknowledging directly (the runner at {}: {why})",
        path.display()
    );
    let ctx = direct()?;
    ctx.store.ack_inbox(team_id, member, token)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::scan;

    #[test]
    fn the_scan_finds_command_db_and_wait() {
        let s = |line: &str| {
            let args: Vec<std::ffi::OsString> =
                line.split(' ').map(std::ffi::OsString::from).collect();
            scan(&args)
        };
        assert_eq!(
            s("--json send t hi --to w --db /x.db"),
            Some(("send".into(), Some("/x.db".into()), false))
        );
        assert_eq!(
            s("inbox --db=/y t w --wait"),
            Some(("inbox".into(), Some("/y".into()), true))
        );
        assert_eq!(s("send -h"), None);
        assert_eq!(s("inbox t -- --wait"), Some(("inbox".into(), None, false)));
    }
}
