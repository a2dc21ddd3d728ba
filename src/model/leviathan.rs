//! Leviathan: the dense body with its input embedding table replaced by the LEV generator
//! (learned embedding vectorization), and an untied V×D output head.
//!
//! Reference: Batley & Saha, "Leviathan: Decoupling Input and Output Representations in
//! Language Models", arXiv 2601.22040 v2 (v1: "A Separable Architecture for Continuous Token
//! Representation in Language Models"). Only the abstracts are primary here; the generator
//! below follows docs/leviathan.md §2.2 steps 1–7 and §3.3, which combine v2's
//! quoted equations [N2], a close reading of v1 [N1], the third-party reimplementation
//! Kitsunp/ml-cross-entropy `cut_cross_entropy/leviathan` [R] and the first author's KHRONOS
//! code RTBatley/ConvKHRONOS [KH].
//!
//! Per token id i:
//! 1. digits (i_1..i_k) in base b = ⌈V^(1/k)⌉, most significant first (§2.2.1);
//! 2. seed z = Σ_r C_r[i_r] over k codebooks C_r ∈ R^{b×d_seed} (§2.2.2, v2 eq. for z(i));
//! 3. per head ℓ: z̃_ℓ = sigmoid(s · LN_ℓ(W_seed,ℓ z)) (§2.2.3);
//! 4. quadratic B-spline basis B_g(t), g = 0..κ−1, on uniform knots over [0,1] (§2.2.4);
//! 5. φ_{ℓ,m,j}(t) = Σ_g B_g(t) S_ℓ[j,g,m] and M_{ℓ,m} = Π_j φ_{ℓ,m,j}(z̃_{ℓ,j}), the product
//!    taken as sign parity · exp(Σ_j log(|φ| + ε)) (§2.2.5);
//! 6. E_i = Σ_ℓ W_out,ℓ M_ℓ (§2.2.6, v2's E_i = Σ_ℓ W_ℓ ℳ_ℓ(z̃_ℓ)).
//!
//! Choices the sources leave open (docs/leviathan.md says NOT FOUND), each a config field:
//! - the ½ inside the sigmoid comes from [R] only: `sigmoid_scale`, default 0.5;
//! - dividing the basis by Σ_g B_g(t) comes from [R] ([KH] does not): `normalize_basis`,
//!   default true;
//! - the head is untied, as both versions of the paper state; the dense baseline's tying is
//!   its own switch ([`super::dense::DenseConfig::tie_embeddings`]).
//!
//! Initialisation as [R] (§2.2, end): codebooks and W_seed ~ N(0, 0.02²); LN weight 1, bias
//! 0; S = 1 + N(0, 0.1²), so each factor starts near 1 and the product neither vanishes nor
//! explodes; W_out ~ N(0, (0.02/√h)²).
//!
//! Weight decay and S ([`SplineDecay`], NOT FOUND in the sources): decoupled decay pulls a
//! parameter toward 0, but S lives near 1, where a product of d_seed factors is well scaled.
//! By default S is stored as Δ with S = 1 + Δ, so decay pulls S toward 1 (`One`); `Exempt`
//! stores S and leaves it undecayed; `Zero` stores S and decays it toward 0, as the first CPU
//! reference study trained (kept so that its cells reproduce).
//!
//! Cost: an embedding depends only on its id, so the generator runs once per distinct id of a
//! batch (or once for the whole vocabulary) and the rows are gathered ([`GeneratorStrategy`]);
//! it runs in chunks of `chunk_tokens` ids so that the [ids, h·d_seed, r] intermediates stay
//! bounded. Under autodiff the intermediates of every chunk are kept for the backward pass,
//! so chunking bounds the working set of inference, and the distinct-id strategy is what
//! bounds training memory.

use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::backend::Backend;
use burn::tensor::module::embedding;
use burn::tensor::{Int, Tensor, TensorData};

use super::blocks::{Body, BodyConfig};
use super::precision::{Precision, cast_to};
use crate::error::{Error, Result};

/// How the generator covers the ids of a batch. All strategies give the same embeddings.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum GeneratorStrategy {
    /// Generate once per token position, in chunks (the reference cost).
    PerToken,
    /// Generate once per distinct id in the batch, then gather.
    DistinctIds,
    /// Generate the whole vocabulary, then gather.
    Vocabulary,
    /// `DistinctIds`, or `Vocabulary` when the batch holds more than half the vocabulary.
    Auto,
}

