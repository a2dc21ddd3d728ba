//! The pieces of a language-model training step: next-token cross-entropy fused with the
//! output head ([`fused_head_loss`]), backward, global gradient-norm clipping and an AdamW
//! update, plus [`train_step`] and a phase-timed [`timed_train_step`] for the benchmark and the
//! overfit tests. The training loop proper (schedules, checkpoints, evaluation) is `train`'s.
//!
//! Nothing here reads a value back to the host: the loss and the gradient norm stay on the
//! device as one-element tensors, and clipping scales by min(1, max/‖g‖) computed there, so
//! an asynchronous backend (CUDA) is never made to wait inside a step. The caller reads them
//! when it logs.

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor};

use burn::module::ParamId;
use burn::tensor::IndexingUpdateOp;

use burn::tensor::{DType, ElementConversion, TensorData};

use super::precision::cast_to;
use super::{Head, LanguageModel, TokenBatch};
use crate::error::Result;

/// Mean next-token cross-entropy in nats: logits `[b, t, V]`, targets `[b, t]`.
pub fn lm_loss<B: Backend>(logits: Tensor<B, 3>, targets: Tensor<B, 2, Int>) -> Tensor<B, 1> {
    let [b, t, v] = logits.dims();
    let logp = log_softmax(logits.reshape([b * t, v]), 1);
    let picked = logp.gather(1, targets.reshape([b * t, 1]));
    -picked.mean()
}

/// Optimiser settings of the step. AdamW's epsilon and weight decay are set explicitly because
/// burn's defaults (1e-5, 1e-4) differ from PyTorch's and the usual LM recipe.
#[derive(Debug, Clone, Copy)]
pub struct StepSettings {
    pub lr: f64,
    pub beta_2: f32,
    pub epsilon: f32,
    pub weight_decay: f32,
    /// Global gradient-norm clip (PyTorch's `clip_grad_norm_`); `None` disables it.
    pub clip_norm: Option<f64>,
    /// Logits per chunk of the fused head + loss (tokens × vocab); 2^25 floats is 128 MB.
    pub head_chunk_elems: usize,
}

impl Default for StepSettings {
    fn default() -> Self {
        StepSettings {
            lr: 3e-4,
            beta_2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.1,
            clip_norm: Some(1.0),
            head_chunk_elems: 1 << 25,
        }
    }
}

impl StepSettings {
    pub fn adamw(&self) -> AdamWConfig {
        AdamWConfig::new()
            .with_beta_2(self.beta_2)
            .with_epsilon(self.epsilon)
            .with_weight_decay(self.weight_decay)
    }
}

/// Sums the squared gradients of every parameter of a module.
struct SquaredNorm<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredNorm<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let s = g.square().sum();
            self.sum = Some(match self.sum.take() {
                Some(acc) => acc + s,
                None => s,
            });
        }
    }
}

/// Scales every gradient by a common one-element factor (on the device).
struct Scale<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    factor: Tensor<B::InnerBackend, 1>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            let f = self.factor.clone().reshape([1; D]);
            self.grads.register::<B::InnerBackend, D>(param.id, g * f);
        }
    }
}

/// Global L2 norm of `grads` over the parameters of `model`, as a one-element tensor (zero
/// when there are none).
pub fn global_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &GradientsParams,
    device: &B::Device,
) -> Tensor<B::InnerBackend, 1> {
    let mut sq = SquaredNorm::<B> { grads, sum: None };
    model.visit(&mut sq);
    sq.sum.unwrap_or_else(|| Tensor::zeros([1], device)).sqrt()
}

/// Rescales `grads` so that their global L2 norm is at most `max_norm` (PyTorch's
/// `clip_grad_norm_`: factor min(1, max / (‖g‖ + 1e-6))); returns the norm before clipping,
/// on the device. burn's own clipping is per tensor (docs/burn_api.md §5), hence this. The factor
/// is applied to every gradient without looking at it on the host: a multiply per
/// parameter instead of a sync. An infinite `max_norm` only measures.
pub fn clip_global_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
    device: &B::Device,
) -> Tensor<B::InnerBackend, 1> {
    let norm = global_norm::<B, M>(model, grads, device);
    if max_norm.is_finite() {
        let factor = (norm.clone() + 1e-6)
            .recip()
            .mul_scalar(max_norm)
            .clamp_max(1.0);
        model.visit(&mut Scale::<B> { grads, factor });
    }
    norm
}

