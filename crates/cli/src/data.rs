//! `oxnas data info`: where a dataset comes from and what it holds.

use anyhow::Result;
use clap::Subcommand;
use oxnas_core::data::{self, DataSource, DatasetKind, Split};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum DataCommand {
    /// Resolve a dataset's files and print counts, shapes and class balance.
    Info {
        /// fashion-mnist, mnist, emnist-balanced, cifar10 or cifar100.
        #[arg(long, default_value = "fashion-mnist")]
        dataset: String,
        /// Directory holding the dataset's files.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Use the Fashion-MNIST subset embedded in oxnas.
        #[arg(long)]
        embedded: bool,
    },
}

pub fn run(cmd: DataCommand) -> Result<()> {
    let DataCommand::Info { dataset, data_dir, embedded } = cmd;
    let kind: DatasetKind = dataset.parse()?;
    let source = if embedded { DataSource::Embedded } else { data::resolve_source(kind, data_dir.as_deref())? };
    println!("{kind} from {source}");
    for split in [Split::Train, Split::Test] {
        let d = data::load(kind, &source, split)?;
        println!(
            "  {split:?}: {} images of {}x{}x{}, {} classes, per class {:?}",
            d.len(),
            d.channels,
            d.height,
            d.width,
            d.num_classes,
            d.class_counts()
        );
    }
    Ok(())
}