/// What AdamW's decoupled weight decay pulls the spline coefficients S toward.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum SplineDecay {
    /// S = 1 + Δ with Δ the parameter: decay pulls S toward 1.
    One,
    /// S is the parameter and is exempt from decay.
    Exempt,
    /// S is the parameter and is decayed toward 0 like any matrix.
    Zero,
}

impl SplineDecay {
    pub fn name(self) -> &'static str {
        match self {
            SplineDecay::One => "one",
            SplineDecay::Exempt => "exempt",
            SplineDecay::Zero => "zero",
        }
    }
}

impl std::str::FromStr for SplineDecay {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "one" => Ok(SplineDecay::One),
            "exempt" => Ok(SplineDecay::Exempt),
            "zero" => Ok(SplineDecay::Zero),
            other => Err(Error::Model(format!(
                "unknown spline_decay `{other}`: expected one, exempt or zero"
            ))),
        }
    }
}

/// Configuration of the LEV generator. Every dimension is a field so that smaller CPU-scale
/// generators can be built; [`GeneratorConfig::v2`] and [`GeneratorConfig::v1`] are the
/// paper presets.
#[derive(Config, Debug)]
pub struct GeneratorConfig {
    /// Vocabulary size V (ids are 0..V).
    pub vocab: usize,
    /// Output width D (the model's d_model).
    pub d_model: usize,
    /// Number of digits k of the base-b decomposition (§2.2.1).
    #[config(default = 3)]
    pub digits: usize,
    /// Seed width d_seed (§2.2.2).
    #[config(default = 128)]
    pub d_seed: usize,
    /// Number of heads h (§2.2.3, §2.2.6).
    #[config(default = 8)]
    pub heads: usize,
    /// Number of uniform knots κ of the quadratic B-spline basis on [0,1] (§2.2.4).
    #[config(default = 16)]
    pub knots: usize,
    /// Rank-1 modes r per head (§2.2.5).
    #[config(default = 64)]
    pub modes: usize,
    /// s in sigmoid(s·x). 0.5 is [R]'s value; NOT FOUND in the paper.
    #[config(default = 0.5)]
    pub sigmoid_scale: f64,
    /// Divide the basis by its sum (exactly 1 in the interior, 0.875 at t = 0 or 1). [R]
    /// normalises, [KH] does not; NOT FOUND in the paper.
    #[config(default = true)]
    pub normalize_basis: bool,
    /// How S is parameterised against weight decay (module doc).
    #[config(default = "SplineDecay::One")]
    pub spline_decay: SplineDecay,
    /// LayerNorm epsilon ([R]).
    #[config(default = 1e-5)]
    pub ln_eps: f64,
    /// ε in log(|φ| + ε) ([KH], [R]).
    #[config(default = 1e-9)]
    pub log_eps: f64,
    /// Ids generated per chunk. 256 keeps a chunk's intermediates near 200 MB at the v2 preset
    /// (h·d_seed·(κ + 3r) floats per id), so 65,536 ids pass through a few hundred MB.
    #[config(default = 256)]
    pub chunk_tokens: usize,
    /// Which ids to generate for a batch.
    #[config(default = "GeneratorStrategy::Auto")]
    pub strategy: GeneratorStrategy,
}

/// Smallest b with b^k ≥ V, i.e. ⌈V^(1/k)⌉ computed without floating-point error.
pub fn digit_base(vocab: usize, k: usize) -> usize {
    let mut b = (vocab as f64).powf(1.0 / k as f64).floor().max(1.0) as usize;
    while b.checked_pow(k as u32).is_some_and(|p| p < vocab) {
        b += 1;
    }
    while b > 1 && (b - 1).checked_pow(k as u32).is_some_and(|p| p >= vocab) {
        b -= 1;
    }
    b
}

/// The k base-b digits of `id`, most significant first (§2.2.1).
pub fn digits(id: usize, base: usize, k: usize) -> Vec<usize> {
    let mut out = vec![0; k];
    let mut rest = id;
    for slot in out.iter_mut().rev() {
        *slot = rest % base;
        rest /= base;
    }
    out
}

/// Inverse of [`digits`].
pub fn from_digits(digits: &[usize], base: usize) -> usize {
    digits.iter().fold(0, |acc, &d| acc * base + d)
}

impl GeneratorConfig {
    /// v2 preset (§2.3, §3.3): k = 3, d_seed = 128, h = 8, κ = 16, r = 64; at V = 200,376
    /// and D = 2048 this is the paper's 2.25M parameters.
    pub fn v2(vocab: usize, d_model: usize) -> Self {
        GeneratorConfig::new(vocab, d_model)
    }

