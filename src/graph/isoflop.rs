//! IsoFLOP grids (Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models",
//! Approach 2): `[grid] budgets` lists nominal training-FLOP budgets C, each with its sizes.
//! Every cell trains the token count D that spends its budget by the model's own FLOP counter
//! (src/model/count.rs; the results table's `flops` = 3 x forward FLOPs per token x tokens,
//! which charges nothing for an input table, where 6 N D would overstate a small untied
//! dense model): D = C / (3 F), rounded to whole batches. The cell's `budget` is the nominal
//! C, which groups rows for `ladder fit --approach 2`.
//!
//! A budget's sizes are every size of `grid.sizes`, a list, or a rule: `count` sizes from
//! `grid.sizes`, the nearest in ln N to `count` targets log-spaced over `spread` decades
//! around a guess N* ([`crate::config::plan::BudgetRule`]). N is the total of the dense model
//! of that shape under the primary baseline (the first `grid.tie`), counted at the
//! vocabulary the spec fixes (K under `compact = K`, the tokenizer's under `compact =
//! false`), so the chosen sizes, hence the cells' ids, come from the spec alone.

use crate::config::Plan;
use crate::config::plan::{BudgetRule, Size};
use crate::config::spec::Compact;
use crate::model::{BodyConfig, DenseConfig, count};
use crate::{Error, Result};

/// The vocabulary a size rule counts parameters at (`None` under `compact = true`, which the
/// plan refuses for rules).
pub fn rule_vocab(plan: &Plan) -> Option<usize> {
    match plan.compact {
        Compact::Top(k) => Some(k as usize),
        Compact::Off => plan
            .tokenizer
            .parse::<crate::data::TokenizerName>()
            .ok()
            .map(|t| t.n_vocab() as usize),
        Compact::Used => None,
    }
}

/// Total parameters of the dense model of shape `size` under the primary baseline.
pub fn dense_total(plan: &Plan, size: &Size, vocab: usize) -> u64 {
    let body = BodyConfig::new(size.d_model, size.n_layers, size.n_heads)
        .with_d_ff(size.d_ff)
        .with_seq_len(plan.model.seq_len);
    let dense = DenseConfig::new(vocab, body).with_tie_embeddings(plan.model.ties[0]);
    count::dense(&dense).params.total
}

/// The sizes a rule chooses: for each target, the pool size nearest in ln N. Two targets
/// that land on one size are an error (the pool is too coarse for the rule).
pub fn choose(plan: &Plan, rule: &BudgetRule) -> Result<Vec<Size>> {
    let key = format!("grid.budgets[{}].count", rule.index);
    let err = |message: String| Error::Spec {
        path: plan.spec_path.clone(),
        key: key.clone(),
        message,
    };
    let vocab = rule_vocab(plan).ok_or_else(|| {
        err("a size rule needs the vocabulary the spec fixes: set data.compact = K or false".into())
    })?;
    let pool: Vec<(f64, &Size)> = rule
        .pool
        .iter()
        .map(|s| ((dense_total(plan, s, vocab) as f64).ln(), s))
        .collect();
    let targets = rule.targets();
    let mut chosen: Vec<&Size> = Vec::new();
    for &t in &targets {
        let (_, best) = pool
            .iter()
            .min_by(|a, b| (a.0 - t.ln()).abs().total_cmp(&(b.0 - t.ln()).abs()))
            .expect("the plan checked that grid.sizes is not empty");
        if chosen.iter().any(|c| std::ptr::eq(*c, *best)) {
            let ts: Vec<String> = targets.iter().map(|t| format!("{t:.3e}")).collect();
            let ns: Vec<String> = pool
                .iter()
                .map(|(ln, s)| format!("{} {:.3e}", s.name, ln.exp()))
                .collect();
            return Err(err(format!(
                "grid.sizes has no distinct size near each of the {} targets N = {} (vocabulary {vocab}; the sizes have N = {}): add sizes between them, lower count or widen spread",
                targets.len(),
                ts.join(", "),
                ns.join(", ")
            )));
        }
        chosen.push(best);
    }
    Ok(chosen.into_iter().cloned().collect())
}

/// Adds the cells of the plan's rule budgets (see [`Plan::expand_budget_rules`]).
pub fn expand(plan: &mut Plan) -> Result<()> {
    plan.expand_budget_rules(choose)
}