/// The head and the cross-entropy fused, with the gradient written by hand.
///
/// Autodiff through logits `[tokens, vocab]` costs about sixteen full passes over them (the
/// log-softmax, the gather and their backward); at V = 200k they are most of a CPU step. Here
/// the head runs on the inner backend in chunks of `chunk_elems` logits: per chunk,
/// lse = max + log Σ exp(z − max), loss += Σ (lse − z_target), and the gradient of the mean loss
/// G = (softmax(z) − onehot) / N is formed once, giving ∂W = hᵀG and ∂h = G Wᵀ. The body
/// receives ∂h through the surrogate Σ h ⊙ ∂h (its gradient with respect to h is ∂h).
pub struct FusedLoss<B: AutodiffBackend> {
    /// Mean next-token cross-entropy (nats), one element on the device.
    pub loss: Tensor<B::InnerBackend, 1>,
    /// Backpropagate this: its gradient reaches every parameter below the head.
    pub surrogate: Tensor<B, 1>,
    /// The head weight's id and gradient, in the parameter's own layout.
    pub head_grad: (ParamId, Tensor<B::InnerBackend, 2>),
}

pub fn fused_head_loss<B: AutodiffBackend>(
    hidden: Tensor<B, 3>,
    head: Head<'_, B>,
    targets: Tensor<B, 2, Int>,
    chunk_elems: usize,
) -> FusedLoss<B> {
    let [b, t, d] = hidden.dims();
    let n = b * t;
    let hidden = hidden.reshape([n, d]);
    let h = hidden.clone().inner();
    // Matmuls in the hidden states' type (a half type under mixed precision), statistics and
    // gradients of the loss in f32, the head's gradient back in its parameter's f32.
    let compute = h.dtype();
    let w = cast_to(head.weight().inner(), compute); // [d, V]
    let v = w.dims()[1];
    let targets = targets.inner().reshape([n, 1]);
    let chunk = (chunk_elems / v.max(1)).clamp(1, n);
    let scale = 1.0 / n as f64;
    let on_host = is_cpu_backend::<B::InnerBackend>();
    let mut grad_w: Option<Tensor<B::InnerBackend, 2>> = None;
    let mut grad_h = Vec::with_capacity(n.div_ceil(chunk));
    let mut loss_sum: Option<Tensor<B::InnerBackend, 1>> = None;
    let mut start = 0;
    while start < n {
        let len = chunk.min(n - start);
        let hc = h.clone().narrow(0, start, len);
        let tc = targets.clone().narrow(0, start, len);
        let z = cast_to(hc.clone().matmul(w.clone()), DType::F32);
        let (part, g) = if on_host {
            softmax_loss_grad_host(z, tc, scale)
        } else {
            softmax_loss_grad(z, tc, scale)
        };
        loss_sum = Some(match loss_sum.take() {
            Some(acc) => acc + part,
            None => part,
        });
        let g = cast_to(g, compute);
        let gw = cast_to(hc.transpose().matmul(g.clone()), DType::F32);
        grad_w = Some(match grad_w.take() {
            Some(acc) => acc + gw,
            None => gw,
        });
        grad_h.push(g.matmul(w.clone().transpose()));
        start += len;
    }
    let grad_h = Tensor::<B, 2>::from_inner(Tensor::cat(grad_h, 0));
    let grad_w = grad_w.expect("at least one token");
    let (id, grad) = match head {
        Head::Untied(p) => (p.id, grad_w),
        Head::Tied(p) => (p.id, grad_w.transpose()),
    };
    FusedLoss {
        loss: loss_sum.expect("at least one token") * scale,
        surrogate: (hidden * grad_h).sum(),
        head_grad: (id, grad),
    }
}

/// Whether `B` is the CPU backend, whose tensors live in host memory: there the softmax part
/// of the fused loss runs as one pass of plain Rust ([`softmax_loss_grad_host`]) instead of
/// seven whole-tensor ops, each allocating, and broadcasting through strided views.
fn is_cpu_backend<B: Backend>() -> bool {
    std::any::TypeId::of::<B>() == std::any::TypeId::of::<burn::backend::Flex>()
}

