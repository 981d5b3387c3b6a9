//! A stable-toolchain fallback for the libFuzzer targets: `stable-fuzz TARGET SECONDS [SEED]`
//! feeds TARGET (see `team_fuzz::TARGETS`) mutations of its seed corpus (`fuzz/corpus/TARGET/`
//! plus the seeds built in below) for SECONDS, catching panics. A panicking input is written
//! to `fuzz/artifacts/TARGET/crash-N` and the run exits 1; it should become a regression test.
//! No coverage guidance: it is a bounded random search, weaker than libFuzzer.

use std::panic;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A small xorshift generator: the run is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

/// Tokens worth splicing in: YAML, TOML and JSON syntax the parsers branch on.
const TOKENS: &[&str] = &[
    "---\n", "\n---\n", ": ", "- ", "[", "]", "{", "}", "\"", "'", "\\", "\n", "\r\n", "\u{feff}",
    "model: ", "command: ", "permission: ", "tools: ", "timeout: ", "env: ", "memory: local",
    "[team]\n", "[providers.x]\n", "max_agents = ", "sandbox = ", "= \"", "kind = \"review\"",
    "name = \"fuzz\"", "lead = \"lead\"", "{\"member\":", "\"response\":", "\"error\":", "null",
    "true", "-1", "18446744073709551616", "1e999", "&a", "*a", "!!binary", "|\n", ">\n", "\t",
    "\u{0}", "💥",
];

fn seeds(target: &str, root: &PathBuf) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = match target {
        "agent_file" => vec![
            b"---\nmodel: openai/gpt-4o-mini\nmemory: local\nmax_turns: 3\ntools: [read_file, bash]\npermission: {bash: deny, edit: ask}\n---\nYou review.\n".to_vec(),
            b"---\ncommand: [\"bash\", \"-c\", \"wc -w\"]\ntimeout: 5m\n---\nCount.\n".to_vec(),
            b"no front matter\n".to_vec(),
        ],
        "config" => vec![
            team_agent::config::Config::default_file_text().as_bytes().to_vec(),
            b"[team]\nmax_agents = 4\nsandbox = \"off\"\n[providers.mock]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\n".to_vec(),
        ],
        "workflow" => team_runner::workflow::BUNDLED
            .iter()
            .map(|(_, t)| t.as_bytes().to_vec())
            .collect(),
        _ => {
            let mut v = Vec::new();
            if let Ok(text) = std::fs::read(root.join("examples/pep-0765.cassette.jsonl")) {
                // A few lines of the shipped cassette.
                v.push(text.split(|b| *b == b'\n').take(3).collect::<Vec<_>>().join(&b'\n'));
            }
            v.push(b"{}\n".to_vec());
            v
        }
    };
    if let Ok(dir) = std::fs::read_dir(root.join("fuzz/corpus").join(target)) {
        out.extend(dir.flatten().filter_map(|e| std::fs::read(e.path()).ok()));
    }
    out
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, pool: &[Vec<u8>]) {
    for _ in 0..=rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(6) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] = rng.next() as u8;
            }
            1 if !input.is_empty() => {
                let end = (at + rng.below(16)).min(input.len());
                input.drain(at.min(end)..end);
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                input.splice(at..at, t.iter().copied());
            }
            3 if !input.is_empty() => {
                let start = rng.below(input.len());
                let end = (start + rng.below(32)).min(input.len());
                let chunk: Vec<u8> = input[start..end].to_vec();
                input.splice(at..at, chunk);
            }
            4 if !pool.is_empty() => {
                let other = &pool[rng.below(pool.len())];
                let start = rng.below(other.len() + 1);
                let end = (start + rng.below(64)).min(other.len());
                input.splice(at..at, other[start..end].iter().copied());
            }
            _ => input.truncate(at),
        }
    }
    input.truncate(64 * 1024);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> ! {
        let names: Vec<&str> = team_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
        eprintln!("usage: stable-fuzz TARGET SECONDS [SEED]; targets: {}", names.join(", "));
        std::process::exit(2)
    };
    let (Some(name), Some(secs)) = (args.get(1), args.get(2).and_then(|s| s.parse::<u64>().ok()))
    else {
        usage()
    };
    let Some((_, run)) = team_fuzz::TARGETS.iter().find(|(n, _)| n == name) else { usage() };
    let seed = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(0x9E37_79B9_7F4A_7C15u64);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let pool = seeds(name, &root);
    let mut rng = Rng(seed | 1);
    panic::set_hook(Box::new(|_| {}));
    let until = Instant::now() + Duration::from_secs(secs);
    let mut runs: u64 = 0;
    while Instant::now() < until {
        let mut input = pool[rng.below(pool.len())].clone();
        mutate(&mut rng, &mut input, &pool);
        runs += 1;
        if panic::catch_unwind(|| run(&input)).is_err() {
            let dir = root.join("fuzz/artifacts").join(name);
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join(format!("crash-{runs}"));
            let _ = std::fs::write(&path, &input);
            eprintln!("{name}: crash written to {}; its panic:", path.display());
            let _ = panic::take_hook();
            run(&input); // panics again, with its message (exit 101)
            std::process::exit(1);
        }
    }
    println!("{name}: {runs} inputs in {secs} s (seed {seed}), no crash");
}
