//! The transformer body shared by the dense baseline and Leviathan: RMSNorm (burn's own),
//! rotary positions, causal self-attention, the SwiGLU feed-forward, the pre-norm block and
//! the stack of blocks with its final norm. Owns everything between the input embedding (a
//! table or the LEV generator) and the output head, so that "same body" in the iso-body
//! comparison means the same code. Every block computes in its input's float type (weights
//! cast at use), which is how mixed precision reaches the body (`super::precision`).

use burn::config::Config;
use burn::module::{Initializer, Module};
use burn::nn::{Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::tensor::activation::silu;
use burn::tensor::backend::Backend;
use burn::tensor::module::attention;
use burn::tensor::module::linear;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{DType, Tensor, TensorData};

use super::precision::cast_to;
use crate::error::{Error, Result};

/// `l(x)` computed in x's float type: the weight is cast to it when the types differ (mixed
/// precision, `super::precision`); in f32 this is burn's own `Linear::forward`.
fn apply_linear<B: Backend, const D: usize>(l: &Linear<B>, x: Tensor<B, D>) -> Tensor<B, D> {
    let w = l.weight.val();
    if w.dtype() == x.dtype() {
        return l.forward(x);
    }
    let dtype = x.dtype();
    let b = l.bias.as_ref().map(|b| cast_to(b.val(), dtype));
    linear(x, cast_to(w, dtype), b)
}

/// RMSNorm in x's float type: burn's `RmsNorm::forward` (statistics in f32) when the types
/// agree, else the same computation with the scale cast to x's type.
fn apply_rms_norm<B: Backend, const D: usize>(n: &RmsNorm<B>, x: Tensor<B, D>) -> Tensor<B, D> {
    let gamma = n.gamma.val();
    let dtype = x.dtype();
    if gamma.dtype() == dtype {
        return n.forward(x);
    }
    let rms = (cast_to(x.clone(), DType::F32).square().mean_dim(D - 1) + n.epsilon).sqrt();
    (x / cast_to(rms, dtype)) * cast_to(gamma, dtype).unsqueeze()
}

/// The default feed-forward width: 8/3 · d (SwiGLU keeps the parameters of a 4·d GELU MLP),
/// rounded up to a multiple of 64.
pub fn default_d_ff(d_model: usize) -> usize {
    (8 * d_model).div_ceil(3).div_ceil(64) * 64
}

/// Configuration of the transformer body: `n_layers` pre-norm blocks plus the final RMSNorm.
#[derive(Config, Debug)]
pub struct BodyConfig {
    /// Width of the residual stream.
    pub d_model: usize,
    /// Number of blocks.
    pub n_layers: usize,
    /// Attention heads; `d_model` must be divisible by it and the head width must be even (RoPE).
    pub n_heads: usize,
    /// Hidden width of SwiGLU; `None` means [`default_d_ff`].
    pub d_ff: Option<usize>,
    /// Longest sequence the rotary tables cover.
    #[config(default = 256)]
    pub seq_len: usize,
    /// RoPE base.
    #[config(default = 10000.0)]
    pub rope_theta: f64,
    /// RMSNorm epsilon.
    #[config(default = 1e-5)]
    pub norm_eps: f64,
    /// Standard deviation of the normal initialisation of every projection (GPT-2/LLaMA 0.02).
    #[config(default = 0.02)]
    pub init_std: f64,
}

impl BodyConfig {
    /// The feed-forward width actually used.
    pub fn d_ff(&self) -> usize {
        self.d_ff.unwrap_or_else(|| default_d_ff(self.d_model))
    }

    /// Per-head width.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_heads.max(1)
    }

    /// Rejects shapes the blocks cannot be built with.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Model(m));
        if self.d_model == 0 || self.n_heads == 0 || self.seq_len == 0 || self.d_ff() == 0 {
            return bad("d_model, n_heads, d_ff and seq_len must be positive".into());
        }
        if !self.d_model.is_multiple_of(self.n_heads) {
            return bad(format!(
                "d_model {} is not divisible by n_heads {}",
                self.d_model, self.n_heads
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return bad(format!(
                "head width {} must be even for RoPE",
                self.head_dim()
            ));
        }
        Ok(())
    }

    /// Builds the body. Panics on an invalid config; call [`BodyConfig::validate`] first where
    /// the config comes from a user.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Body<B> {
        self.validate().expect("invalid body config");
        let blocks = (0..self.n_layers)
            .map(|_| BlockConfig::from_body(self).init(device))
            .collect();
        Body {
            blocks,
            norm: RmsNormConfig::new(self.d_model)
                .with_epsilon(self.norm_eps)
                .init(device),
            rope: Rope::new(self.seq_len, self.head_dim(), self.rope_theta, device),
        }
    }
}

