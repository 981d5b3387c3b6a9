//! The runner's side of the relay (see the module above): a tokio Unix listener that runs
//! each request with the runner's pooled store, on the blocking pool.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

use super::{GO, Op, PROTOCOL, Reply, Request};
use crate::commands::message;
use crate::error::CommandError;
use team_store::Store;

/// Longest request line a runner reads (a message body of up to `[team] max_message_bytes`,
/// JSON-escaped): a longer one is refused (the client then sends directly).
pub const MAX_REQUEST_BYTES: u64 = 64 << 20;

/// How long a runner waits for a client's whole request.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a runner reads (and drops) a refused client's request before answering why.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Most relayed commands a runner serves at once; one more is refused ("busy") and opens
/// the database itself. The relay shares the runner's blocking threads and store
/// connections with its members and heartbeat, which a burst of commands must not starve.
pub const MAX_AT_ONCE: usize = 2;

/// A listening relay; dropping it stops accepting and removes its socket file.
#[derive(Debug)]
pub struct Relay {
    path: PathBuf,
    /// The socket file's device and inode when bound: Drop removes the file only if it is
    /// still this one (another runner starting at the same moment may have re-bound it).
    file: Option<(u64, u64)>,
    task: tokio::task::JoinHandle<()>,
}

/// The device and inode of the file at `path`, if any (links not followed).
fn file_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

