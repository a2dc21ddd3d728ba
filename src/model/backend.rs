//! Run-time backend choice: the `--device cpu|cuda` string, and one generic entry point that
//! instantiates model and training code for `Autodiff<Flex>` (always) or `Autodiff<Cuda>`
//! (with the cargo feature `cuda`). Later training code reuses [`run_on`].

use std::fmt;
use std::str::FromStr;

use burn::backend::Autodiff;
use burn::backend::Flex;
use burn::tensor::backend::AutodiffBackend;

use crate::error::{Error, Result};

/// The CPU training backend, the default everywhere.
pub type CpuBackend = Autodiff<Flex>;

/// The CUDA training backend.
#[cfg(feature = "cuda")]
pub type CudaBackend = Autodiff<burn::backend::Cuda>;

/// Where to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    #[default]
    Cpu,
    Cuda,
}

impl DeviceKind {
    /// Whether this build can run on it.
    pub fn available(self) -> bool {
        match self {
            DeviceKind::Cpu => true,
            DeviceKind::Cuda => cfg!(feature = "cuda"),
        }
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Cuda => "cuda",
        })
    }
}

impl FromStr for DeviceKind {
    type Err = Error;

    /// Parses `cpu` or `cuda`; `cuda` in a build without the feature is an error here, at
    /// parse time, rather than a panic at the first tensor op.
    fn from_str(s: &str) -> Result<Self> {
        let kind = match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => DeviceKind::Cpu,
            "cuda" | "gpu" => DeviceKind::Cuda,
            other => {
                return Err(Error::Invalid(format!(
                    "unknown device {other:?} (cpu|cuda)"
                )));
            }
        };
        if !kind.available() {
            return Err(Error::Invalid(
                "device `cuda` needs a ladder built with `--features cuda`".into(),
            ));
        }
        Ok(kind)
    }
}

/// Work that can run on any autodiff backend; [`run_on`] picks the backend at run time.
pub trait OnBackend {
    type Output;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output;
}

/// Runs `task` on the backend of `kind` (CUDA device 0).
pub fn run_on<T: OnBackend>(kind: DeviceKind, task: T) -> Result<T::Output> {
    match kind {
        DeviceKind::Cpu => Ok(task.run::<CpuBackend>(Default::default())),
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => Ok(task.run::<CudaBackend>(burn::backend::cuda::CudaDevice::new(0))),
        #[cfg(not(feature = "cuda"))]
        DeviceKind::Cuda => Err(Error::Invalid(
            "device `cuda` needs a ladder built with `--features cuda`".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices() {
        assert_eq!("cpu".parse::<DeviceKind>().unwrap(), DeviceKind::Cpu);
        assert_eq!(" CPU ".parse::<DeviceKind>().unwrap(), DeviceKind::Cpu);
        assert!(
            "tpu"
                .parse::<DeviceKind>()
                .unwrap_err()
                .to_string()
                .contains("unknown device")
        );
        let cuda = "cuda".parse::<DeviceKind>();
        if cfg!(feature = "cuda") {
            assert_eq!(cuda.unwrap(), DeviceKind::Cuda);
        } else {
            assert!(cuda.unwrap_err().to_string().contains("--features cuda"));
        }
    }
}