/// Loss sum Σ (lse − z_target) and gradient G = (softmax(z) − onehot)·scale of logits
/// `z [rows, V]` (f32) and targets `[rows, 1]`, as tensor ops (any backend, nothing read back).
fn softmax_loss_grad<B: Backend>(
    z: Tensor<B, 2>,
    targets: Tensor<B, 2, Int>,
    scale: f64,
) -> (Tensor<B, 1>, Tensor<B, 2>) {
    let [len, _] = z.dims();
    let picked = z.clone().gather(1, targets.clone());
    let max = z.clone().max_dim(1);
    let e = (z - max.clone()).exp();
    let sum = e.clone().sum_dim(1);
    let lse = max + sum.clone().log();
    let part = (lse - picked).sum();
    let minus = Tensor::<B, 2>::full([len, 1], -scale, &e.device());
    let g = (e / (sum * (1.0 / scale))).scatter(1, targets, minus, IndexingUpdateOp::Add);
    (part, g)
}

/// [`softmax_loss_grad`] on host memory (the CPU backend): per row, one pass for the max, one
/// for exp and its sum, one to scale, rows in parallel; the same formulas in f32 with the
/// sum in f64.
fn softmax_loss_grad_host<B: Backend>(
    z: Tensor<B, 2>,
    targets: Tensor<B, 2, Int>,
    scale: f64,
) -> (Tensor<B, 1>, Tensor<B, 2>) {
    use rayon::prelude::*;
    let [len, v] = z.dims();
    let device = z.device();
    let targets: Vec<i64> = targets.into_data().iter::<i64>().collect();
    let mut g: Vec<f32> = z.into_data().into_vec::<f32>().expect("f32 logits");
    let losses: Vec<f64> = g
        .par_chunks_mut(v)
        .zip(targets.par_iter())
        .map(|(row, &target)| {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
            let picked = row[target as usize];
            for x in row.iter_mut() {
                *x = fast_exp(*x - max);
            }
            let sum: f64 = row.iter().map(|&x| x as f64).sum();
            let lse = max as f64 + sum.ln();
            let k = (scale / sum) as f32;
            for x in row.iter_mut() {
                *x *= k;
            }
            row[target as usize] -= scale as f32;
            lse - picked as f64
        })
        .collect();
    let part: f64 = losses.iter().sum();
    (
        Tensor::from_data(TensorData::new(vec![part as f32], [1]), &device),
        Tensor::from_data(TensorData::new(g, [len, v]), &device),
    )
}

/// e^x for x ≤ 0 (softmax arguments after the max is taken off), branch-free so that the loop
/// vectorises: e^x = 2^k · e^r with k = round(x·log2 e), r = x − k·ln 2 in [−½ ln 2, ½ ln 2]
/// (ln 2 split in two parts, Cody & Waite 1980, so r keeps f32's precision), and e^r from its
/// degree-6 Taylor polynomial (truncation below 2e-7, f32's own rounding); arguments below
/// −87 give e^−87 ≈ 1.6e-38, where `exp` reaches the subnormals.
#[inline(always)]
fn fast_exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.max(-87.0);
    // Round to nearest by the 1.5·2^23 trick: adds and subtracts vectorise, `round` does not.
    let k = (x * std::f32::consts::LOG2_E + 12_582_912.0) - 12_582_912.0;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    f32::from_bits(((k as i32 + 127) as u32) << 23) * p
}

/// Forward and backward through [`fused_head_loss`]: the loss (on the device) and the
/// gradients of every parameter, the head's included (added to the table's own gradient when
/// tied). An id outside the vocabulary is an error.
pub fn loss_and_grads<B, M>(
    model: &M,
    inputs: &TokenBatch<B>,
    targets: Tensor<B, 2, Int>,
    chunk_elems: usize,
) -> Result<(Tensor<B::InnerBackend, 1>, GradientsParams)>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + LanguageModel<B>,
{
    let fused = fused_head_loss(model.hidden(inputs)?, model.head(), targets, chunk_elems);
    Ok((fused.loss.clone(), backward_fused(model, fused)))
}