impl Relay {
    /// The socket's path (`TEAM_RUNNER_SOCKET` of this runner's command agents).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
        if self.file.is_some() && file_id(&self.path) == self.file {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Creates the socket directory `dir` with mode 0700, or checks an existing one: a directory
/// (not a link) of this uid, made 0700 if it was more open.
///
/// # Errors
/// A message saying what is wrong.
fn prepare_dir(dir: &Path) -> Result<(), String> {
    let _ = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir);
    let md = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    if !md.is_dir() {
        return Err("not a directory".into());
    }
    let me = nix::unistd::geteuid().as_raw();
    if md.uid() != me {
        return Err(format!(
            "owned by uid {}, not this user's ({me}); someone else made it, so it is not used: remove it, or set XDG_RUNTIME_DIR to a directory of your own",
            md.uid()
        ));
    }
    if md.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Binds `path`, removing a stale socket file there first (one nothing answers on); `None`
/// when a live relay holds it.
fn bind(path: &Path) -> std::io::Result<Option<UnixListener>> {
    match UnixListener::bind(path) {
        Ok(l) => Ok(Some(l)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            if super::answers(path) {
                return Ok(None);
            }
            tracing::debug!("relay: removing the stale socket {}", path.display());
            std::fs::remove_file(path)?;
            UnixListener::bind(path).map(Some)
        }
        Err(e) => Err(e),
    }
}

/// Removes the sockets of runners of the database `hash` that died without removing theirs
/// (`<hash>.<pid>.sock` in `dir` that nothing answers on; the well-known one is replaced by
/// [`bind`]).
fn remove_stale(dir: &Path, hash: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{hash}.");
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix)
            && name.ends_with(".sock")
            && name != format!("{hash}.sock")
            && !super::answers(&e.path())
        {
            tracing::debug!("relay: removing the stale socket {}", e.path().display());
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Starts the relay of the database `db_url` served with `store`: binds its well-known
/// socket ([`super::socket_path`]), or, when another live runner holds that one, a socket of
/// this process (`<hash>.<pid>.sock`) for its own members. `None` (logged, the runner goes on
/// without a relay) when the relay is off (`TEAM_RELAY=0`) or the socket cannot be made.
/// Must run inside a tokio runtime.
pub fn start(store: &Store, db_url: &str) -> Option<Relay> {
    if !super::enabled() {
        tracing::debug!("relay: off (TEAM_RELAY)");
        return None;
    }
    let dir = super::runtime_dir();
    if let Err(e) = prepare_dir(&dir) {
        tracing::warn!(
            "relay: not serving `team send`/`team inbox` of this host: socket directory {}: {e}",
            dir.display()
        );
        return None;
    }
    let well_known = super::socket_path(db_url);
    remove_stale(&dir, &super::db_hash(db_url));
    let bound = bind(&well_known).and_then(|l| match l {
        Some(l) => Ok((l, well_known.clone())),
        None => {
            let own = dir.join(format!(
                "{}.{}.sock",
                super::db_hash(db_url),
                std::process::id()
            ));
            let _ = std::fs::remove_file(&own);
            UnixListener::bind(&own).map(|l| (l, own))
        }
    });
    let (listener, path) = match bound {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(
                "relay: not serving `team send`/`team inbox` of this host: cannot bind {}: {e}",
                well_known.display()
            );
            return None;
        }
    };
    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    tracing::debug!("relay: listening at {}", path.display());
    let key = super::db_hash(db_url);
    let store = store.clone();
    let places = Arc::new(Semaphore::new(MAX_AT_ONCE));
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(serve(stream, store.clone(), key.clone(), places.clone()));
                }
                Err(e) => {
                    tracing::warn!("relay: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    let file = file_id(&path);
    Some(Relay { path, file, task })
}

/// Whether a peer of uid `peer` may use the relay of a process of effective uid `own`: only
/// the same user (who could open the database directly anyway).
pub fn peer_allowed(peer: u32, own: u32) -> bool {
    peer == own
}

/// Why a peer process `pid` of the runner's uid is still refused, if it is: one that runs
/// with `no_new_privs` (`NoNewPrivs: 1` in `/proc/PID/status`), or whose status cannot be
/// read. An LLM member's `bash` runs in a Landlock sandbox (team-tools `workspace/sandbox.rs`),
/// which sets `no_new_privs`; Landlock does not stop it from connecting to a Unix socket by
/// path (checked on this project's kernel, 6.18, ABI 7), so without this check a sandboxed
/// command, which cannot write the project's database, could write through the relay. Such a
/// process (and any other with `no_new_privs`, e.g. under systemd's `NoNewPrivileges=yes`)
/// is declined and opens the database itself, as without a relay.
pub fn peer_refusal(pid: Option<i32>) -> Option<String> {
    let Some(pid) = pid.filter(|p| *p > 0) else {
        return Some("a peer without a process id (another pid namespace?)".into());
    };
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(status) if no_new_privs(&status) => Some(format!(
            "process {pid} runs with no_new_privs (a sandboxed tool?): it opens the database itself"
        )),
        Ok(_) => None,
        Err(e) => Some(format!("cannot read the status of process {pid}: {e}")),
    }
}

/// Whether `/proc/PID/status` text `status` says `NoNewPrivs: 1`.
fn no_new_privs(status: &str) -> bool {
    status.lines().any(|l| {
        l.strip_prefix("NoNewPrivs:")
            .is_some_and(|v| v.trim() == "1")
    })
}

/// Answers one connection: checks the peer (its uid, `no_new_privs`) at once, takes one of
/// the relay's [`MAX_AT_ONCE`] places (none free: refused, the client opens the database
/// itself), reads one request line, runs it, writes one reply line.
async fn serve(mut stream: UnixStream, store: Store, key: String, places: Arc<Semaphore>) {
    let own = nix::unistd::geteuid().as_raw();
    // The peer is checked before anything is read: its pid is then surely the connecting
    // process's (not a reused one), and a refused peer makes the runner keep nothing.
    let refusal = match stream.peer_cred() {
        Err(e) => Some(format!("cannot read the peer's credentials: {e}")),
        Ok(c) if !peer_allowed(c.uid(), own) => {
            tracing::warn!(
                "relay: refused a connection of uid {} (this runner runs as uid {own})",
                c.uid()
            );
            Some(format!("a peer of uid {} (the runner's is {own})", c.uid()))
        }
        Ok(c) => peer_refusal(c.pid()),
    };
    let place = places.try_acquire_owned();
    let refusal = refusal.or_else(|| {
        place
            .is_err()
            .then(|| format!("the runner is busy ({MAX_AT_ONCE} relayed commands at once)"))
    });
    if let Some(why) = refusal {
        tracing::debug!("relay: declined: {why}");
        // The request is drained (not kept) first, so the client reads why instead of
        // failing to write.
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain_line(&mut stream)).await;
        answer(&mut stream, &refused(why)).await;
        return;
    }
    let line = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream)).await {
        Ok(Ok(Some(line))) => Ok(line),
        Ok(Ok(None)) => {
            // No whole line (the client failed or went away): nothing is done.
            return;
        }
        Ok(Err(reply)) => Err(reply),
        Err(_) => {
            tracing::debug!("relay: no whole request within {READ_TIMEOUT:?}");
            return;
        }
    };
    let reply = match line.and_then(|line| accept(&line, &key)) {
        Err(reply) => reply,
        Ok(req) => match ready(&mut stream).await {
            Ok(()) => match run_blocking(&store, req, &stream).await {
                Some(reply) => reply,
                None => return,
            },
            Err(why) => {
                tracing::debug!("relay: request not run: {why}");
                return;
            }
        },
    };
    answer(&mut stream, &reply).await;
}

