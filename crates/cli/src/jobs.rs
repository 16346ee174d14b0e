//! Launching shards and looking after them: `--shards N` with the local or the Slurm executor,
//! `oxnas merge`, `oxnas jobs status` and `oxnas jobs resubmit`.
//!
//! A launch writes `<out>.shards/job.json` (the [`Manifest`]: the shard command line, the executor
//! and its options, the Slurm job ids), so that status and resubmission need only the directory.
//! Launching again, or resubmitting, runs only the shards that are neither finished nor still queued
//! or running; a shard that runs again continues from its files, so no row is lost or written twice.

use crate::shard::{shard_argv, Executor, ExecutorArgs};
use crate::signals;
use crate::slurm::{self, ScriptJob, SlurmOptions};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use oxnas_core::fsutil::write_atomic;
use oxnas_core::shard::{merge_into_file, Shard, ShardDir, ShardFiles};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How a sharded job was launched: `<out>.shards/job.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// The command, for job names and messages (`groundtruth`, `supernet-score`, `search-seeds`).
    pub command: String,
    pub shards: usize,
    /// The shard command line without `--shard I/N`, relative to `workdir`.
    pub argv: Vec<String>,
    pub oxnas: PathBuf,
    pub workdir: PathBuf,
    pub executor: Executor,
    pub jobs: Option<usize>,
    #[serde(default)]
    pub slurm: SlurmOptions,
    #[serde(default)]
    pub submissions: Vec<Submission>,
}

/// One `sbatch` of an array (some shards) and its merge job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submission {
    pub array_job: String,
    pub tasks: Vec<usize>,
    pub merge_job: Option<String>,
    pub at: String,
}

impl Manifest {
    fn read(dir: &ShardDir) -> Result<Self> {
        let path = dir.manifest();
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!("{} has no readable job.json: it was not launched with --shards N", dir.dir.display())
        })?;
        serde_json::from_str(&text).with_context(|| format!("{} is not an oxnas job manifest", path.display()))
    }

    fn write(&self, dir: &ShardDir) -> Result<()> {
        let path = dir.manifest();
        write_atomic(&path, serde_json::to_string_pretty(self)?.as_bytes())
            .with_context(|| format!("writing {}", path.display()))
    }
}

/// A sharded command asks for all its shards to run (`--shards N`); `merged` is its output file,
/// `extra_argv` flags the shards need beyond this process's own (a default made explicit).
pub fn launch(command: &str, merged: &Path, count: usize, extra_argv: Vec<String>, exec: &ExecutorArgs) -> Result<()> {
    let here = std::env::current_dir().context("reading the current directory")?;
    let workdir = match &exec.slurm.chdir {
        Some(d) => std::path::absolute(d).with_context(|| format!("--chdir {}", d.display()))?,
        None => here,
    };
    let dir = ShardDir::for_output(&workdir.join(merged));
    dir.check_count(count)?;
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut argv = shard_argv(&raw);
    argv.extend(extra_argv);
    let previous = Manifest::read(&dir).map(|m| m.submissions).unwrap_or_default();
    let mut m = Manifest {
        command: command.to_string(),
        shards: count,
        argv,
        oxnas: std::env::current_exe().context("finding the oxnas binary")?,
        workdir,
        executor: exec.executor,
        jobs: exec.jobs,
        slurm: exec.slurm.clone(),
        submissions: previous,
    };
    let todo = if exec.dry_run { (0..count).collect() } else { unfinished(&m, &dir)? };
    if todo.is_empty() {
        return finish(&dir, count);
    }
    run(&mut m, &dir, &todo, exec.dry_run)
}

/// Shards that need to run: neither finished nor queued or running under Slurm.
fn unfinished(m: &Manifest, dir: &ShardDir) -> Result<Vec<usize>> {
    let (states, _) = states(m, dir)?;
    let busy: Vec<String> = states
        .iter()
        .filter(|s| matches!(s.state, State::Running | State::Pending))
        .map(|s| s.shard.to_string())
        .collect();
    if !busy.is_empty() {
        eprintln!("shards {} are still queued or running; leaving them be", busy.join(", "));
    }
    Ok(states.iter().filter(|s| matches!(s.state, State::Failed | State::Missing)).map(|s| s.shard.index).collect())
}

fn run(m: &mut Manifest, dir: &ShardDir, tasks: &[usize], dry_run: bool) -> Result<()> {
    match m.executor {
        Executor::Local if dry_run => {
            for &i in tasks {
                println!("{}", local_command_line(m, i)?);
            }
            println!("{}", shlex::try_join(["oxnas", "merge", &dir.dir.display().to_string()])?);
            Ok(())
        }
        Executor::Local => {
            m.write(dir)?;
            run_local(m, dir, tasks)
        }
        Executor::Slurm => submit(m, dir, tasks, dry_run),
    }
}

fn finish(dir: &ShardDir, count: usize) -> Result<()> {
    let merged = merge_into_file(dir, false)?;
    println!("all {count} shards are finished; merged {} rows into {}", merged.rows, dir.merged().display());
    Ok(())
}

fn local_command_line(m: &Manifest, shard: usize) -> Result<String> {
    let mut words = vec![m.oxnas.display().to_string()];
    words.extend(m.argv.iter().cloned());
    words.extend(["--shard".to_string(), format!("{shard}/{}", m.shards)]);
    Ok(shlex::try_join(words.iter().map(String::as_str))?)
}

/// Runs shards as child processes of this one, `jobs` at a time, then merges.
fn run_local(m: &Manifest, dir: &ShardDir, tasks: &[usize]) -> Result<()> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let jobs = m.jobs.unwrap_or(cores).min(tasks.len()).max(1);
    // Shards share the cores: each gets its part, unless OMP_NUM_THREADS or run.threads says otherwise.
    let threads = (cores / jobs).max(1).to_string();
    let logs = dir.logs();
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    eprintln!("running {} shards, {jobs} at a time; logs in {}", tasks.len(), logs.display());
    let mut queue = tasks.iter().copied();
    let mut running: Vec<(usize, Child, Instant)> = vec![];
    let mut failed: Vec<(usize, String)> = vec![];
    let mut forwarded = false;
    loop {
        while running.len() < jobs && signals::requested().is_none() {
            let Some(i) = queue.next() else { break };
            running.push((i, spawn_shard(m, dir, i, &threads)?, Instant::now()));
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if let (Some(sig), false) = (signals::requested(), forwarded) {
            forwarded = true;
            // Ctrl-C reaches the children from the terminal already; another signal would make it
            // their second, which ends them at once instead of at a checkpoint.
            if !signals::is_interrupt(sig) {
                for (_, child, _) in &running {
                    // SAFETY: kill(2) on the id of a child this process started and has not reaped.
                    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
                }
            }
        }
        let mut still = vec![];
        for (i, mut child, started) in running {
            match child.try_wait()? {
                None => still.push((i, child, started)),
                Some(status) if status.success() => {
                    eprintln!("shard {i}/{} finished in {:.1} s", m.shards, started.elapsed().as_secs_f64())
                }
                Some(status) => {
                    eprintln!("shard {i}/{} failed ({status}); log: {}", m.shards, shard_log(dir, i).display());
                    failed.push((i, status.to_string()));
                }
            }
        }
        running = still;
    }
    if let Some(sig) = signals::requested() {
        bail!(
            "stopped by {}; finished shards and the progress of the others are saved: run the same command, or `oxnas jobs resubmit {}`, to continue",
            signals::name(sig),
            dir.dir.display()
        );
    }
    if !failed.is_empty() {
        let (first, _) = failed[0];
        bail!(
            "{} of {} shards failed ({}); the last lines of shard {first}'s log:\n{}\nFix the cause, then run the same command (finished shards are kept) or `oxnas jobs resubmit {}`",
            failed.len(),
            tasks.len(),
            failed.iter().map(|(i, s)| format!("{i}: {s}")).collect::<Vec<_>>().join(", "),
            tail(&shard_log(dir, first), 12),
            dir.dir.display()
        );
    }
    finish(dir, m.shards)
}

fn shard_log(dir: &ShardDir, shard: usize) -> PathBuf {
    dir.logs().join(format!("shard-{shard}-local.log"))
}

fn spawn_shard(m: &Manifest, dir: &ShardDir, shard: usize, threads: &str) -> Result<Child> {
    let path = shard_log(dir, shard);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut cmd = Command::new(&m.oxnas);
    cmd.args(&m.argv)
        .args(["--shard", &format!("{shard}/{}", m.shards)])
        .current_dir(&m.workdir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    if std::env::var_os("OMP_NUM_THREADS").is_none() {
        cmd.env("OMP_NUM_THREADS", threads);
    }
    cmd.spawn().with_context(|| format!("starting {}", m.oxnas.display()))
}

fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn submit(m: &mut Manifest, dir: &ShardDir, tasks: &[usize], dry_run: bool) -> Result<()> {
    let logs = dir.logs();
    let job = ScriptJob {
        name: &m.command,
        oxnas: &m.oxnas,
        argv: &m.argv,
        count: m.shards,
        tasks,
        throttle: m.jobs,
        workdir: &m.workdir,
        shards_dir: &dir.dir,
        logs: &logs,
    };
    let scripts = slurm::scripts(&job, &m.slurm)?;
    let (array_path, merge_path) = (dir.dir.join("array.sbatch"), dir.dir.join("merge.sbatch"));
    if dry_run {
        println!("# {}\n{}", array_path.display(), scripts.array);
        println!("# {}\n{}", merge_path.display(), scripts.merge);
        println!(
            "# submitted as: sbatch {0}; sbatch --dependency=afterok:<array job id> --kill-on-invalid-dep=yes {1}",
            array_path.display(),
            merge_path.display()
        );
        return Ok(());
    }
    slurm::available().map_err(|why| {
        anyhow::anyhow!("cannot submit to Slurm: {why}. Use --dry-run to see the scripts, or --executor local")
    })?;
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    for (path, text) in [(&array_path, &scripts.array), (&merge_path, &scripts.merge)] {
        write_atomic(path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    }
    let array_job = slurm::submit(&array_path, &[])?;
    let merge =
        slurm::submit(&merge_path, &[format!("--dependency=afterok:{array_job}"), "--kill-on-invalid-dep=yes".into()]);
    m.submissions.push(Submission {
        array_job: array_job.clone(),
        tasks: tasks.to_vec(),
        merge_job: merge.as_ref().ok().cloned(),
        at: crate::runs::timestamp(),
    });
    m.write(dir)?;
    let merge_job = merge.with_context(|| {
        format!(
            "array job {array_job} is submitted, but its merge job is not; run `oxnas merge {}` once it finished",
            dir.dir.display()
        )
    })?;
    println!(
        "submitted array job {array_job} (shards {} of {}) and merge job {merge_job} (after all of them succeed)",
        slurm::task_ranges(tasks),
        m.shards
    );
    println!("watch:  squeue -j {array_job},{merge_job}    or    oxnas jobs status {}", dir.dir.display());
    println!("logs:   {}/", logs.display());
    println!("result: {} (written by the merge job)", dir.merged().display());
    Ok(())
}

/// Where a shard stands, from its files and, for Slurm jobs, Slurm's word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Done,
    Running,
    Pending,
    Failed,
    Missing,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShardStatus {
    pub shard: Shard,
    pub state: State,
    pub detail: String,
}

/// Each shard's state; the second value says why Slurm could not be asked, if it could not.
fn states(m: &Manifest, dir: &ShardDir) -> Result<(Vec<ShardStatus>, Option<String>)> {
    let latest: BTreeMap<usize, String> =
        m.submissions.iter().flat_map(|s| s.tasks.iter().map(move |t| (*t, s.array_job.clone()))).collect();
    let (slurm, unreachable) = if m.executor == Executor::Slurm && !m.submissions.is_empty() {
        let jobs: Vec<String> = m.submissions.iter().map(|s| s.array_job.clone()).collect();
        match slurm::task_states(&jobs) {
            Some(s) => (s, None),
            None => (BTreeMap::new(), Some("squeue did not answer; states come from the shard files alone".into())),
        }
    } else {
        (BTreeMap::new(), None)
    };
    let mut out = vec![];
    for shard in Shard::all(m.shards) {
        let files = ShardFiles::inspect(dir, shard)?;
        let task = latest.get(&shard.index).map(|job| (job.clone(), slurm.get(&(job.clone(), Some(shard.index)))));
        out.push(judge(shard, files, task));
    }
    Ok((out, unreachable))
}

fn judge(shard: Shard, files: ShardFiles, task: Option<(String, Option<&String>)>) -> ShardStatus {
    let status = |state, detail: String| ShardStatus { shard, state, detail };
    if files.is_done() {
        return status(State::Done, files.to_string());
    }
    match task {
        Some((job, Some(s))) => {
            let name = format!("Slurm task {job}_{}", shard.index);
            match s.as_str() {
                "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" => {
                    status(State::Pending, format!("{name} {s}; {files}"))
                }
                "RUNNING" | "CONFIGURING" | "COMPLETING" | "SUSPENDED" | "STOPPED" | "RESIZING" | "SIGNALING" => {
                    status(State::Running, format!("{name} {s}; {files}"))
                }
                _ => status(State::Failed, format!("{name} ended {s}; {files}")),
            }
        }
        _ => match files {
            ShardFiles::Missing => status(State::Missing, "not started".into()),
            partial => status(State::Failed, format!("stopped at {partial}, not running")),
        },
    }
}

#[derive(Subcommand)]
pub enum JobsCommand {
    /// Which shards of a job are done, running, failed or missing (Slurm's word where it has one).
    Status(StatusArgs),
    /// Run again only the shards that failed or never ran (same executor and options), then merge.
    Resubmit(ResubmitArgs),
}

#[derive(Args)]
pub struct StatusArgs {
    /// The job's shards directory (<out>.shards) or its output file <out>.
    dir: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ResubmitArgs {
    /// The job's shards directory (<out>.shards) or its output file <out>.
    dir: PathBuf,
    /// Print what would run instead of running it.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args)]
pub struct MergeArgs {
    /// The shards directory (<out>.shards) or the merged file <out>.
    path: PathBuf,
    /// Replace <out> even when it exists with other content.
    #[arg(long)]
    force: bool,
}

fn find(path: &Path) -> Result<ShardDir> {
    ShardDir::find(path).with_context(|| {
        format!(
            "{} is neither a shards directory (<out>.shards) nor an output whose <out>.shards exists; give the --out of a sharded run",
            path.display()
        )
    })
}

pub fn run_command(c: JobsCommand) -> Result<()> {
    match c {
        JobsCommand::Status(a) => status(a),
        JobsCommand::Resubmit(a) => resubmit(a),
    }
}

pub fn merge(a: MergeArgs) -> Result<()> {
    let dir = find(&a.path)?;
    let merged = merge_into_file(&dir, a.force)?;
    println!("merged {} rows from {} shards into {}", merged.rows, merged.shards, dir.merged().display());
    Ok(())
}

fn status(a: StatusArgs) -> Result<()> {
    let dir = find(&a.dir)?;
    let m = match Manifest::read(&dir) {
        Ok(m) => m,
        // Shards run by hand (--shard I/N) have no manifest; their files still tell.
        Err(_) => Manifest {
            command: "shards".into(),
            shards: dir.count()?.with_context(|| format!("{} holds no shard files yet", dir.dir.display()))?,
            argv: vec![],
            oxnas: PathBuf::new(),
            workdir: PathBuf::new(),
            executor: Executor::Local,
            jobs: None,
            slurm: SlurmOptions::default(),
            submissions: vec![],
        },
    };
    let (states, unreachable) = states(&m, &dir)?;
    let merged = dir.merged();
    if a.json {
        let v = serde_json::json!({ "dir": dir.dir, "shards": states, "merged": merged.exists(), "slurm_unreachable": unreachable });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let last = m.submissions.last().map(|s| {
        format!("; last submission: array job {}, merge job {}", s.array_job, s.merge_job.as_deref().unwrap_or("none"))
    });
    println!("{}: {} shards, {:?} executor{}", dir.dir.display(), m.shards, m.executor, last.unwrap_or_default());
    if let Some(why) = &unreachable {
        println!("note: {why}");
    }
    for s in &states {
        println!("  shard {:<7} {:<8} {}", s.shard.to_string(), format!("{:?}", s.state).to_lowercase(), s.detail);
    }
    let count = |st: State| states.iter().filter(|s| s.state == st).count();
    let rerun = count(State::Failed) + count(State::Missing);
    if merged.exists() && count(State::Done) == m.shards {
        println!("merged: {}", merged.display());
    } else if rerun > 0 {
        println!("next: oxnas jobs resubmit {}   (runs the {rerun} failed or missing shards)", dir.dir.display());
    } else if count(State::Done) == m.shards {
        println!("next: oxnas merge {}", dir.dir.display());
    }
    Ok(())
}

fn resubmit(a: ResubmitArgs) -> Result<()> {
    let dir = find(&a.dir)?;
    let mut m = Manifest::read(&dir)?;
    let (states, unreachable) = states(&m, &dir)?;
    let todo: Vec<usize> =
        states.iter().filter(|s| matches!(s.state, State::Failed | State::Missing)).map(|s| s.shard.index).collect();
    // Without Slurm's word, a shard that looks stopped may still be running: never start a second copy.
    if let (Some(why), false) = (unreachable, todo.is_empty()) {
        bail!("cannot tell which shards Slurm still runs ({why}); run this where squeue works (a submit host)");
    }
    if todo.is_empty() {
        let busy = states.iter().filter(|s| matches!(s.state, State::Running | State::Pending)).count();
        if busy > 0 {
            println!("nothing to resubmit: {busy} shards are queued or running, the rest are done");
            return Ok(());
        }
        return finish(&dir, m.shards);
    }
    eprintln!("resubmitting shards {} of {}", slurm::task_ranges(&todo), m.shards);
    run(&mut m, &dir, &todo, a.dry_run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_states_win_over_files_except_when_done() {
        let s = Shard { index: 1, count: 4 };
        let partial = ShardFiles::Partial { have: 1, want: 2 };
        let running = "RUNNING".to_string();
        let cancelled = "CANCELLED".to_string();
        assert_eq!(judge(s, partial.clone(), Some(("7".into(), Some(&running)))).state, State::Running);
        let failed = judge(s, partial.clone(), Some(("7".into(), Some(&cancelled))));
        assert_eq!(failed.state, State::Failed);
        assert!(failed.detail.contains("7_1 ended CANCELLED; 1 of 2 rows"), "{}", failed.detail);
        assert_eq!(judge(s, ShardFiles::Done { rows: 2 }, Some(("7".into(), Some(&running)))).state, State::Done);
        assert_eq!(judge(s, ShardFiles::Missing, None).state, State::Missing);
        assert_eq!(judge(s, partial, Some(("7".into(), None))).state, State::Failed);
    }
}
