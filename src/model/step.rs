//! A minimal language-model training step: next-token cross-entropy, backward, global
//! gradient-norm clipping and an AdamW update. The benchmark and the overfit tests use it;
//! the training loop proper (schedules, checkpoints, evaluation) belongs in `train`.

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor};

use super::LanguageModel;

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
}

impl Default for StepSettings {
    fn default() -> Self {
        StepSettings {
            lr: 3e-4,
            beta_2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.1,
            clip_norm: Some(1.0),
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

/// Scales every gradient by a common factor.
struct Scale<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    factor: f64,
    _b: std::marker::PhantomData<B>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            self.grads
                .register::<B::InnerBackend, D>(param.id, g * self.factor);
        }
    }
}

/// Rescales `grads` so that their global L2 norm is at most `max_norm`; returns the norm before
/// clipping. burn's own clipping is per tensor (burn_api.md §5), hence this.
pub fn clip_global_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> f64 {
    let mut sq = SquaredNorm::<B> { grads, sum: None };
    model.visit(&mut sq);
    let norm = sq.sum.map_or(0.0, |s| s.into_scalar().elem::<f64>().sqrt());
    if norm > max_norm {
        let mut scale = Scale::<B> {
            grads,
            factor: max_norm / (norm + 1e-6),
            _b: Default::default(),
        };
        model.visit(&mut scale);
    }
    norm
}

use burn::tensor::ElementConversion;

/// One training step on `(inputs, targets)`; returns the updated model and the loss before it.
pub fn train_step<B, M, O>(
    model: M,
    optim: &mut O,
    settings: &StepSettings,
    inputs: Tensor<B, 2, Int>,
    targets: Tensor<B, 2, Int>,
) -> (M, f64)
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + LanguageModel<B>,
    O: Optimizer<M, B>,
{
    let loss = lm_loss(model.logits(inputs), targets);
    let value = loss.clone().into_scalar().elem::<f64>();
    let mut grads = GradientsParams::from_grads(loss.backward(), &model);
    if let Some(max) = settings.clip_norm {
        clip_global_norm::<B, M>(&model, &mut grads, max);
    }
    (optim.step(settings.lr, model, grads), value)
}

/// Wall time of the phases of one training step, in seconds.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct StepTiming {
    /// Logits and loss, up to reading the loss back.
    pub forward: f64,
    /// `backward()` and collecting the gradients.
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
/// asynchronous backends (CUDA) are timed correctly too.
pub fn timed_train_step<B, M, O>(
    model: M,
    optim: &mut O,
    settings: &StepSettings,
    inputs: Tensor<B, 2, Int>,
    targets: Tensor<B, 2, Int>,
) -> (M, f64, StepTiming)
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + LanguageModel<B>,
    O: Optimizer<M, B>,
{
    let device = inputs.device();
    let sync = || B::sync(&device).expect("backend sync");
    let t0 = std::time::Instant::now();
    let loss = lm_loss(model.logits(inputs), targets);
    let value = loss.clone().into_scalar().elem::<f64>();
    let t1 = std::time::Instant::now();
    let mut grads = GradientsParams::from_grads(loss.backward(), &model);
    sync();
    let t2 = std::time::Instant::now();
    if let Some(max) = settings.clip_norm {
        clip_global_norm::<B, M>(&model, &mut grads, max);
    }
    let model = optim.step(settings.lr, model, grads);
    sync();
    let t3 = std::time::Instant::now();
    let timing = StepTiming {
        forward: (t1 - t0).as_secs_f64(),
        backward: (t2 - t1).as_secs_f64(),
        update: (t3 - t2).as_secs_f64(),
    };
    (model, value, timing)
}
