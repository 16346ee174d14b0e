//! Device selection. `auto` means CUDA when libtorch can see a GPU, else CPU.

use crate::EngineError;
use std::str::FromStr;
use tch::Device;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(n)) => Ok(DeviceChoice::Cuda(n)),
                _ => Err(EngineError::UnknownDevice(s.to_string())),
            },
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceChoice::Auto => write!(f, "auto"),
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl From<DeviceChoice> for String {
    fn from(d: DeviceChoice) -> String {
        d.to_string()
    }
}

impl TryFrom<String> for DeviceChoice {
    type Error = EngineError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl DeviceChoice {
    /// Resolves to a tch device, registering libtorch's CUDA backend first.
    pub fn resolve(self) -> Result<Device, EngineError> {
        register_cuda();
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Auto => Ok(Device::cuda_if_available()),
            DeviceChoice::Cuda(n) => {
                let count = tch::Cuda::device_count();
                if (n as i64) < count {
                    Ok(Device::Cuda(n))
                } else {
                    Err(EngineError::CudaUnavailable(format!("{count} CUDA device(s) visible, asked for cuda:{n}")))
                }
            }
        }
    }
}

/// A VarStore built on the CPU by `build`, then moved to `device`, with what `build` returned.
///
/// libtorch's CUDA generator draws other numbers than its CPU generator for the same seed, so a
/// net initialised on the GPU would differ from the same run on the CPU. Initialising on the CPU
/// makes a seed mean the same initial weights on every device, so that CPU and GPU runs can be
/// compared number for number (up to the kernels' rounding). Modules keep their handles: moving
/// replaces each variable's data in place.
pub fn init_on_cpu<T>(device: Device, build: impl FnOnce(&tch::nn::VarStore) -> T) -> (tch::nn::VarStore, T) {
    let mut vs = tch::nn::VarStore::new(Device::Cpu);
    let built = build(&vs);
    vs.set_device(device);
    (vs, built)
}

/// The linker drops libtorch_cuda.so because nothing references it by symbol, and then libtorch never
/// registers its CUDA backend. Loading it by hand at start-up restores that; against a CPU-only libtorch
/// the dlopen fails quietly and nothing changes.
pub fn register_cuda() {
    use std::sync::Once;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for name in [c"libtorch_cuda.so"] {
            // SAFETY: dlopen with a valid NUL-terminated name; the handle is intentionally leaked so
            // the library stays loaded for the life of the process.
            unsafe {
                libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_names() {
        assert_eq!("auto".parse::<DeviceChoice>().unwrap(), DeviceChoice::Auto);
        assert_eq!("CPU".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!("cuda".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cuda(0));
        assert_eq!("cuda:1".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cuda(1));
        let err = "tpu".parse::<DeviceChoice>().unwrap_err().to_string();
        assert!(err.contains("'tpu'") && err.contains("auto, cpu, cuda"), "{err}");
    }

    #[test]
    fn cpu_always_resolves() {
        assert_eq!(DeviceChoice::Cpu.resolve().unwrap(), Device::Cpu);
    }

    #[test]
    fn missing_gpu_is_an_error_not_a_panic() {
        if tch::Cuda::device_count() == 0 {
            let err = DeviceChoice::Cuda(0).resolve().unwrap_err().to_string();
            assert!(err.contains("--device cpu"), "{err}");
        }
    }
}
