//! The `bash` tool's sandbox: a Landlock domain (Linux ≥ 5.13) entered by the command's shell
//! before it runs anything.
//!
//! What a command may do inside it:
//! - read (and execute) the project root and the system directories programs need:
//!   [`SYSTEM_READ_PATHS`] (of `/proc`, only a few global files: no `/proc/PID` directory,
//!   `/proc/self` included); `/dev/null`, `/dev/zero`, `/dev/full`, `/dev/random`,
//!   `/dev/urandom` and `/dev/tty` read and write;
//! - write beneath the project root, except the protected paths (see `protect`), and in a
//!   private temporary directory made for the call (`TMPDIR`, removed after it);
//! - nothing else: the home directory (`~/.ssh`, `~/.aws`, …), other users' files, `/tmp` of
//!   other programs, are neither readable nor writable;
//! - no access to other processes: `/proc/PID/…` is not readable (no rule grants it; on this
//!   project's test kernel, 6.18, Landlock's ptrace scoping alone stopped `/proc/PID/exe` but
//!   not `/proc/PID/environ` of the runner, so `/proc` is left out rather than relied on), no
//!   ptrace of processes outside the domain, no signals to them, no abstract UNIX sockets made
//!   outside it (Landlock ABI ≥ 6).
//!
//! Landlock grants rights per directory tree, and the project root's tree holds `.team/`; so
//! write rights are given to every entry of the root (each directory's whole tree, each regular
//! file by itself) except the protected ones, descending into the directories that hold a
//! protected path (`.git`, `.claude`, `.opencode`). The price: a sandboxed command cannot
//! create, remove or rename entries directly in the project root (it can in any
//! subdirectory, and it can change existing top-level files in place); `write_file` can.
//! Entries made after the call started are not writable by it. Symlinks among the entries get
//! no rights (they are opened with `O_NOFOLLOW`), so a link to `~` cannot widen the domain.
//!
//! The ruleset is built in the runner before the fork; the child only calls
//! `landlock_restrict_self` (see `bash`). Without Landlock (an older or differently built
//! kernel), `bash` is refused unless the configuration says `sandbox = "off"`.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use landlock::{
    ABI, Access, AccessFs, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreated, RulesetCreatedAttr, Scope,
};
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, SFlag, fstat};
use serde::{Deserialize, Serialize};

use super::protect::Protected;

/// System directories a sandboxed command may read and execute from (those that exist).
pub const SYSTEM_READ_PATHS: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc",
    "/opt",
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/loadavg",
    "/proc/uptime",
    "/proc/version",
    "/proc/filesystems",
    "/sys/devices/system/cpu",
];

/// Device files a sandboxed command may read and write.
const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];

/// Environment variable that makes `team` behave as on a kernel without Landlock (any
/// non-empty value): for testing the fallback. It can only make `bash` refused, never less
/// confined.
pub const ENV_TEST_NO_LANDLOCK: &str = "TEAM_TEST_NO_LANDLOCK";

/// The ABI whose rights the sandbox asks for (file system rights and scopes of Linux 6.12);
/// older kernels get what they support (best effort above ABI 1, which is required).
const TARGET_ABI: ABI = ABI::V6;

/// How the `bash` tool is confined (`[team] sandbox` in the configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    /// A Landlock domain (the default); where the kernel has no Landlock, `bash` is refused.
    #[default]
    Landlock,
    /// No sandbox: `bash` runs with the runner's rights (a warning is logged). Only the
    /// protected-path check of the command text and the hidden environment remain.
    Off,
}

impl SandboxMode {
    /// `landlock` or `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxMode::Landlock => "landlock",
            SandboxMode::Off => "off",
        }
    }
}

/// Why a sandbox could not be set up; the text says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The kernel has no Landlock (or [`ENV_TEST_NO_LANDLOCK`] is set).
    #[error(
        "bash needs a sandbox and this kernel has no Landlock (Linux 5.13 or later, with \
         `landlock` in the boot-time LSM list); the command was not run. To run bash without a \
         sandbox, set `sandbox = \"off\"` under [team] in .team/config.toml"
    )]
    Unsupported,
    /// Building the ruleset failed.
    #[error("could not set up the bash sandbox: {0}")]
    Setup(String),
}

