//! Issue 19, the local relay: a runner on this host (`team runner`, `team run`) serves
//! `team send` and `team inbox` of the same user over a Unix socket (the well-known socket of
//! the database in `$XDG_RUNTIME_DIR/team/`, or `TEAM_RUNNER_SOCKET` as it gives its members),
//! printing what the direct command prints; without a live runner of the same database and
//! user, or with `TEAM_RELAY=0`, the command opens the database itself.

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// A `team runner` this test started, killed when the test ends.
struct Runner(Child);

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The per-user socket directory of the project's commands (`XDG_RUNTIME_DIR=ROOT/run`).
fn run_dir(p: &Project) -> PathBuf {
    p.root().join("run")
}

/// A project on `backend` whose commands keep their relay sockets under [`run_dir`].
fn project(backend: Backend) -> Option<Project> {
    let mut p = Project::on(backend)?;
    let dir = p.root().join("run");
    std::fs::create_dir_all(&dir).unwrap();
    p.env("XDG_RUNTIME_DIR", &dir);
    Some(p)
}

/// Starts `team runner` in `p` and returns it with its socket, once that is there.
fn start_runner(p: &Project) -> (Runner, PathBuf) {
    start_runner_with(p, &[])
}

/// [`start_runner`] with the variables `env`.
fn start_runner_with(p: &Project, env: &[(&str, &str)]) -> (Runner, PathBuf) {
    let log = std::fs::File::create(p.root().join("runner.log")).unwrap();
    let child = p
        .std_cmd()
        .envs(env.iter().copied())
        .env("TEAM_LOG", "debug")
        .arg("runner")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start team runner");
    let runner = Runner(child);
    let dir = run_dir(p).join("team");
    let start = Instant::now();
    loop {
        let sock = std::fs::read_dir(&dir).ok().and_then(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .find(|f| f.extension().is_some_and(|x| x == "sock"))
        });
        if let Some(sock) = sock {
            return (runner, sock);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no relay socket in {}: {}",
            dir.display(),
            std::fs::read_to_string(p.root().join("runner.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `team ARGS` in `p` with a debug trace and the variables `env`.
fn traced(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = p.std_cmd();
    c.env("TEAM_LOG", "debug").args(args).stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// stderr without the lines of the debug trace.
fn said(o: &Output) -> String {
    stderr(o)
        .lines()
        .filter(|l| !l.contains(" DEBUG "))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[track_caller]
fn assert_relayed(o: &Output) {
    let e = stderr(o);
    assert!(e.contains("relay: "), "{e}");
    assert!(!e.contains("opening the database"), "went direct: {e}");
}

#[track_caller]
fn assert_direct(o: &Output, why: &str) {
    let e = stderr(o);
    assert!(
        e.contains("relay: not used") && e.contains(why),
        "expected a direct command because of {why:?}: {e}"
    );
}

const OFF: &[(&str, &str)] = &[("TEAM_RELAY", "0")];

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn send_and_inbox_go_through_a_runners_relay_and_print_what_they_print_directly(
    #[case] backend: Backend,
) {
    let Some(p) = &project(backend) else { return };
    let team = p.create_team("demo");
    let (_runner, sock) = start_runner(p);

    // A send through the relay: the same line, stored once.
    let args = ["send", "demo", "--from", "lead", "--to", "lead", "one"];
    let relayed = traced(p, &args, &[]);
    assert_ok(&args, &relayed);
    assert_relayed(&relayed);
    assert!(
        stderr(&relayed).contains(&format!("sent through the runner at {}", sock.display())),
        "{}",
        stderr(&relayed)
    );
    let direct = traced(p, &args, OFF);
    assert_direct(&direct, "TEAM_RELAY");
    assert_eq!(said(&relayed), said(&direct));
    assert_eq!(said(&relayed), "sent to lead\n");
    // The body from stdin, --json, and a member's own socket variable.
    let mut c = p.std_cmd();
    c.env("TEAM_LOG", "debug")
        .env("TEAM_RUNNER_SOCKET", &sock)
        .args(["--json", "send", "demo", "--from", "lead", "--to", "lead"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"from stdin\n").unwrap();
    let piped = child.wait_with_output().unwrap();
    assert_ok(&["send", "stdin"], &piped);
    assert_relayed(&piped);
    let doc: Value = serde_json::from_slice(&piped.stdout).unwrap();
    assert_eq!(doc[0]["body"], "from stdin\n", "{doc}");
    assert_eq!(doc[0]["team_id"], team.as_str(), "{doc}");

    // The inbox: --peek and --json through the relay print what the direct command prints.
    for extra in [&["--peek"][..], &["--peek", "--json"], &["--after", "1"]] {
        let args: Vec<&str> = ["inbox", "demo", "lead"]
            .iter()
            .chain(extra)
            .copied()
            .collect();
        let relayed = traced(p, &args, &[]);
        assert_ok(&args, &relayed);
        assert_relayed(&relayed);
        let direct = traced(p, &args, OFF);
        assert_eq!(stdout(&relayed), stdout(&direct), "{args:?}");
        assert_eq!(said(&relayed), said(&direct), "{args:?}");
    }
    // A take through the relay: every message once, acknowledged, then none.
    let taken = traced(p, &["inbox", "demo", "lead", "--json"], &[]);
    assert_relayed(&taken);
    let got: Value = serde_json::from_slice(&taken.stdout).unwrap();
    assert_eq!(
        strings(&got, "body"),
        ["one", "one", "from stdin\n"],
        "{got}"
    );
    let again = traced(p, &["inbox", "demo", "lead"], &[]);
    assert_relayed(&again);
    assert_eq!(stdout(&again), "");
    assert_eq!(said(&again), "no unread messages for lead in team demo\n");
    assert_eq!(
        p.json(&["inbox", "demo", "lead", "--json"]),
        serde_json::json!([])
    );
    // Errors come back with the command's exit code and words.
    for (args, code) in [
        (
            &["send", "demo", "--from", "ghost", "--to", "lead", "x"][..],
            3,
        ),
        (&["send", "ghost", "--from", "lead", "--to", "lead", "x"], 3),
        (&["send", "demo", "--from", "lead", "--to", "lead", "  "], 2),
        (&["inbox", "demo", "ghost"], 3),
        (&["inbox", "demo", "lead", "--lease", "100000"], 2),
    ] {
        let relayed = traced(p, args, &[]);
        assert_code(args, &relayed, code);
        assert_relayed(&relayed);
        let direct = traced(p, args, OFF);
        assert_code(args, &direct, code);
        assert_eq!(said(&relayed), said(&direct), "{args:?}");
    }
}

/// `TEAM_MEMBER_ATTEMPT` of a superseded attempt is fenced through the relay as directly:
/// the same exit code (4) and message, nothing sent.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn a_superseded_attempt_is_refused_through_the_relay_as_directly(#[case] backend: Backend) {
    let Some(p) = &project(backend) else { return };
    let team = p.create_team("demo");
    let (_runner, _sock) = start_runner(p);
    let env = [
        ("TEAM_ID", team.as_str()),
        ("TEAM_MEMBER", "lead"),
        ("TEAM_MEMBER_ATTEMPT", "7"),
    ];
    let args = ["send", "--to", "lead", "late"];
    let relayed = traced(p, &args, &env);
    assert_code(&args, &relayed, 4);
    assert_relayed(&relayed);
    let mut off = env.to_vec();
    off.push(("TEAM_RELAY", "0"));
    let direct = traced(p, &args, &off);
    assert_code(&args, &direct, 4);
    assert_eq!(said(&relayed), said(&direct));
    assert!(
        said(&relayed).contains("attempt 7 can no longer"),
        "{}",
        said(&relayed)
    );
    assert!(p.peek("demo", "lead").is_empty());
}

/// Without a live runner of the database the command opens it itself: no socket, a stale
/// socket file (nothing listens), a runner of another database (it declines: nothing done
/// there), the relay turned off.
#[test]
fn without_a_runner_of_the_database_the_command_opens_it_itself() {
    let p = &project(Backend::Sqlite).unwrap();
    p.create_team("demo");
    let args = ["send", "demo", "--from", "lead", "--to", "lead", "hi"];
    let o = traced(p, &args, &[]);
    assert_ok(&args, &o);
    assert_direct(&o, "No such file");

    // A stale socket: its runner was killed.
    let dir = run_dir(p).join("team");
    std::fs::create_dir_all(&dir).unwrap();
    let stale = dir.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let o = traced(p, &args, &[("TEAM_RUNNER_SOCKET", stale.to_str().unwrap())]);
    assert_ok(&args, &o);
    assert_direct(&o, "refused");

    // A runner of another database declines; the message lands in this one, once.
    let other = &project(Backend::Sqlite).unwrap();
    other.create_team("demo");
    let (_runner, sock) = start_runner(other);
    let o = traced(p, &args, &[("TEAM_RUNNER_SOCKET", sock.to_str().unwrap())]);
    assert_ok(&args, &o);
    assert_direct(&o, "another database");
    assert_eq!(p.peek("demo", "lead").len(), 3);
    assert!(other.peek("demo", "lead").is_empty());

    // The relay off: not even tried.
    let o = traced(p, &["inbox", "demo", "lead", "--peek"], OFF);
    assert_direct(&o, "TEAM_RELAY");
}

/// A runner answers only its own uid: a client of another user (here `nobody`, through a
/// socket made reachable on purpose) is refused, and nothing is sent.
#[test]
fn another_user_cannot_use_the_relay() {
    if !nix_is_root() || !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipped: needs root and setpriv");
        return;
    }
    let p = &project(Backend::Sqlite).unwrap();
    p.create_team("demo");
    let (_runner, sock) = start_runner(p);
    // Open the way to the socket (the runner made its directory 0700 and the socket 0600).
    use std::os::unix::fs::PermissionsExt;
    let mut d = sock.parent().unwrap();
    loop {
        let mode = if d == sock.parent().unwrap() {
            0o711
        } else {
            0o755
        };
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode)).unwrap();
        if d == p.root() {
            break;
        }
        d = d.parent().unwrap();
    }
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let db = p.root().join(".team/team.db");
    let o = std::process::Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(team_testkit::project::team_bin())
        .args([
            "send", "demo", "--from", "lead", "--to", "lead", "sneaky", "--db",
        ])
        .arg(&db)
        .current_dir("/")
        .env_clear()
        .env("TEAM_LOG", "debug")
        .env("TEAM_RUNNER_SOCKET", &sock)
        .output()
        .unwrap();
    // The command itself sees that the socket is served by another user (root) and does
    // not hand it its request.
    let e = stderr(&o);
    assert!(e.contains("not by this user"), "{e}");
    assert!(p.peek("demo", "lead").is_empty(), "nothing sent");
    // A client that writes a request anyway is refused by the runner before it reads it.
    if !Path::new("/usr/bin/python3").exists() {
        eprintln!("the raw client part skipped: needs /usr/bin/python3");
        return;
    }
    let o = std::process::Command::new("/usr/bin/setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
        ])
        .arg(
            "import socket,sys\n\
             s=socket.socket(socket.AF_UNIX)\n\
             s.connect(sys.argv[1])\n\
             s.sendall(b'{\"v\":2}\\n')\n\
             print(s.makefile().readline())",
        )
        .arg(&sock)
        .current_dir("/")
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&o.stdout);
    assert!(
        answer.contains("refused") && answer.contains("a peer of uid 65534"),
        "{answer} {}",
        stderr(&o)
    );
    assert!(p.peek("demo", "lead").is_empty(), "nothing sent");
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"))
    })
}