/// The gradients of the fused loss: the body's by autodiff, the head's written in.
fn backward_fused<B, M>(model: &M, fused: FusedLoss<B>) -> GradientsParams
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    let mut grads = GradientsParams::from_grads(fused.surrogate.backward(), model);
    let (id, g) = fused.head_grad;
    let g = match grads.remove::<B::InnerBackend, 2>(id) {
        Some(existing) => existing + g,
        None => g,
    };
    grads.register::<B::InnerBackend, 2>(id, g);
    grads
}

/// One training step on `(inputs, targets)`; returns the updated model and the loss before it
/// (on the device).
pub fn train_step<B, M, O>(
    model: M,
    optim: &mut O,
    settings: &StepSettings,
    inputs: &TokenBatch<B>,
    targets: Tensor<B, 2, Int>,
) -> Result<(M, Tensor<B::InnerBackend, 1>)>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + LanguageModel<B>,
    O: Optimizer<M, B>,
{
    let (loss, mut grads) = loss_and_grads(&model, inputs, targets, settings.head_chunk_elems)?;
    if let Some(max) = settings.clip_norm {
        clip_global_norm::<B, M>(&model, &mut grads, max, &inputs.tensor().device());
    }
    Ok((optim.step(settings.lr, model, grads), loss))
}

/// Wall time of the phases of one training step, in seconds.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct StepTiming {
    /// Body forward, then the fused head + loss with the head's gradients (see
    /// [`fused_head_loss`]): the head's backward matmuls are counted here.
    pub forward: f64,
    /// The body's `backward()` and collecting the gradients.
    pub backward: f64,
    /// Global-norm clipping and the AdamW update.
    pub update: f64,
}

impl StepTiming {
    pub fn total(&self) -> f64 {
        self.forward + self.backward + self.update
    }

    pub fn add(&mut self, o: &StepTiming) {
        self.forward += o.forward;
        self.backward += o.backward;
        self.update += o.update;
    }
}

/// [`train_step`] with each phase timed; the backend is synchronised at each boundary so that
/// asynchronous backends (CUDA) are timed correctly too (a benchmark's syncs, not the loop's).
pub fn timed_train_step<B, M, O>(
    model: M,
    optim: &mut O,
    settings: &StepSettings,
    inputs: &TokenBatch<B>,
    targets: Tensor<B, 2, Int>,
) -> Result<(M, f64, StepTiming)>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + LanguageModel<B>,
    O: Optimizer<M, B>,
{
    let device = inputs.tensor().device();
    let sync = || B::sync(&device).expect("backend sync");
    let t0 = std::time::Instant::now();
    let fused = fused_head_loss(
        model.hidden(inputs)?,
        model.head(),
        targets,
        settings.head_chunk_elems,
    );
    sync();
    let t1 = std::time::Instant::now();
    let loss = fused.loss.clone();
    let mut grads = backward_fused(&model, fused);
    sync();
    let t2 = std::time::Instant::now();
    if let Some(max) = settings.clip_norm {
        clip_global_norm::<B, M>(&model, &mut grads, max, &device);
    }
    let model = optim.step(settings.lr, model, grads);
    sync();
    let t3 = std::time::Instant::now();
    let timing = StepTiming {
        forward: (t1 - t0).as_secs_f64(),
        backward: (t2 - t1).as_secs_f64(),
        update: (t3 - t2).as_secs_f64(),
    };
    Ok((model, read_scalar(loss), timing))
}

/// Reads a one-element tensor back to the host (a sync on CUDA: call it when logging).
pub fn read_scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_scalar().elem::<f64>()
}

#[cfg(test)]
mod tests {
    use super::fast_exp;

    #[test]
    fn fast_exp_matches_exp_on_softmax_arguments() {
        let mut worst = 0f64;
        for i in 0..=200_000 {
            let x = -90.0 * i as f32 / 200_000.0;
            let (a, b) = (fast_exp(x) as f64, (x as f64).exp());
            if b > 1e-37 {
                worst = worst.max((a - b).abs() / b);
            }
        }
        assert!(worst < 5e-7, "relative error {worst}");
        assert_eq!(fast_exp(0.0), 1.0);
        assert_eq!(fast_exp(-200.0), fast_exp(-87.0));
    }
}
