//! Exclusive ownership of a run directory for the life of a process: an OS advisory
//! lock (flock) on a lock file that holds the owner's PID. The kernel drops the lock when its holder
//! dies, however it dies, so a stale lock never needs clearing by hand; a second live process is
//! refused with the holder's PID.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

/// The lock file a run directory holds.
pub const LOCK_FILE: &str = ".oxnas.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{what} is in use by another oxnas process (PID {pid}); wait for it to finish or stop it (kill {pid}), or choose another directory")]
    Held { what: String, pid: String },
    #[error("cannot lock {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// A held lock; dropping it (or the process dying) releases it.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Locks `dir` through `dir/.oxnas.lock`. The file stays when the lock is released: it is part of
    /// the run directory, and keeping it avoids the race of unlinking a file another process opened.
    pub fn dir(dir: &Path) -> Result<Lock, LockError> {
        Self::acquire(&dir.join(LOCK_FILE), &dir.display().to_string())
    }

    /// A shared hold on `dir`: any number of readers (e.g. scorers, or the shards of one scoring)
    /// together, none while a writer holds [`Lock::dir`], and no writer while they read.
    pub fn dir_shared(dir: &Path) -> Result<Lock, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io { path: path.display().to_string(), source };
        let mut file =
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        match file.try_lock_shared() {
            Ok(()) => Ok(Lock { _file: file }),
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = if pid.trim().is_empty() { "unknown".to_string() } else { pid.trim().to_string() };
                Err(LockError::Held { what: dir.display().to_string(), pid })
            }
            Err(TryLockError::Error(e)) => Err(io(e)),
        }
    }

    fn acquire(path: &Path, what: &str) -> Result<Lock, LockError> {
        let io = |source| LockError::Io { path: path.display().to_string(), source };
        let mut file =
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = if pid.trim().is_empty() { "unknown".to_string() } else { pid.trim().to_string() };
                return Err(LockError::Held { what: what.to_string(), pid });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        // A dead holder's PID may still be in the file: the kernel released its lock, we own it now.
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(Lock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_with_the_holders_pid_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = Lock::dir(dir.path()).unwrap();
        let err = Lock::dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&format!("PID {}", std::process::id())), "{err}");
        drop(first);
        let again = Lock::dir(dir.path()).unwrap();
        assert!(dir.path().join(LOCK_FILE).exists(), "a run directory keeps its lock file");
        drop(again);
    }

    #[test]
    fn readers_share_a_directory_but_not_with_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let r1 = Lock::dir_shared(dir.path()).unwrap();
        let r2 = Lock::dir_shared(dir.path()).unwrap();
        assert!(Lock::dir(dir.path()).is_err(), "no writer while readers hold it");
        drop((r1, r2));
        let w = Lock::dir(dir.path()).unwrap();
        let e = Lock::dir_shared(dir.path()).unwrap_err().to_string();
        assert!(e.contains(&std::process::id().to_string()), "{e}");
        drop(w);
    }

    #[test]
    fn a_dead_holders_lock_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        // A holder that died: its PID is still in the file, but no process holds the flock.
        std::fs::write(dir.path().join(LOCK_FILE), "999999999\n").unwrap();
        let _lock = Lock::dir(dir.path()).unwrap();
        let pid = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
    }
}
