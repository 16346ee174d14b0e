//! `oxnas arch`: what an architecture costs (parameters, FLOPs) and the genotypes oxnas knows by name.

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use oxnas_core::bench::Nb201Table;
use oxnas_core::darts::{self, Genotype};
use oxnas_core::nb201::Nb201Arch;
use oxnas_engine::nn::profile::{darts_profile, nb201_profile};
use oxnas_engine::nn::{DartsNetConfig, Nb201NetConfig};

#[derive(Subcommand)]
pub enum ArchCommand {
    /// Parameter count and FLOPs (multiply-accumulates of convs and linears, one image) of an evaluation network.
    Info(InfoArgs),
    /// The genotypes known by name, in the reference string form: DARTS CNN cells, or with
    /// `--space darts-rnn` the recurrent cells.
    Genotypes {
        #[arg(long, value_enum, default_value = "darts")]
        space: GenotypeSpace,
        #[arg(long)]
        json: bool,
    },
}

/// The spaces whose genotypes have names.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GenotypeSpace {
    Darts,
    DartsRnn,
}

/// The spaces `arch info` knows.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InfoSpace {
    Nb201,
    Darts,
    Nb101,
    Proxyless,
    /// The DARTS recurrent cell of a Penn Treebank language model.
    DartsRnn,
}

#[derive(Args)]
pub struct InfoArgs {
    #[arg(long, value_enum, default_value = "nb201")]
    space: InfoSpace,
    /// NAS-Bench-201 arch string or benchmark index (nb201); a NAS-Bench-101 cell, as the official
    /// API's JSON {"matrix": ..., "ops": ...} or the short form of docs/nb101.md (nb101); a ProxylessNAS
    /// subnet, 21 comma-separated block choices such as k3e6 or zero (proxyless).
    arch: Option<String>,
    /// DARTS genotype: a name (DARTS_V2, FashionMNIST_1, ...), a genotype string, or a file (space
    /// darts); a recurrent genotype by name (DARTS_V1, DARTS_V2, ENAS), string or file (darts-rnn).
    #[arg(long)]
    genotype: Option<String>,
    /// darts-rnn: count the search model's weights (mixed ops on every edge) instead of a genotype's.
    #[arg(long, conflicts_with = "genotype")]
    supernet: bool,
    /// darts-rnn: vocabulary size (Penn Treebank: 10,000).
    #[arg(long, default_value_t = 10_000)]
    vocab: usize,
    /// darts-rnn: hidden size (default 850 for a genotype, 300 with --supernet, as the reference).
    #[arg(long)]
    hidden: Option<usize>,
    /// darts-rnn: embedding size (default: the hidden size, which the tied decoder requires).
    #[arg(long)]
    embedding: Option<usize>,
    /// Initial channels (default: 16 for nb201, 36 for darts).
    #[arg(long)]
    channels: Option<i64>,
    /// DARTS: number of cells.
    #[arg(long, default_value_t = 20)]
    layers: i64,
    /// NB201: cells per stage.
    #[arg(long, default_value_t = 5)]
    cells: i64,
    #[arg(long, default_value_t = 10)]
    classes: i64,
    #[arg(long, default_value_t = 3)]
    in_channels: i64,
    /// DARTS: include the auxiliary head (its parameters count in `params`, not in `params_no_aux`).
    #[arg(long)]
    auxiliary: bool,
    /// Input height and width for the FLOP count.
    #[arg(long, default_value_t = 32)]
    image_size: i64,
    #[arg(long)]
    json: bool,
}

fn positive(name: &str, v: i64, min: i64) -> Result<()> {
    if v < min {
        bail!("--{name} = {v} must be at least {min}");
    }
    Ok(())
}

pub fn run(cmd: ArchCommand) -> Result<()> {
    match cmd {
        ArchCommand::Genotypes { space: GenotypeSpace::Darts, json } => print_named(
            Genotype::names().iter().map(|n| (n.to_string(), Genotype::named(n).expect("listed names resolve"))),
            json,
        ),
        ArchCommand::Genotypes { space: GenotypeSpace::DartsRnn, json } => {
            use oxnas_core::darts_rnn::{RnnGenotype, NAMES};
            print_named(
                NAMES.iter().map(|n| (n.to_string(), RnnGenotype::named(n).expect("listed names resolve"))),
                json,
            )
        }
        ArchCommand::Info(a) => info(a),
    }
}

