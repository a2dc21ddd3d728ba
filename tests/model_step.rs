//! The fused head + cross-entropy of the training step gives the same loss and the same
//! gradient for every parameter as plain autodiff through the logits, tied or untied, in one
//! chunk or many.

use burn::backend::{Autodiff, Flex};
use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use ladder::model::step::{clip_global_norm, lm_loss, loss_and_grads, read_scalar};
use ladder::model::{
    BodyConfig, DenseConfig, GeneratorConfig, LanguageModel, LeviathanConfig, TokenBatch,
    materialize,
};

type B = Autodiff<Flex>;

struct Collect<'a> {
    grads: &'a GradientsParams,
    out: Vec<Option<Vec<f32>>>,
}

impl ModuleVisitor<B> for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B, D>>) {
        let g = self
            .grads
            .get::<<B as AutodiffBackend>::InnerBackend, D>(p.id);
        self.out
            .push(g.map(|g| g.into_data().iter::<f32>().collect()));
    }
}

fn all_grads<M: AutodiffModule<B>>(model: &M, grads: &GradientsParams) -> Vec<Option<Vec<f32>>> {
    let mut c = Collect {
        grads,
        out: Vec::new(),
    };
    model.visit(&mut c);
    c.out
}

fn batch(vocab: i64) -> (TokenBatch<B>, Tensor<B, 2, Int>) {
    let ids: Vec<i64> = (0..2 * 9).map(|i| (i * 7 + 3) % vocab).collect();
    let mut inputs = Vec::new();
    let mut targets = Vec::new();
    for row in ids.chunks(9) {
        inputs.extend_from_slice(&row[..8]);
        targets.extend_from_slice(&row[1..]);
    }
    let dev = Default::default();
    (
        TokenBatch::new(inputs, [2, 8], vocab as usize, &dev).unwrap(),
        Tensor::from_data(TensorData::new(targets, [2, 8]), &dev),
    )
}

fn check<M: AutodiffModule<B> + LanguageModel<B>>(model: M, vocab: usize) {
    let model = materialize(model);
    let (inputs, targets) = batch(vocab as i64);
    let loss = lm_loss(model.logits(&inputs).unwrap(), targets.clone());
    let plain_loss = loss.clone().into_scalar() as f64;
    let plain = all_grads(
        &model,
        &GradientsParams::from_grads(loss.backward(), &model),
    );
    // Chunks of 1 token, of 5 tokens, and all 16 at once.
    for chunk_elems in [vocab, 5 * vocab, 1 << 25] {
        let (fused_loss, grads) =
            loss_and_grads(&model, &inputs, targets.clone(), chunk_elems).unwrap();
        let fused_loss = read_scalar(fused_loss);
        assert!(
            (fused_loss - plain_loss).abs() < 1e-5,
            "loss {fused_loss} vs {plain_loss}"
        );
        let fused = all_grads(&model, &grads);
        assert_eq!(fused.len(), plain.len());
        for (i, (f, p)) in fused.iter().zip(&plain).enumerate() {
            let (f, p) = (
                f.as_ref().expect("fused grad"),
                p.as_ref().expect("plain grad"),
            );
            let largest = p.iter().fold(0f32, |m, x| m.max(x.abs()));
            assert!(largest > 0.0, "parameter {i} has a zero gradient");
            let scale = largest.max(1e-6);
            for (a, b) in f.iter().zip(p) {
                assert!(
                    (a - b).abs() <= 1e-4 * scale + 1e-7,
                    "parameter {i}: {a} vs {b} (chunk {chunk_elems})"
                );
            }
        }
    }
}

fn body() -> BodyConfig {
    BodyConfig::new(16, 1, 2).with_seq_len(8)
}

#[test]
fn fused_loss_matches_autodiff_for_untied_dense() {
    check(
        DenseConfig::new(50, body()).init::<B>(&Default::default()),
        50,
    );
}

#[test]
fn fused_loss_matches_autodiff_for_tied_dense() {
    check(
        DenseConfig::new(50, body())
            .with_tie_embeddings(true)
            .init::<B>(&Default::default()),
        50,
    );
}

