//! `oxnas bench`: the NAS-Bench-201 ground truth, embedded (or from a CSV with --csv), and
//! NAS-Bench-101 tables imported from the benchmark's TFRecord file.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use oxnas_core::bench::{Column, Nb201Table};
use oxnas_core::nb101::table::{self as nb101_table, CellRecord, Nb101Table};
use oxnas_core::nb101::Cell;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct TableArgs {
    /// Read the table from this nb201_accuracies.csv instead of the embedded copy.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Every column of one cell, its rank and percentile on the 200-epoch columns, and its isomorphism
    /// class (NAS-Bench-201); or a cell's record in an imported NAS-Bench-101 table (--space nb101).
    Query {
        /// NB201: an arch string (|op~0|+|op~0|op~1|+|op~0|op~1|op~2|) or a benchmark index (0..15624).
        /// NB101: a module hash (32 hex digits), a cell as the API's JSON, or oxnas's short form.
        arch: String,
        #[arg(long, value_enum, default_value = "nb201")]
        space: BenchSpace,
        /// The NAS-Bench-101 table made by `oxnas bench import nb101` (--space nb101).
        #[arg(long = "nb101-table")]
        nb101_table: Option<PathBuf>,
        #[command(flatten)]
        table: TableArgs,
    },
    /// Converts a benchmark's published results into a table oxnas loads in milliseconds.
    Import {
        #[arg(value_enum)]
        benchmark: ImportKind,
        /// NAS-Bench-101: nasbench_only108.tfrecord or nasbench_full.tfrecord.
        file: PathBuf,
        /// Where to write the table (default: FILE with the extension .oxnb101).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The best k cells on a column.
    Top {
        #[arg(long, default_value = "cifar10_test_200ep")]
        column: String,
        #[arg(short, long, default_value_t = 10)]
        k: usize,
        #[command(flatten)]
        table: TableArgs,
    },
    /// Min, max, mean, median, std and argmax of every column.
    Stats {
        #[command(flatten)]
        table: TableArgs,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BenchSpace {
    Nb201,
    Nb101,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ImportKind {
    Nb101,
}

fn table(args: &TableArgs) -> Result<std::borrow::Cow<'static, Nb201Table>> {
    Ok(match &args.csv {
        Some(path) => std::borrow::Cow::Owned(Nb201Table::from_csv_path(path)?),
        None => std::borrow::Cow::Borrowed(Nb201Table::embedded()),
    })
}

fn print<T: serde::Serialize + std::fmt::Display>(value: &T, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(value).expect("report serialises"));
    } else {
        println!("{value}");
    }
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Query { arch, space: BenchSpace::Nb201, table: t, .. } => {
            print(&table(&t)?.query(&arch)?, t.json)
        }
        BenchCommand::Query { arch, space: BenchSpace::Nb101, nb101_table, table: t } => {
            query_nb101(&arch, nb101_table.as_deref(), t.json)?
        }
        BenchCommand::Import { benchmark: ImportKind::Nb101, file, out } => import_nb101(&file, out)?,
        BenchCommand::Top { column, k, table: t } => {
            let column: Column = column.parse()?;
            print(&table(&t)?.top_report(column, k), t.json)
        }
        BenchCommand::Stats { table: t } => print(&table(&t)?.stats(), t.json),
    }
    Ok(())
}

fn import_nb101(file: &Path, out: Option<PathBuf>) -> Result<()> {
    let out = out.unwrap_or_else(|| file.with_extension("oxnb101"));
    let start = std::time::Instant::now();
    let s = nb101_table::import(file, &out)?;
    println!(
        "imported {} records: {} cells, budgets {:?} epochs, up to {} repeats; {} bytes in {:.1} s -> {}",
        s.records,
        s.cells,
        s.budgets,
        s.repeats,
        s.bytes,
        start.elapsed().as_secs_f64(),
        out.display()
    );
    println!("next: oxnas bench query --space nb101 --nb101-table {} '<hash or cell>'", out.display());
    Ok(())
}

fn query_nb101(arch: &str, table: Option<&Path>, json: bool) -> Result<()> {
    let Some(path) = table else {
        bail!("--space nb101 needs --nb101-table TABLE, made once by `oxnas bench import nb101 nasbench_only108.tfrecord`")
    };
    let table = Nb101Table::open(path)?;
    let is_hash = arch.len() == 32 && arch.bytes().all(|b| b.is_ascii_hexdigit());
    let hash = if is_hash {
        arch.to_ascii_lowercase()
    } else {
        Cell::parse(arch)
            .with_context(|| format!("'{arch}' is neither a module hash nor a NAS-Bench-101 cell"))?
            .module_hash()
    };
    let Some(record) = table.get(&hash) else {
        bail!(
            "{hash} is not in {} ({} cells); a valid cell the benchmark did not train cannot be looked up",
            path.display(),
            table.len()
        )
    };
    let record = record?;
    if json {
        println!("{}", serde_json::to_string_pretty(&record_json(&record)).expect("JSON serialises"));
    } else {
        print_record(&record);
    }
    Ok(())
}

fn record_json(r: &CellRecord) -> serde_json::Value {
    let budgets: Vec<serde_json::Value> = r
        .budgets
        .iter()
        .map(|b| {
            serde_json::json!({
                "epochs": b.epochs,
                "mean_test_accuracy": b.mean(|x| x.test_acc),
                "mean_validation_accuracy": b.mean(|x| x.valid_acc),
                "mean_train_accuracy": b.mean(|x| x.train_acc),
                "mean_training_time": b.mean(|x| x.train_time),
                "runs": b.runs.iter().map(|x| serde_json::json!({
                    "train_time": x.train_time, "train_accuracy": x.train_acc,
                    "validation_accuracy": x.valid_acc, "test_accuracy": x.test_acc,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "hash": r.hash,
        "cell": serde_json::from_str::<serde_json::Value>(&r.cell.to_json()).expect("a cell's JSON parses"),
        "short": r.cell.short(),
        "trainable_parameters": r.params,
        "budgets": budgets,
    })
}

fn print_record(r: &CellRecord) {
    println!("hash {}  cell {}  trainable parameters {}", r.hash, r.cell.short(), r.params);
    for b in &r.budgets {
        println!(
            "{:>4} epochs, {} runs: test {:.4}  valid {:.4}  train {:.4}  time {:.1} s (means)",
            b.epochs,
            b.runs.len(),
            b.mean(|x| x.test_acc),
            b.mean(|x| x.valid_acc),
            b.mean(|x| x.train_acc),
            b.mean(|x| x.train_time)
        );
    }
}