/// `n_layers` pre-norm blocks and the final RMSNorm.
#[derive(Module, Debug)]
pub struct Body<B: Backend> {
    pub blocks: Vec<Block<B>>,
    pub norm: RmsNorm<B>,
    pub rope: Rope<B>,
}

impl<B: Backend> Body<B> {
    /// `[batch, seq, d_model]` embeddings to normalised final hidden states of the same shape.
    pub fn forward(&self, mut x: Tensor<B, 3>) -> Tensor<B, 3> {
        for block in &self.blocks {
            x = block.forward(x, &self.rope);
        }
        apply_rms_norm(&self.norm, x)
    }
}

/// Rotary position tables (Su et al. 2021). Half-split pairing (x_i, x_{i+hd/2}), as in
/// GPT-NeoX and Hugging Face LLaMA; the pairing is a fixed permutation of the head
/// coordinates, so it is equivalent to burn's interleaved form up to relabelling.
///
/// Applied as x ⊙ C + (x R) ⊙ S, with C = [cos, cos] and S = [sin, sin] per position and R the
/// signed permutation taking (x1, x2) to (−x2, x1): one small matmul and three contiguous
/// element-wise ops. Slicing the halves instead (two narrows and a concat) makes every
/// element-wise op of the forward and backward pass walk strided views, which on the CPU
/// backend cost more than the block's matmuls.
#[derive(Module, Debug)]
pub struct Rope<B: Backend> {
    /// `[seq_len, head_dim]`; plain tensors are constants, not parameters.
    cos: Tensor<B, 2>,
    sin: Tensor<B, 2>,
    /// `[head_dim, head_dim]`: x R = (−x2, x1).
    rotate: Tensor<B, 2>,
}

