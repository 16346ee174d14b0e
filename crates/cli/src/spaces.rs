//! The search spaces a command line can name (`--space`), and what each needs from the commands that
//! work on any space: its ranking view, and how `oxnas train` is told to build one of its architectures.

use anyhow::Result;
use oxnas_core::config::Space;
use oxnas_core::oneshot::{DartsRnnRankSpace, Nb101RankSpace, Nb201RankSpace, ProxylessRankSpace, RankSpace};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SpaceArg {
    Nb201,
    Nb101,
    Darts,
    Proxyless,
    /// The DARTS recurrent cell (language models).
    DartsRnn,
}

impl SpaceArg {
    pub fn name(self) -> &'static str {
        match self {
            SpaceArg::Nb201 => "nb201",
            SpaceArg::Nb101 => "nb101",
            SpaceArg::Darts => "darts",
            SpaceArg::Proxyless => "proxyless",
            SpaceArg::DartsRnn => "darts-rnn",
        }
    }

    /// The ranking view with the benchmark's own settings for its `params` feature (`channels` is
    /// NAS-Bench-201's cell width; the other spaces count their published evaluation network).
    pub fn rank_space(self, channels: usize) -> Result<Box<dyn RankSpace>> {
        Ok(match self {
            SpaceArg::Nb201 => Box::new(Nb201RankSpace { channels, ..Default::default() }),
            SpaceArg::Nb101 => Box::new(Nb101RankSpace::default()),
            SpaceArg::Darts => Box::new(oxnas_core::oneshot::DartsRankSpace::default()),
            SpaceArg::Proxyless => Box::new(ProxylessRankSpace::default()),
            SpaceArg::DartsRnn => Box::new(DartsRnnRankSpace::default()),
        })
    }

    /// The `--set` overrides that make a train config (an LM config for darts-rnn) build `arch` (a
    /// canonical string) of this space.
    pub fn model_sets(self, arch: &str) -> Vec<String> {
        let value = toml::Value::String(arch.to_string());
        if self == SpaceArg::DartsRnn {
            return vec![format!("model.genotype={value}")];
        }
        let space: Space = self.name().parse().expect("every --space names a model space");
        vec![format!("model.space=\"{}\"", space.name()), format!("model.{}={value}", space.arch_key())]
    }

    /// The train preset `oxnas groundtruth` uses when none is given: a short CPU recipe of this space
    /// on the embedded Fashion-MNIST subset (darts-rnn: a language-model preset on the embedded corpus).
    pub fn groundtruth_preset(self) -> &'static str {
        match self {
            SpaceArg::Nb201 => "cpu-smoke",
            SpaceArg::Nb101 => "cpu-nb101",
            SpaceArg::Darts => "cpu-darts",
            SpaceArg::Proxyless => "cpu-proxyless",
            SpaceArg::DartsRnn => "cpu-darts-rnn-gt",
        }
    }
}