    /// v1 preset: v2 with κ = 32 knots ([N1] "32-knot"; r = 64 per head is assumed, §2.3).
    pub fn v1(vocab: usize, d_model: usize) -> Self {
        GeneratorConfig::new(vocab, d_model).with_knots(32)
    }

    /// CPU-scale preset: small enough for CPU (a few thousand parameters at d = 32), growing
    /// with d_model: k = 3, d_seed = d/2 (at least 8), h = 2, κ = 8, r = d/8 (at least 4).
    pub fn cpu(vocab: usize, d_model: usize) -> Self {
        GeneratorConfig::new(vocab, d_model)
            .with_digits(3)
            .with_d_seed((d_model / 2).max(8))
            .with_heads(2)
            .with_knots(8)
            .with_modes((d_model / 8).max(4))
    }

    /// A CPU-scale generator whose capacity grows with the width it serves: h 4 heads,
    /// d_seed = max(D, 16), κ 16 knots, r = max(D/4, 8) modes. At D 64 and V 4,096 that is
    /// 89,600 parameters, a third of the 262,144 of the table it replaces, against 8,832 for
    /// [`GeneratorConfig::cpu`] (the ablation at d 96 in reports/cpu-reference found the
    /// small preset's capacity cost about half of Leviathan's gap).
    pub fn cpu_wide(vocab: usize, d_model: usize) -> Self {
        GeneratorConfig::new(vocab, d_model)
            .with_digits(3)
            .with_d_seed(d_model.max(16))
            .with_heads(4)
            .with_knots(16)
            .with_modes((d_model / 4).max(8))
    }

    /// A preset by name: `cpu`, `cpu-wide`, `v1` or `v2`.
    pub fn preset(name: &str, vocab: usize, d_model: usize) -> Result<Self> {
        match name {
            "cpu" => Ok(Self::cpu(vocab, d_model)),
            "cpu-wide" => Ok(Self::cpu_wide(vocab, d_model)),
            "v1" => Ok(Self::v1(vocab, d_model)),
            "v2" => Ok(Self::v2(vocab, d_model)),
            other => Err(Error::Invalid(format!(
                "unknown generator preset {other:?} (cpu|cpu-wide|v1|v2)"
            ))),
        }
    }

    /// b = ⌈V^(1/k)⌉.
    pub fn base(&self) -> usize {
        digit_base(self.vocab, self.digits)
    }

    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("vocab", self.vocab),
            ("d_model", self.d_model),
            ("digits", self.digits),
            ("d_seed", self.d_seed),
            ("heads", self.heads),
            ("modes", self.modes),
            ("chunk_tokens", self.chunk_tokens),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(Error::Model(format!("generator {name} must be positive")));
        }
        if self.knots < 2 {
            return Err(Error::Model("generator knots must be at least 2".into()));
        }
        // Int tensors are i32 on flex: codebook indices must fit.
        if self.base().saturating_mul(self.digits) > i32::MAX as usize {
            return Err(Error::Model("generator codebooks too large".into()));
        }
        Ok(())
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Generator<B> {
        self.validate().expect("invalid generator config");
        let (ds, h) = (self.d_seed, self.heads);
        let normal = |mean, std| Initializer::Normal { mean, std };
        Generator {
            codebooks: normal(0.0, 0.02).init([self.digits * self.base(), ds], device),
            w_seed: normal(0.0, 0.02).init([ds, h * ds], device),
            ln_gamma: Initializer::Ones.init([h, ds], device),
            ln_beta: Initializer::Zeros.init([h, ds], device),
            spline: normal(
                if self.spline_decay == SplineDecay::One {
                    0.0
                } else {
                    1.0
                },
                0.1,
            )
            .init([h * ds, self.knots, self.modes], device),
            w_out: normal(0.0, 0.02 / (h as f64).sqrt())
                .init([h * self.modes, self.d_model], device),
            vocab: self.vocab,
            base: self.base(),
            digits: self.digits,
            d_seed: ds,
            heads: h,
            knots: self.knots,
            modes: self.modes,
            sigmoid_scale: self.sigmoid_scale,
            normalize_basis: self.normalize_basis,
            spline_decay: self.spline_decay,
            ln_eps: self.ln_eps,
            log_eps: self.log_eps,
            chunk_tokens: self.chunk_tokens,
            strategy: self.strategy,
        }
    }
}

