//! Models: the dense LLaMA-style baseline ([`dense`]) and Leviathan with its LEV generator
//! ([`leviathan`]) on a shared body ([`blocks`]); exact parameter and FLOP accounting
//! ([`count`]); iso-body and isoparametric sizing ([`sizing`]); vocabulary sizes ([`vocab`]);
//! the run-time backend choice ([`backend`]); token batches held on host and device
//! ([`TokenBatch`]); and the training step's pieces ([`step`]): the fused head + loss, global
//! clipping without a host read, and a timed step for the benchmark.

pub mod backend;
pub mod blocks;
pub mod count;
pub mod dense;
pub mod leviathan;
pub mod precision;
pub mod sizing;
pub mod step;
pub mod vocab;

pub use backend::{CpuBackend, DeviceKind};
pub use blocks::BodyConfig;
pub use dense::{Dense, DenseConfig};
pub use leviathan::{
    Generator, GeneratorConfig, GeneratorStrategy, Leviathan, LeviathanConfig, SplineDecay,
};
pub use precision::Precision;

use burn::module::Param;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::error::{Error, Result};

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

    /// Logits `[batch, seq, vocab]` (f32) of hidden states `[batch, seq, d_model]`, the
    /// matmul in the hidden states' float type.
    pub fn logits(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        let w = precision::cast_to(self.weight(), hidden.dtype());
        precision::cast_to(hidden.matmul(w.unsqueeze::<3>()), burn::tensor::DType::F32)
    }
}

/// A batch of token ids `[batch, seq]`, held twice: the host copy the batcher made, and the
/// same ids on the device. The Leviathan generator plans its work (which distinct ids to
/// generate) from the host copy, so a forward pass never reads ids back from the device
/// (a host sync per step on CUDA).
#[derive(Debug, Clone)]
pub struct TokenBatch<B: Backend> {
    host: std::sync::Arc<Vec<i64>>,
    dims: [usize; 2],
    tensor: Tensor<B, 2, Int>,
}

impl<B: Backend> TokenBatch<B> {
    /// Uploads `host` (row-major `dims`). Ids outside `0..vocab` are an error here, before any
    /// embedding lookup could index out of bounds.
    pub fn new(host: Vec<i64>, dims: [usize; 2], vocab: usize, device: &B::Device) -> Result<Self> {
        if host.len() != dims[0] * dims[1] {
            return Err(Error::Model(format!(
                "{} token ids do not fill a [{}, {}] batch",
                host.len(),
                dims[0],
                dims[1]
            )));
        }
        check_ids(&host, vocab)?;
        let tensor = Tensor::from_data(TensorData::new(host.clone(), dims), device);
        Ok(TokenBatch {
            host: std::sync::Arc::new(host),
            dims,
            tensor,
        })
    }

    /// From ids already on the device (tests, one-off calls): reads them back once.
    pub fn from_tensor(tensor: Tensor<B, 2, Int>, vocab: usize) -> Result<Self> {
        let dims = tensor.dims();
        let host: Vec<i64> = tensor.to_data().iter::<i64>().collect();
        check_ids(&host, vocab)?;
        Ok(TokenBatch {
            host: std::sync::Arc::new(host),
            dims,
            tensor,
        })
    }

    pub fn host(&self) -> &[i64] {
        &self.host
    }

    pub fn dims(&self) -> [usize; 2] {
        self.dims
    }

    /// The ids on the device.
    pub fn tensor(&self) -> Tensor<B, 2, Int> {
        self.tensor.clone()
    }
}

/// Every id in `0..vocab`, else one error naming the first one outside.
pub fn check_ids(ids: &[i64], vocab: usize) -> Result<()> {
    match ids.iter().find(|&&v| v < 0 || v as u64 >= vocab as u64) {
        Some(bad) => Err(Error::Model(format!(
            "token id {bad} is outside the model's vocabulary of {vocab}"
        ))),
        None => Ok(()),
    }
}

/// A decoder language model split as hidden states and head, so that the training step can
/// fuse the head with the loss ([`step`]).
pub trait LanguageModel<B: Backend> {
    /// The vocabulary size V (ids are `0..V`).
    fn vocab(&self) -> usize;
    /// Final normalised hidden states `[batch, seq, d_model]` of a batch of token ids. An id
    /// outside the vocabulary is an error, never a panic.
    fn hidden(&self, ids: &TokenBatch<B>) -> Result<Tensor<B, 3>>;
    /// The output head.
    fn head(&self) -> Head<'_, B>;
    /// Logits `[batch, seq, vocab]`.
    fn logits(&self, ids: &TokenBatch<B>) -> Result<Tensor<B, 3>> {
        Ok(self.head().logits(self.hidden(ids)?))
    }
}

impl<B: Backend> LanguageModel<B> for Dense<B> {
    fn vocab(&self) -> usize {
        self.embed.val().dims()[0]
    }
    fn hidden(&self, ids: &TokenBatch<B>) -> Result<Tensor<B, 3>> {
        check_ids(ids.host(), LanguageModel::vocab(self))?;
        Ok(Dense::hidden(self, ids.tensor()))
    }
    fn head(&self) -> Head<'_, B> {
        match &self.head {
            Some(linear) => Head::Untied(&linear.weight),
            None => Head::Tied(&self.embed),
        }
    }
}

impl<B: Backend> LanguageModel<B> for Leviathan<B> {
    fn vocab(&self) -> usize {
        self.generator.vocab()
    }
    fn hidden(&self, ids: &TokenBatch<B>) -> Result<Tensor<B, 3>> {
        let embedded =
            self.generator
                .forward_host(ids.host(), ids.dims(), &ids.tensor().device())?;
        Ok(self.body_forward(embedded))
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
