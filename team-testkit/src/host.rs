//! Several hosts on one machine, for the multi-host tests (issue 19): a [`Host`] is a set of
//! Linux namespaces made by the test (UTS: a hostname of its own; PID: its processes cannot
//! see or signal another host's, and its pids are its own; mount: its own `/proc`), sharing the
//! machine's network namespace, so PostgreSQL on `127.0.0.1` is reachable from every host. A
//! [`Proxy`] on loopback stands between a host and the database, so a test can cut the host
//! off (no byte goes through in either direction, as in a network partition) and restore it.
//!
//! ```no_run
//! use team_testkit::host::{Host, Proxy};
//! // `None`: namespaces cannot be made here (not root) and `CI` is unset: skip the test.
//! let Some(a) = Host::start_or_skip("host-a") else { return };
//! let proxy = Proxy::start("127.0.0.1:5432").expect("proxy");
//! let url = proxy.url_for("postgres://postgres@127.0.0.1:5432/test");
//! let mut cmd = a.command("team", std::path::Path::new("/tmp/project"));
//! cmd.arg("runner").env("TEAM_DATABASE_URL", url);
//! // … start it; `proxy.cut()` partitions the host, `proxy.restore()` heals it,
//! // `a.kill()` kills every process of the host at once (SIGKILL to its first process).
//! ```
//!
//! What a host needs: `unshare` and `nsenter` (util-linux) and the right to make namespaces
//! (root, or unprivileged user namespaces, which these hosts do not use). [`Host::start`]
//! says why it could not make one; [`Host::start_or_skip`] turns that into a skip outside CI
//! and a failure in CI (the multi-host tests are required there).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a [`Host`] or a [`Proxy`] could not be made.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// `unshare` could not be started or did not make the namespaces: (what it printed or
    /// the OS error). Usually: not root, or util-linux is missing.
    #[error(
        "cannot make the namespaces of a simulated host: {0}; run as root with util-linux's unshare and nsenter installed"
    )]
    Namespaces(String),
    /// A socket of the proxy: (what, the OS error).
    #[error("proxy: cannot {0}: {1}")]
    Proxy(String, String),
}

/// One simulated host: a UTS, PID and mount namespace whose first process (pid 1 inside)
/// sleeps until the host is killed. Every process started with [`Host::command`] runs inside
/// it; killing the first process ([`Host::kill`], or dropping the host) kills all of them at
/// once, as a machine that loses power.
#[derive(Debug)]
pub struct Host {
    name: String,
    /// The `unshare` process (outside the namespaces): the parent of the first process.
    unshare: Child,
    /// The first process of the host, as this (the outer) PID namespace numbers it.
    init: i32,
}