impl<B: Backend> Rope<B> {
    pub fn new(seq_len: usize, head_dim: usize, theta: f64, device: &B::Device) -> Self {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(seq_len * head_dim);
        let mut sin = Vec::with_capacity(seq_len * head_dim);
        for t in 0..seq_len {
            for i in 0..head_dim {
                let freq = theta.powf(-((2 * (i % half.max(1))) as f64) / head_dim as f64);
                let angle = t as f64 * freq;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        let mut rotate = vec![0f32; head_dim * head_dim];
        for j in 0..half {
            rotate[(j + half) * head_dim + j] = -1.0; // output j takes −x2_j
            rotate[j * head_dim + j + half] = 1.0; // output j + half takes x1_j
        }
        Rope {
            cos: Tensor::from_data(TensorData::new(cos, [seq_len, head_dim]), device),
            sin: Tensor::from_data(TensorData::new(sin, [seq_len, head_dim]), device),
            rotate: Tensor::from_data(TensorData::new(rotate, [head_dim, head_dim]), device),
        }
    }

    /// Rotates `[batch, seq, head_dim]` (any number of heads folded into the batch) by
    /// position.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [_, t, _] = x.dims();
        assert!(
            t <= self.cos.dims()[0],
            "sequence {t} longer than the RoPE table"
        );
        let dtype = x.dtype();
        let cos = cast_to(self.cos.clone().narrow(0, 0, t), dtype).unsqueeze::<3>();
        let sin = cast_to(self.sin.clone().narrow(0, 0, t), dtype).unsqueeze::<3>();
        let rotated = x
            .clone()
            .matmul(cast_to(self.rotate.clone(), dtype).unsqueeze::<3>());
        x * cos + rotated * sin
    }
}

/// Configuration of one pre-norm block.
#[derive(Config, Debug)]
pub struct BlockConfig {
    /// Residual width.
    pub d_model: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// SwiGLU hidden width.
    pub d_ff: usize,
    /// RMSNorm epsilon.
    #[config(default = 1e-5)]
    pub norm_eps: f64,
    /// Normal init std of the projections.
    #[config(default = 0.02)]
    pub init_std: f64,
}

impl BlockConfig {
    fn from_body(body: &BodyConfig) -> Self {
        BlockConfig::new(body.d_model, body.n_heads, body.d_ff())
            .with_norm_eps(body.norm_eps)
            .with_init_std(body.init_std)
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Block<B> {
        let d = self.d_model;
        let linear = |i, o| {
            LinearConfig::new(i, o)
                .with_bias(false)
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: self.init_std,
                })
                .init(device)
        };
        Block {
            attn_norm: RmsNormConfig::new(d)
                .with_epsilon(self.norm_eps)
                .init(device),
            // q, k and v fused into one [d, 3d] matmul: same parameters as three d×d ones.
            qkv: linear(d, 3 * d),
            out: linear(d, d),
            ffn_norm: RmsNormConfig::new(d)
                .with_epsilon(self.norm_eps)
                .init(device),
            // W1 (gate) and W3 (up) fused into one [d, 2·d_ff] matmul.
            gate_up: linear(d, 2 * self.d_ff),
            down: linear(self.d_ff, d),
            n_heads: self.n_heads,
            d_ff: self.d_ff,
        }
    }
}

/// x + Attn(RMSNorm(x)), then x + SwiGLU(RMSNorm(x)) (LLaMA, Touvron et al. 2023).
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    pub attn_norm: RmsNorm<B>,
    pub qkv: Linear<B>,
    pub out: Linear<B>,
    pub ffn_norm: RmsNorm<B>,
    pub gate_up: Linear<B>,
    pub down: Linear<B>,
    n_heads: usize,
    d_ff: usize,
}

impl<B: Backend> Block<B> {
    pub fn forward(&self, x: Tensor<B, 3>, rope: &Rope<B>) -> Tensor<B, 3> {
        let x = x.clone() + self.attention(apply_rms_norm(&self.attn_norm, x), rope);
        let h = apply_rms_norm(&self.ffn_norm, x.clone());
        x + self.swiglu(h)
    }

    /// Causal multi-head self-attention, softmax(QKᵀ/√hd)V, with RoPE on Q and K.
    ///
    /// The fused QKV projection is laid out once as one contiguous `[3, b·h, t, hd]` tensor
    /// (a single copy, whose backward is a single copy), so Q, K and V are contiguous slices
    /// and RoPE and attention never work on strided views.
    fn attention(&self, x: Tensor<B, 3>, rope: &Rope<B>) -> Tensor<B, 3> {
        let [b, t, d] = x.dims();
        let h = self.n_heads;
        let hd = d / h;
        let qkv = apply_linear(&self.qkv, x)
            .reshape([b, t, 3, h, hd])
            .permute([2, 0, 3, 1, 4])
            .reshape([3 * b * h, t, hd]);
        let qk = rope.forward(qkv.clone().narrow(0, 0, 2 * b * h));
        let q = qk.clone().narrow(0, 0, b * h).reshape([b, h, t, hd]);
        let k = qk.narrow(0, b * h, b * h).reshape([b, h, t, hd]);
        let v = qkv.narrow(0, 2 * b * h, b * h).reshape([b, h, t, hd]);
        let opts = AttentionModuleOptions {
            is_causal: true,
            ..Default::default()
        };
        let a = attention(q, k, v, None, None, opts);
        apply_linear(&self.out, a.swap_dims(1, 2).reshape([b, t, d]))
    }