#[test]
fn fused_loss_matches_autodiff_for_leviathan() {
    let g = GeneratorConfig::new(50, 16)
        .with_d_seed(6)
        .with_heads(2)
        .with_knots(5)
        .with_modes(4);
    check(
        LeviathanConfig::new(body(), g).init::<B>(&Default::default()),
        50,
    );
}

#[test]
fn an_id_outside_the_vocabulary_is_an_error_not_a_panic() {
    let dev = Default::default();
    let e = TokenBatch::<B>::new(vec![0, 1, 50], [1, 3], 50, &dev).unwrap_err();
    assert!(e.to_string().contains("token id 50"), "{e}");
    let g = GeneratorConfig::new(50, 16)
        .with_d_seed(6)
        .with_heads(2)
        .with_knots(5)
        .with_modes(4)
        .init::<B>(&dev);
    let e = g.forward_host(&[3, -1], [1, 2], &dev).unwrap_err();
    assert!(e.to_string().contains("token id -1"), "{e}");
    // A batch made for a larger vocabulary is refused by the smaller model.
    let model =
        LeviathanConfig::new(body(), GeneratorConfig::new(50, 16).with_d_seed(6)).init::<B>(&dev);
    let ids = TokenBatch::<B>::new(vec![0, 60], [1, 2], 100, &dev).unwrap();
    assert!(LanguageModel::hidden(&model, &ids).is_err());
    let dense = DenseConfig::new(50, body()).init::<B>(&dev);
    assert!(LanguageModel::hidden(&dense, &ids).is_err());
}

#[test]
fn global_clipping_scales_to_the_limit_on_the_device() {
    let model = materialize(DenseConfig::new(50, body()).init::<B>(&Default::default()));
    let (inputs, targets) = batch(50);
    let (_, grads) = loss_and_grads(&model, &inputs, targets.clone(), 1 << 25).unwrap();
    let norm = |g: &GradientsParams| -> f64 {
        all_grads(&model, g)
            .into_iter()
            .flatten()
            .flatten()
            .map(|x| (x as f64) * (x as f64))
            .sum::<f64>()
            .sqrt()
    };
    let before = norm(&grads);
    let dev = Default::default();
    // A limit above the norm leaves the gradients as they are.
    let (_, mut same) = loss_and_grads(&model, &inputs, targets.clone(), 1 << 25).unwrap();
    let reported = read_scalar(clip_global_norm::<B, _>(
        &model,
        &mut same,
        10.0 * before,
        &dev,
    ));
    assert!(
        (reported - before).abs() < 1e-4 * before,
        "{reported} vs {before}"
    );
    assert!((norm(&same) - before).abs() < 1e-4 * before);
    // A limit below it scales the global norm down to the limit.
    let mut clipped = grads;
    let limit = before / 4.0;
    clip_global_norm::<B, _>(&model, &mut clipped, limit, &dev);
    assert!(
        (norm(&clipped) - limit).abs() < 1e-3 * limit,
        "{} vs {limit}",
        norm(&clipped)
    );
}

/// Decoupled weight decay touches matrices only: the exempt set of an untied dense model is
/// exactly its embedding table and its RMSNorm gains (two per block and the final one); the
/// output head and every projection decay.
#[test]
fn weight_decay_exempts_exactly_the_embedding_and_the_norms() {
    use ladder::model::SplineDecay;
    use ladder::train::runner::exempt_params;
    let model = DenseConfig::new(50, BodyConfig::new(16, 2, 2).with_seq_len(8))
        .init::<B>(&Default::default());
    let mut exempt = exempt_params::<B, _>(&model, SplineDecay::One);
    let mut want = vec![model.embed.id, model.body.norm.gamma.id];
    let mut decayed = vec![model.head.as_ref().unwrap().weight.id];
    for b in &model.body.blocks {
        want.extend([b.attn_norm.gamma.id, b.ffn_norm.gamma.id]);
        decayed.extend([
            b.qkv.weight.id,
            b.out.weight.id,
            b.gate_up.weight.id,
            b.down.weight.id,
        ]);
    }
    exempt.sort();
    want.sort();
    assert_eq!(exempt, want);
    assert_eq!(want.len(), 2 + 2 * 2);
    assert!(decayed.iter().all(|id| !exempt.contains(id)));
}
