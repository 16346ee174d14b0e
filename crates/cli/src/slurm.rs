//! Slurm: the sbatch options oxnas passes through (named as sbatch names them), the job-array and merge
//! scripts it writes, submission with `sbatch`, and task states from `squeue`/`sacct`.
//!
//! Each array task `exec`s oxnas with `--shard $SLURM_ARRAY_TASK_ID/N`, so the batch shell *is* oxnas:
//! `--signal=B:SIG@T` and scancel's SIGTERM reach it directly, and it stops at its next checkpoint.

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

/// sbatch's `--time`: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or UNLIMITED.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SlurmTime(String);

impl FromStr for SlurmTime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let bad = || {
            format!("'{s}' is not a Slurm time limit: use minutes (90), HH:MM:SS (1:30:00), D-HH (2-0) or D-HH:MM:SS (1-12:00:00)")
        };
        if t.eq_ignore_ascii_case("unlimited") || t.eq_ignore_ascii_case("infinite") {
            return Ok(SlurmTime(t.to_uppercase()));
        }
        let (days, clock) = match t.split_once('-') {
            Some((d, rest)) => (Some(d), rest),
            None => (None, t),
        };
        let numbers = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        let parts: Vec<&str> = clock.split(':').collect();
        let ok = days.is_none_or(numbers) && parts.len() <= 3 && parts.iter().all(|p| numbers(p));
        if !ok {
            return Err(bad());
        }
        Ok(SlurmTime(t.to_string()))
    }
}

/// sbatch's `--mem`: a number with an optional unit K, M (the default), G or T.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MemSize(String);

impl FromStr for MemSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let digits = t.trim_end_matches(|c: char| "KMGTkmgt".contains(c));
        let unit = &t[digits.len()..];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || unit.len() > 1 {
            return Err(format!("'{s}' is not a Slurm memory size: use a number with K, M, G or T, e.g. 16G"));
        }
        Ok(MemSize(t.to_uppercase()))
    }
}

/// The signal Slurm sends a task before its time limit, and how long before: `USR1@120`. oxnas
/// catches SIGUSR1 and SIGTERM (docs/cluster.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SignalSpec {
    pub signal: CaughtSignal,
    pub seconds: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaughtSignal {
    Usr1,
    Term,
}

impl FromStr for SignalSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not a signal for --signal: use USR1@SECONDS or TERM@SECONDS (e.g. USR1@120)");
        let t = s.trim().trim_start_matches("B:");
        let (sig, secs) = t.split_once('@').unwrap_or((t, "60"));
        let signal = match sig.trim_start_matches("SIG").to_uppercase().as_str() {
            "USR1" | "10" => CaughtSignal::Usr1,
            "TERM" | "15" => CaughtSignal::Term,
            _ => return Err(bad()),
        };
        let seconds = secs.parse().map_err(|_| bad())?;
        Ok(SignalSpec { signal, seconds })
    }
}

impl fmt::Display for SignalSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sig = match self.signal {
            CaughtSignal::Usr1 => "USR1",
            CaughtSignal::Term => "TERM",
        };
        write!(f, "{sig}@{}", self.seconds)
    }
}

macro_rules! string_forms {
    ($($t:ty),*) => {$(
        impl TryFrom<String> for $t {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                s.parse()
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.to_string()
            }
        }
    )*};
}
string_forms!(SlurmTime, MemSize, SignalSpec);

