//! Resolution: from a validated plan ([`crate::config::Plan`], itself resolved from the
//! experiment spec by `config::plan`) to what one step runs: a planned cell's cell file
//! (depth, parameter count, recipe hyperparameters, token budget, WSD role), the generator of
//! a Leviathan cell, the vocabulary before tokenising, and the setup lines a report opens
//! with. The graph only schedules what this module resolves.

use std::path::PathBuf;

use crate::config::HyperFrom;
use crate::config::cell::{
    CellSpec, DataSpec, EvalSpec, GeneratorSpec, ModelSpec, StudyKeys, TrainSpec, Wsd,
};
use crate::config::plan::{Plan, PlannedCell};
use crate::config::spec::Compact;
use crate::model::{self, DenseConfig, GeneratorConfig, count, sizing};
use crate::report::Setup;
use crate::{Error, Result};

/// Tokens that spend `flops` training FLOPs at `train_flops_per_token` (3 x forward), in
/// whole batches of `batch` tokens (the nearest number of batches, at least one).
pub fn budget_tokens(flops: f64, train_flops_per_token: u64, batch: u64) -> u64 {
    let batches = (flops / train_flops_per_token.max(1) as f64 / batch as f64)
        .round()
        .max(1.0);
    batches as u64 * batch
}

/// The vocabulary a spec will train with, before the tokens step has run, and how that is
/// known: K under `compact = K` (exact, or an upper bound for a corpus with fewer distinct
/// tokens), else the tokenizer's (exact under `compact = false`; under `compact = true` an
/// upper bound, since only the ids the corpus uses are kept).
pub fn estimated_vocab(plan: &Plan) -> (usize, String) {
    let n = plan
        .tokenizer
        .parse::<crate::data::TokenizerName>()
        .map(|t| t.n_vocab() as usize)
        .unwrap_or(crate::model::vocab::O200K_BASE_N_VOCAB);
    match plan.compact {
        Compact::Top(k) => (
            k as usize,
            "data.compact = K (the tokens step has not run)".into(),
        ),
        Compact::Off => (
            n,
            format!(
                "the tokenizer's, {} (data.compact = false; the tokens step has not run)",
                plan.tokenizer
            ),
        ),
        Compact::Used => (
            n,
            format!(
                "the tokenizer's, {}: an upper bound, since data.compact = true keeps only the ids the corpus uses (the tokens step has not run)",
                plan.tokenizer
            ),
        ),
    }
}

/// The report's setup section, from the plan and (for the generator's shape) the
/// vocabulary the cells trained with.
pub fn setup(p: &Plan, vocab: Option<usize>) -> Setup {
    let mut lines = Vec::new();
    if let Some(d) = &p.description {
        lines.push(d.clone());
    }
    lines.push(format!("Spec: `{}`", p.spec_path.display()));
    lines.push(format!(
        "Corpus: `{}`, tokenizer {}{}",
        p.corpus
            .strip_prefix(&p.root)
            .unwrap_or(&p.corpus)
            .display(),
        p.tokenizer,
        match p.compact {
            Compact::Off => String::new(),
            Compact::Used => " (compacted vocabulary)".into(),
            Compact::Top(k) => format!(
                " (byte-fallback vocabulary of {k} ids: rarer tokens are written as bytes, so \
                 compare by bits-per-byte and never fit across vocabularies)"
            ),
        }
    ));
    let sizes: Vec<String> = {
        let mut seen = Vec::new();
        for c in &p.cells {
            let s = format!(
                "{} (d {}, {} layers, {} heads)",
                c.size.name, c.size.d_model, c.size.n_layers, c.size.n_heads
            );
            if !seen.contains(&s) {
                seen.push(s);
            }
        }
        seen
    };
    lines.push(format!(
        "Grid: {} cells; sizes {}",
        p.cells.len(),
        sizes.join(", ")
    ));
    lines.push(format!(
        "Recipe: {} (seq_len {}, micro_batch {}, schedule {}{}{})",
        p.train.recipe.name(),
        p.model.seq_len,
        p.train.micro_batch,
        p.train.schedule,
        p.train
            .tokens
            .map(|t| format!(", {t} tokens per cell"))
            .unwrap_or_default(),
        p.train.lr.map(|l| format!(", lr {l}")).unwrap_or_default(),
    ));
    if let Some(line) = vocab.and_then(|v| generator_line(p, v)) {
        lines.push(line);
    }
    lines.push(format!("Device: {}", p.train.device));
    Setup {
        exp: p.name.clone(),
        lines,
    }
}

