//! Training precision (`[train] precision = "f32" | "bf16" | "f16"`): what is kept in which
//! floating-point type, and the casts that put it there.
//!
//! burn 0.21 keeps no master weights of its own and holds AdamW's moments in the parameters'
//! float type (a model built on `Cuda<bf16>` is bf16 throughout, optimiser included). So the
//! model is always built in f32 and the half type is a *compute* type, applied by casting at
//! use (the scheme of Micikevicius et al. 2018, "Mixed Precision Training", without loss
//! scaling for bf16):
//!
//! | what | f32 | bf16 / f16 |
//! |---|---|---|
//! | parameters (master weights), checkpoints | f32 | f32 |
//! | AdamW moments, gradients reaching the optimiser | f32 | f32 (the cast's backward casts them back) |
//! | input embeddings (table lookup; Leviathan's generator runs in f32) | f32 | cast to the half type |
//! | body activations, matmuls, attention, their backward | f32 | half type |
//! | RMSNorm statistics | f32 | f32 (burn's RmsNorm; the scale is applied in the half type) |
//! | output-head matmul | f32 | half type |
//! | log-sum-exp, softmax, cross-entropy, loss, gradient norm | f32 | f32 |
//!
//! f16 has no loss scaling here, so small gradients can underflow: prefer bf16. Only the CUDA
//! backend has half types; on the CPU backend (flex) anything but f32 is refused before
//! training starts. With f32 no cast is ever inserted (each cast is skipped when the types
//! already agree), so f32 training is exactly what it was.

use std::fmt;
use std::str::FromStr;

use burn::tensor::backend::Backend;
use burn::tensor::{DType, FloatDType, Tensor};

use super::backend::DeviceKind;
use crate::error::{Error, Result};

/// The compute type of the forward and backward passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    #[default]
    F32,
    Bf16,
    F16,
}

impl Precision {
    /// The burn float type of the activations.
    pub fn float_dtype(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
            Precision::Bf16 => FloatDType::BF16,
            Precision::F16 => FloatDType::F16,
        }
    }

    pub fn dtype(self) -> DType {
        DType::from(self.float_dtype())
    }

    /// Whether `device` can train in this precision; the one-line reason when not.
    pub fn check(self, device: DeviceKind) -> Result<()> {
        match (self, device) {
            (Precision::F32, _) | (_, DeviceKind::Cuda) => Ok(()),
            (p, DeviceKind::Cpu) => Err(Error::Invalid(format!(
                "precision `{p}` needs device `cuda`: the CPU backend (flex) trains in f32 only"
            ))),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        })
    }
}

impl FromStr for Precision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            "f16" => Ok(Precision::F16),
            other => Err(Error::Invalid(format!(
                "unknown precision {other:?} (f32|bf16|f16)"
            ))),
        }
    }
}

/// `t` in `dtype`, with no op at all when it already is (so f32 training gains no graph node).
pub fn cast_to<B: Backend, const D: usize>(t: Tensor<B, D>, dtype: DType) -> Tensor<B, D> {
    if t.dtype() == dtype {
        return t;
    }
    match dtype {
        DType::BF16 => t.cast(FloatDType::BF16),
        DType::F16 => t.cast(FloatDType::F16),
        DType::F64 => t.cast(FloatDType::F64),
        _ => t.cast(FloatDType::F32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_half_types_on_the_cpu() {
        assert_eq!("bf16".parse::<Precision>().unwrap(), Precision::Bf16);
        assert!("fp8".parse::<Precision>().is_err());
        assert!(Precision::F32.check(DeviceKind::Cpu).is_ok());
        let e = Precision::Bf16
            .check(DeviceKind::Cpu)
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs device `cuda`"), "{e}");
        assert!(Precision::F16.check(DeviceKind::Cuda).is_ok());
    }

    #[test]
    fn casting_to_the_same_type_is_the_identity() {
        let dev = Default::default();
        let t = Tensor::<burn::backend::Flex, 1>::from_floats([1.0, 2.5], &dev);
        let u = cast_to(t.clone(), DType::F32);
        assert_eq!(u.dtype(), DType::F32);
        assert_eq!(u.into_data(), t.into_data());
    }
}