impl fmt::Display for SlurmTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Display for MemSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a cluster needs from each task: sbatch options, and the environment before oxnas starts.
#[derive(Args, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SlurmOptions {
    /// sbatch --partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// sbatch --account.
    #[arg(long)]
    pub account: Option<String>,
    /// sbatch --time: each task's time limit (90, 1:30:00, 2-0, ...).
    #[arg(long)]
    pub time: Option<SlurmTime>,
    /// sbatch --mem: memory per task (e.g. 16G).
    #[arg(long)]
    pub mem: Option<MemSize>,
    /// sbatch --cpus-per-task.
    #[arg(long)]
    pub cpus_per_task: Option<u32>,
    /// sbatch --gres, e.g. gpu:1.
    #[arg(long)]
    pub gres: Option<String>,
    /// sbatch --qos.
    #[arg(long)]
    pub qos: Option<String>,
    /// Any other sbatch option, one per flag: --sbatch-line=--constraint=a100. Repeatable.
    #[arg(long = "sbatch-line", value_name = "OPTION", allow_hyphen_values = true)]
    pub sbatch_lines: Vec<String>,
    /// Signal a task this long before its time limit, e.g. USR1@300: it saves its progress and stops,
    /// and `oxnas jobs resubmit` continues it. Set it above one epoch's (or chunk's) time.
    #[arg(long, value_name = "SIG@SECONDS")]
    pub signal: Option<SignalSpec>,
    /// sbatch --requeue: Slurm puts a preempted task, or one on a failed node, back in the queue; it
    /// continues from its checkpoint.
    #[arg(long)]
    pub requeue: bool,
    /// `module load NAME` in each task before oxnas runs. Repeatable.
    #[arg(long = "module", value_name = "NAME")]
    pub modules: Vec<String>,
    /// libtorch directory on the compute nodes, exported as LIBTORCH and put on LD_LIBRARY_PATH
    /// (default: $LIBTORCH of this shell, if set).
    #[arg(long, value_name = "DIR")]
    pub libtorch: Option<PathBuf>,
    /// The tasks' working directory, where relative paths of the command point (default: this one).
    #[arg(long, value_name = "DIR")]
    pub chdir: Option<PathBuf>,
    /// A shell line run in each task before oxnas, e.g. --setup 'source ~/venv/bin/activate'. Repeatable.
    #[arg(long = "setup", value_name = "LINE", allow_hyphen_values = true)]
    pub setup: Vec<String>,
}

impl SlurmOptions {
    /// The flags given, for refusing them where they would be ignored.
    pub fn given(&self) -> Vec<&'static str> {
        let flags = [
            ("--partition", self.partition.is_some()),
            ("--account", self.account.is_some()),
            ("--time", self.time.is_some()),
            ("--mem", self.mem.is_some()),
            ("--cpus-per-task", self.cpus_per_task.is_some()),
            ("--gres", self.gres.is_some()),
            ("--qos", self.qos.is_some()),
            ("--sbatch-line", !self.sbatch_lines.is_empty()),
            ("--signal", self.signal.is_some()),
            ("--requeue", self.requeue),
            ("--module", !self.modules.is_empty()),
            ("--libtorch", self.libtorch.is_some()),
            ("--chdir", self.chdir.is_some()),
            ("--setup", !self.setup.is_empty()),
        ];
        flags.into_iter().filter(|(_, on)| *on).map(|(f, _)| f).collect()
    }

    /// `#SBATCH` lines shared by the array and merge jobs (resources only where `array`).
    fn directives(&self, array: bool) -> Result<Vec<String>> {
        let mut out = vec![];
        let mut put = |name: &str, value: Option<String>| -> Result<()> {
            if let Some(v) = value {
                if v.is_empty() || v.contains(char::is_whitespace) {
                    bail!("--{name} '{v}' is empty or holds white space, which an #SBATCH line cannot carry");
                }
                out.push(format!("#SBATCH --{name}={v}"));
            }
            Ok(())
        };
        put("partition", self.partition.clone())?;
        put("account", self.account.clone())?;
        put("qos", self.qos.clone())?;
        if array {
            put("time", self.time.as_ref().map(|t| t.to_string()))?;
            put("mem", self.mem.as_ref().map(|m| m.to_string()))?;
            put("cpus-per-task", self.cpus_per_task.map(|c| c.to_string()))?;
            put("gres", self.gres.clone())?;
            // B: signals the batch shell, which exec has made oxnas itself.
            put("signal", self.signal.map(|s| format!("B:{s}")))?;
            if self.requeue {
                out.push("#SBATCH --requeue".into());
            }
            for line in &self.sbatch_lines {
                let opt = line.trim().trim_start_matches("#SBATCH").trim();
                if !opt.starts_with('-') || opt.contains('\n') {
                    bail!("--sbatch-line '{line}' is not one sbatch option; write it as sbatch takes it, e.g. --sbatch-line=--constraint=a100");
                }
                out.push(format!("#SBATCH {opt}"));
            }
        }
        Ok(out)
    }

    /// Shell lines that prepare a task's environment: modules, libtorch, working directory, --setup.
    fn environment(&self, workdir: &Path) -> Result<Vec<String>> {
        let mut out = vec![format!("cd {}", quote(&workdir.display().to_string())?)];
        for m in &self.modules {
            out.push(format!("module load {}", quote(m)?));
        }
        let libtorch = self.libtorch.clone().or_else(|| std::env::var_os("LIBTORCH").map(PathBuf::from));
        if let Some(dir) = libtorch {
            let dir = std::path::absolute(&dir).unwrap_or(dir);
            out.push(format!("export LIBTORCH={}", quote(&dir.display().to_string())?));
            out.push("export LD_LIBRARY_PATH=\"$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\"".into());
        }
        out.extend(self.setup.iter().cloned());
        Ok(out)
    }
}