/// Which LEV generator each Leviathan size used (the `cpu` preset scales with d_model);
/// `None` without Leviathan cells.
fn generator_line(p: &Plan, vocab: usize) -> Option<String> {
    let mut widths: Vec<usize> = p
        .cells
        .iter()
        .filter(|c| c.arch == "leviathan")
        .map(|c| c.size.d_model)
        .collect();
    widths.sort_unstable();
    widths.dedup();
    let shapes: Vec<String> = widths
        .iter()
        .filter_map(|&d| {
            let g = generator(p, vocab, d).ok()?;
            Some(format!(
                "d {d}: k {} digits of base {}, h {}, d_seed {}, κ {}, r {}",
                g.digits,
                g.base(),
                g.heads,
                g.d_seed,
                g.knots,
                g.modes
            ))
        })
        .collect();
    (!shapes.is_empty()).then(|| {
        format!(
            "LEV generator: preset `{}` (vocabulary {vocab}); {}",
            p.model.generator.preset,
            shapes.join("; ")
        )
    })
}

/// The LEV generator of a cell: the preset (`cpu` scales with d_model) plus overrides.
fn generator(plan: &Plan, vocab: usize, d_model: usize) -> Result<GeneratorConfig> {
    let g = &plan.model.generator;
    let mut c = GeneratorConfig::preset(&g.preset, vocab, d_model)?;
    if let Some(v) = g.digits {
        c.digits = v;
    }
    if let Some(v) = g.d_seed {
        c.d_seed = v;
    }
    if let Some(v) = g.heads {
        c.heads = v;
    }
    if let Some(v) = g.knots {
        c.knots = v;
    }
    if let Some(v) = g.modes {
        c.modes = v;
    }
    if let Some(v) = g.sigmoid_scale {
        c.sigmoid_scale = v;
    }
    if let Some(v) = g.normalize_basis {
        c.normalize_basis = v;
    }
    c.spline_decay = g.spline_decay.parse()?;
    c.validate()?;
    Ok(c)
}

/// Resolves a planned cell into the cell file `ladder train` runs: the model's depth (for
/// isoparametric cells), its parameter count, and the recipe's hyperparameters (read at the
/// parameter count `train.hyper_from` names) with the spec's overrides and the cell's
/// learning-rate scale.
pub fn cell_spec(
    plan: &Plan,
    cell: &PlannedCell,
    run_id: &str,
    vocab: usize,
    store: PathBuf,
) -> Result<CellSpec> {
    cell_spec_as(plan, cell, run_id, vocab, store, Role::Plain)
}

/// What a cell file is for: an ordinary run, or one of the halves of a WSD cell
/// (src/graph/wsd.rs).
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    Plain,
    /// The stable prefix of the cell's group, run up to `tokens`, keeping `keep`.
    Prefix {
        tokens: u64,
        keep: Vec<u64>,
    },
    /// The cell's cooldown branch from the prefix in `prefix` (relative to the cell file).
    Branch {
        prefix: PathBuf,
    },
}