impl Host {
    /// Makes host `name` (its hostname; at most 64 bytes of `[A-Za-z0-9.-]`) and waits until
    /// its first process runs.
    ///
    /// # Errors
    /// [`HostError::Namespaces`] when `unshare` is missing, the namespaces cannot be made
    /// (not root), or the host's first process does not start within 10 s.
    pub fn start(name: &str) -> Result<Host, HostError> {
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(HostError::Namespaces(format!(
                "host name {name:?} is not a hostname"
            )));
        }
        let mut unshare = Command::new("unshare")
            .args([
                "--uts",
                "--pid",
                "--mount",
                "--fork",
                "--mount-proc",
                "--kill-child=SIGKILL",
                "--",
                "sh",
                "-c",
                // The hostname first, then the sleep that holds the host up as pid 1 (which
                // ignores every signal but a SIGKILL from outside).
                r#"hostname "$1" && echo ready && exec sleep 2147483647"#,
                "host",
                name,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| HostError::Namespaces(format!("run unshare: {e}")))?;
        let mut out = BufReader::new(unshare.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let ready = out.read_line(&mut line).is_ok() && line.trim() == "ready";
        if !ready {
            let _ = unshare.kill();
            let _ = unshare.wait();
            let mut err = String::new();
            if let Some(mut e) = unshare.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return Err(HostError::Namespaces(format!(
                "unshare printed {:?}",
                err.trim()
            )));
        }
        let parent = unshare.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(10);
        let init = loop {
            if let Some(pid) = child_of(parent) {
                break pid;
            }
            if Instant::now() >= deadline {
                let _ = unshare.kill();
                let _ = unshare.wait();
                return Err(HostError::Namespaces(
                    "the host's first process did not appear".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Ok(Host {
            name: name.to_owned(),
            unshare,
            init,
        })
    }

    /// [`Host::start`], or `None` with a note on stderr when namespaces cannot be made here
    /// and `CI` is unset (the test skips).
    ///
    /// # Panics
    /// When the host cannot be made and `CI` is set: the multi-host tests are required in CI.
    pub fn start_or_skip(name: &str) -> Option<Host> {
        match Host::start(name) {
            Ok(h) => Some(h),
            Err(e) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "the multi-host tests are required in CI: {e}"
                );
                // Straight to stderr: the harness hides `eprintln!` of a passing test.
                let _ = std::io::stderr()
                    .write_all(format!("note: a multi-host test was skipped: {e}\n").as_bytes());
                None
            }
        }
    }

    /// The host's name (what `hostname` says inside it, and what its runners register).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pid of the host's first process as the test (outside) sees it.
    pub fn init_pid(&self) -> i32 {
        self.init
    }

    /// `program` run inside the host (`nsenter` into its namespaces) in `dir`, with the
    /// test's environment unless the caller changes it (`Command::env` and friends apply to
    /// the program). The returned command's child is `nsenter`, which waits for the program
    /// and exits with its status; signalling it does not reach the program (kill the host,
    /// or have the program stop itself).
    pub fn command(&self, program: impl AsRef<OsStr>, dir: &Path) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("--target")
            .arg(self.init.to_string())
            .args(["--uts", "--pid", "--mount"])
            .arg(format!("--wd={}", dir.display()))
            .arg("--")
            .arg(program);
        cmd
    }

    /// `cmd` (its program, arguments, working directory and environment changes) run inside
    /// the host instead: see [`Host::command`]. A command without a working directory runs in
    /// the test's.
    pub fn wrap(&self, cmd: &Command) -> Command {
        let dir = cmd
            .get_current_dir()
            .map(Path::to_path_buf)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| "/".into());
        let mut inner = self.command(cmd.get_program(), &dir);
        inner.args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => inner.env(k, v),
                None => inner.env_remove(k),
            };
        }
        inner
    }

    /// True while the host's first process lives.
    pub fn alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.init)).is_ok_and(|s| {
            !s.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
    }

    /// Kills the host: SIGKILL to its first process, which makes the kernel kill every
    /// process of its PID namespace at once. Waits (up to 10 s) until the first process is
    /// gone. Killing a dead host does nothing.
    pub fn kill(&mut self) {
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &self.init.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(_)) = self.unshare.try_wait() {
                return;
            }
            if Instant::now() >= deadline {
                let _ = self.unshare.kill();
                let _ = self.unshare.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The first child of process `parent` (from `/proc/*/stat`), if it has one.
fn child_of(parent: i32) -> Option<i32> {
    let children = format!("/proc/{parent}/task/{parent}/children");
    if let Ok(s) = std::fs::read_to_string(children)
        && let Some(pid) = s.split_whitespace().next().and_then(|p| p.parse().ok())
    {
        return Some(pid);
    }
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let ppid = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|st| {
                st.rsplit(')')
                    .next()
                    .and_then(|rest| rest.split_whitespace().nth(1))
                    .and_then(|p| p.parse::<i32>().ok())
            });
        if ppid == Some(parent) {
            return Some(pid);
        }
    }
    None
}

/// A TCP proxy on `127.0.0.1` that a test owns, between a host and its database. While it is
/// [cut](Proxy::cut), no byte goes through in either direction and new connections wait:
/// the host's connections hang as in a network partition (nothing is closed, so nothing
/// fails fast). [`Proxy::restore`] lets the held bytes through again. Dropping it closes every
/// connection.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    cut: AtomicBool,
    stopped: AtomicBool,
    /// Both ends of every connection, to close them when the proxy is dropped.
    conns: Mutex<Vec<TcpStream>>,
}