fn quote(s: &str) -> Result<String> {
    Ok(shlex::try_quote(s).with_context(|| format!("'{s}' cannot be quoted for a shell script"))?.into_owned())
}

/// One submission: an array over some shards, and its merge job.
#[derive(Debug)]
pub struct Scripts {
    pub array: String,
    pub merge: String,
}

/// What the scripts run and where.
pub struct ScriptJob<'a> {
    pub name: &'a str,
    pub oxnas: &'a Path,
    pub argv: &'a [String],
    pub count: usize,
    /// Shards (array task ids) this submission runs.
    pub tasks: &'a [usize],
    /// At most this many tasks at once (`%J`).
    pub throttle: Option<usize>,
    pub workdir: &'a Path,
    pub shards_dir: &'a Path,
    pub logs: &'a Path,
}

pub fn scripts(job: &ScriptJob, opts: &SlurmOptions) -> Result<Scripts> {
    let shell = if opts.modules.is_empty() { "#!/bin/bash" } else { "#!/bin/bash -l" };
    let mut array_spec = task_ranges(job.tasks);
    if let Some(j) = job.throttle {
        array_spec.push_str(&format!("%{j}"));
    }
    let logs = job.logs.display();
    let mut command: Vec<String> = vec![quote(&job.oxnas.display().to_string())?];
    for a in job.argv {
        command.push(quote(a)?);
    }
    let environment = opts.environment(job.workdir)?.join("\n");
    let mut array = vec![
        shell.to_string(),
        format!("#SBATCH --job-name=oxnas-{}", job.name),
        format!("#SBATCH --array={array_spec}"),
        format!("#SBATCH --output={logs}/shard-%a-job%A.out"),
        format!("#SBATCH --chdir={}", job.workdir.display()),
    ];
    array.extend(opts.directives(true)?);
    array.push(format!(
        "# One task per shard, written to {}/shard-I-of-{}.csv; oxnas merge joins them.",
        job.shards_dir.display(),
        job.count
    ));
    array.push("set -euo pipefail".into());
    array.push(environment.clone());
    array.push(format!("exec {} --shard \"$SLURM_ARRAY_TASK_ID/{}\"", command.join(" "), job.count));
    let mut merge = vec![
        shell.to_string(),
        format!("#SBATCH --job-name=oxnas-{}-merge", job.name),
        format!("#SBATCH --output={logs}/merge-job%j.out"),
        format!("#SBATCH --chdir={}", job.workdir.display()),
    ];
    merge.extend(opts.directives(false)?);
    merge.push("# Runs after every array task succeeded (--dependency=afterok).".into());
    merge.push("set -euo pipefail".into());
    merge.push(environment);
    merge.push(format!(
        "exec {} merge {}",
        quote(&job.oxnas.display().to_string())?,
        quote(&job.shards_dir.display().to_string())?
    ));
    Ok(Scripts { array: array.join("\n") + "\n", merge: merge.join("\n") + "\n" })
}

/// `0-3`, `1,3`, `0-2,5`: task ids as sbatch's --array takes them.
pub fn task_ranges(tasks: &[usize]) -> String {
    let mut parts = vec![];
    let mut i = 0;
    while i < tasks.len() {
        let mut j = i;
        while j + 1 < tasks.len() && tasks[j + 1] == tasks[j] + 1 {
            j += 1;
        }
        parts.push(if i == j { tasks[i].to_string() } else { format!("{}-{}", tasks[i], tasks[j]) });
        i = j + 1;
    }
    parts.join(",")
}

