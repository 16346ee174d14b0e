//! `oxnas search --seeds 0..8`: one search per seed, each in `<out>/seed-S` (resumable like any
//! search), and one row per seed in `<out>/seeds.csv`: the genotype and, on NB201, its ground truth.
//! Seeds are independent, so `--shard I/N` searches a block of them and `--shards N` spreads them
//! over processes or a Slurm array (one seed per shard when N equals the number of seeds).

use crate::jobs;
use crate::runs::default_dir;
use crate::search::{run_and_report, SearchArgs};
use crate::shard::Mode;
use crate::signals;
use anyhow::{bail, Result};
use oxnas_core::bench::{Column, Nb201Table};
use oxnas_core::config::ConfigFile;
use oxnas_core::shard::{append_row, read_rows, SeedList, ShardDir, ShardMeta};
use oxnas_engine::rundir::RunFiles;
use oxnas_engine::search::{SearchOutcome, SearchStart};
use oxnas_engine::train::Architecture;
use std::collections::BTreeSet;
use std::path::Path;

pub const HEADER: &str =
    "seed,nb201_index,cifar10_test_200ep,cifar100_test_200ep,imagenet16_test_200ep,stop_epoch,genotype";

pub fn sweep(a: &SearchArgs, seeds: &SeedList) -> Result<()> {
    let mode = a.shard.mode()?;
    // Fail on a bad preset or override before searching (or submitting) anything.
    let base = crate::search::resolve(a, &[])?;
    let out = a.out.clone().unwrap_or_else(|| default_dir("sweep", &a.preset));
    let summary = out.join("seeds.csv");
    match mode {
        Mode::Whole => {
            let done = done_seeds(&summary)?;
            run_seeds(a, &seeds.0, &out, &summary, &done)?;
            print_summary(&summary)
        }
        Mode::One(shard) => {
            let dir = ShardDir::for_output(&summary);
            let mine = &seeds.0[shard.range(seeds.0.len())];
            let meta = ShardMeta {
                shard,
                header: HEADER.into(),
                keys: mine.to_vec(),
                settings: serde_json::json!({ "command": "search --seeds", "seeds": seeds.0, "config": base.to_toml() }),
            };
            let done = meta.begin(&dir)?;
            run_seeds(a, mine, &out, &dir.rows(shard), &done)
        }
        Mode::All(n) => {
            // The default directory has a timestamp: every shard must get the one chosen here.
            let extra = match &a.out {
                Some(_) => vec![],
                None => vec!["--out".to_string(), out.display().to_string()],
            };
            jobs::launch("search-seeds", &summary, n, extra, &a.shard.exec)
        }
    }
}

fn done_seeds(summary: &Path) -> Result<BTreeSet<u64>> {
    Ok(read_rows(summary, HEADER)?.into_iter().map(|(k, _)| k).collect())
}

/// Searches the seeds not in `done`, appending a row to `rows` after each.
fn run_seeds(a: &SearchArgs, seeds: &[u64], out: &Path, rows: &Path, done: &BTreeSet<u64>) -> Result<()> {
    for &seed in seeds.iter().filter(|s| !done.contains(s)) {
        if let Some(sig) = signals::requested() {
            bail!("stopped by {} before seed {seed}; finished seeds are in {}", signals::name(sig), rows.display());
        }
        let dir = out.join(format!("seed-{seed}"));
        let start = if RunFiles::search(&dir).last().exists() {
            SearchStart::Resume
        } else {
            SearchStart::Fresh(Box::new(crate::search::resolve(a, &[format!("run.seed={seed}")])?))
        };
        eprintln!("seed {seed}");
        let outcome = run_and_report(&dir, start, false)?;
        append_row(rows, HEADER, &row(seed, &outcome))?;
    }
    println!("seeds: {}", rows.display());
    Ok(())
}

fn row(seed: u64, outcome: &SearchOutcome) -> String {
    let genotype = csv_field(&outcome.architecture.reference_string());
    let stop = outcome.stop_epoch.map(|e| (e + 1).to_string()).unwrap_or_default();
    match &outcome.architecture {
        Architecture::Nb201(arch) => {
            let table = Nb201Table::embedded();
            let r = table.get(table.index_of(arch)).expect("every cell is in the table");
            let acc: Vec<String> = Column::TEST_200EP.iter().map(|&c| format!("{:.2}", r.value(c))).collect();
            format!("{seed},{},{},{stop},{genotype}", r.index(), acc.join(","))
        }
        // Spaces without an embedded benchmark leave the accuracy columns empty.
        _ => format!("{seed},,,,,{stop},{genotype}"),
    }
}

/// A CSV field, quoted when it holds a comma or a quote (DARTS genotypes do).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Mean and spread of the found cells' CIFAR-10 ground truth: what several seeds are run for.
fn print_summary(summary: &Path) -> Result<()> {
    let acc: Vec<f64> = read_rows(summary, HEADER)?
        .iter()
        .filter_map(|(_, line)| line.split(',').nth(2).and_then(|v| v.parse().ok()))
        .collect();
    if acc.len() > 1 {
        let n = acc.len() as f64;
        let mean = acc.iter().sum::<f64>() / n;
        let sd = (acc.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        println!("{} seeds: NAS-Bench-201 cifar10_test_200ep of the found cells {mean:.2} ± {sd:.2}%", acc.len());
    }
    println!("summary: {}", summary.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genotypes_with_commas_are_quoted() {
        assert_eq!(csv_field("|nor_conv_3x3~0|+|"), "|nor_conv_3x3~0|+|");
        assert_eq!(csv_field("Genotype(normal=[('a', 0)])"), "\"Genotype(normal=[('a', 0)])\"");
        assert_eq!(csv_field("say \"hi\", x"), "\"say \"\"hi\"\", x\"");
    }
}
