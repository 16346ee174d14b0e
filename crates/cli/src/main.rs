//! `oxnas`: neural architecture search on libtorch. Each subcommand lives in its own module.

mod arch;
mod args;
mod bench;
mod data;
mod groundtruth;
mod hessian;
mod jobs;
mod lm;
mod plots;
mod progress;
mod prune;
mod report;
mod runs;
mod search;
mod shard;
mod signals;
mod slurm;
mod spaces;
mod supernet;
mod sweep;
mod train;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "oxnas",
    version,
    about = "Neural architecture search on libtorch: DARTS, SGAS, SGAS-es, NAS-Bench-201, supernet ranking"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Query the embedded NAS-Bench-201 table (15,625 cells), or import and query NAS-Bench-101.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Architectures: parameter counts and FLOPs, named genotypes.
    #[command(subcommand)]
    Arch(arch::ArchCommand),
    /// Datasets: which files oxnas finds and what they hold.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Search an architecture: DARTS, SGAS, DARTS-ES or SGAS-es on the NB201 or DARTS space.
    Search(search::SearchArgs),
    /// λmax (sharpness) of a search checkpoint on the α batches the search drew for that epoch.
    Hessian(hessian::HessianArgs),
    /// Retrain an architecture from scratch and evaluate it (or continue a run with --resume).
    Train(train::TrainArgs),
    /// Language models: retrain a DARTS recurrent cell on the embedded corpus or Penn Treebank.
    #[command(subcommand)]
    Lm(lm::LmCommand),
    /// Evaluate a run's checkpoint on the test split: top-1/top-5, per-class accuracy, confusion matrix.
    Eval(train::EvalArgs),
    /// Write a run's weights with the reference PyTorch implementation's state_dict names.
    Export(train::ExportArgs),
    /// Create a run directory from a PyTorch state_dict (safetensors) of the reference implementation.
    Import(train::ImportArgs),
    /// Weight-sharing supernets for ranking analysis: train (single path) and score cells.
    #[command(subcommand)]
    Supernet(supernet::SupernetCommand),
    /// How well supernet scores rank cells against a ground truth: τ, ρ, precision@k, biases, plots.
    Rank(supernet::RankArgs),
    /// Supernet-guided pruning of a space over rounds (or, with --random, the random baseline).
    Prune(prune::PruneArgs),
    /// Reports across runs: `report ranking` puts ranking runs of any spaces in one table with plots.
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// Train cells standalone and append their accuracy to a CSV (a ground truth of your own).
    Groundtruth(groundtruth::GroundTruthArgs),
    /// Join the shard files of a sharded run (--shard I/N) into the file a single run writes.
    Merge(jobs::MergeArgs),
    /// Sharded jobs (--shards N): which shards are done, running, failed or missing; rerun the rest.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// List the shipped presets.
    Presets,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("OXNAS_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // Only the loops that poll for a stop at their checkpoints catch signals; any other command ends
    // at once on Ctrl-C or SIGTERM, as before.
    let stoppable = matches!(
        cli.command,
        Command::Search(_)
            | Command::Train(_)
            | Command::Lm(_)
            | Command::Supernet(_)
            | Command::Prune(_)
            | Command::Groundtruth(_)
            | Command::Jobs(_)
    );
    if let Err(e) = stoppable.then(signals::install).transpose() {
        eprintln!("warning: cannot catch SIGTERM/SIGUSR1/Ctrl-C ({e}); a signal will end oxnas without a clean stop");
    }
    let result = match cli.command {
        Command::Bench(c) => bench::run(c),
        Command::Arch(c) => arch::run(c),
        Command::Data(c) => data::run(c),
        Command::Search(a) => search::search(a),
        Command::Hessian(a) => hessian::hessian(a),
        Command::Train(a) => train::train(a),
        Command::Lm(c) => lm::run(c),
        Command::Eval(a) => train::eval(a),
        Command::Export(a) => train::export(a),
        Command::Import(a) => train::import(a),
        Command::Supernet(supernet::SupernetCommand::Train(a)) => supernet::train(a),
        Command::Supernet(supernet::SupernetCommand::Score(a)) => supernet::score(*a),
        Command::Supernet(supernet::SupernetCommand::Fewshot(a)) => supernet::fewshot(a),
        Command::Rank(a) => supernet::rank(a),
        Command::Prune(a) => prune::prune(a),
        Command::Report(c) => report::run(c),
        Command::Groundtruth(a) => groundtruth::groundtruth(a),
        Command::Merge(a) => jobs::merge(a),
        Command::Jobs(c) => jobs::run_command(c),
        Command::Presets => {
            use oxnas_core::config::{
                FEWSHOT_PRESETS, LM_PRESETS, PRUNE_PRESETS, SEARCH_PRESETS, SUPERNET_PRESETS, TRAIN_PRESETS,
            };
            let lists = [
                ("search", "search", SEARCH_PRESETS),
                ("train", "train", TRAIN_PRESETS),
                ("supernet train", "supernet", SUPERNET_PRESETS),
                ("prune", "prune", PRUNE_PRESETS),
                ("supernet fewshot", "fewshot", FEWSHOT_PRESETS),
                ("lm train", "lm", LM_PRESETS),
            ];
            for (what, dir, list) in lists {
                println!("{what} presets (oxnas {what} --preset NAME; files in configs/{dir}/):");
                for (name, text) in list {
                    let first = text.lines().next().unwrap_or("").trim_start_matches('#').trim();
                    println!("  {name:<22} {first}");
                }
            }
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let top = e.to_string();
            eprintln!("error: {top}");
            // thiserror messages often embed their source already; print only causes that add something.
            for cause in e.chain().skip(1).map(|c| c.to_string()).filter(|c| !top.contains(c.as_str())) {
                eprintln!("  caused by: {cause}");
            }
            // Stopped on request at a checkpoint: say how to go on, and exit as a signalled process would.
            if let Some(sig) = signals::requested() {
                eprintln!(
                    "stopped by {}; progress is saved: run the same command again (or `oxnas jobs resubmit` for a sharded job) to continue",
                    signals::name(sig)
                );
                return ExitCode::from((128 + sig) as u8);
            }
            ExitCode::FAILURE
        }
    }
}