impl Proxy {
    /// A proxy on `127.0.0.1:0` forwarding every connection to `upstream` (e.g.
    /// `127.0.0.1:5432`).
    ///
    /// # Errors
    /// [`HostError::Proxy`] when `upstream` does not resolve or the port cannot be bound.
    pub fn start(upstream: impl ToSocketAddrs) -> Result<Proxy, HostError> {
        let upstream = upstream
            .to_socket_addrs()
            .map_err(|e| HostError::Proxy("resolve the upstream".into(), e.to_string()))?
            .next()
            .ok_or_else(|| HostError::Proxy("resolve the upstream".into(), "no address".into()))?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| HostError::Proxy("bind 127.0.0.1:0".into(), e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| HostError::Proxy("read the bound port".into(), e.to_string()))?;
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        std::thread::Builder::new()
            .name("proxy-accept".into())
            .spawn(move || accept(listener, upstream, s))
            .map_err(|e| HostError::Proxy("start its thread".into(), e.to_string()))?;
        Ok(Proxy { addr, shared })
    }

    /// The proxy's address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `url` (a `postgres://` URL) with its host and port replaced by the proxy's: what a
    /// host behind this proxy gets as `TEAM_DATABASE_URL`.
    pub fn url_for(&self, url: &str) -> String {
        let Some((scheme, rest)) = url.split_once("://") else {
            return url.to_owned();
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let user = authority
            .rsplit_once('@')
            .map(|(u, _)| format!("{u}@"))
            .unwrap_or_default();
        format!("{scheme}://{user}{}{tail}", self.addr)
    }

    /// Cuts the host off: from now on no byte goes through, in either direction, on any
    /// connection (open or new) until [`Proxy::restore`].
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
    }

    /// Lets bytes through again (what was held is delivered).
    pub fn restore(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.cut.store(false, Ordering::SeqCst);
        if let Ok(mut conns) = self.shared.conns.lock() {
            for c in conns.drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
        // Wakes the accept loop so it sees `stopped`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

fn accept(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let s = shared.clone();
        let _ = std::thread::Builder::new()
            .name("proxy-conn".into())
            .spawn(move || connect(client, upstream, s));
    }
}

/// One connection: waits while the proxy is cut, connects upstream, then copies both ways.
fn connect(client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) {
    hold(&shared);
    let Ok(server) = TcpStream::connect(upstream) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
        client.try_clone(),
        server.try_clone(),
        client.try_clone(),
        server.try_clone(),
    ) else {
        return;
    };
    if let Ok(mut conns) = shared.conns.lock() {
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        conns.push(c3);
        conns.push(s3);
    }
    let s = shared.clone();
    let _ = std::thread::Builder::new()
        .name("proxy-up".into())
        .spawn(move || pipe(client, server, &s));
    pipe(s2, c2, &shared);
}

/// Copies `from` to `to` until either closes, holding every chunk while the proxy is cut.
fn pipe(mut from: TcpStream, mut to: TcpStream, shared: &Shared) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        hold(shared);
        if shared.stopped.load(Ordering::SeqCst) || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

/// Waits while the proxy is cut (and not dropped).
fn hold(shared: &Shared) {
    while shared.cut.load(Ordering::SeqCst) && !shared.stopped.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_pointed_at_the_proxy() {
        let p = Proxy {
            addr: "127.0.0.1:4000".parse().unwrap(),
            shared: Arc::new(Shared::default()),
        };
        assert_eq!(
            p.url_for("postgres://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dx"),
            "postgres://postgres@127.0.0.1:4000/test?options=-csearch_path%3Dx"
        );
        assert_eq!(
            p.url_for("postgres://localhost/db"),
            "postgres://127.0.0.1:4000/db"
        );
        // Dropping `p` must not block on a listener it never had.
        p.shared.stopped.store(true, Ordering::SeqCst);
    }

    #[test]
    fn a_cut_proxy_holds_bytes_until_restored() {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream = echo.local_addr().unwrap();
        std::thread::spawn(move || {
            for c in echo.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut r = c.try_clone().unwrap();
                    let mut w = c;
                    let _ = std::io::copy(&mut r, &mut w);
                });
            }
        });
        let proxy = Proxy::start(upstream).unwrap();
        let mut c = TcpStream::connect(proxy.addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut got = [0u8; 2];
        c.write_all(b"hi").unwrap();
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hi");
        proxy.cut();
        c.write_all(b"yo").unwrap();
        assert!(
            c.read_exact(&mut got).is_err(),
            "a cut proxy let bytes through"
        );
        proxy.restore();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"yo");
    }
}