    /// SwiGLU (Shazeer 2020): W2 (silu(W1 x) ⊙ W3 x). W1 and W3 are stored side by side in
    /// `gate_up` and applied as two matmuls on column slices of it, so that the gate and the
    /// up projection come out contiguous (slicing one `[.., 2·d_ff]` product would leave
    /// the element-wise product and its backward on strided views).
    fn swiglu(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let w = cast_to(self.gate_up.weight.val(), x.dtype());
        let gate = x
            .clone()
            .matmul(w.clone().narrow(1, 0, self.d_ff).unsqueeze::<3>());
        let up = x.matmul(w.narrow(1, self.d_ff, self.d_ff).unsqueeze::<3>());
        apply_linear(&self.down, silu(gate) * up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    type B = Flex;

    #[test]
    fn default_d_ff_is_eight_thirds_rounded_up_to_64() {
        assert_eq!(default_d_ff(128), 384); // 341.3 -> 384
        assert_eq!(default_d_ff(256), 704); // 682.7 -> 704
        assert_eq!(default_d_ff(2048), 5504); // 5461.3 -> 5504
    }

    #[test]
    fn rope_preserves_norm_and_leaves_position_zero_unchanged() {
        let dev = Default::default();
        let rope = Rope::<B>::new(8, 4, 10000.0, &dev);
        let x = Tensor::<B, 3>::random([2, 8, 4], burn::tensor::Distribution::Default, &dev);
        let y = rope.forward(x.clone());
        let n_in: Vec<f32> = x
            .clone()
            .square()
            .sum_dim(2)
            .into_data()
            .iter::<f32>()
            .collect();
        let n_out: Vec<f32> = y
            .clone()
            .square()
            .sum_dim(2)
            .into_data()
            .iter::<f32>()
            .collect();
        for (a, b) in n_in.iter().zip(&n_out) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        let x0: Vec<f32> = x
            .clone()
            .narrow(1, 0, 1)
            .into_data()
            .iter::<f32>()
            .collect();
        let y0: Vec<f32> = y
            .clone()
            .narrow(1, 0, 1)
            .into_data()
            .iter::<f32>()
            .collect();
        assert_eq!(x0, y0);
        let y1: Vec<f32> = y
            .clone()
            .narrow(1, 1, 1)
            .into_data()
            .iter::<f32>()
            .collect();
        assert_ne!(x0, y1);
        // Position 1, pair (0, 2) at angle 1 (θ^0): (x0 cos 1 − x2 sin 1, x0 sin 1 + x2 cos 1).
        let xs: Vec<f32> = x.narrow(1, 1, 1).into_data().iter::<f32>().collect();
        let (c, s) = (1f32.cos(), 1f32.sin());
        assert!((y1[0] - (xs[0] * c - xs[2] * s)).abs() < 1e-6);
        assert!((y1[2] - (xs[0] * s + xs[2] * c)).abs() < 1e-6);
    }

    #[test]
    fn attention_is_causal() {
        // Changing the last position's input must not change any earlier output.
        let dev = Default::default();
        let body = BodyConfig::new(16, 1, 2).with_seq_len(6).init::<B>(&dev);
        let x = Tensor::<B, 3>::random([1, 6, 16], burn::tensor::Distribution::Default, &dev);
        let mut data: Vec<f32> = x.clone().into_data().iter::<f32>().collect();
        for v in &mut data[5 * 16..] {
            *v += 1.0;
        }
        let x2 = Tensor::<B, 3>::from_data(TensorData::new(data, [1, 6, 16]), &dev);
        let y1: Vec<f32> = body.forward(x).into_data().iter::<f32>().collect();
        let y2: Vec<f32> = body.forward(x2).into_data().iter::<f32>().collect();
        for i in 0..5 * 16 {
            assert!((y1[i] - y2[i]).abs() < 1e-6, "position {} changed", i / 16);
        }
        assert!((5 * 16..6 * 16).any(|i| (y1[i] - y2[i]).abs() > 1e-4));
    }
}