/// Submits a script with sbatch; returns the job id.
pub fn submit(script: &Path, extra: &[String]) -> Result<String> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .args(extra)
        .arg(script)
        .output()
        .context("running sbatch (is Slurm installed here, and is this a submit host?)")?;
    if !out.status.success() {
        bail!("sbatch {} failed: {}", script.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // --parsable prints `jobid` or `jobid;cluster`.
    let id = text.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        bail!("sbatch {} printed '{}' instead of a job id", script.display(), text.trim());
    }
    Ok(id)
}

/// A job or array task, as Slurm names it: (job id, array task id).
pub type TaskKey = (String, Option<usize>);

/// States of the given jobs' tasks that Slurm still knows: squeue lists pending, running and
/// recently ended jobs (for MinJobAge); sacct, where accounting is on, the older ones. Tasks Slurm has
/// forgotten are absent; None when neither command answers (no Slurm here).
pub fn task_states(jobs: &[String]) -> Option<BTreeMap<TaskKey, String>> {
    let squeue = Command::new("squeue").args(["-h", "-r", "--states=all", "-o", "%F|%K|%i|%T"]).output().ok()?;
    if !squeue.status.success() {
        return None;
    }
    let mut states = parse_squeue(&String::from_utf8_lossy(&squeue.stdout), jobs);
    let asked: Vec<&String> = jobs.iter().filter(|j| !states.keys().any(|(id, _)| id == *j)).collect();
    if !asked.is_empty() {
        let list = asked.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
        if let Ok(out) = Command::new("sacct").args(["-n", "-P", "-X", "-o", "JobID,State", "-j", &list]).output() {
            if out.status.success() {
                states.extend(parse_sacct(&String::from_utf8_lossy(&out.stdout)));
            }
        }
    }
    Some(states)
}

/// squeue `%F|%K|%i|%T` lines: array job id, task id (N/A for a plain job), job id, state.
fn parse_squeue(text: &str, jobs: &[String]) -> BTreeMap<TaskKey, String> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split('|').collect();
            let [array, task, id, state] = f.as_slice() else { return None };
            let key = match task.parse::<usize>() {
                Ok(t) => (array.to_string(), Some(t)),
                Err(_) => (id.to_string(), None),
            };
            jobs.contains(&key.0).then(|| (key, state.to_string()))
        })
        .collect()
}

/// sacct `JobID|State` lines: `123_4|COMPLETED`, `124|CANCELLED by 0`.
fn parse_sacct(text: &str) -> BTreeMap<TaskKey, String> {
    text.lines()
        .filter_map(|l| {
            let (id, state) = l.trim().split_once('|')?;
            let state = state.split_whitespace().next()?.to_string();
            match id.split_once('_') {
                Some((job, task)) => Some(((job.to_string(), Some(task.parse().ok()?)), state)),
                None => Some(((id.to_string(), None), state)),
            }
        })
        .collect()
}

