//! The flags every embarrassingly parallel command shares (`groundtruth`, `supernet score`, `search
//! --seeds`): run one shard (`--shard I/N`), or all N with an executor (`--shards N --executor
//! local|slurm`). The shard arithmetic and merging live in `oxnas_core::shard`; launching in `jobs`.

use crate::slurm::SlurmOptions;
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use oxnas_core::shard::Shard;
use serde::{Deserialize, Serialize};

#[derive(Args, Clone, Debug)]
#[command(next_help_heading = "Sharding and clusters (docs/cluster.md)")]
pub struct ShardArgs {
    /// Run only shard I of N (0-based, as Slurm numbers array tasks), writing <out>.shards/shard-I-of-N.csv;
    /// `oxnas merge <out>` joins the shards into <out>.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Split the work into N shards and run them all with --executor, then merge them into <out>.
    #[arg(long, value_name = "N", conflicts_with = "shard")]
    pub shards: Option<usize>,
    #[command(flatten)]
    pub exec: ExecutorArgs,
}

#[derive(Args, Clone, Debug)]
pub struct ExecutorArgs {
    /// Where --shards run: local processes, or a Slurm job array with a merge job.
    #[arg(long, value_enum, default_value_t = Executor::Local)]
    pub executor: Executor,
    /// Shards running at once (local: default one per core; slurm: the array's %J throttle).
    #[arg(long, value_name = "J")]
    pub jobs: Option<usize>,
    /// Print what would run (the commands, or the sbatch scripts) instead of running it.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub slurm: SlurmOptions,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Executor {
    Local,
    Slurm,
}

/// What a shardable command is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Everything in this process, as before sharding existed.
    Whole,
    /// One shard, into its shard file.
    One(Shard),
    /// Launch all N shards with the executor.
    All(usize),
}

impl ShardArgs {
    /// The mode, refusing executor flags that would be ignored.
    pub fn mode(&self) -> Result<Mode> {
        let e = &self.exec;
        let given = e.slurm.given();
        if self.shards.is_none() {
            let mut ignored: Vec<&str> = given.clone();
            if e.executor == Executor::Slurm {
                ignored.push("--executor slurm");
            }
            if e.jobs.is_some() {
                ignored.push("--jobs");
            }
            if e.dry_run {
                ignored.push("--dry-run");
            }
            if !ignored.is_empty() {
                bail!("{} only apply when launching shards; add --shards N (e.g. --shards 4)", ignored.join(", "));
            }
        }
        if e.executor == Executor::Local && !given.is_empty() {
            bail!("{} are Slurm options; add --executor slurm, or drop them to run the shards here", given.join(", "));
        }
        if e.jobs == Some(0) {
            bail!("--jobs 0 would run nothing; give at least 1");
        }
        Ok(match (self.shard, self.shards) {
            (Some(s), _) => Mode::One(s),
            (None, Some(0)) => bail!("--shards 0 splits the work into nothing; give at least 1"),
            (None, Some(n)) => Mode::All(n),
            (None, None) => Mode::Whole,
        })
    }
}

/// The command line a shard runs: this process's arguments without the launching flags (--shards,
/// --executor, --jobs, --dry-run and the Slurm options), which are found from the clap definition so
/// that a new option cannot be forgotten here.
pub fn shard_argv(args: &[String]) -> Vec<String> {
    let cmd = ShardArgs::augment_args(clap::Command::new("shard"));
    let launching: Vec<(String, bool)> = cmd
        .get_arguments()
        .filter(|a| a.get_id() != "shard")
        .filter_map(|a| Some((format!("--{}", a.get_long()?), a.get_action().takes_values())))
        .collect();
    let mut out = vec![];
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline_value) = match arg.split_once('=') {
            Some((n, _)) => (n, true),
            None => (arg.as_str(), false),
        };
        match launching.iter().find(|(l, _)| l == name) {
            Some((_, takes_value)) => {
                if *takes_value && !inline_value {
                    it.next();
                }
            }
            None => out.push(arg.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_commands_drop_the_launching_flags_only() {
        let args: Vec<String> = [
            "groundtruth",
            "--archs",
            "sample:8",
            "--shards",
            "4",
            "--executor=slurm",
            "--partition",
            "gpu",
            "--sbatch-line=--exclusive",
            "--requeue",
            "--set",
            "optim.epochs=1",
            "--jobs",
            "2",
            "--dry-run",
            "--out",
            "gt.csv",
            "--module",
            "cuda",
            "--setup",
            "source x",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            shard_argv(&args),
            ["groundtruth", "--archs", "sample:8", "--set", "optim.epochs=1", "--out", "gt.csv"]
        );
    }
}
