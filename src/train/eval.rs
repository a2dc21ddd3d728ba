//! Evaluation on a fixed held-out set: the first `eval.tokens` tokens of the validation split,
//! cut into consecutive windows so every evaluated token is predicted exactly once, whatever
//! the model. Reports nats/token, bits-per-byte and the mean loss per training-frequency
//! bucket (docs/anchors.md 5):
//!   bpb = (sum of token NLL / ln 2) / (UTF-8 bytes of the predicted tokens).

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use serde::Serialize;

use crate::data::freq::{Buckets, read_freq};
use crate::data::store::{FREQ_FILE, TokenStore};
use crate::model::{LanguageModel, TokenBatch};
use crate::{Error, Result};

/// The validation split's name in a token store.
pub const VAL_SPLIT: &str = "val";

/// What one evaluation measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalResult {
    /// Mean NLL in nats per predicted token.
    pub loss: f64,
    pub bpb: f64,
    /// Mean NLL per frequency bucket (bucket 0 the most frequent; the last never seen in
    /// training); `None` for a bucket with no evaluated tokens.
    pub bucket_loss: Vec<Option<f64>>,
    pub bucket_tokens: Vec<u64>,
    pub tokens: u64,
    pub bytes: u64,
}

/// Aggregates per-token NLLs (nats) of `targets` into an [`EvalResult`].
pub fn summarize(
    nll: &[f64],
    targets: &[u32],
    token_bytes: &[u32],
    bucket_of: &[u16],
    n_buckets: usize,
) -> EvalResult {
    let mut sum = 0.0;
    let mut bytes = 0u64;
    let mut bucket_sum = vec![0.0; n_buckets];
    let mut bucket_tokens = vec![0u64; n_buckets];
    for (&l, &t) in nll.iter().zip(targets) {
        sum += l;
        bytes += token_bytes.get(t as usize).copied().unwrap_or(0) as u64;
        if let Some(&b) = bucket_of.get(t as usize) {
            bucket_sum[b as usize] += l;
            bucket_tokens[b as usize] += 1;
        }
    }
    let tokens = nll.len() as u64;
    EvalResult {
        loss: sum / tokens.max(1) as f64,
        bpb: if bytes > 0 {
            sum / std::f64::consts::LN_2 / bytes as f64
        } else {
            f64::NAN
        },
        bucket_loss: bucket_sum
            .iter()
            .zip(&bucket_tokens)
            .map(|(s, &n)| (n > 0).then(|| s / n as f64))
            .collect(),
        bucket_tokens,
        tokens,
        bytes,
    }
}

/// The fixed evaluation windows and the lookups the summary needs.
#[derive(Debug, Clone)]
pub struct EvalSet {
    /// `windows` rows of `seq_len + 1` token ids.
    pub windows: Vec<u32>,
    pub n_windows: usize,
    pub seq_len: usize,
    pub token_bytes: Vec<u32>,
    pub bucket_of: Vec<u16>,
    pub buckets: Buckets,
    /// Training-split unigram counts, for the baseline.
    pub counts: Vec<u64>,
}

impl EvalSet {
    /// Cuts `tokens` validation tokens (at least one window) from the store's validation split.
    pub fn from_store(store: &TokenStore, seq_len: usize, tokens: u64) -> Result<Self> {
        let val = store.tokens(VAL_SPLIT)?;
        let available = val.len().saturating_sub(1) / seq_len;
        let wanted = (tokens as usize / seq_len).max(1);
        let n_windows = wanted.min(available);
        if n_windows == 0 {
            return Err(Error::Invalid(format!(
                "{}: the `{VAL_SPLIT}` split has {} tokens, fewer than one evaluation window of {}",
                store.dir().display(),
                val.len(),
                seq_len + 1
            )));
        }
        let mut windows = Vec::with_capacity(n_windows * (seq_len + 1));
        for w in 0..n_windows {
            val.extend_window(w * seq_len, seq_len + 1, &mut windows);
        }
        let (table, buckets) = read_freq(&store.dir().join(FREQ_FILE))?;
        Ok(EvalSet {
            windows,
            n_windows,
            seq_len,
            token_bytes: store.token_bytes()?,
            bucket_of: buckets.assign(&table),
            buckets,
            counts: table.counts,
        })
    }