/// Writes `reply` as one line and closes the connection.
async fn answer(stream: &mut UnixStream, reply: &Reply) {
    let mut line = serde_json::to_vec(reply).unwrap_or_default();
    line.push(b'\n');
    if let Err(e) = stream.write_all(&line).await {
        tracing::debug!("relay: could not write the answer: {e}");
    }
    let _ = stream.shutdown().await;
}

/// Reads and drops the stream's bytes up to a newline or its end.
async fn drain_line(stream: &mut UnixStream) {
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) if buf[..n].contains(&b'\n') => return,
            Ok(_) => {}
        }
    }
}

/// Whether the client at the other end of `fd` went away (closed its end): `recv` with
/// `MSG_PEEK | MSG_DONTWAIT` reads 0 bytes only then.
#[allow(unsafe_code)]
fn client_gone(fd: std::os::fd::RawFd) -> bool {
    let mut b = [0u8; 1];
    // SAFETY: `b` is a live 1-byte buffer; `fd` is the open socket the caller holds for the
    // duration of the call.
    let n = unsafe {
        libc::recv(
            fd,
            b.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n == 0
}

/// A [`Reply::Refused`].
fn refused(reason: String) -> Reply {
    Reply::Refused { reason }
}

/// One request line, without its newline; `Ok(None)` when the stream ended before one;
/// `Err` with the reply for one longer than [`MAX_REQUEST_BYTES`] (read to its end first,
/// so the client is not cut off while writing).
async fn read_request(stream: &mut UnixStream) -> Result<Option<Vec<u8>>, Reply> {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    let n = (&mut reader)
        .take(MAX_REQUEST_BYTES)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| refused(format!("reading the request: {e}")))?;
    if line.last() == Some(&b'\n') {
        line.pop();
        return Ok(Some(line));
    }
    if (n as u64) < MAX_REQUEST_BYTES {
        return Ok(None);
    }
    // Drained without keeping it, to its newline or end.
    loop {
        let buf = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(buf) => buf,
        };
        let (used, end) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        reader.consume(used);
        if end {
            break;
        }
    }
    Err(refused(format!(
        "a request longer than {MAX_REQUEST_BYTES} bytes"
    )))
}

/// The request `line` of a client of the database `key`, or the reply refusing it.
fn accept(line: &[u8], key: &str) -> Result<Request, Reply> {
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| refused(format!("an unreadable request: {e}")))?;
    if value.get("v").and_then(serde_json::Value::as_u64) != Some(u64::from(PROTOCOL)) {
        return Err(refused(format!(
            "protocol version {}, this runner speaks {PROTOCOL}",
            value.get("v").unwrap_or(&serde_json::Value::Null)
        )));
    }
    let version = env!("CARGO_PKG_VERSION");
    if value.get("version").and_then(serde_json::Value::as_str) != Some(version) {
        return Err(refused(format!(
            "a client of team {}, this runner is {version}",
            value.get("version").unwrap_or(&serde_json::Value::Null)
        )));
    }
    if value.get("db").and_then(serde_json::Value::as_str) != Some(key) {
        return Err(refused("a request for another database".into()));
    }
    serde_json::from_value(value).map_err(|e| refused(format!("an unreadable request: {e}")))
}

/// Says [`Reply::Ready`] and waits (at most [`READ_TIMEOUT`]) for the client's [`GO`].
///
/// # Errors
/// Why the request must not run (the client gave up, went away, or wrote something else).
async fn ready(stream: &mut UnixStream) -> Result<(), String> {
    let mut line = serde_json::to_vec(&Reply::Ready).unwrap_or_default();
    line.push(b'\n');
    stream
        .write_all(&line)
        .await
        .map_err(|e| format!("writing ready: {e}"))?;
    let mut go = [0u8; GO.len()];
    match tokio::time::timeout(READ_TIMEOUT, stream.read_exact(&mut go)).await {
        Ok(Ok(_)) if go == GO => Ok(()),
        Ok(Ok(_)) => Err("the client wrote something else than go".into()),
        Ok(Err(e)) => Err(format!("no go from the client: {e}")),
        Err(_) => Err("no go from the client in time".into()),
    }
}

