//! Atomic file writes: results and checkpoints are never left half-written, and a write that fails
//! (a full disk, a kill) leaves no temporary file behind for long.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` through a temporary file in the same directory, fsynced, then renamed
/// over the target: a reader (or a resumed run after kill -9) sees the old file or the new one, never
/// a torn one. When any step fails the temporary file is removed, so a full disk is not kept full
/// by our own debris.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = temp_sibling(path);
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // Make the rename itself durable; failure here only weakens durability, never correctness.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Appends one line to a file (JSONL logs, ground-truth CSVs) and fsyncs it.
pub fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(line.as_bytes())?;
    if !line.ends_with('\n') {
        f.write_all(b"\n")?;
    }
    f.sync_all()
}

fn temp_sibling(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// The PID in a temporary file name written by [`write_atomic`] (`.<name>.<pid>.tmp`), if it is one.
fn temp_owner(file_name: &str) -> Option<u32> {
    let inner = file_name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (name, pid) = inner.rsplit_once('.')?;
    if name.is_empty() {
        return None;
    }
    pid.parse().ok()
}

/// Whether a process with this PID exists (one we may not signal counts as alive).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    // Signal 0 checks existence and permission without delivering anything.
    // SAFETY: kill with signal 0 has no effect on the target process.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Removes, in `dir` and its subdirectories up to `depth` levels down, the temporary files of
/// [`write_atomic`] whose writer is dead: a killed or failed write leaves one behind, and a run
/// directory would otherwise collect them. Returns the files removed.
pub fn sweep_dead_temps(dir: &Path, depth: usize) -> std::io::Result<Vec<PathBuf>> {
    let mut removed = vec![];
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            if depth > 0 {
                removed.extend(sweep_dead_temps(&path, depth - 1)?);
            }
            continue;
        }
        let owner = entry.file_name().to_str().and_then(temp_owner);
        if owner.is_some_and(|pid| pid != std::process::id() && !pid_alive(pid)) {
            std::fs::remove_file(&path)?;
            removed.push(path);
        }
    }
    Ok(removed)
}

/// Removes the dead writers' temporary files of one target file (e.g. a CSV beside other files
/// that are not ours to touch).
pub fn sweep_dead_temps_of(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return Ok(vec![]) };
    let prefix = format!(".{name}.");
    let mut removed = vec![];
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(file) = entry.file_name().to_str().map(str::to_string) else { continue };
        let ours = file.strip_prefix(&prefix).and_then(|r| r.strip_suffix(".tmp")).and_then(|p| p.parse::<u32>().ok());
        if ours.is_some_and(|pid| pid != std::process::id() && !pid_alive(pid)) {
            std::fs::remove_file(entry.path())?;
            removed.push(entry.path());
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/result.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let entries: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1, "temp file left behind");
    }

    #[test]
    fn failed_write_removes_its_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // Renaming a file over a non-empty directory fails after the temp file was written and synced.
        let target = dir.path().join("taken");
        std::fs::create_dir_all(target.join("inside")).unwrap();
        assert!(write_atomic(&target, b"data").is_err());
        let names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        assert_eq!(names, vec!["taken".to_string()], "the temp file of a failed write must go");
    }

    /// A PID that no process has: beyond the kernel's maximum.
    fn dead_pid() -> u32 {
        let max: u32 =
            std::fs::read_to_string("/proc/sys/kernel/pid_max").map_or(4_194_304, |t| t.trim().parse().unwrap());
        max + 1
    }

    #[test]
    fn sweep_removes_dead_writers_temps_only() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("checkpoints/epochs");
        std::fs::create_dir_all(&sub).unwrap();
        let dead = dead_pid();
        let live = std::process::id();
        let parent = std::os::unix::process::parent_id();
        for (d, name) in [
            (dir.path(), format!(".metrics.jsonl.{dead}.tmp")),
            (sub.as_path(), format!(".0003.safetensors.{dead}.tmp")),
            (dir.path(), format!(".config.toml.{parent}.tmp")),
            (dir.path(), format!(".summary.json.{live}.tmp")),
            (dir.path(), "notes.tmp".to_string()),
            (dir.path(), ".tmp".to_string()),
        ] {
            std::fs::write(d.join(name), b"x").unwrap();
        }
        let mut removed = sweep_dead_temps(dir.path(), 2).unwrap();
        removed.sort();
        let mut want = vec![
            sub.join(format!(".0003.safetensors.{dead}.tmp")),
            dir.path().join(format!(".metrics.jsonl.{dead}.tmp")),
        ];
        want.sort();
        assert_eq!(removed, want);
        assert!(dir.path().join(format!(".config.toml.{parent}.tmp")).exists(), "a live writer's temp stays");
        assert!(dir.path().join("notes.tmp").exists() && dir.path().join(".tmp").exists());

        let csv = dir.path().join("gt.csv");
        std::fs::write(dir.path().join(format!(".gt.csv.{dead}.tmp")), b"x").unwrap();
        std::fs::write(dir.path().join(format!(".other.csv.{dead}.tmp")), b"x").unwrap();
        assert_eq!(sweep_dead_temps_of(&csv).unwrap(), vec![dir.path().join(format!(".gt.csv.{dead}.tmp"))]);
        assert!(dir.path().join(format!(".other.csv.{dead}.tmp")).exists(), "another file's temp is not ours");
    }

    #[test]
    fn append_adds_newlines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.jsonl");
        append_line(&p, "a").unwrap();
        append_line(&p, "b\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "a\nb\n");
    }
}
