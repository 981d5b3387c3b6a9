//! File I/O beneath the project root that never follows a symlink.
//!
//! The path check ([`super::path::ProjectRoot::resolve`]) canonicalizes a path when the call
//! is prepared; the I/O happens later. A hostile process (a background job an agent started
//! with `bash`) could swap a directory on the way for a symlink in between and send the
//! write elsewhere. So the file tools do their I/O here: from a descriptor of the root, each
//! component of the checked, canonical relative path is opened with `openat(…, O_NOFOLLOW)`
//! (directories with `O_DIRECTORY`), new directories are made with `mkdirat`, and a write goes
//! to a temporary file created with `O_EXCL | O_NOFOLLOW` in the final directory, then renamed
//! over the name with `renameat` (which replaces a symlink rather than following it). A
//! symlink met on the way fails the call (`ELOOP` / `ENOTDIR`): the canonical path had none.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, renameat};
use nix::sys::stat::{Mode, SFlag, fchmod, fstatat, mkdirat};
use nix::unistd::{UnlinkatFlags, unlinkat};

fn io(e: Errno) -> io::Error {
    io::Error::from(e)
}

/// A clearer error for a symlink met where the checked path had none.
fn swapped(e: Errno) -> io::Error {
    match e {
        Errno::ELOOP | Errno::ENOTDIR => io::Error::other(
            "a symlink appeared on the path after it was checked; the call was stopped",
        ),
        e => io(e),
    }
}

fn parts(rel: &str) -> Vec<&OsStr> {
    rel.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .map(OsStr::new)
        .collect()
}

fn open_root(root: &Path) -> io::Result<OwnedFd> {
    openat(
        nix::fcntl::AT_FDCWD,
        root,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io)
}

fn open_dir(dir: &OwnedFd, name: &OsStr) -> Result<OwnedFd, Errno> {
    openat(
        dir.as_fd(),
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Opens the directory `dirs` beneath `root` without following symlinks, making missing
/// directories (0755) when `create` is set.
fn walk(root: &Path, dirs: &[&OsStr], create: bool) -> io::Result<OwnedFd> {
    let mut dir = open_root(root)?;
    for name in dirs {
        let next = match open_dir(&dir, name) {
            Err(Errno::ENOENT) if create => {
                match mkdirat(dir.as_fd(), *name, Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(io(e)),
                }
                open_dir(&dir, name)
            }
            other => other,
        };
        dir = next.map_err(swapped)?;
    }
    Ok(dir)
}

/// Opens the regular file `rel` (relative to `root`, `/` separators) for reading without
/// following a symlink anywhere on the way.
///
/// Errors: a symlink on the way, a missing file, any other I/O error.
pub(crate) fn open_read(root: &Path, rel: &str) -> io::Result<File> {
    let parts = parts(rel);
    let (name, dirs) = parts
        .split_last()
        .ok_or_else(|| io::Error::other("the project root is a directory, not a file"))?;
    let dir = walk(root, dirs, false)?;
    let fd = openat(
        dir.as_fd(),
        *name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(swapped)?;
    Ok(File::from(fd))
}

/// Writes `bytes` to `rel` (relative to `root`) atomically and without following symlinks:
/// parent directories are made as needed, a temporary file is created next to the target
/// (`O_EXCL | O_NOFOLLOW`), written, given the existing file's permission bits (0644 for a new
/// file), synced, and renamed over the target.
///
/// Errors: a symlink on the way, the target is a directory, any I/O error.
pub(crate) fn atomic_write(root: &Path, rel: &str, bytes: &[u8]) -> io::Result<()> {
    let parts = parts(rel);
    let (name, dirs) = parts
        .split_last()
        .ok_or_else(|| io::Error::other("the project root is a directory, not a file"))?;
    let dir = walk(root, dirs, true)?;
    let mode = match fstatat(dir.as_fd(), *name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR => {
            return Err(io::Error::other("it is a directory"));
        }
        Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG => {
            Mode::from_bits_truncate(st.st_mode & 0o7777)
        }
        _ => Mode::from_bits_truncate(0o644),
    };
    let tmp_name = format!(".team-write-{:016x}", rand_suffix());
    let fd = openat(
        dir.as_fd(),
        tmp_name.as_str(),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(io)?;
    let mut file = File::from(fd);
    let written = file
        .write_all(bytes)
        .and_then(|()| fchmod(file.as_fd(), mode).map_err(io))
        .and_then(|()| file.sync_all())
        .and_then(|()| renameat(dir.as_fd(), tmp_name.as_str(), dir.as_fd(), *name).map_err(io));
    if written.is_err() {
        let _ = unlinkat(dir.as_fd(), tmp_name.as_str(), UnlinkatFlags::NoRemoveDir);
    }
    written
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlinked_directory_on_the_way_stops_the_write() {
        let dir = tempfile::tempdir().expect("tmp");
        let outside = tempfile::tempdir().expect("tmp");
        let root = dir.path().canonicalize().expect("canon");
        std::fs::create_dir(root.join("sub")).expect("mkdir");
        atomic_write(&root, "sub/a.txt", b"in").expect("plain write");
        assert_eq!(std::fs::read(root.join("sub/a.txt")).expect("read"), b"in");
        // Swap `sub` for a symlink to a directory outside the root.
        std::fs::remove_dir_all(root.join("sub")).expect("rm");
        std::os::unix::fs::symlink(outside.path(), root.join("sub")).expect("symlink");
        let err = atomic_write(&root, "sub/a.txt", b"out").expect_err("must refuse");
        assert!(err.to_string().contains("symlink"), "{err}");
        assert!(!outside.path().join("a.txt").exists());
        assert!(open_read(&root, "sub/a.txt").is_err());
    }

    #[test]
    fn a_symlink_as_the_target_is_replaced_not_followed() {
        let dir = tempfile::tempdir().expect("tmp");
        let outside = tempfile::tempdir().expect("tmp");
        let root = dir.path().canonicalize().expect("canon");
        let victim = outside.path().join("victim");
        std::fs::write(&victim, "keep").expect("victim");
        std::os::unix::fs::symlink(&victim, root.join("t")).expect("symlink");
        atomic_write(&root, "t", b"new").expect("write");
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "keep");
        assert_eq!(
            std::fs::read_to_string(root.join("t")).expect("read"),
            "new"
        );
        assert!(!root.join("t").is_symlink());
    }
}
