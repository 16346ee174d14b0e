//! The prelude every run shares (retraining, search, supernet training): resolve the device, set
//! libtorch's threads, load the data. Random streams are keyed by purpose ([`Stream`]), so a
//! resumed run draws what an uninterrupted one would.

use crate::{DeviceChoice, EngineError};
use oxnas_core::config::{ConfigError, DataConfig, RunConfig, SourceChoice};
use oxnas_core::data::{self, DataSource, DatasetKind, ImageDataset};
use std::sync::Arc;
use tch::{Device, Tensor};

pub use oxnas_core::rng::{stream_seed, Stream};

/// What a resume with `--reset-optimizer` says, so nobody mistakes it for an exact resume.
pub const RESET_NOTICE: &str =
    "--reset-optimizer: the optimiser starts afresh; from here on the run differs from an uninterrupted one";

/// The data a run trains and evaluates on, with where it came from.
pub struct RunData {
    pub kind: DatasetKind,
    pub source: DataSource,
    pub train: Arc<ImageDataset>,
    pub test: Arc<ImageDataset>,
}

impl RunData {
    pub fn num_classes(&self) -> i64 {
        self.kind.num_classes() as i64
    }

    pub fn in_channels(&self) -> i64 {
        self.train.channels as i64
    }
}

/// Device and data of a run, ready to build a network on.
pub struct Prelude {
    pub device: Device,
    pub data: RunData,
}

impl Prelude {
    pub fn start(run: &RunConfig, data: &DataConfig) -> Result<Self, EngineError> {
        let device = run.device.parse::<DeviceChoice>()?.resolve()?;
        set_threads(run.threads, "run.threads");
        Ok(Prelude { device, data: load_data(data)? })
    }
}

/// Sets libtorch's intra-op threads (0 keeps its default), at most one per core, warning when a
/// request is capped.
pub fn set_threads(requested: usize, setting: &str) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (threads, notice) = oxnas_core::config::cap_threads(requested, cores, setting);
    if let Some(notice) = notice {
        tracing::warn!("{notice}");
    }
    if threads > 0 {
        tch::set_num_threads(threads as i32);
    }
}

pub fn load_data(cfg: &DataConfig) -> Result<RunData, EngineError> {
    let kind = cfg.kind()?;
    let source = match cfg.source {
        SourceChoice::Embedded if kind == DatasetKind::FashionMnist => DataSource::Embedded,
        SourceChoice::Embedded => {
            return Err(ConfigError::Invalid(format!(
                "data.source = \"embedded\" exists only for fashion-mnist, not {kind}; use source = \"auto\" with data.data_dir"
            ))
            .into())
        }
        SourceChoice::Auto => data::resolve_source(kind, cfg.data_dir.as_deref())?,
    };
    let limit = |d: ImageDataset, n: usize| -> ImageDataset {
        if n == 0 || n >= d.len() {
            d
        } else {
            d.subset(&(0..n).collect::<Vec<_>>())
        }
    };
    let (train, test) = data::load_both(kind, &source)?;
    let (train, test) = (limit(train, cfg.train_limit), limit(test, cfg.test_limit));
    Ok(RunData { kind, source, train: Arc::new(train), test: Arc::new(test) })
}

pub fn to_tensors(batch: &data::Batch, device: Device) -> (Tensor, Tensor) {
    let dims = [batch.batch as i64, batch.channels as i64, batch.height as i64, batch.width as i64];
    let x = Tensor::from_slice(&batch.images).view(dims).to_device(device);
    let y = Tensor::from_slice(&batch.labels).to_device(device);
    (x, y)
}
