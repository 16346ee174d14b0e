//! `oxnas bench`: the NAS-Bench-201 ground truth, embedded (or from a CSV with --csv).

use anyhow::Result;
use clap::{Args, Subcommand};
use oxnas_core::bench::{Column, Nb201Table};
use std::path::PathBuf;

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
    /// Every column of one cell, its rank and percentile on the 200-epoch columns, and its isomorphism class.
    Query {
        /// An arch string (|op~0|+|op~0|op~1|+|op~0|op~1|op~2|) or a benchmark index (0..15624).
        arch: String,
        #[command(flatten)]
        table: TableArgs,
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
        BenchCommand::Query { arch, table: t } => print(&table(&t)?.query(&arch)?, t.json),
        BenchCommand::Top { column, k, table: t } => {
            let column: Column = column.parse()?;
            print(&table(&t)?.top_report(column, k), t.json)
        }
        BenchCommand::Stats { table: t } => print(&table(&t)?.stats(), t.json),
    }
    Ok(())
}
