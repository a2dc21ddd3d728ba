//! The dense LLaMA-style baseline: token embedding table, the shared pre-norm body
//! ([`super::blocks`]), and an output head that is either a separate V×D matrix or the
//! embedding table itself (tied).
//!
//! Reference: Batley & Saha, "Leviathan: Decoupling Input and Output Representations in
//! Language Models", arXiv 2601.22040 (v1: "A Separable Architecture for Continuous Token
//! Representation in Language Models"); the baseline is the "standard, LLaMA-style
//! architecture" of v1's abstract and v2's "standard tied-embedding baselines"
//! (docs/leviathan.md §2.1, §2.4, §3.1). Which arm of v1 was tied is unresolved
//! there (§2.4, §2.7), so tying is a config switch; it defaults to untied, the v1 reading
//! that reproduces "109M, 6 layers" at d = 256.

use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::module::embedding;
use burn::tensor::{Int, Tensor};

use super::blocks::{Body, BodyConfig};
use super::precision::{Precision, cast_to};
use crate::error::{Error, Result};

/// Configuration of the dense baseline.
#[derive(Config, Debug)]
pub struct DenseConfig {
    /// Vocabulary size V (rows of the embedding table and of the head).
    pub vocab: usize,
    /// The transformer body.
    pub body: BodyConfig,
    /// Share the embedding table with the output head (logits = h Eᵀ). v2's baseline is tied.
    #[config(default = false)]
    pub tie_embeddings: bool,
}

impl DenseConfig {
    pub fn validate(&self) -> Result<()> {
        if self.vocab == 0 {
            return Err(Error::Model("vocab must be positive".into()));
        }
        self.body.validate()
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Dense<B> {
        self.validate().expect("invalid dense config");
        let d = self.body.d_model;
        let std = self.body.init_std;
        let embed = Initializer::Normal { mean: 0.0, std }.init([self.vocab, d], device);
        let head = (!self.tie_embeddings).then(|| {
            LinearConfig::new(d, self.vocab)
                .with_bias(false)
                .with_initializer(Initializer::Normal { mean: 0.0, std })
                .init(device)
        });
        Dense {
            embed,
            body: self.body.init(device),
            head,
            precision: Precision::F32,
        }
    }
}

/// The dense decoder.
#[derive(Module, Debug)]
pub struct Dense<B: Backend> {
    /// `[vocab, d_model]`.
    pub embed: Param<Tensor<B, 2>>,
    pub body: Body<B>,
    /// `None` when tied to `embed`.
    pub head: Option<Linear<B>>,
    /// Compute type of the body (a constant: parameters stay f32, `super::precision`).
    pub precision: Precision,
}

impl<B: Backend> Dense<B> {
    /// The same weights computing in `precision`.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// Token ids `[batch, seq]` to final hidden states `[batch, seq, d_model]`, in the
    /// compute type.
    pub fn hidden(&self, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let x = embedding(self.embed.val(), ids);
        self.body.forward(cast_to(x, self.precision.dtype()))
    }

    /// Token ids `[batch, seq]` to logits `[batch, seq, vocab]`.
    pub fn forward(&self, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let h = self.hidden(ids);
        let w = match &self.head {
            Some(head) => head.weight.val(),
            None => self.embed.val().transpose(),
        };
        let dtype = h.dtype();
        cast_to(
            h.matmul(cast_to(w, dtype).unsqueeze::<3>()),
            burn::tensor::DType::F32,
        )
    }
}
