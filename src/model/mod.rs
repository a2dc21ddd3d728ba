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
pub use leviathan::{
    Generator, GeneratorConfig, GeneratorStrategy, Leviathan, LeviathanConfig, SplineDecay,
};

use burn::module::Param;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

/// The output head of a language model, as its weight parameter.
pub enum Head<'a, B: Backend> {
    /// A separate matrix `[d_model, vocab]` (burn's Linear layout): logits = h W.
    Untied(&'a Param<Tensor<B, 2>>),
    /// The input embedding table `[vocab, d_model]`: logits = h Eᵀ.
    Tied(&'a Param<Tensor<B, 2>>),
}

impl<B: Backend> Head<'_, B> {
    /// The weight as `[d_model, vocab]`.
    pub fn weight(&self) -> Tensor<B, 2> {
        match self {
            Head::Untied(w) => w.val(),
            Head::Tied(e) => e.val().transpose(),
        }
    }

    /// Logits `[batch, seq, vocab]` of hidden states `[batch, seq, d_model]`.
    pub fn logits(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        hidden.matmul(self.weight().unsqueeze::<3>())
    }
}

/// A decoder language model split as hidden states and head, so that the training step can
/// fuse the head with the loss ([`step`]).
pub trait LanguageModel<B: Backend> {
    /// Final normalised hidden states `[batch, seq, d_model]` of token ids `[batch, seq]`.
    fn hidden(&self, ids: Tensor<B, 2, Int>) -> Tensor<B, 3>;
    /// The output head.
    fn head(&self) -> Head<'_, B>;
    /// Logits `[batch, seq, vocab]`.
    fn logits(&self, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        self.head().logits(self.hidden(ids))
    }
}

impl<B: Backend> LanguageModel<B> for Dense<B> {
    fn hidden(&self, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        Dense::hidden(self, ids)
    }
    fn head(&self) -> Head<'_, B> {
        match &self.head {
            Some(linear) => Head::Untied(&linear.weight),
            None => Head::Tied(&self.embed),
        }
    }
}

impl<B: Backend> LanguageModel<B> for Leviathan<B> {
    fn hidden(&self, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        Leviathan::hidden(self, ids)
    }
    fn head(&self) -> Head<'_, B> {
        Head::Untied(&self.head.weight)
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
