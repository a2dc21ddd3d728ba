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

/// Keeps large tensor buffers inside the process heap on glibc.
///
/// Flex allocates a fresh buffer per op. glibc serves anything above its mmap threshold (at
/// most 32 MB by default) with a new mmap and unmaps it on free, so every op on a
/// [tokens, vocab] logits tensor (800 MB at 1,024 × 200k) page-faults and zeroes all of it
/// again: measured on 2 cores, 17.6 s of system time out of 52 s for a dense V = 200k run,
/// against 1.5 s of 30 s with the heap kept. Raising the mmap and trim thresholds makes freed
/// buffers reusable. Idempotent; a no-op off glibc.
pub fn tune_cpu_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            unsafe extern "C" {
                fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
            }
            const M_TRIM_THRESHOLD: std::ffi::c_int = -1;
            const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
            // SAFETY: mallopt only sets allocator parameters; it is called before any worker
            // thread of ours allocates and has no memory-safety preconditions.
            unsafe {
                mallopt(M_MMAP_THRESHOLD, std::ffi::c_int::MAX);
                mallopt(M_TRIM_THRESHOLD, std::ffi::c_int::MAX);
            }
        });
    }
}

/// Runs `task` on the backend of `kind` (CUDA device 0).
pub fn run_on<T: OnBackend>(kind: DeviceKind, task: T) -> Result<T::Output> {
    match kind {
        DeviceKind::Cpu => {
            tune_cpu_allocator();
            Ok(task.run::<CpuBackend>(Default::default()))
        }
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
