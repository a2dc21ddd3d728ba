//! The numbers behind a report, computed from result rows only: final cells, one fit per
//! group (arch, mode, baseline), the comparison of every variant group with every baseline it
//! is compared with (multipliers at the fitted and the measured loss, paired differences),
//! learning-rate sweeps, seed spreads, rollout, token efficiency, per-bucket changes,
//! throughput and training curves. Nothing pools groups.

use std::collections::BTreeMap;

use serde::Serialize;

use super::spec::AnalysisSpec;
use crate::fit::isoflop::{self, IsoflopReport, IsoflopSpec};
use crate::fit::select::{best_lr_mask, std_dev};
use crate::fit::{self, At, Comparison, FitReport, FitSpec, LawKind, LrSweep};
use crate::table::{Excluded, FitInput, Group, ParamCount, Point, ResultRow};
use crate::{Error, Result};

/// One cell at its final checkpoint.
#[derive(Debug, Clone, Serialize)]
pub struct CellSummary {
    pub run_id: String,
    pub group: Group,
    pub size: String,
    pub arch: String,
    pub mode: String,
    pub n_params: i64,
    pub n_embed_in: i64,
    pub n_nonembed: i64,
    pub d_model: i64,
    pub n_layers: i64,
    pub n_heads: i64,
    pub seed: i64,
    pub lr_scale: f64,
    pub lr: f64,
    pub tokens: i64,
    pub val_loss: f64,
    pub val_bpb: f64,
    pub status: String,
    pub tokens_per_s: f64,
    pub wall_s: f64,
    /// At its group's chosen learning rate for its size (always, without a sweep).
    pub chosen: bool,
    /// Nominal FLOP budget of an IsoFLOP cell; NaN when none.
    pub budget: f64,
    /// Model FLOPs utilisation of the final row (NaN without `[device] peak_tflops`).
    pub mfu: f64,
}

impl CellSummary {
    pub fn body_label(&self) -> String {
        format!("d{} L{} H{}", self.d_model, self.n_layers, self.n_heads)
    }

    /// The size label, or the body where the table records no size.
    pub fn size_label(&self) -> String {
        if self.size.is_empty() {
            self.body_label()
        } else {
            self.size.clone()
        }
    }

    /// Training tokens per parameter, under the analysis's N convention.
    pub fn tokens_per_param(&self, params: ParamCount) -> f64 {
        self.tokens as f64 / self.n(params)
    }

    pub fn n(&self, params: ParamCount) -> f64 {
        match params {
            ParamCount::Total => self.n_params as f64,
            ParamCount::Nonembed => self.n_nonembed as f64,
        }
    }
}

/// One group's own fit (bootstrap over its own runs).
#[derive(Debug, Clone, Serialize)]
pub struct GroupFit {
    pub key: String,
    pub group: Group,
    #[serde(skip)]
    pub input: FitInput,
    pub fit: FitReport,
}

/// Fit on all sizes but the largest, predict the largest.
#[derive(Debug, Clone, Serialize)]
pub struct Rollout {
    pub key: String,
    pub fitted_points: usize,
    pub held_out: String,
    pub n_params: f64,
    pub predicted: f64,
    pub actual: f64,
    pub relative_error: f64,
    /// Why the law fitted on the smaller sizes is not identified (e.g. as many points as
    /// parameters: it passes through them), or `None`; such a prediction tests nothing.
    pub not_identified: Option<String>,
}

/// A reference run and a variant run of the same size and seed with the same body
/// (iso-body), each at its chosen learning rate.
#[derive(Debug, Clone, Serialize)]
pub struct RunPair {
    pub reference: String,
    pub variant: String,
    pub size: String,
    pub seed: i64,
    pub body: String,
    pub reference_run: String,
    pub variant_run: String,
}

/// Tokens a variant needs to reach the reference's final loss at the same body.
#[derive(Debug, Clone, Serialize)]
pub struct TokenEfficiency {
    pub pair: RunPair,
    pub reference_tokens: f64,
    pub reference_loss: f64,
    /// Interpolated (in log tokens) on the variant's evaluated checkpoints; `None` if it never
    /// reached the reference's final loss.
    pub variant_tokens: Option<f64>,
    /// reference_tokens / variant_tokens (> 1: the variant needs fewer tokens).
    pub ratio: Option<f64>,
}