/// The LEV generator: token ids to embeddings.
#[derive(Module, Debug)]
pub struct Generator<B: Backend> {
    /// The k codebooks stacked: rows r·b..(r+1)·b are C_{r+1}. `[k·b, d_seed]`.
    pub codebooks: Param<Tensor<B, 2>>,
    /// The h seed projections side by side: columns ℓ·d_seed.. are W_seed,ℓ. `[d_seed, h·d_seed]`.
    pub w_seed: Param<Tensor<B, 2>>,
    /// Per-head LayerNorm weight and bias. `[h, d_seed]`.
    pub ln_gamma: Param<Tensor<B, 2>>,
    pub ln_beta: Param<Tensor<B, 2>>,
    /// Spline coefficients S_ℓ[j, g, m] (or Δ = S − 1 under [`SplineDecay::One`]), heads
    /// major. `[h·d_seed, κ, r]`.
    pub spline: Param<Tensor<B, 3>>,
    /// The h output maps stacked: rows ℓ·r.. are W_out,ℓ. `[h·r, D]`.
    pub w_out: Param<Tensor<B, 2>>,
    vocab: usize,
    base: usize,
    digits: usize,
    d_seed: usize,
    heads: usize,
    knots: usize,
    modes: usize,
    sigmoid_scale: f64,
    normalize_basis: bool,
    spline_decay: SplineDecay,
    ln_eps: f64,
    log_eps: f64,
    chunk_tokens: usize,
    strategy: GeneratorStrategy,
}

/// Quadratic B-spline basis on κ uniform knots g/(κ−1) over [0,1] (§2.2.4, kernel of [KH] and
/// [R]): with δ = |t − g/(κ−1)|·(κ−1), B_g = 0.75 − δ² for δ < 0.5, ½(1.5 − δ)² for
/// 0.5 ≤ δ < 1.5, else 0. Input `[a, n, 1]`, output `[a, n, κ]`; `normalize` divides by Σ_g B_g.
pub fn bspline_basis<B: Backend>(t: Tensor<B, 3>, knots: usize, normalize: bool) -> Tensor<B, 3> {
    let grid = Tensor::<B, 1, Int>::arange(0..knots as i64, &t.device())
        .float()
        .reshape([1, 1, knots]);
    let delta = (t * (knots - 1) as f64 - grid).abs();
    let inner = -delta.clone().square() + 0.75;
    // clamp_min(0) gives the zero outside the support δ ≥ 1.5.
    let outer = (-delta.clone() + 1.5).clamp_min(0.0).square() * 0.5;
    let basis = outer.mask_where(delta.lower_elem(0.5), inner);
    if normalize {
        basis.clone() / basis.sum_dim(2)
    } else {
        basis
    }
}

/// Product over dim 1 of `[a, j, c]` factors, `[a, c]` out, computed as in [KH] and [R]:
/// (−1)^(number of negative factors) · exp(Σ_j log(|φ_j| + ε)). The log-sum keeps a product
/// of d_seed = 128 factors in range; the parity carries the sign, which |·| loses.
pub fn separable_product<B: Backend>(factors: Tensor<B, 3>, log_eps: f64) -> Tensor<B, 2> {
    let [a, j, c] = factors.dims();
    // Sums over the middle axis as a [1, j]·[j, c] matmul per batch: flex reduces a middle axis
    // (and expands it again in the backward pass) with strided element iteration, which was
    // the largest cost of a Leviathan step; the matmul reads the factors contiguously.
    let ones = Tensor::<B, 3>::ones([1, 1, j], &factors.device());
    // A bool-derived tensor carries no gradient: the sign is piecewise constant.
    let negatives = ones.clone().matmul(factors.clone().lower_elem(0.0).float());
    let parity = negatives.remainder_scalar(2.0) * (-2.0) + 1.0;
    let log_abs = ones.matmul((factors.abs() + log_eps).log());
    (log_abs.exp() * parity).reshape([a, c])
}

impl<B: Backend> Generator<B> {
    /// The same weights with another strategy and chunk size (for benchmarks and tests).
    pub fn with_strategy(mut self, strategy: GeneratorStrategy, chunk_tokens: usize) -> Self {
        assert!(chunk_tokens > 0, "chunk_tokens must be positive");
        self.strategy = strategy;
        self.chunk_tokens = chunk_tokens;
        self
    }