/// A runner gives its command members its socket (`TEAM_RUNNER_SOCKET`): their `team send`
/// goes through it.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn a_runners_members_send_through_its_relay(#[case] backend: Backend) {
    let Some(p) = &project(backend) else { return };
    p.create_team("demo");
    let team = team_testkit::project::team_bin();
    let team = team.display();
    let script = p.root().join("relayer.sh");
    std::fs::write(
        &script,
        format!(
            "out=$(TEAM_LOG=debug {team} send --to lead \"socket=$TEAM_RUNNER_SOCKET\" 2>&1)\n\
             case \"$out\" in *'sent through the runner'*) {team} send --to lead relayed;;\n\
             *) {team} send --to lead \"direct: $out\";; esac\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(p.root().join(".team/agents")).unwrap();
    std::fs::write(
        p.root().join(".team/agents/relayer.md"),
        format!("---\ncommand: [sh, {}]\n---\nSend.\n", script.display()),
    )
    .unwrap();
    let (_runner, sock) = start_runner(p);
    p.ok(&["spawn", "demo", "relayer", "--background", "--prompt", "go"]);
    let start = Instant::now();
    let got = loop {
        let got: Vec<Value> = p
            .peek("demo", "lead")
            .into_iter()
            .filter(|m| m["kind"] == "text")
            .collect();
        if got.len() >= 2 {
            break got;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the member's messages: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let bodies: Vec<&str> = got.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(
        bodies,
        [format!("socket={}", sock.display()).as_str(), "relayed"]
    );
}

/// A frozen runner (SIGSTOP) does not hold a command up for long or make it send twice: the
/// command opens the database itself once the runner has not said it is ready within
/// `READY_TIMEOUT` (3 s), and the runner, thawed, does not run the request it was never told
/// to go on with.
#[test]
fn a_frozen_runner_is_passed_by_and_runs_nothing_later() {
    let p = &project(Backend::Sqlite).unwrap();
    p.create_team("demo");
    // No periodic write while it is frozen: a runner stopped inside its heartbeat's SQLite
    // transaction would hold the write lock, and the direct send would wait it out.
    let (runner, _sock) = start_runner_with(p, &[("TEAM_HEARTBEAT_MS", "60000")]);
    std::thread::sleep(Duration::from_millis(300));
    let pid = runner.0.id().to_string();
    let signal = |sig: &str| {
        assert!(
            std::process::Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    };
    signal("-STOP");
    let args = ["send", "demo", "--from", "lead", "--to", "lead", "once"];
    let t = Instant::now();
    let o = traced(p, &args, &[]);
    signal("-CONT");
    assert_ok(&args, &o);
    assert_direct(&o, "no answer");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    std::thread::sleep(Duration::from_millis(500));
    let got = p.peek("demo", "lead");
    assert_eq!(strings(&serde_json::json!(got), "body"), ["once"]);
    // The thawed runner serves again.
    let o = traced(
        p,
        &["send", "demo", "--from", "lead", "--to", "lead", "again"],
        &[],
    );
    assert_relayed(&o);
    assert_eq!(p.peek("demo", "lead").len(), 2);
}

/// A process with `no_new_privs` (what an LLM member's sandboxed `bash` runs with: Landlock
/// does not stop it connecting to the socket) is declined: it opens the database itself, so
/// the relay gives it no write its sandbox would not allow.
#[test]
fn a_process_with_no_new_privs_is_declined() {
    if !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipped: needs setpriv");
        return;
    }
    let p = &project(Backend::Sqlite).unwrap();
    p.create_team("demo");
    let (_runner, sock) = start_runner(p);
    let mut c = std::process::Command::new("/usr/bin/setpriv");
    c.arg("--no-new-privs")
        .arg(team_testkit::project::team_bin())
        .args(["send", "demo", "--from", "lead", "--to", "lead", "hi"])
        .current_dir(p.root())
        .env("TEAM_LOG", "debug")
        .env("XDG_RUNTIME_DIR", run_dir(p))
        .env("TEAM_RUNNER_SOCKET", &sock)
        .env_remove("TEAM_DATABASE_URL");
    let o = c.output().unwrap();
    assert_ok(&["send", "no_new_privs"], &o);
    assert_direct(&o, "no_new_privs");
    assert_eq!(p.peek("demo", "lead").len(), 1);
}

/// Several runners of one database on one host: the first holds the well-known socket, the
/// others bind one of their own (`<hash>.<pid>.sock`, for their members), a shell's command
/// goes through the first; a runner removes the socket a killed one left.
#[test]
fn several_runners_share_the_host_and_clean_up_after_a_killed_one() {
    let p = &project(Backend::Sqlite).unwrap();
    p.create_team("demo");
    let (_a, well_known) = start_runner(p);
    let hash = well_known
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let dir = well_known.parent().unwrap().to_owned();
    let own_socket = |child: &Child| dir.join(format!("{hash}.{}.sock", child.id()));
    let wait_for = |path: &Path| {
        let start = Instant::now();
        while !path.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{}",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let spawn = || {
        Runner(
            p.std_cmd()
                .arg("runner")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let b = spawn();
    let b_socket = own_socket(&b.0);
    wait_for(&b_socket);
    let o = traced(
        p,
        &["send", "demo", "--from", "lead", "--to", "lead", "hi"],
        &[],
    );
    assert!(
        stderr(&o).contains(&format!(
            "sent through the runner at {}",
            well_known.display()
        )),
        "{}",
        stderr(&o)
    );
    drop(b); // SIGKILL: its socket file stays.
    assert!(b_socket.exists());
    let c = spawn();
    wait_for(&own_socket(&c.0));
    assert!(!b_socket.exists(), "the killed runner's socket was removed");
    assert!(well_known.exists());
}

/// A runner serves at most `MAX_AT_ONCE` (2) relayed commands at once: while two clients
/// hold its places, a third command is declined as busy and opens the database itself; once
/// they go, commands go through the relay again.
#[test]
fn a_busy_relay_declines_and_the_command_opens_the_database() {
    let p = &project(Backend::Sqlite).unwrap();
    p.create_team("demo");
    let (_runner, sock) = start_runner(p);
    let held: Vec<_> = (0..2)
        .map(|_| std::os::unix::net::UnixStream::connect(&sock).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let args = ["send", "demo", "--from", "lead", "--to", "lead", "busy"];
    let o = traced(p, &args, &[]);
    assert_ok(&args, &o);
    assert_direct(&o, "busy");
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    let o = traced(
        p,
        &["send", "demo", "--from", "lead", "--to", "lead", "free"],
        &[],
    );
    assert_relayed(&o);
    assert_eq!(p.peek("demo", "lead").len(), 2);
}

/// A socket whose listener takes no connection (a frozen runner that many commands tried)
/// has a full queue, where a Unix socket's `connect` would wait for ever: the command does
/// not wait, it opens the database itself.
#[test]
fn a_full_relay_queue_does_not_hang_the_command() {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};
    use std::os::fd::AsRawFd;
    let p = &project(Backend::Sqlite).unwrap();
    p.create_team("demo");
    let sock = run_dir(p).join("full.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    // Fill its queue: connect without waiting until the kernel says it is full.
    let mut held = Vec::new();
    loop {
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_NONBLOCK,
            None,
        )
        .unwrap();
        match connect(fd.as_raw_fd(), &UnixAddr::new(&sock).unwrap()) {
            Ok(()) => held.push(fd),
            Err(nix::errno::Errno::EAGAIN) => break,
            Err(e) => panic!("connect: {e}"),
        }
        assert!(held.len() < 100_000, "the queue never filled");
    }
    let args = ["send", "demo", "--from", "lead", "--to", "lead", "queued"];
    let mut child = p
        .std_cmd()
        .env("TEAM_LOG", "debug")
        .env("TEAM_RUNNER_SOCKET", &sock)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed, not waited for, if it hangs in `connect` (as it did).
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`team send` hung on a full relay queue");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    assert_ok(&args, &o);
    assert_direct(&o, "queue of connections is full");
    assert_eq!(p.peek("demo", "lead").len(), 1);
}