/// Relative perplexity change of a variant vs the reference per frequency bucket, same body.
#[derive(Debug, Clone, Serialize)]
pub struct BucketChange {
    pub pair: RunPair,
    pub n_params_reference: i64,
    /// exp(L_variant - L_reference) - 1 per bucket (most frequent first); `None` where
    /// either run has no tokens in the bucket.
    pub ppl_change: Vec<Option<f64>>,
}

/// Training throughput of an iso-body pair of groups at one size (means over seeds).
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub reference: String,
    pub variant: String,
    pub size: String,
    pub body: String,
    pub reference_tokens_per_s: f64,
    pub variant_tokens_per_s: f64,
}

/// Final loss over seeds of one group at one size, at its chosen learning rate.
#[derive(Debug, Clone, Serialize)]
pub struct SeedSpread {
    pub group: String,
    pub size: String,
    pub n: f64,
    pub tokens: f64,
    pub lr_scale: f64,
    pub seeds: usize,
    pub mean: f64,
    /// Sample standard deviation over seeds (0 with one seed).
    pub spread: f64,
}

/// A variant group compared with one baseline.
#[derive(Debug, Clone, Serialize)]
pub struct ComparisonSummary {
    pub reference: Group,
    pub variant: Group,
    pub comparison: Comparison,
}

/// (x, y) points of a curve.
pub type Points = Vec<(f64, f64)>;

/// A training curve: run id, group name, (tokens, validation loss) points.
pub type Curve = (String, String, Points);

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub law: LawKind,
    pub params: ParamCount,
    pub headline: At,
    pub reference_arch: String,
    pub cells: Vec<CellSummary>,
    pub left_out: Vec<Excluded>,
    /// Every group's own fit, baselines first.
    pub fits: Vec<GroupFit>,
    pub comparisons: Vec<ComparisonSummary>,
    pub rollouts: Vec<Rollout>,
    pub efficiency: Vec<TokenEfficiency>,
    pub buckets: Vec<BucketChange>,
    pub curves: Vec<Curve>,
    pub throughput: Vec<Throughput>,
    pub sweeps: Vec<LrSweep>,
    pub seeds: Vec<SeedSpread>,
    /// Fits that could not be made, and why (the report says so instead of failing).
    pub fit_errors: Vec<String>,
    pub wall_s_total: f64,
    /// Approach 2 per group (keyed as the fits are), when the table has budgets.
    pub isoflop: Vec<(String, IsoflopReport)>,
    /// E held at this value in every fit (assumed, not estimated); `None`: fitted.
    pub fixed_e: Option<f64>,
}

fn final_rows(rows: &[ResultRow]) -> Vec<&ResultRow> {
    let mut last: BTreeMap<&str, &ResultRow> = BTreeMap::new();
    for r in rows {
        let e = last.entry(r.run_id.as_str()).or_insert(r);
        if r.step > e.step {
            *e = r;
        }
    }
    last.into_values().collect()
}

fn group_of(r: &ResultRow) -> Group {
    Group::new(&r.arch, Some(&r.mode), r.tie)
}

fn point_of(c: &CellSummary, params: ParamCount) -> Point {
    Point {
        group: c.group.clone(),
        unit: if c.size.is_empty() {
            format!("d{}", c.d_model)
        } else {
            c.size.clone()
        },
        seed: c.seed,
        lr_scale: c.lr_scale,
        n_nonembed: Some(c.n_nonembed as f64),
        budget: c.budget.is_finite().then_some(c.budget),
        ..Point::new(&c.run_id, &c.arch, c.n(params), c.tokens as f64, c.val_loss)
    }
}

fn input_of(points: Vec<Point>, source: &str, params: ParamCount) -> FitInput {
    FitInput {
        convention: "results table",
        params,
        budget_column: points
            .iter()
            .any(|p| p.budget.is_some())
            .then(|| "budget".to_string()),
        ..FitInput::new(source, points)
    }
}

/// Parses a `bucket_loss` cell: a JSON array of numbers or nulls.
pub fn parse_buckets(text: &str) -> Vec<Option<f64>> {
    serde_json::from_str::<Vec<Option<f64>>>(text).unwrap_or_default()
}