    /// The vocabulary size V (ids are `0..V`).
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// Token ids `[batch, seq]` on the device to embeddings `[batch, seq, D]`: reads the ids
    /// back to plan the work, so the training step uses [`Generator::forward_host`] instead.
    pub fn forward(&self, ids: Tensor<B, 2, Int>) -> Result<Tensor<B, 3>> {
        let dims = ids.dims();
        let host: Vec<i64> = ids.to_data().iter::<i64>().collect();
        self.forward_host(&host, dims, &ids.device())
    }

    /// Token ids held on the host (row-major `dims`) to embeddings `[batch, seq, D]` on
    /// `device`, following `strategy`: the distinct ids are found on the host, so nothing is
    /// read back from the device. An id outside `0..V` is an error.
    pub fn forward_host(
        &self,
        ids: &[i64],
        dims: [usize; 2],
        device: &B::Device,
    ) -> Result<Tensor<B, 3>> {
        let [b, t] = dims;
        if ids.len() != b * t {
            return Err(Error::Model(format!(
                "{} token ids do not fill a [{b}, {t}] batch",
                ids.len()
            )));
        }
        super::check_ids(ids, self.vocab)?;
        let host: Vec<usize> = ids.iter().map(|&v| v as usize).collect();
        let strategy = match self.strategy {
            GeneratorStrategy::Auto => {
                let distinct = distinct_sorted(&host).len();
                if 2 * distinct > self.vocab {
                    GeneratorStrategy::Vocabulary
                } else {
                    GeneratorStrategy::DistinctIds
                }
            }
            s => s,
        };
        let rows = match strategy {
            GeneratorStrategy::PerToken => self.embed_ids(&host),
            GeneratorStrategy::Vocabulary => {
                let all: Vec<usize> = (0..self.vocab).collect();
                let index =
                    Tensor::<B, 1, Int>::from_data(TensorData::new(ids.to_vec(), [b * t]), device);
                self.embed_ids(&all).select(0, index)
            }
            _ => {
                let distinct = distinct_sorted(&host);
                let inverse: Vec<i64> = host
                    .iter()
                    .map(|v| distinct.binary_search(v).expect("id is in its own set") as i64)
                    .collect();
                let index =
                    Tensor::<B, 1, Int>::from_data(TensorData::new(inverse, [b * t]), device);
                self.embed_ids(&distinct).select(0, index)
            }
        };
        let d = rows.dims()[1];
        Ok(rows.reshape([b, t, d]))
    }

    /// Embeddings of the given ids, `[ids.len(), D]`, generated `chunk_tokens` at a time.
    pub fn embed_ids(&self, ids: &[usize]) -> Tensor<B, 2> {
        let parts: Vec<_> = ids
            .chunks(self.chunk_tokens)
            .map(|c| self.embed_chunk(c))
            .collect();
        if parts.len() == 1 {
            parts.into_iter().next().expect("one part")
        } else {
            Tensor::cat(parts, 0)
        }
    }

    fn embed_chunk(&self, ids: &[usize]) -> Tensor<B, 2> {
        let (n, k, ds, h, r) = (ids.len(), self.digits, self.d_seed, self.heads, self.modes);
        let device = self.codebooks.val().device();
        // Step 1–2: codebook row of digit r is r·b + i_r in the stacked table.
        let rows: Vec<i64> = ids
            .iter()
            .flat_map(|&id| digits(id, self.base, k).into_iter().enumerate())
            .map(|(slot, d)| (slot * self.base + d) as i64)
            .collect();
        let rows = Tensor::<B, 2, Int>::from_data(TensorData::new(rows, [n, k]), &device);
        let z = embedding(self.codebooks.val(), rows)
            .sum_dim(1)
            .reshape([n, ds]);
        // Step 3: per-head projection, LayerNorm over each head's d_seed, sigmoid(s·x).
        let s = z.matmul(self.w_seed.val()).reshape([n, h, ds]);
        let mean = s.clone().mean_dim(2);
        let centred = s - mean;
        let var = centred.clone().square().mean_dim(2);
        let normed = centred / (var + self.ln_eps).sqrt();
        let normed =
            normed * self.ln_gamma.val().unsqueeze::<3>() + self.ln_beta.val().unsqueeze::<3>();
        let t = sigmoid(normed * self.sigmoid_scale);
        // Step 4–5: one batched [n, κ]·[κ, r] matmul per (head, coordinate).
        let t = t.permute([1, 2, 0]).reshape([h * ds, n, 1]);
        let basis = bspline_basis(t, self.knots, self.normalize_basis);
        let phi = basis.matmul(self.coefficients()).reshape([h, ds, n * r]);
        let modes = separable_product(phi, self.log_eps);
        // Step 6: E = Σ_ℓ W_out,ℓ M_ℓ is one [n, h·r]·[h·r, D] matmul.
        let modes = modes.reshape([h, n, r]).swap_dims(0, 1).reshape([n, h * r]);
        modes.matmul(self.w_out.val())
    }
}