    /// The loss of the training split's unigram distribution (add-one smoothed over the
    /// vocabulary) on the same predicted tokens: the floor any model that learnt anything
    /// about context must beat.
    pub fn unigram_loss(&self) -> f64 {
        let total: u64 = self.counts.iter().sum();
        let denom = (total + self.counts.len() as u64) as f64;
        let cols = self.seq_len + 1;
        let (mut sum, mut n) = (0.0, 0u64);
        for w in self.windows.chunks(cols) {
            for &t in &w[1..] {
                let c = self.counts.get(t as usize).copied().unwrap_or(0);
                sum -= ((c + 1) as f64 / denom).ln();
                n += 1;
            }
        }
        sum / n.max(1) as f64
    }

    /// Evaluates `model` in batches of `batch` windows.
    pub fn evaluate<B: Backend, M: LanguageModel<B>>(
        &self,
        model: &M,
        device: &B::Device,
        batch: usize,
    ) -> Result<EvalResult> {
        let cols = self.seq_len + 1;
        let mut nll = Vec::with_capacity(self.n_windows * self.seq_len);
        let mut targets = Vec::with_capacity(self.n_windows * self.seq_len);
        for start in (0..self.n_windows).step_by(batch.max(1)) {
            let rows = batch.max(1).min(self.n_windows - start);
            let chunk = &self.windows[start * cols..(start + rows) * cols];
            let inputs: Vec<i64> = chunk
                .chunks(cols)
                .flat_map(|w| w[..self.seq_len].iter().map(|&t| t as i64))
                .collect();
            let tgt: Vec<u32> = chunk
                .chunks(cols)
                .flat_map(|w| w[1..].iter().copied())
                .collect();
            let ids = TokenBatch::<B>::new(inputs, [rows, self.seq_len], model.vocab(), device)?;
            let tgt_t = Tensor::<B, 2, Int>::from_data(
                TensorData::new(
                    tgt.iter().map(|&t| t as i64).collect::<Vec<_>>(),
                    [rows * self.seq_len, 1],
                ),
                device,
            );
            let logits = model.logits(&ids)?;
            let [b, t, v] = logits.dims();
            let picked = log_softmax(logits.reshape([b * t, v]), 1).gather(1, tgt_t);
            nll.extend(picked.into_data().iter::<f32>().map(|x| -(x as f64)));
            targets.extend(tgt);
        }
        Ok(summarize(
            &nll,
            &targets,
            &self.token_bytes,
            &self.bucket_of,
            self.buckets.len(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpb_and_buckets_by_hand() {
        // Four predicted tokens: ids 0, 1, 1, 2 with NLL 1, 2, 4, 3 nats; bytes 1, 3, 3, 2.
        let nll = [1.0, 2.0, 4.0, 3.0];
        let targets = [0, 1, 1, 2];
        let token_bytes = [1, 3, 2];
        // id 0 in bucket 0, id 1 in bucket 1, id 2 in bucket 2 (never seen); bucket 3 empty.
        let bucket_of = [0, 1, 2];
        let r = summarize(&nll, &targets, &token_bytes, &bucket_of, 4);
        assert_eq!(r.tokens, 4);
        assert_eq!(r.bytes, 1 + 3 + 3 + 2);
        assert!((r.loss - 2.5).abs() < 1e-12);
        assert!((r.bpb - 10.0 / std::f64::consts::LN_2 / 9.0).abs() < 1e-12);
        assert_eq!(r.bucket_loss, vec![Some(1.0), Some(3.0), Some(3.0), None]);
        assert_eq!(r.bucket_tokens, vec![1, 2, 1, 0]);
    }

    #[test]
    fn unigram_loss_by_hand() {
        // Training counts 5, 3, 0, 0 over a vocabulary of 4: add-one smoothed probabilities
        // 6/12, 4/12, 1/12, 1/12. Two windows of seq_len 2; the first token of each window is
        // context only, so the predicted tokens are 1, 0 and 2, 1.
        let set = EvalSet {
            windows: vec![3, 1, 0, 0, 2, 1],
            n_windows: 2,
            seq_len: 2,
            token_bytes: vec![1; 4],
            bucket_of: vec![0; 4],
            buckets: Buckets {
                scheme: "test".into(),
                thresholds: vec![],
            },
            counts: vec![5, 3, 0, 0],
        };
        let want = -((4.0f64 / 12.0).ln()
            + (6.0f64 / 12.0).ln()
            + (1.0f64 / 12.0).ln()
            + (4.0f64 / 12.0).ln())
            / 4.0;
        assert!(
            (set.unigram_loss() - want).abs() < 1e-12,
            "{}",
            set.unigram_loss()
        );
    }

    /// A model whose logits depend only on the input id (a fixed bigram table, through the
    /// trait's own path: hidden = the table's row, head = the identity), so every predicted
    /// token's NLL is -log softmax(table[prev])[next], computed here in f64.
    #[test]
    fn evaluate_by_hand() {
        use crate::model::Head;
        use burn::backend::Flex;
        use burn::module::Param;
        use burn::tensor::module::embedding;
        type F = Flex;
        struct Bigram {
            table: Param<Tensor<F, 2>>,
            eye: Param<Tensor<F, 2>>,
        }
        impl LanguageModel<F> for Bigram {
            fn vocab(&self) -> usize {
                3
            }
            fn hidden(&self, ids: &TokenBatch<F>) -> Result<Tensor<F, 3>> {
                Ok(embedding(self.table.val(), ids.tensor()))
            }
            fn head(&self) -> Head<'_, F> {
                Head::Tied(&self.eye)
            }
        }
        let table = [[2.0, 0.0, -1.0], [0.5, 0.5, 0.0], [-2.0, 1.0, 3.0]];
        let dev = Default::default();
        let param = |v: Vec<f32>| {
            Param::from_tensor(Tensor::<F, 2>::from_data(TensorData::new(v, [3, 3]), &dev))
        };
        let model = Bigram {
            table: param(table.iter().flatten().map(|&x| x as f32).collect()),
            eye: param(vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]),
        };
        // Two windows of seq_len 2: predicted (prev -> next) 0->1, 1->2, 2->2, 2->0.
        let set = EvalSet {
            windows: vec![0, 1, 2, 2, 2, 0],
            n_windows: 2,
            seq_len: 2,
            token_bytes: vec![1, 2, 4],
            bucket_of: vec![0, 1, 1],
            buckets: Buckets {
                scheme: "test".into(),
                thresholds: vec![],
            },
            counts: vec![1, 1, 1],
        };
        let nll = |prev: usize, next: usize| {
            let z: f64 = table[prev].iter().map(|x: &f64| x.exp()).sum();
            z.ln() - table[prev][next]
        };
        let pairs = [(0, 1), (1, 2), (2, 2), (2, 0)];
        let want: Vec<f64> = pairs.iter().map(|&(p, n)| nll(p, n)).collect();
        let bytes = (2 + 4 + 4 + 1) as f64;
        for batch in [1, 2] {
            let r = set.evaluate(&model, &dev, batch).unwrap();
            assert_eq!((r.tokens, r.bytes), (4, 11));
            let loss = want.iter().sum::<f64>() / 4.0;
            assert!(
                (r.loss - loss).abs() < 1e-5,
                "batch {batch}: {} vs {loss}",
                r.loss
            );
            let bpb = want.iter().sum::<f64>() / std::f64::consts::LN_2 / bytes;
            assert!((r.bpb - bpb).abs() < 1e-5, "{} vs {bpb}", r.bpb);
            // Bucket 0 holds id 0 (predicted once, 2 -> 0); bucket 1 ids 1 and 2.
            let b0 = want[3];
            let b1 = (want[0] + want[1] + want[2]) / 3.0;
            let got: Vec<f64> = r.bucket_loss.iter().map(|b| b.unwrap()).collect();
            assert!(
                (got[0] - b0).abs() < 1e-5 && (got[1] - b1).abs() < 1e-5,
                "{got:?}"
            );
        }
    }
}