/// `NAME = genotype` lines, or one JSON object by name.
fn print_named<G: std::fmt::Display + serde::Serialize>(
    all: impl Iterator<Item = (String, G)>,
    json: bool,
) -> Result<()> {
    let all: Vec<(String, G)> = all.collect();
    if json {
        let map: serde_json::Map<String, serde_json::Value> =
            all.iter().map(|(n, g)| Ok((n.clone(), serde_json::to_value(g)?))).collect::<Result<_>>()?;
        println!("{}", serde_json::to_string_pretty(&map)?);
    } else {
        for (n, g) in all {
            println!("{n} = {g}");
        }
    }
    Ok(())
}

/// Prints a space's analytic counts (the engine-free spaces: NAS-Bench-101 and ProxylessNAS).
fn print_counts(a: &InfoArgs, arch: &str, params: u64, flops: u64, extra: serde_json::Value) -> Result<()> {
    if a.json {
        let mut v = serde_json::json!({ "arch": arch, "params": params, "flops": flops, "classes": a.classes,
            "input_size": [a.in_channels, a.image_size, a.image_size] });
        if let (Some(obj), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            obj.extend(extra.clone());
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{arch}");
        for (k, val) in extra.as_object().into_iter().flatten() {
            println!("{k:<11} {val}");
        }
        println!("params      {params:>12}  ({:.3} M)", params as f64 / 1e6);
        let (c, s) = (a.in_channels, a.image_size);
        println!(
            "FLOPs       {flops:>12}  ({:.2} M multiply-accumulates for one {c}x{s}x{s} image)",
            flops as f64 / 1e6
        );
    }
    Ok(())
}

fn nb101_info(a: &InfoArgs) -> Result<()> {
    use oxnas_core::nb101::{network_cost, Cell, NetConfig};
    let Some(text) = a.arch.as_deref() else {
        bail!("space nb101 needs a cell, e.g. oxnas arch info --space nb101 '{{\"matrix\": [[0,1],[0,0]], \"ops\": [\"input\",\"output\"]}}' (or the short form of docs/nb101.md)");
    };
    let cell = Cell::parse(text)?;
    let cfg = NetConfig {
        classes: a.classes as u64,
        in_channels: a.in_channels as u64,
        image_size: a.image_size as u64,
        ..NetConfig::default()
    };
    let cost = network_cost(&cell, &cfg);
    let extra = serde_json::json!({ "hash": cell.module_hash(), "cell": cell.short(),
        "matrix": cell.matrix(), "ops": cell.op_names() });
    print_counts(a, &cell.short(), cost.params, cost.flops, extra)
}

fn proxyless_info(a: &InfoArgs) -> Result<()> {
    use oxnas_core::proxyless::ProxylessConfig;
    let Some(text) = a.arch.as_deref() else {
        bail!("space proxyless needs a subnet of 21 comma-separated choices (k3e3, k3e6, k5e3, k5e6, k7e3, k7e6, zero), e.g. oxnas arch info --space proxyless k3e3,k3e3,...");
    };
    let backbone =
        ProxylessConfig::for_input(a.classes as usize, a.in_channels as usize, a.image_size as usize).backbone()?;
    let subnet = backbone.parse_subnet(text)?;
    let cost = backbone.cost(&subnet)?;
    print_counts(a, &subnet.to_string(), cost.params, cost.flops, serde_json::json!({}))
}

fn darts_rnn_info(a: &InfoArgs) -> Result<()> {
    use oxnas_core::darts_rnn::{self, cost::LmSize, NAMES};
    let default_hidden = if a.supernet { LmSize::PTB_SEARCH.hidden } else { LmSize::PTB_EVAL.hidden };
    let hidden = a.hidden.unwrap_or(default_hidden);
    let size = LmSize::new(a.vocab, a.embedding.unwrap_or(hidden), hidden)?;
    let (model, params) = if a.supernet {
        ("search model (all 8 nodes, mixed ops on every predecessor edge)".to_string(), size.search_params())
    } else {
        let Some(spec) = a.genotype.as_deref() else {
            bail!("space darts-rnn needs --genotype NAME|STRING|FILE (names: {}) or --supernet", NAMES.join(", "));
        };
        let g = darts_rnn::resolve(spec)?;
        (g.to_string(), size.eval_params(&g))
    };
    if a.json {
        let v = serde_json::json!({ "arch": model, "params": params, "vocab": size.vocab,
            "embedding": size.embedding, "hidden": size.hidden, "supernet": a.supernet });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{model}");
        println!(
            "vocab {}, embedding {}, hidden {} (decoder tied to the embedding, counted once)",
            size.vocab, size.embedding, size.hidden
        );
        println!("params      {params:>12}  ({:.3} M)", params as f64 / 1e6);
    }
    Ok(())
}

fn info(a: InfoArgs) -> Result<()> {
    positive("classes", a.classes, 1)?;
    positive("in-channels", a.in_channels, 1)?;
    positive("image-size", a.image_size, 4)?;
    let (profile, arch_text, extra) = match a.space {
        InfoSpace::Nb101 => return nb101_info(&a),
        InfoSpace::Proxyless => return proxyless_info(&a),
        InfoSpace::DartsRnn => return darts_rnn_info(&a),
        InfoSpace::Nb201 => {
            let Some(s) = a.arch.as_deref() else {
                bail!("space nb201 needs an arch string or index, e.g. oxnas arch info --space nb201 '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|'");
            };
            let table = Nb201Table::embedded();
            let index = table.resolve(s)?;
            let arch: Nb201Arch = Nb201Arch::from_index(index)?;
            let channels = a.channels.unwrap_or(16);
            positive("channels", channels, 1)?;
            positive("cells", a.cells, 1)?;
            let cfg = Nb201NetConfig {
                channels,
                cells_per_stage: a.cells,
                num_classes: a.classes,
                in_channels: a.in_channels,
            };
            let p = nb201_profile(&cfg, &arch, a.image_size);
            let extra = serde_json::json!({ "index": index, "channels": channels, "cells_per_stage": a.cells });
            (p, arch.to_string(), extra)
        }
        InfoSpace::Darts => {
            let Some(spec) = a.genotype.as_deref().or(a.arch.as_deref()) else {
                bail!("space darts needs --genotype NAME|STRING|FILE (names: {})", Genotype::names().join(", "));
            };
            let g = darts::resolve(spec)?;
            let channels = a.channels.unwrap_or(36);
            positive("channels", channels, 2)?;
            positive("layers", a.layers, 3)?;
            let cfg = DartsNetConfig {
                channels,
                layers: a.layers,
                num_classes: a.classes,
                in_channels: a.in_channels,
                auxiliary: a.auxiliary,
            };
            let p = darts_profile(&cfg, &g, a.image_size)?;
            let extra = serde_json::json!({ "channels": channels, "layers": a.layers, "auxiliary": a.auxiliary });
            (p, g.to_string(), extra)
        }
    };
    if a.json {
        let mut v = serde_json::to_value(&profile)?;
        v["arch"] = arch_text.into();
        v["classes"] = a.classes.into();
        if let (Some(obj), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            obj.extend(extra.clone());
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{arch_text}");
        println!("params      {:>12}  ({:.3} M)", profile.params, profile.params as f64 / 1e6);
        if profile.params != profile.params_no_aux {
            println!(
                "params (no auxiliary head) {:>12}  ({:.3} M)",
                profile.params_no_aux,
                profile.params_no_aux as f64 / 1e6
            );
        }
        let [c, h, w] = profile.input_size;
        println!(
            "FLOPs       {:>12}  ({:.2} M multiply-accumulates for one {c}x{h}x{w} image)",
            profile.flops,
            profile.flops as f64 / 1e6
        );
    }
    Ok(())
}
