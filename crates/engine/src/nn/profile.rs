//! Parameter and FLOP counts of the evaluation networks, as `oxnas arch info` reports them.

use super::darts_net::{DartsNetConfig, DropPath};
use super::layers::count_macs;
use super::nb201_net::Nb201NetConfig;
use crate::EngineError;
use oxnas_core::darts::Genotype;
use oxnas_core::nb201::Nb201Arch;
use serde::Serialize;
use tch::{nn::VarStore, Device, Kind, Tensor};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NetProfile {
    /// Trainable parameters, auxiliary head included when the network has one.
    pub params: i64,
    /// Trainable parameters without the auxiliary head: what the DARTS papers report as model size.
    pub params_no_aux: i64,
    /// Multiply-accumulates of all conv and linear layers for ONE image of `input_size`, evaluation mode
    /// (so no auxiliary head); the "FLOPs" of the DARTS and NAS-Bench-201 papers.
    pub flops: i64,
    pub input_size: [i64; 3],
}

fn trainable(vs: &VarStore, exclude_prefix: Option<&str>) -> i64 {
    vs.variables()
        .iter()
        .filter(|(name, t)| t.requires_grad() && exclude_prefix.is_none_or(|p| !name.starts_with(p)))
        .map(|(_, t)| t.numel() as i64)
        .sum()
}

fn probe(in_channels: i64, size: i64) -> Tensor {
    Tensor::zeros([1, in_channels, size, size], (Kind::Float, Device::Cpu))
}

pub fn nb201_profile(cfg: &Nb201NetConfig, arch: &Nb201Arch, image_size: i64) -> NetProfile {
    let vs = VarStore::new(Device::Cpu);
    let net = cfg.init(&vs.root(), arch);
    let (_, macs) = tch::no_grad(|| count_macs(|| net.forward_t(&probe(cfg.in_channels, image_size), false)));
    let params = trainable(&vs, None);
    NetProfile {
        params,
        params_no_aux: params,
        flops: macs as i64,
        input_size: [cfg.in_channels, image_size, image_size],
    }
}

pub fn darts_profile(cfg: &DartsNetConfig, genotype: &Genotype, image_size: i64) -> Result<NetProfile, EngineError> {
    let vs = VarStore::new(Device::Cpu);
    let net = cfg.init(&vs.root(), genotype)?;
    let (_, macs) =
        tch::no_grad(|| count_macs(|| net.forward_t(&probe(cfg.in_channels, image_size), false, &DropPath::off())));
    Ok(NetProfile {
        params: trainable(&vs, None),
        params_no_aux: trainable(&vs, Some("auxiliary_head.")),
        flops: macs as i64,
        input_size: [cfg.in_channels, image_size, image_size],
    })
}
