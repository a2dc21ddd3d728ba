//! Both models, trained with the minimal step (cross-entropy, backward, AdamW), memorise one
//! 64-token sequence: the loss falls from about ln V to near zero.

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::tensor::{Int, Tensor, TensorData};
use ladder::model::step::read_scalar;
use ladder::model::step::{StepSettings, train_step};
use ladder::model::{
    BodyConfig, DenseConfig, GeneratorConfig, LanguageModel, LeviathanConfig, TokenBatch,
};

type B = Autodiff<Flex>;

const VOCAB: usize = 64;
const SEQ: usize = 64;

/// A fixed pseudo-random sequence of SEQ + 1 tokens (inputs and shifted targets).
fn sequence() -> (TokenBatch<B>, Tensor<B, 2, Int>) {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let tokens: Vec<i64> = (0..=SEQ)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % VOCAB as u64) as i64
        })
        .collect();
    let dev = Default::default();
    let inputs = TokenBatch::new(tokens[..SEQ].to_vec(), [1, SEQ], VOCAB, &dev).unwrap();
    let targets = Tensor::from_data(TensorData::new(tokens[1..].to_vec(), [1, SEQ]), &dev);
    (inputs, targets)
}

fn body() -> BodyConfig {
    BodyConfig::new(32, 2, 2).with_seq_len(SEQ)
}

fn overfit<M: AutodiffModule<B> + LanguageModel<B>>(mut model: M, steps: usize) -> (f64, f64) {
    let settings = StepSettings {
        lr: 1e-2,
        weight_decay: 0.0,
        ..StepSettings::default()
    };
    let mut optim = settings.adamw().init::<B, M>();
    let (inputs, targets) = sequence();
    let mut first = f64::NAN;
    for step in 0..steps {
        let (m, loss) = train_step(model, &mut optim, &settings, &inputs, targets.clone()).unwrap();
        model = m;
        let loss = read_scalar(loss);
        assert!(loss.is_finite(), "loss {loss} at step {step}");
        if step == 0 {
            first = loss;
        }
    }
    // The loss after the last update (train_step reports the loss before it).
    let final_loss =
        ladder::model::step::lm_loss(model.logits(&inputs).unwrap(), targets).into_scalar() as f64;
    eprintln!("loss {first:.4} -> {final_loss:.6} in {steps} steps");
    (first, final_loss)
}

#[test]
fn dense_memorises_a_64_token_sequence() {
    let model = DenseConfig::new(VOCAB, body()).init::<B>(&Default::default());
    let (first, last) = overfit(model, 200);
    assert!(
        (first - (VOCAB as f64).ln()).abs() < 0.5,
        "starts near ln V: {first}"
    );
    assert!(last < 0.05, "dense final loss {last}");
}

#[test]
fn leviathan_memorises_a_64_token_sequence() {
    let generator = GeneratorConfig::new(VOCAB, 32)
        .with_d_seed(16)
        .with_heads(2)
        .with_knots(8)
        .with_modes(16);
    let model = LeviathanConfig::new(body(), generator).init::<B>(&Default::default());
    let (first, last) = overfit(model, 300);
    assert!(
        (first - (VOCAB as f64).ln()).abs() < 0.5,
        "starts near ln V: {first}"
    );
    assert!(last < 0.05, "leviathan final loss {last}");
}