/// [`cell_spec`] for a given [`Role`]. The token budget D is the cell's: its IsoFLOP
/// budget's (`C / (3 x forward FLOPs per token)`, whole batches), its own fixed budget, the
/// plan's, or the recipe's ratio. Under WSD the warmup is `train.warmup_tokens`, else the
/// recipe's N tokens, whatever D is (a prefix's warmup cannot depend on its branches);
/// otherwise it is capped at a quarter of D as before.
pub fn cell_spec_as(
    plan: &Plan,
    cell: &PlannedCell,
    run_id: &str,
    vocab: usize,
    store: PathBuf,
    role: Role,
) -> Result<CellSpec> {
    let s = &cell.size;
    let body = model::BodyConfig::new(s.d_model, s.n_layers, s.n_heads)
        .with_d_ff(s.d_ff)
        .with_seq_len(plan.model.seq_len);
    let dense_of = |tie: bool| DenseConfig::new(vocab, body.clone()).with_tie_embeddings(tie);
    // The dense model this cell is compared with: the one it is matched to (isoparametric),
    // else the size's primary baseline.
    let twin_tie = match (cell.arch.as_str(), cell.mode.as_str()) {
        (_, "isoparametric") => cell.tie.unwrap_or(plan.model.ties[0]),
        _ => plan.model.ties[0],
    };
    let twin_total = count::dense(&dense_of(twin_tie)).params.total;
    let (n_layers, own, generator_spec) = if cell.arch == "dense" {
        let c = count::dense(&dense_of(cell.tie.unwrap_or(false)));
        (s.n_layers, c, None)
    } else {
        let g = generator(plan, vocab, s.d_model)?;
        let sized = match cell.mode.as_str() {
            "isoparametric" => sizing::isoparametric(
                &dense_of(twin_tie),
                &g,
                plan.model.iso_tolerance,
                plan.model.max_layers,
            )?,
            _ => sizing::iso_body(&dense_of(twin_tie), &g),
        };
        if !sized.within_tolerance {
            return Err(Error::Graph(format!(
                "{}: no Leviathan depth up to model.max_layers = {} comes within model.iso_tolerance of the dense model (closest gap {:+.1}%)",
                cell.label(plan.train.tokens),
                plan.model.max_layers,
                sized.gap * 100.0
            )));
        }
        let gs = GeneratorSpec {
            digits: g.digits,
            d_seed: g.d_seed,
            heads: g.heads,
            knots: g.knots,
            modes: g.modes,
            sigmoid_scale: g.sigmoid_scale,
            normalize_basis: g.normalize_basis,
            spline_decay: g.spline_decay.name().to_string(),
        };
        let c = count::leviathan(&sized.leviathan);
        (sized.leviathan.body.n_layers, c, Some(gs))
    };
    let t = &plan.train;
    let recipe_n = match t.hyper_from {
        HyperFrom::Total => own.params.total,
        HyperFrom::Nonembed => own.params.nonembed(),
        HyperFrom::DenseTwin => twin_total,
    };
    let h = t.recipe.hyper(
        recipe_n,
        plan.model.seq_len,
        t.micro_batch,
        cell.tokens_per_param,
    );
    let batch = t.batch_tokens.unwrap_or(h.batch_tokens);
    let mut tokens = match (cell.budget, cell.tokens.or(t.tokens)) {
        (Some(c), _) => budget_tokens(c, 3 * own.flops_per_token.total, batch),
        (None, Some(n)) => (n / batch).max(1) * batch,
        (None, None) => (h.tokens / batch).max(1) * batch,
    };
    let warmup = match (&role, t.warmup_tokens) {
        (_, Some(w)) => w,
        (Role::Plain, None) if cell.budget.is_some() => recipe_n.min(tokens / 4),
        (Role::Plain, None) => h.warmup_tokens.min(tokens / 4),
        (_, None) => recipe_n,
    };
    if let Role::Prefix { tokens: length, .. } = &role {
        tokens = *length;
    }
    let every = match role {
        // A prefix's evaluations are no fit points: once, at its end.
        Role::Prefix { .. } => tokens,
        _ => ((tokens / plan.eval.count) / batch).max(1) * batch,
    };
    let spec = CellSpec {
        exp: plan.name.clone(),
        run_id: run_id.into(),
        arch: cell.arch.clone(),
        mode: cell.mode.clone(),
        seed: cell.seed,
        device: t.device.clone(),
        model: ModelSpec {
            vocab,
            d_model: s.d_model,
            n_layers,
            n_heads: s.n_heads,
            d_ff: s.d_ff,
            seq_len: plan.model.seq_len,
            tie_embeddings: cell.arch == "dense" && cell.tie == Some(true),
            generator: generator_spec,
        },
        data: DataSpec { store },
        train: TrainSpec {
            tokens,
            batch_tokens: batch,
            micro_batch: t.micro_batch,
            lr: t.lr.unwrap_or(h.lr) * cell.lr_scale,
            warmup_tokens: warmup,
            schedule: t.schedule.clone(),
            final_lr_frac: t.final_lr_frac,
            decay_frac: t.decay_frac,
            weight_decay: t.weight_decay.unwrap_or(h.weight_decay),
            beta1: t.beta1,
            beta2: t.beta2.unwrap_or(h.beta2),
            eps: t.eps,
            clip_norm: t.clip_norm,
            checkpoint_every: t.checkpoint_every,
            precision: t.precision.clone(),
        },
        eval: EvalSpec {
            every_tokens: every,
            tokens: plan.eval.tokens,
        },
        config_hash: run_id.into(),
        study: StudyKeys {
            size: s.name.clone(),
            baseline_tie: (cell.mode == "isoparametric").then_some(twin_tie),
            lr_scale: cell.lr_scale,
            tokens_per_param: (t.tokens.is_none()
                && cell.tokens.is_none()
                && cell.budget.is_none()
                && !matches!(role, Role::Prefix { .. }))
            .then_some(cell.tokens_per_param),
        },
        budget: cell.budget.filter(|_| !matches!(role, Role::Prefix { .. })),
        wsd: None,
        peak_tflops: plan.peak_tflops,
    };
    let mut spec = spec;
    spec.wsd = match role {
        Role::Plain => None,
        Role::Prefix { keep, .. } => Some(Wsd::Prefix { keep }),
        Role::Branch { prefix } => Some(Wsd::Branch {
            prefix,
            start_tokens: spec.train.branch_start(spec.train.tokens),
        }),
    };
    spec.validate().map_err(|e| {
        Error::Graph(format!(
            "{}: cell file would be invalid: {e}",
            cell.label(plan.train.tokens)
        ))
    })?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_buys_whole_batches_of_tokens() {
        // 3 F = 6e5 FLOPs per token, batches of 1,000 tokens: 1e10 FLOPs buy 16,667 tokens,
        // 16.667 batches, rounded to 17.
        assert_eq!(budget_tokens(1e10, 600_000, 1000), 17_000);
        assert_eq!(budget_tokens(1.0, 600_000, 1000), 1000);
    }
}
