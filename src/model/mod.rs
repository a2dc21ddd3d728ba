//! Models: the dense LLaMA-style baseline ([`dense`]) and Leviathan with its LEV generator
//! ([`leviathan`]) on a shared body ([`blocks`]); exact parameter and FLOP accounting
//! ([`count`]); iso-body and isoparametric sizing ([`sizing`]); vocabulary sizes ([`vocab`]);
//! the run-time backend choice ([`backend`]); and a minimal training step ([`step`]) used by
//! the benchmark and the tests until the training loop proper exists.

pub mod backend;
pub mod blocks;
pub mod count;
pub mod dense;
pub mod leviathan;
pub mod sizing;
pub mod step;
pub mod vocab;

pub use backend::{CpuBackend, DeviceKind};
pub use blocks::BodyConfig;
pub use dense::{Dense, DenseConfig};
pub use leviathan::{Generator, GeneratorConfig, GeneratorStrategy, Leviathan, LeviathanConfig};

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

/// Anything that maps token ids `[batch, seq]` to logits `[batch, seq, vocab]`.
pub trait LanguageModel<B: Backend> {
    fn logits(&self, ids: Tensor<B, 2, Int>) -> Tensor<B, 3>;
}

impl<B: Backend> LanguageModel<B> for Dense<B> {
    fn logits(&self, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        self.forward(ids)
    }
}

impl<B: Backend> LanguageModel<B> for Leviathan<B> {
    fn logits(&self, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        self.forward(ids)
    }
}

/// Forces burn's lazy parameter initialisation now. A clone of an uninitialised module draws
/// its own fresh weights when first used, so materialise a model before cloning it (and right
/// after seeding, to fix the order in which parameters draw from the RNG).
pub fn materialize<B: Backend, M: burn::module::Module<B>>(model: M) -> M {
    struct Touch;
    impl<B: Backend> burn::module::ModuleVisitor<B> for Touch {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
            let _ = param.val();
        }
    }
    model.visit(&mut Touch);
    model
}