/// Whether Landlock can be used here (ABI 1 or later, and not disabled for tests).
pub fn landlock_available() -> bool {
    if std::env::var_os(ENV_TEST_NO_LANDLOCK).is_some_and(|v| !v.is_empty()) {
        return false;
    }
    Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(ABI::V1))
        .and_then(|r| r.create())
        .is_ok()
}

fn setup(e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Setup(e.to_string())
}

/// The ruleset of one `bash` call in `root` (canonical), with `tmp` as its private temporary
/// directory. Built before the fork; the child calls `restrict_self` on it.
///
/// Errors: [`SandboxError::Unsupported`] without Landlock; [`SandboxError::Setup`] when a
/// rule cannot be added.
pub(crate) fn ruleset(
    root: &Path,
    protected: &Protected,
    tmp: &Path,
) -> Result<RulesetCreated, SandboxError> {
    if !landlock_available() {
        return Err(SandboxError::Unsupported);
    }
    let all = AccessFs::from_all(TARGET_ABI);
    let read = AccessFs::from_read(TARGET_ABI);
    let file = AccessFs::from_file(TARGET_ABI);
    let mut rs = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(ABI::V1))
        .map_err(setup)?
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)
        .map_err(setup)?
        .scope(Scope::from_all(TARGET_ABI))
        .map_err(setup)?
        .create()
        .map_err(setup)?;
    for path in SYSTEM_READ_PATHS {
        if let Ok(fd) = PathFd::new(path) {
            rs = rs.add_rule(PathBeneath::new(fd, read)).map_err(setup)?;
        }
    }
    for path in DEVICES {
        if let Ok(fd) = PathFd::new(path) {
            rs = rs.add_rule(PathBeneath::new(fd, file)).map_err(setup)?;
        }
    }
    let root_fd = PathFd::new(root).map_err(setup)?;
    rs = rs
        .add_rule(PathBeneath::new(root_fd, read))
        .map_err(setup)?;
    rs = rs
        .add_rule(PathBeneath::new(PathFd::new(tmp).map_err(setup)?, all))
        .map_err(setup)?;
    let dir = File::open(root).map_err(setup)?;
    grant_writes(&mut rs, OwnedFd::from(dir), "", protected, all, file)?;
    Ok(rs)
}

/// Grants `all` to each directory and `file` to each regular file (with one link) in `dir`
/// (at `rel` beneath the root), except protected entries; descends into directories that hold
/// a protected path. Entries are opened with `O_PATH | O_NOFOLLOW`: symlinks get nothing.
fn grant_writes(
    rs: &mut RulesetCreated,
    dir: OwnedFd,
    rel: &str,
    protected: &Protected,
    all: BitFlags<AccessFs>,
    file: BitFlags<AccessFs>,
) -> Result<(), SandboxError> {
    let names: Vec<std::ffi::OsString> = {
        let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&dir));
        std::fs::read_dir(&path)
            .map_err(setup)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect()
    };
    for name in names {
        let Some(name_text) = std::str::from_utf8(name.as_bytes()).ok() else {
            continue; // not UTF-8: cannot be compared with the protected list; no rights
        };
        let child_rel = if rel.is_empty() {
            name_text.to_string()
        } else {
            format!("{rel}/{name_text}")
        };
        if protected.covering(&child_rel).is_some() {
            continue;
        }
        let Ok(fd) = openat(
            dir.as_fd(),
            OsStr::new(&name),
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) else {
            continue;
        };
        let Ok(st) = fstat(fd.as_fd()) else { continue };
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        let holds_protected = protected
            .rels()
            .iter()
            .any(|p| p.starts_with(&format!("{child_rel}/")));
        let rule = if kind == SFlag::S_IFDIR {
            if holds_protected {
                let sub = openat(
                    dir.as_fd(),
                    OsStr::new(&name),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(setup)?;
                grant_writes(rs, sub, &child_rel, protected, all, file)?;
                continue;
            }
            PathBeneath::new(fd, all)
        } else if kind == SFlag::S_IFREG && st.st_nlink == 1 {
            PathBeneath::new(fd, file)
        } else {
            continue;
        };
        (&mut *rs).add_rule(rule).map_err(setup)?;
    }
    Ok(())
}
