//! `team top` end to end: the refusal where no screen can be drawn (piped, `TERM=dumb`), and
//! once in a real terminal, tmux's, where it shows the team and quits on `q`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
fn top_refuses_without_a_terminal(#[case] backend: Backend) {
    let Some(p) = &Project::on(backend) else {
        return;
    };
    p.create_team("alpha");
    // The tests' stdout is a pipe.
    let err = p.fails(&["top"], 2);
    assert!(err.contains("needs a terminal"), "{err}");
    assert!(err.contains("team watch TEAM"), "{err}");
    assert!(err.contains("team show TEAM"), "{err}");
    // `--json` has nothing to print.
    let msg = p.fails_json(&["top", "alpha"], 2);
    assert!(msg.contains("no JSON output"), "{msg}");
    // An unknown team is not found, as in every command (but only where a screen can be
    // drawn, which a pipe is not: the terminal is checked first).
    let err = p.fails(&["top", "nosuch"], 2);
    assert!(err.contains("needs a terminal"), "{err}");
}

/// A tmux server of its own (`tmux -L NAME`), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// A server on a socket named for this process, or `None` (with a note) when tmux is not
    /// installed.
    fn start() -> Option<Tmux> {
        let found = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            eprintln!("skipped: tmux is not installed (apt-get install tmux)");
            return None;
        }
        Some(Tmux {
            socket: format!("team-top-test-{}", std::process::id()),
        })
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-L").arg(&self.socket);
        // The server takes the environment of the client that starts it: none of the
        // caller's database or colour settings.
        c.env_remove("TEAM_DATABASE_URL").env_remove("TMUX");
        c
    }

    /// Starts `shell` in a detached 100×30 session `name` in `dir`.
    fn session(&self, name: &str, dir: &Path, shell: &str) {
        let st = self
            .cmd()
            .args([
                "new-session",
                "-d",
                "-s",
                name,
                "-x",
                "100",
                "-y",
                "30",
                "-c",
            ])
            .arg(dir)
            .arg(shell)
            .status()
            .expect("run tmux");
        assert!(st.success(), "tmux new-session failed");
    }

    /// The text of session `name`'s pane (empty once it has gone).
    fn capture(&self, name: &str) -> String {
        let o = self
            .cmd()
            .args(["capture-pane", "-p", "-t", name])
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn keys(&self, name: &str, keys: &str) {
        let st = self
            .cmd()
            .args(["send-keys", "-t", name, keys])
            .status()
            .expect("run tmux");
        assert!(st.success(), "tmux send-keys failed");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

/// Waits up to 20 s for `f` to give `Some`.
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `'text'` for a POSIX shell.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[test]
fn top_in_tmux_shows_the_team_and_quits_on_q() {
    let Some(tmux) = Tmux::start() else { return };
    let p = Project::sqlite();
    p.create_team("tuiteam");
    let root = p.root().to_str().expect("utf-8 path").to_owned();
    let bin = team_testkit::project::team_bin();
    let bin = quote(bin.to_str().expect("utf-8 path"));
    let config = quote(p.user_config().to_str().expect("utf-8 path"));
    let exit_file = format!("{root}/top.exit");
    let run = |term: &str, file: &str| {
        format!(
            "TERM={term} TEAM_CONFIG_HOME={config} {bin} top; echo $? > {}",
            quote(file)
        )
    };

    // A dumb terminal: refused with exit 2.
    let dumb_file = format!("{root}/dumb.exit");
    tmux.session("dumb", p.root(), &run("dumb", &dumb_file));
    let code = wait_for("team top on TERM=dumb to exit", || {
        std::fs::read_to_string(&dumb_file).ok()
    });
    assert_eq!(code.trim(), "2", "TERM=dumb team top exits 2");

    // A real one: the teams screen shows the team; Enter opens it; q quits with 0.
    tmux.session("top", p.root(), &run("xterm-256color", &exit_file));
    let pane = wait_for("the teams screen", || {
        let s = tmux.capture("top");
        s.contains("tuiteam").then_some(s)
    });
    assert!(pane.contains("team top · teams"), "{pane}");
    tmux.keys("top", "Enter");
    let pane = wait_for("the team screen", || {
        let s = tmux.capture("top");
        s.contains("Members (1 live of 1)").then_some(s)
    });
    assert!(pane.contains("team top · team tuiteam (active"), "{pane}");
    assert!(pane.contains("lead"), "{pane}");
    assert!(
        std::fs::read_to_string(&exit_file).is_err(),
        "still running"
    );
    tmux.keys("top", "q");
    let code = wait_for("team top to exit on q", || {
        std::fs::read_to_string(&exit_file).ok()
    });
    assert_eq!(code.trim(), "0", "team top exits 0 on q");
}