/// Is Slurm usable from here (a controller answers)? The reason when not.
pub fn available() -> Result<(), String> {
    match Command::new("sinfo").args(["-h", "-o", "%P"]).output() {
        Err(e) => Err(format!("sinfo cannot run ({e}): Slurm is not installed here")),
        Ok(o) if !o.status.success() => Err(format!("sinfo failed: {}", String::from_utf8_lossy(&o.stderr).trim())),
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_pass_through_values() {
        for ok in ["90", "1:30:00", "2-0", "1-12:00:00", "UNLIMITED", "30:00"] {
            assert_eq!(ok.parse::<SlurmTime>().unwrap().to_string(), ok);
        }
        for bad in ["1h", "1:2:3:4", "-1", "a-1"] {
            assert!(bad.parse::<SlurmTime>().unwrap_err().contains("HH:MM:SS"), "{bad}");
        }
        assert_eq!("16g".parse::<MemSize>().unwrap().to_string(), "16G");
        assert_eq!("4000".parse::<MemSize>().unwrap().to_string(), "4000");
        assert!("16GB".parse::<MemSize>().unwrap_err().contains("16G"));
        assert_eq!("USR1@300".parse::<SignalSpec>().unwrap().to_string(), "USR1@300");
        assert_eq!("B:SIGTERM".parse::<SignalSpec>().unwrap().to_string(), "TERM@60");
        assert!("KILL@10".parse::<SignalSpec>().unwrap_err().contains("USR1@"));
        // The manifest stores them as the text sbatch takes.
        let o = SlurmOptions { time: Some("1:00:00".parse().unwrap()), ..Default::default() };
        let back: SlurmOptions = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
        assert_eq!(back, o);
    }

    #[test]
    fn array_specs() {
        assert_eq!(task_ranges(&[0, 1, 2, 3]), "0-3");
        assert_eq!(task_ranges(&[1, 3]), "1,3");
        assert_eq!(task_ranges(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
    }

    #[test]
    fn scripts_exec_oxnas_per_shard_and_merge() {
        let opts = SlurmOptions {
            partition: Some("gpu".into()),
            gres: Some("gpu:1".into()),
            signal: Some("USR1@120".parse().unwrap()),
            modules: vec!["cuda/12.4".into()],
            libtorch: Some("/opt/torch".into()),
            sbatch_lines: vec!["--constraint=a100".into(), "#SBATCH --exclusive".into()],
            ..Default::default()
        };
        let argv: Vec<String> =
            ["groundtruth", "--archs", "sample:8", "--set", "run.device=\"cuda\""].map(String::from).to_vec();
        let job = ScriptJob {
            name: "groundtruth",
            oxnas: Path::new("/opt/oxnas"),
            argv: &argv,
            count: 8,
            tasks: &[0, 1, 2, 3, 4, 5, 6, 7],
            throttle: Some(2),
            workdir: Path::new("/scratch/me"),
            shards_dir: Path::new("/scratch/me/gt.csv.shards"),
            logs: Path::new("/scratch/me/gt.csv.shards/logs"),
        };
        let s = scripts(&job, &opts).unwrap();
        for line in [
            "#!/bin/bash -l",
            "#SBATCH --array=0-7%2",
            "#SBATCH --partition=gpu",
            "#SBATCH --gres=gpu:1",
            "#SBATCH --signal=B:USR1@120",
            "#SBATCH --constraint=a100",
            "#SBATCH --exclusive",
            "module load cuda/12.4",
            "export LIBTORCH=/opt/torch",
            "exec /opt/oxnas groundtruth --archs sample:8 --set 'run.device=\"cuda\"' --shard \"$SLURM_ARRAY_TASK_ID/8\"",
        ] {
            assert!(s.array.lines().any(|l| l == line), "missing {line} in\n{}", s.array);
        }
        assert!(s.merge.contains("exec /opt/oxnas merge /scratch/me/gt.csv.shards"), "{}", s.merge);
        assert!(s.merge.contains("--partition=gpu") && !s.merge.contains("gres"), "{}", s.merge);
        let bad = SlurmOptions { partition: Some("a b".into()), ..Default::default() };
        assert!(scripts(&job, &bad).is_err());
        let bad = SlurmOptions { sbatch_lines: vec!["constraint=a100".into()], ..Default::default() };
        assert!(scripts(&job, &bad).unwrap_err().to_string().contains("--sbatch-line=--constraint"));
    }

    #[test]
    fn states_from_squeue_and_sacct() {
        let jobs = vec!["12".to_string(), "13".to_string()];
        let q = parse_squeue("12|0|12_0|COMPLETED\n12|1|14|RUNNING\n13|N/A|13|PENDING\n99|0|99_0|RUNNING\n", &jobs);
        assert_eq!(q.get(&("12".into(), Some(1))).map(String::as_str), Some("RUNNING"));
        assert_eq!(q.get(&("13".into(), None)).map(String::as_str), Some("PENDING"));
        assert_eq!(q.len(), 3);
        let a = parse_sacct("12_3|CANCELLED by 0\n13|COMPLETED\n");
        assert_eq!(a.get(&("12".into(), Some(3))).map(String::as_str), Some("CANCELLED"));
        assert_eq!(a.get(&("13".into(), None)).map(String::as_str), Some("COMPLETED"));
    }
}