/// Runs `req` with `store` on the blocking pool, unless the client has gone away by the time
/// a thread takes it (`None`: a client that gave up waiting said the outcome is unknown; the
/// request must not land later, when its user may already have sent again).
async fn run_blocking(store: &Store, req: Request, stream: &UnixStream) -> Option<Reply> {
    use std::os::fd::AsRawFd;
    let store = store.clone();
    let fd = stream.as_raw_fd();
    // `stream` outlives the call: this task holds it until the closure has returned.
    let ran = tokio::task::spawn_blocking(move || {
        if client_gone(fd) {
            return None;
        }
        Some(run(&store, req.op))
    })
    .await;
    match ran {
        Ok(Some(reply)) => Some(reply),
        Ok(None) => {
            tracing::debug!("relay: the client went away before its request ran: not run");
            None
        }
        Err(e) => Some(error(CommandError::failure(format!(
            "the runner's relay failed running the request: {e}"
        )))),
    }
}

/// A [`Reply::Error`].
fn error(e: CommandError) -> Reply {
    Reply::Error {
        kind: e.kind.name().to_owned(),
        message: e.message,
        hints: e.hints,
    }
}

/// Runs `op` with `store`: the command's own functions.
fn run(store: &Store, op: Op) -> Reply {
    let result = match op {
        Op::Send {
            args,
            env,
            team,
            body,
            max_bytes,
        } => {
            tracing::debug!(team, from = ?args.from, "relay: send");
            message::send_in(
                store,
                &args,
                &env,
                &team,
                || body.map_err(CommandError::usage),
                || max_bytes,
            )
            .map(|messages| Reply::Sent { messages })
        }
        Op::Inbox { args, env } => {
            tracing::debug!(team = ?args.team, member = ?args.member, "relay: inbox");
            message::inbox_target(store, &args, &env).and_then(|(team, member, mode)| {
                let (messages, lease) = message::inbox_take(store, &team.id, &member, mode)?;
                Ok(Reply::Taken {
                    team_id: team.id,
                    team_name: team.name,
                    member,
                    messages,
                    lease,
                })
            })
        }
        Op::Ack {
            team_id,
            member,
            lease,
        } => store
            .ack_inbox(&team_id, &member, &lease)
            .map(|_| Reply::Acked)
            .map_err(CommandError::from),
    };
    result.unwrap_or_else(error)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_client_that_closed_its_end_is_gone() {
        use std::os::fd::AsRawFd;
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        assert!(!super::client_gone(ours.as_raw_fd()));
        std::io::Write::write_all(&mut &theirs, b"x").unwrap();
        assert!(
            !super::client_gone(ours.as_raw_fd()),
            "unread bytes: still there"
        );
        drop(theirs);
        let mut b = [0u8; 1];
        std::io::Read::read_exact(&mut &ours, &mut b).unwrap();
        assert!(super::client_gone(ours.as_raw_fd()));
    }

    use super::peer_allowed;

    /// A request longer than the limit is refused after being read to its end (not kept),
    /// so the client is not cut off while it writes; a line without its newline is none.
    #[tokio::test]
    async fn an_overlong_request_is_drained_and_refused() {
        use tokio::io::AsyncWriteExt;
        let (mut a, mut b) = tokio::net::UnixStream::pair().unwrap();
        let writer = tokio::spawn(async move {
            let chunk = vec![b'a'; 1 << 20];
            for _ in 0..(super::MAX_REQUEST_BYTES >> 20) + 1 {
                a.write_all(&chunk).await.unwrap();
            }
            a.write_all(b"\n").await.unwrap();
            a
        });
        let got = super::read_request(&mut b).await;
        assert!(
            matches!(got, Err(super::Reply::Refused { ref reason }) if reason.contains("longer")),
            "{got:?}"
        );
        let mut a = writer.await.unwrap();
        a.write_all(b"{\"v\":1").await.unwrap();
        drop(a);
        assert!(matches!(super::read_request(&mut b).await, Ok(None)));
    }

    #[test]
    fn a_peer_with_no_new_privs_is_declined() {
        assert!(super::no_new_privs(
            "Name:\tbash\nNoNewPrivs:\t1\nSeccomp:\t0\n"
        ));
        assert!(!super::no_new_privs("NoNewPrivs:\t0\n"));
        assert!(super::peer_refusal(None).is_some());
        assert!(super::peer_refusal(Some(0)).is_some());
        // This test process has no no_new_privs (cargo does not set it).
        let me = i32::try_from(std::process::id()).unwrap();
        assert_eq!(super::peer_refusal(Some(me)), None);
    }

    #[test]
    fn only_the_same_uid_may_use_the_relay() {
        assert!(peer_allowed(1000, 1000));
        assert!(!peer_allowed(65534, 0));
        assert!(!peer_allowed(0, 1000));
    }
}