/// First crossing of `target` on a loss curve, interpolated linearly in log tokens.
pub fn tokens_to_reach(curve: &[(f64, f64)], target: f64) -> Option<f64> {
    let mut prev: Option<(f64, f64)> = None;
    for &(t, l) in curve {
        if l <= target {
            return Some(match prev {
                Some((t0, l0)) if l0 > l => {
                    let f = (l0 - target) / (l0 - l);
                    (t0.ln() + f * (t.ln() - t0.ln())).exp()
                }
                _ => t,
            });
        }
        prev = Some((t, l));
    }
    None
}

/// Seed means and spreads of every group and size, at the chosen learning rates.
fn seed_spreads(points: &[Point], chosen: &[bool]) -> Vec<SeedSpread> {
    let mut by: BTreeMap<(String, String, u64), Vec<usize>> = BTreeMap::new();
    for (i, p) in points.iter().enumerate().filter(|(i, _)| chosen[*i]) {
        by.entry((p.group.to_string(), p.unit.clone(), p.d.to_bits()))
            .or_default()
            .push(i);
    }
    let mut out: Vec<SeedSpread> = by
        .into_iter()
        .map(|((group, size, d), members)| {
            let losses: Vec<f64> = members.iter().map(|&i| points[i].loss).collect();
            SeedSpread {
                group,
                size,
                n: points[members[0]].n,
                tokens: f64::from_bits(d),
                lr_scale: points[members[0]].lr_scale,
                seeds: losses.len(),
                mean: losses.iter().sum::<f64>() / losses.len() as f64,
                spread: std_dev(&losses),
            }
        })
        .collect();
    out.sort_by(|a, b| a.group.cmp(&b.group).then(a.n.total_cmp(&b.n)));
    out
}

/// Computes every figure of the report from the rows.
/// The cells (of `usable`) at the largest D trained at their size: the size name, or N where a
/// table records no size, so that every model of a size keeps the same D.
fn largest_d_per_size(cells: &[CellSummary], usable: Vec<usize>) -> Vec<usize> {
    let size_of = |c: &CellSummary| {
        if c.size.is_empty() {
            format!("n{}", c.n_params)
        } else {
            c.size.clone()
        }
    };
    let mut largest: BTreeMap<String, i64> = BTreeMap::new();
    for &i in &usable {
        let d = largest.entry(size_of(&cells[i])).or_insert(i64::MIN);
        *d = (*d).max(cells[i].tokens);
    }
    usable
        .into_iter()
        .filter(|&i| cells[i].tokens == largest[&size_of(&cells[i])])
        .collect()
}

