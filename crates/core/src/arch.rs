//! An architecture of any search space, as a user writes it down: an NAS-Bench-201 arch string, a
//! DARTS genotype, or a ProxylessNAS subnet. Searches produce one, `oxnas train` trains one.

use crate::config::{ConfigError, ModelConfig, Space};
use crate::darts::{self, Genotype};
use crate::nb201::Nb201Arch;
use crate::proxyless::{ProxylessConfig, Subnet};

#[derive(Debug, Clone, PartialEq)]
pub enum Architecture {
    Nb201(Nb201Arch),
    Darts(Genotype),
    /// A subnet of the ProxylessNAS mobile backbone at the config's width multiplier.
    Proxyless(Subnet),
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
        }
    }

    pub fn space(&self) -> Space {
        match self {
            Architecture::Nb201(_) => Space::Nb201,
            Architecture::Darts(_) => Space::Darts,
            Architecture::Proxyless(_) => Space::Proxyless,
        }
    }

    /// The reference string form: an NB201 arch string, a DARTS `Genotype(...)` repr, or a
    /// ProxylessNAS subnet's canonical choices (`k3e3,k5e6,zero,...`).
    pub fn reference_string(&self) -> String {
        match self {
            Architecture::Nb201(a) => a.to_string(),
            Architecture::Darts(g) => g.to_string(),
            Architecture::Proxyless(s) => s.to_string(),
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
            Architecture::Proxyless(s) => serde_json::json!({
                "space": "proxyless",
                "subnet": s.to_string(),
                "choices": s.choices().iter().map(|c| c.name()).collect::<Vec<_>>(),
                "reference_names": s.choices().iter().map(|c| c.reference_name()).collect::<Vec<_>>(),
            }),
        }
    }
}

/// The ProxylessNAS backbone a model config builds: the reference stages at `model.width_mult`.
/// Classes, input channels and resolution come from the data; they change no block's shape, so the
/// reference's are kept here.
pub fn proxyless_config(m: &ModelConfig) -> ProxylessConfig {
    ProxylessConfig { width_mult: m.width_mult.unwrap_or(1.0), ..Default::default() }
}
