//! An architecture of any search space, as a user writes it down: an NAS-Bench-201 arch string, a
//! DARTS genotype, a NAS-Bench-101 cell, a ProxylessNAS subnet or a DARTS recurrent cell. Searches produce one, `oxnas train`
//! trains one.

use crate::config::{ConfigError, ModelConfig, Space};
use crate::darts::{self, Genotype};
use crate::darts_rnn::RnnGenotype;
use crate::nb101::Cell;
use crate::nb201::Nb201Arch;
use crate::proxyless::{ProxylessConfig, Subnet};

#[derive(Debug, Clone, PartialEq)]
pub enum Architecture {
    Nb201(Nb201Arch),
    Darts(Genotype),
    /// A pruned NAS-Bench-101 cell; the evaluation network repeats it in every position.
    Nb101(Cell),
    /// A subnet of the ProxylessNAS mobile backbone at the config's width multiplier.
    Proxyless(Subnet),
    /// A DARTS recurrent cell (trained as a language model by `oxnas lm train`).
    DartsRnn(RnnGenotype),
}

impl Architecture {
    pub fn from_config(m: &ModelConfig) -> Result<Self, ConfigError> {
        let missing = |key: &str| ConfigError::Invalid(format!("model.{key} is not set"));
        match m.space {
            Space::Nb201 => {
                let s = m.arch.as_deref().ok_or_else(|| missing("arch"))?;
                Ok(Architecture::Nb201(s.parse().map_err(|e| ConfigError::Invalid(format!("model.arch: {e}")))?))
            }
            Space::Darts => {
                let s = m.genotype.as_deref().ok_or_else(|| missing("genotype"))?;
                Ok(Architecture::Darts(
                    darts::resolve(s).map_err(|e| ConfigError::Invalid(format!("model.genotype: {e}")))?,
                ))
            }
            Space::Nb101 => {
                let s = m.arch.as_deref().ok_or_else(|| missing("arch"))?;
                Ok(Architecture::Nb101(Cell::parse(s).map_err(|e| ConfigError::Invalid(format!("model.arch: {e}")))?))
            }
            Space::Proxyless => {
                let s = m.arch.as_deref().ok_or_else(|| missing("arch"))?;
                let backbone = proxyless_config(m)
                    .backbone()
                    .map_err(|e| ConfigError::Invalid(format!("model.width_mult: {e}")))?;
                // Where `zero` may go depends on the widths, so the subnet is checked at this width.
                Ok(Architecture::Proxyless(
                    backbone.parse_subnet(s).map_err(|e| ConfigError::Invalid(format!("model.arch: {e}")))?,
                ))
            }
            Space::DartsRnn => Err(ConfigError::Invalid(LM_TRAINING.into())),
        }
    }

    pub fn space(&self) -> Space {
        match self {
            Architecture::Nb201(_) => Space::Nb201,
            Architecture::Darts(_) => Space::Darts,
            Architecture::Nb101(_) => Space::Nb101,
            Architecture::Proxyless(_) => Space::Proxyless,
            Architecture::DartsRnn(_) => Space::DartsRnn,
        }
    }

    /// The reference string form: an NB201 arch string, a DARTS `Genotype(...)` repr, an NB101 cell's
    /// short form (after pruning, in the vertex order it was given), or a ProxylessNAS subnet's
    /// canonical choices (`k3e3,k5e6,zero,...`).
    pub fn reference_string(&self) -> String {
        match self {
            Architecture::Nb201(a) => a.to_string(),
            Architecture::Darts(g) => g.to_string(),
            Architecture::Nb101(c) => c.short(),
            Architecture::Proxyless(s) => s.to_string(),
            Architecture::DartsRnn(g) => g.to_string(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Architecture::Nb201(a) => serde_json::json!({
                "space": "nb201",
                "arch_str": a.to_string(),
                "index": a.to_index(),
                "ops": a.ops.iter().map(|o| o.name()).collect::<Vec<_>>(),
            }),
            Architecture::Darts(g) => {
                let mut v = serde_json::to_value(g).expect("genotype serialises");
                v["space"] = "darts".into();
                v
            }
            Architecture::Nb101(c) => {
                let mut v: serde_json::Value = serde_json::from_str(&c.to_json()).expect("a cell's JSON parses");
                v["space"] = "nb101".into();
                v["arch_str"] = c.short().into();
                v["hash"] = c.module_hash().into();
                v
            }
            Architecture::Proxyless(s) => serde_json::json!({
                "space": "proxyless",
                "subnet": s.to_string(),
                "choices": s.choices().iter().map(|c| c.name()).collect::<Vec<_>>(),
                "reference_names": s.choices().iter().map(|c| c.reference_name()).collect::<Vec<_>>(),
            }),
            Architecture::DartsRnn(g) => {
                let mut v = serde_json::to_value(g).expect("genotype serialises");
                v["space"] = "darts-rnn".into();
                v
            }
        }
    }
}

/// Why `oxnas train` refuses a recurrent cell.
pub const LM_TRAINING: &str = "model.space = darts-rnn: a recurrent cell is trained as a language model, \
    with `oxnas lm train --genotype NAME|STRING|FILE` (presets cpu-darts-rnn, darts-rnn-ptb)";

/// The ProxylessNAS backbone a model config builds: the reference stages at `model.width_mult`.
/// Classes, input channels and resolution come from the data; they change no block's shape, so the
/// reference's are kept here.
pub fn proxyless_config(m: &ModelConfig) -> ProxylessConfig {
    ProxylessConfig { width_mult: m.width_mult.unwrap_or(1.0), ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigFile, TrainConfig};

    #[test]
    fn nb101_cells_come_from_model_arch_in_either_form() {
        let c = TrainConfig::resolve("cpu-nb101", None, &[]).unwrap();
        let a = Architecture::from_config(&c.model).unwrap();
        assert_eq!(a.space(), Space::Nb101);
        assert_eq!(a.reference_string(), "1333m:111010/00001/0001/100/01/1");
        let j = a.to_json();
        assert_eq!(
            (j["space"].as_str(), j["hash"].as_str()),
            (Some("nb101"), Some("28cfc7874f6d200472e1a9dcd8650aa0"))
        );
        assert_eq!(j["ops"][1].as_str(), Some("conv1x1-bn-relu"));
        // The JSON form of a cell that needs pruning gives the pruned cell.
        let mut m = c.model.clone();
        m.arch = Some(
            r#"{"matrix": [[0,1,1,0],[0,0,0,1],[0,0,0,0],[0,0,0,0]], "ops": ["input","maxpool3x3","conv3x3-bn-relu","output"]}"#
                .into(),
        );
        assert_eq!(Architecture::from_config(&m).unwrap().reference_string(), "m:10/1");
        m.arch = None;
        assert!(Architecture::from_config(&m).unwrap_err().to_string().contains("model.arch is not set"));
    }
}