impl<B: Backend> Generator<B> {
    /// The spline coefficients S, whatever their parameterisation.
    pub fn coefficients(&self) -> Tensor<B, 3> {
        match self.spline_decay {
            SplineDecay::One => self.spline.val().add_scalar(1.0),
            SplineDecay::Exempt | SplineDecay::Zero => self.spline.val(),
        }
    }

    pub fn spline_decay(&self) -> SplineDecay {
        self.spline_decay
    }
}

/// The distinct values of `ids`, sorted.
fn distinct_sorted(ids: &[usize]) -> Vec<usize> {
    let mut v = ids.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

/// Configuration of a Leviathan model.
#[derive(Config, Debug)]
pub struct LeviathanConfig {
    /// The transformer body; must have `d_model == generator.d_model`.
    pub body: BodyConfig,
    /// The LEV generator; its `vocab` is the model's vocabulary.
    pub generator: GeneratorConfig,
}

impl LeviathanConfig {
    /// The model's vocabulary size.
    pub fn vocab(&self) -> usize {
        self.generator.vocab
    }

    pub fn validate(&self) -> Result<()> {
        if self.body.d_model != self.generator.d_model {
            return Err(Error::Model(format!(
                "generator d_model {} differs from body d_model {}",
                self.generator.d_model, self.body.d_model
            )));
        }
        self.generator.validate()?;
        self.body.validate()
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Leviathan<B> {
        self.validate().expect("invalid leviathan config");
        let head = LinearConfig::new(self.body.d_model, self.vocab())
            .with_bias(false)
            .with_initializer(Initializer::Normal {
                mean: 0.0,
                std: self.body.init_std,
            })
            .init(device);
        Leviathan {
            generator: self.generator.init(device),
            body: self.body.init(device),
            head,
            precision: Precision::F32,
        }
    }
}

/// Leviathan: LEV generator, shared body, untied head.
#[derive(Module, Debug)]
pub struct Leviathan<B: Backend> {
    pub generator: Generator<B>,
    pub body: Body<B>,
    pub head: Linear<B>,
    /// Compute type of the body; the generator always runs in f32 (`super::precision`).
    pub precision: Precision,
}

impl<B: Backend> Leviathan<B> {
    /// The same weights computing in `precision`.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// Embeddings `[batch, seq, d_model]` to final hidden states, in the compute type.
    pub fn body_forward(&self, embedded: Tensor<B, 3>) -> Tensor<B, 3> {
        self.body.forward(cast_to(embedded, self.precision.dtype()))
    }

    /// Token ids `[batch, seq]` to final hidden states `[batch, seq, d_model]`.
    pub fn hidden(&self, ids: Tensor<B, 2, Int>) -> Result<Tensor<B, 3>> {
        Ok(self.body_forward(self.generator.forward(ids)?))
    }

    /// Token ids `[batch, seq]` to logits `[batch, seq, vocab]` (f32).
    pub fn forward(&self, ids: Tensor<B, 2, Int>) -> Result<Tensor<B, 3>> {
        let h = self.hidden(ids)?;
        let w = cast_to(self.head.weight.val(), h.dtype());
        Ok(cast_to(
            h.matmul(w.unsqueeze::<3>()),
            burn::tensor::DType::F32,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_is_exact_ceiling_root() {
        assert_eq!(digit_base(200_376, 3), 59); // 58³ = 195,112 < V ≤ 59³
        assert_eq!(digit_base(205_379, 3), 59);
        assert_eq!(digit_base(205_380, 3), 60);
        assert_eq!(digit_base(200_376, 2), 448);
        assert_eq!(digit_base(200_376, 4), 22);
        assert_eq!(digit_base(64, 3), 4);
        assert_eq!(digit_base(65, 3), 5);
        assert_eq!(digit_base(1, 3), 1);
    }

    #[test]
    fn digits_are_most_significant_first() {
        assert_eq!(digits(59 * 59 * 2 + 59 * 3 + 4, 59, 3), vec![2, 3, 4]);
        assert_eq!(digits(0, 59, 3), vec![0, 0, 0]);
    }
}
