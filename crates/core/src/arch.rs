//! An architecture of any search space, as a user writes it down: an NAS-Bench-201 arch string or a
//! DARTS genotype. Searches produce one, `oxnas train` trains one.

use crate::config::{ConfigError, ModelConfig, Space};
use crate::darts::{self, Genotype};
use crate::nb201::Nb201Arch;

#[derive(Debug, Clone, PartialEq)]
pub enum Architecture {
    Nb201(Nb201Arch),
    Darts(Genotype),
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
        }
    }

    pub fn space(&self) -> Space {
        match self {
            Architecture::Nb201(_) => Space::Nb201,
            Architecture::Darts(_) => Space::Darts,
        }
    }

    /// The reference string form: an NB201 arch string or a DARTS `Genotype(...)` repr.
    pub fn reference_string(&self) -> String {
        match self {
            Architecture::Nb201(a) => a.to_string(),
            Architecture::Darts(g) => g.to_string(),
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
        }
    }
}