pub fn analyse(rows: &[ResultRow], spec: &AnalysisSpec) -> Result<Analysis> {
    if rows.is_empty() {
        return Err(Error::Invalid(
            "the results table has no rows: nothing to report".into(),
        ));
    }
    let law = spec.law_kind()?;
    let params = spec.param_count()?;
    let finals = final_rows(rows);
    let mut cells: Vec<CellSummary> = finals
        .iter()
        .map(|r| CellSummary {
            run_id: r.run_id.clone(),
            group: group_of(r),
            size: r.size.clone(),
            arch: r.arch.clone(),
            mode: r.mode.clone(),
            n_params: r.n_params,
            n_embed_in: r.n_embed_in,
            n_nonembed: r.n_nonembed,
            d_model: r.d_model,
            n_layers: r.n_layers,
            n_heads: r.n_heads,
            seed: r.seed,
            lr_scale: r.lr_scale,
            lr: r.lr,
            tokens: r.tokens,
            val_loss: r.val_loss,
            val_bpb: r.val_bpb,
            status: r.status.clone(),
            tokens_per_s: r.tokens_per_s,
            wall_s: r.wall_s,
            chosen: false,
            budget: r.budget,
            mfu: r.mfu,
        })
        .collect();
    cells.sort_by(|a, b| {
        (a.arch != spec.reference)
            .cmp(&(b.arch != spec.reference))
            .then(a.group.cmp(&b.group))
            .then(a.n_params.cmp(&b.n_params))
            .then(a.tokens.cmp(&b.tokens))
            .then(a.lr_scale.total_cmp(&b.lr_scale))
            .then(a.seed.cmp(&b.seed))
            .then(a.run_id.cmp(&b.run_id))
    });
    let mut left_out = Vec::new();
    let usable: Vec<usize> = (0..cells.len())
        .filter(|&i| {
            let c = &cells[i];
            let wanted = c.arch == spec.reference || spec.modes.contains(&c.mode);
            let ok = c.status == "succeeded" && c.val_loss.is_finite() && c.val_loss > 0.0;
            if !ok {
                left_out.push(Excluded {
                    label: c.run_id.clone(),
                    reason: format!("status {}", c.status),
                });
            }
            ok && wanted
        })
        .collect();
    let usable = if spec.tokens == "largest" {
        largest_d_per_size(&cells, usable)
    } else {
        usable
    };
    let points: Vec<Point> = usable
        .iter()
        .map(|&i| point_of(&cells[i], params))
        .collect();
    let chosen = best_lr_mask(&points, &vec![1.0; points.len()]);
    for (k, &i) in usable.iter().enumerate() {
        cells[i].chosen = chosen[k];
    }

    let mut fit_spec = FitSpec {
        bootstrap: spec.bootstrap,
        seed: spec.seed,
        level: spec.level,
        ..FitSpec::new(law)
    };
    fit_spec.solver.fixed_e = spec.e;
    let mut groups: Vec<Group> = Vec::new();
    for p in &points {
        if !groups.contains(&p.group) {
            groups.push(p.group.clone());
        }
    }
    groups.sort_by(|a, b| {
        (a.arch != spec.reference)
            .cmp(&(b.arch != spec.reference))
            .then(a.cmp(b))
    });
    let group_input = |g: &Group| -> Result<FitInput> {
        input_of(
            points.iter().filter(|p| &p.group == g).cloned().collect(),
            &g.to_string(),
            params,
        )
        .exclude_top(spec.exclude_top)
    };
    let mut fit_errors = Vec::new();
    if !groups.iter().any(|g| g.arch == spec.reference) {
        fit_errors.push(format!(
            "{}: no succeeded cells of the reference arch",
            spec.reference
        ));
    }
    let mut fits = Vec::new();
    for g in &groups {
        match group_input(g).and_then(|input| Ok((fit::fit(&input, &fit_spec)?, input))) {
            Ok((fit, input)) => fits.push(GroupFit {
                key: g.to_string(),
                group: g.clone(),
                input,
                fit,
            }),
            Err(e) => fit_errors.push(format!("{g}: {e}")),
        }
    }

    let isoflop = approach2(&fits, spec, law, &mut fit_errors);
    let references: Vec<&GroupFit> = fits
        .iter()
        .filter(|f| f.group.arch == spec.reference)
        .collect();
    let mut comparisons = Vec::new();
    for v in fits.iter().filter(|f| f.group.arch != spec.reference) {
        for r in references
            .iter()
            .filter(|r| r.group.compares_with(&v.group))
        {
            match fit::compare(&r.input, &v.input, &fit_spec) {
                Ok(c) => comparisons.push(ComparisonSummary {
                    reference: r.group.clone(),
                    variant: v.group.clone(),
                    comparison: c,
                }),
                Err(e) => fit_errors.push(format!("{} vs {}: {e}", v.key, r.key)),
            }
        }
    }

    let mut rollouts = Vec::new();
    if spec.rollout {
        let no_boot = FitSpec {
            bootstrap: 0,
            ..fit_spec.clone()
        };
        for g in &fits {
            let max_n = g.input.points.iter().map(|p| p.n).fold(0.0, f64::max);
            let smaller: Vec<Point> = g
                .input
                .points
                .iter()
                .filter(|p| p.n < max_n)
                .cloned()
                .collect();
            let mut sizes: Vec<u64> = smaller.iter().map(|p| p.n.to_bits()).collect();
            sizes.sort_unstable();
            sizes.dedup();
            if sizes.len() < 2 {
                continue;
            }
            let train = FitInput {
                points: smaller,
                ..g.input.clone()
            };
            let Ok(f) = fit::fit(&train, &no_boot) else {
                continue;
            };
            let kept = best_lr_mask(&g.input.points, &vec![1.0; g.input.points.len()]);
            for (i, p) in g.input.points.iter().enumerate() {
                if p.n != max_n || !kept[i] {
                    continue;
                }
                let predicted = f.params.predict(p.n, p.d);
                rollouts.push(Rollout {
                    key: g.key.clone(),
                    fitted_points: f.n_points,
                    held_out: p.label.clone(),
                    n_params: p.n,
                    predicted,
                    actual: p.loss,
                    relative_error: predicted / p.loss - 1.0,
                    not_identified: f.not_identified.clone(),
                });
            }
        }
    }

    let group_name: BTreeMap<&str, String> = cells
        .iter()
        .map(|c| (c.run_id.as_str(), c.group.to_string()))
        .collect();
    let mut curves_by_run: BTreeMap<&str, (String, Points)> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.val_loss.is_finite() && r.tokens > 0)
    {
        curves_by_run
            .entry(r.run_id.as_str())
            .or_insert_with(|| (group_name[r.run_id.as_str()].clone(), Vec::new()))
            .1
            .push((r.tokens as f64, r.val_loss));
    }
    let curves: Vec<Curve> = curves_by_run
        .into_iter()
        .map(|(id, (group, mut pts))| {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            (id.to_string(), group, pts)
        })
        .collect();

    // Iso-body pairs: a baseline run and a variant run with the same body, size and seed,
    // each at its chosen learning rate.
    let chosen_cells: Vec<&CellSummary> = cells.iter().filter(|c| c.chosen).collect();
    let mut efficiency = Vec::new();
    let mut buckets = Vec::new();
    // (baseline, variant, size, body) -> (baseline tokens/s, variant tokens/s) over seeds.
    type SpeedKey = (String, String, String, String);
    let mut speeds: BTreeMap<SpeedKey, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for cs in &comparisons {
        if cs.variant.mode.as_deref() != Some("iso_body") {
            continue;
        }
        for r in chosen_cells.iter().filter(|c| c.group == cs.reference) {
            for v in chosen_cells.iter().filter(|c| {
                c.group == cs.variant
                    && c.seed == r.seed
                    && c.tokens == r.tokens
                    && c.size == r.size
                    && c.body_label() == r.body_label()
            }) {
                let pair = RunPair {
                    reference: cs.reference.to_string(),
                    variant: cs.variant.to_string(),
                    size: r.size_label(),
                    seed: r.seed,
                    body: r.body_label(),
                    reference_run: r.run_id.clone(),
                    variant_run: v.run_id.clone(),
                };
                let curve = curves
                    .iter()
                    .find(|c| c.0 == v.run_id)
                    .map(|c| c.2.clone())
                    .unwrap_or_default();
                let vt = tokens_to_reach(&curve, r.val_loss);
                efficiency.push(TokenEfficiency {
                    pair: pair.clone(),
                    reference_tokens: r.tokens as f64,
                    reference_loss: r.val_loss,
                    variant_tokens: vt,
                    ratio: vt.map(|t| r.tokens as f64 / t),
                });
                let row_of = |id: &str| {
                    finals
                        .iter()
                        .find(|x| x.run_id == id)
                        .map(|x| parse_buckets(&x.bucket_loss))
                        .unwrap_or_default()
                };
                let (rb, vb) = (row_of(&r.run_id), row_of(&v.run_id));
                if !rb.is_empty() && rb.len() == vb.len() {
                    buckets.push(BucketChange {
                        pair,
                        n_params_reference: r.n_params,
                        ppl_change: rb
                            .iter()
                            .zip(&vb)
                            .map(|(a, b)| Some((b.as_ref()? - a.as_ref()?).exp() - 1.0))
                            .collect(),
                    });
                }
                if r.tokens_per_s > 0.0 && v.tokens_per_s > 0.0 {
                    let e = speeds
                        .entry((
                            cs.reference.to_string(),
                            cs.variant.to_string(),
                            r.size_label(),
                            r.body_label(),
                        ))
                        .or_default();
                    e.0.push(r.tokens_per_s);
                    e.1.push(v.tokens_per_s);
                }
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let throughput = speeds
        .into_iter()
        .map(|((reference, variant, size, body), (r, v))| Throughput {
            reference,
            variant,
            size,
            body,
            reference_tokens_per_s: mean(&r),
            variant_tokens_per_s: mean(&v),
        })
        .collect();
    let wall_s_total = cells
        .iter()
        .map(|c| c.wall_s)
        .filter(|w| w.is_finite())
        .sum();
    Ok(Analysis {
        law,
        params,
        headline: spec.headline_at()?,
        reference_arch: spec.reference.clone(),
        sweeps: fit::select::lr_sweeps(&points),
        seeds: seed_spreads(&points, &chosen),
        cells,
        left_out,
        fits,
        comparisons,
        rollouts,
        efficiency,
        buckets,
        curves,
        throughput,
        fit_errors,
        wall_s_total,
        isoflop,
        fixed_e: spec.e,
    })
}

/// Approach 2 for each fitted group with budgets, with Approach 3 and VPNLS beside it (the
/// group's own `nd` fit is reused when the report fits `nd`).
fn approach2(
    fits: &[GroupFit],
    spec: &AnalysisSpec,
    law: LawKind,
    fit_errors: &mut Vec<String>,
) -> Vec<(String, IsoflopReport)> {
    let iso_spec = IsoflopSpec {
        bootstrap: spec.bootstrap,
        seed: spec.seed,
        level: spec.level,
        ..IsoflopSpec::default()
    };
    let mut out = Vec::new();
    for g in fits.iter().filter(|g| g.input.budget_column.is_some()) {
        let run = || -> Result<IsoflopReport> {
            let mut r = isoflop::isoflop(&g.input, &iso_spec)?;
            if r.frontier.is_some() {
                if law == LawKind::Nd {
                    isoflop::compare_with(&mut r, &g.input, g.fit.params, spec.e);
                } else {
                    isoflop::compare(&mut r, &g.input, spec.e)?;
                }
            }
            Ok(r)
        };
        match run() {
            Ok(r) => out.push((g.key.clone(), r)),
            Err(e) => fit_errors.push(format!("{}: Approach 2: {e}", g.key)),
        }
    }
    out
}

impl Analysis {
    /// The comparisons' multiplier rows at one loss, with the comparison they belong to.
    pub fn rows_at(&self, at: At) -> Vec<(&ComparisonSummary, &fit::MultiplierRow)> {
        self.comparisons
            .iter()
            .flat_map(|c| c.comparison.rows.iter().map(move |r| (c, r)))
            .filter(|(_, r)| r.at == at)
            .collect()
    }

    /// fits.json: every group's fit report (with manifest), the comparisons, the sweeps.
    pub fn fits_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "law": self.law.name(),
            "params": self.params.name(),
            "headline": self.headline.name(),
            "fits": self.fits,
            "comparisons": self.comparisons,
            "lr_sweeps": self.sweeps,
            "seeds": self.seeds,
            "rollout": self.rollouts,
            "left_out": self.left_out,
            "fit_errors": self.fit_errors,
        });
        // Only reports that hold E gain the key (and only tables with budgets `isoflop`), so
        // other reports stay as they were.
        if let Some(e) = self.fixed_e {
            v["fixed_e"] = serde_json::json!(e);
        }
        if !self.isoflop.is_empty() {
            v["isoflop"] = serde_json::json!(
                self.isoflop
                    .iter()
                    .map(|(k, r)| serde_json::json!({"group": k, "fit": r}))
                    .collect::<Vec<_>>()
            );
        }
        v
    }

    /// multipliers.csv: one row per comparison, loss (fitted or measured) and variant size.
    pub fn multipliers_csv(&self) -> String {
        let f = |x: Option<f64>| x.map(|v| format!("{v}")).unwrap_or_default();
        let mut s = String::from(
            "reference,variant,at,params,size,n_params,tokens,variant_loss,seeds,n_eq,multiplier,lo,hi,unbounded,unbounded_fraction,identified\n",
        );
        for at in [At::Fitted, At::Measured] {
            for (_, r) in self.rows_at(at) {
                s += &format!(
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                    r.reference,
                    r.variant,
                    r.at.name(),
                    self.params.name(),
                    r.size,
                    r.n_params,
                    r.tokens,
                    r.variant_loss,
                    r.seeds,
                    f(r.n_eq),
                    f(r.multiplier),
                    f(r.lo),
                    f(r.hi),
                    r.unbounded,
                    f(r.unbounded_fraction),
                    r.identified
                );
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_to_reach_interpolates_in_log_tokens() {
        let curve = [(100.0, 5.0), (1000.0, 4.0), (10000.0, 3.0)];
        assert_eq!(tokens_to_reach(&curve, 6.0), Some(100.0));
        let t = tokens_to_reach(&curve, 3.5).unwrap();
        assert!((t - 1000.0 * 10f64.sqrt()).abs() < 1e-6, "{t}");
        assert_eq!(tokens_to_reach(&curve, 2.0), None);
    }

    #[test]
    fn bucket_cells_parse_with_nulls() {
        assert_eq!(
            parse_buckets("[1.5,null,2]"),
            vec![Some(1.5), None, Some(2.0)]
        );
        assert!(parse_buckets("").is_empty());
    }
}
