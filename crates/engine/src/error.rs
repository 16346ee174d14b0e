use thiserror::Error;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("CUDA was requested but libtorch sees no GPU ({0}); use --device cpu, or --device auto to pick CUDA only when present")]
    CudaUnavailable(String),
    #[error("unknown device '{0}'; expected one of auto, cpu, cuda, cuda:N")]
    UnknownDevice(String),
    #[error("input of {height}x{width} is too small for {what}: {why}")]
    InputTooSmall { height: i64, width: i64, what: String, why: String },
    #[error("invalid network configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    #[error(transparent)]
    Genotype(#[from] oxnas_core::darts::GenotypeError),
    #[error(transparent)]
    Settings(#[from] oxnas_core::config::ConfigError),
    #[error(transparent)]
    Data(#[from] oxnas_core::data::DataError),
}
