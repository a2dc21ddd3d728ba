//! The numbers behind a report, computed from result rows only: final cells, per-group fits,
//! multipliers, rollout, token efficiency, per-bucket changes, throughput, training curves.

use std::collections::BTreeMap;

use serde::Serialize;

use super::spec::AnalysisSpec;
use crate::fit::{self, FitReport, FitSpec, LawKind, MultiplierRow};
use crate::table::{Excluded, FitInput, Point, ResultRow};
use crate::{Error, Result};

/// One cell at its final checkpoint.
#[derive(Debug, Clone, Serialize)]
pub struct CellSummary {
    pub run_id: String,
    pub arch: String,
    pub mode: String,
    pub n_params: i64,
    pub n_embed_in: i64,
    pub n_nonembed: i64,
    pub d_model: i64,
    pub n_layers: i64,
    pub n_heads: i64,
    pub seed: i64,
    pub tokens: i64,
    pub val_loss: f64,
    pub val_bpb: f64,
    pub status: String,
    pub tokens_per_s: f64,
    pub wall_s: f64,
    /// Model FLOPs utilisation of the final row (NaN without `[device] peak_tflops`).
    pub mfu: f64,
}

impl CellSummary {
    fn body(&self) -> (i64, i64, i64) {
        (self.d_model, self.n_layers, self.n_heads)
    }
    pub fn body_label(&self) -> String {
        format!("d{} L{} H{}", self.d_model, self.n_layers, self.n_heads)
    }
}

/// A fitted group: the reference arch, or one variant arch in one comparison mode.
#[derive(Debug, Clone, Serialize)]
pub struct GroupFit {
    pub key: String,
    pub arch: String,
    pub mode: Option<String>,
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
}

/// Tokens a variant needs to reach the reference's final loss at the same body.
#[derive(Debug, Clone, Serialize)]
pub struct TokenEfficiency {
    pub body: String,
    pub reference_run: String,
    pub variant_run: String,
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
    pub body: String,
    pub reference_run: String,
    pub variant_run: String,
    pub n_params_reference: i64,
    /// exp(L_variant - L_reference) - 1 per bucket (most frequent first); `None` where
    /// either run has no tokens in the bucket.
    pub ppl_change: Vec<Option<f64>>,
}

/// (x, y) points of a curve.
pub type Points = Vec<(f64, f64)>;

/// A training curve: run id, arch, (tokens, validation loss) points.
pub type Curve = (String, String, Points);

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub law: LawKind,
    pub reference_arch: String,
    pub cells: Vec<CellSummary>,
    pub left_out: Vec<Excluded>,
    pub reference: Option<GroupFit>,
    pub variants: Vec<GroupFit>,
    pub multipliers: Vec<(String, Vec<MultiplierRow>)>,
    pub rollouts: Vec<Rollout>,
    pub efficiency: Vec<TokenEfficiency>,
    pub buckets: Vec<BucketChange>,
    /// (run_id, group, [(tokens, val_loss)]) for every cell with evaluated checkpoints; the
    /// group is the reference arch or `arch/mode`, as the fits name them.
    pub curves: Vec<Curve>,
    /// (body, reference tokens/s, variant tokens/s) for iso-body pairs.
    pub throughput: Vec<(String, f64, f64)>,
    /// Fits that could not be made, and why (the report says so instead of failing).
    pub fit_errors: Vec<String>,
    pub wall_s_total: f64,
}

fn final_rows(rows: &[ResultRow]) -> Vec<&ResultRow> {
    let mut last: BTreeMap<&str, &ResultRow> = BTreeMap::new();
    for r in rows {
        let e = last.entry(r.run_id.as_str()).or_insert(r);
        if r.step > e.step {
            *e = r;
        }
    }
    let mut out: Vec<&ResultRow> = last.into_values().collect();
    out.sort_by(|a, b| {
        a.arch
            .cmp(&b.arch)
            .then(a.mode.cmp(&b.mode))
            .then(a.n_params.cmp(&b.n_params))
            .then(a.run_id.cmp(&b.run_id))
    });
    out
}

fn input_of(cells: &[&CellSummary], source: &str) -> FitInput {
    FitInput {
        source: source.to_string(),
        convention: "results table",
        points: cells
            .iter()
            .map(|c| Point {
                label: c.run_id.clone(),
                arch: c.arch.clone(),
                n: c.n_params as f64,
                d: c.tokens as f64,
                loss: c.val_loss,
            })
            .collect(),
        excluded: Vec::new(),
        earlier_checkpoints: 0,
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

/// How fits, curves and figures name a group of cells: the reference arch alone, else
/// `arch/mode`.
fn group_key(reference: &str, arch: &str, mode: &str) -> String {
    if arch == reference {
        arch.to_string()
    } else {
        format!("{arch}/{mode}")
    }
}

/// Computes every figure of the report from the rows.
pub fn analyse(rows: &[ResultRow], spec: &AnalysisSpec) -> Result<Analysis> {
    if rows.is_empty() {
        return Err(Error::Invalid(
            "the results table has no rows: nothing to report".into(),
        ));
    }
    let law = spec.law_kind()?;
    let finals = final_rows(rows);
    let cells: Vec<CellSummary> = finals
        .iter()
        .map(|r| CellSummary {
            run_id: r.run_id.clone(),
            arch: r.arch.clone(),
            mode: r.mode.clone(),
            n_params: r.n_params,
            n_embed_in: r.n_embed_in,
            n_nonembed: r.n_nonembed,
            d_model: r.d_model,
            n_layers: r.n_layers,
            n_heads: r.n_heads,
            seed: r.seed,
            tokens: r.tokens,
            val_loss: r.val_loss,
            val_bpb: r.val_bpb,
            status: r.status.clone(),
            tokens_per_s: r.tokens_per_s,
            wall_s: r.wall_s,
            mfu: r.mfu,
        })
        .collect();
    let mut left_out = Vec::new();
    let usable: Vec<&CellSummary> = cells
        .iter()
        .filter(|c| {
            let ok = c.status == "succeeded" && c.val_loss.is_finite() && c.val_loss > 0.0;
            if !ok {
                left_out.push(Excluded {
                    label: c.run_id.clone(),
                    reason: format!("status {}", c.status),
                });
            }
            ok
        })
        .collect();

    let fit_spec = FitSpec {
        bootstrap: spec.bootstrap,
        seed: spec.seed,
        level: spec.level,
        ..FitSpec::new(law)
    };
    let mut fit_errors = Vec::new();
    let fit_group = |key: String,
                     arch: &str,
                     mode: Option<String>,
                     members: Vec<&CellSummary>|
     -> std::result::Result<GroupFit, String> {
        let input = input_of(&members, &key)
            .exclude_top(spec.exclude_top)
            .map_err(|e| format!("{key}: {e}"))?;
        let fit = fit::fit(&input, &fit_spec).map_err(|e| format!("{key}: {e}"))?;
        Ok(GroupFit {
            key,
            arch: arch.to_string(),
            mode,
            input,
            fit,
        })
    };
    let ref_members: Vec<&CellSummary> = usable
        .iter()
        .copied()
        .filter(|c| c.arch == spec.reference)
        .collect();
    let reference = if ref_members.is_empty() {
        fit_errors.push(format!(
            "{}: no succeeded cells of the reference arch",
            spec.reference
        ));
        None
    } else {
        fit_group(
            group_key(&spec.reference, &spec.reference, "reference"),
            &spec.reference,
            None,
            ref_members,
        )
        .map_err(|e| fit_errors.push(e))
        .ok()
    };
    let mut groups: BTreeMap<(String, String), Vec<&CellSummary>> = BTreeMap::new();
    for c in usable
        .iter()
        .filter(|c| c.arch != spec.reference && spec.modes.contains(&c.mode))
    {
        groups
            .entry((c.arch.clone(), c.mode.clone()))
            .or_default()
            .push(c);
    }
    let mut variants = Vec::new();
    for ((arch, mode), members) in groups {
        match fit_group(
            group_key(&spec.reference, &arch, &mode),
            &arch,
            Some(mode),
            members,
        ) {
            Ok(g) => variants.push(g),
            Err(e) => fit_errors.push(e),
        }
    }
    let multipliers = match &reference {
        Some(r) => variants
            .iter()
            .map(|v| {
                (
                    v.key.clone(),
                    fit::multiplier_rows(&r.fit, &v.fit, &v.input, spec.level),
                )
            })
            .collect(),
        None => Vec::new(),
    };

    let mut rollouts = Vec::new();
    if spec.rollout {
        let no_boot = FitSpec {
            bootstrap: 0,
            ..fit_spec.clone()
        };
        for g in reference.iter().chain(&variants) {
            let max_n = g.input.points.iter().map(|p| p.n).fold(0.0, f64::max);
            let smaller: Vec<Point> = g
                .input
                .points
                .iter()
                .filter(|p| p.n < max_n)
                .cloned()
                .collect();
            let sizes = {
                let mut ns: Vec<f64> = smaller.iter().map(|p| p.n).collect();
                ns.dedup();
                ns.len()
            };
            if smaller.len() < fit::objective::Objective::dim(law) || sizes < 2 {
                continue;
            }
            let train = FitInput {
                points: smaller,
                ..g.input.clone()
            };
            let Ok(f) = fit::fit(&train, &no_boot) else {
                continue;
            };
            for p in g.input.points.iter().filter(|p| p.n == max_n) {
                let predicted = f.params.predict(p.n, p.d);
                rollouts.push(Rollout {
                    key: g.key.clone(),
                    fitted_points: train.points.len(),
                    held_out: p.label.clone(),
                    n_params: p.n,
                    predicted,
                    actual: p.loss,
                    relative_error: predicted / p.loss - 1.0,
                });
            }
        }
    }

    let mut curves_by_run: BTreeMap<&str, (String, Points)> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.val_loss.is_finite() && r.tokens > 0)
    {
        curves_by_run
            .entry(r.run_id.as_str())
            .or_insert_with(|| (group_key(&spec.reference, &r.arch, &r.mode), Vec::new()))
            .1
            .push((r.tokens as f64, r.val_loss));
    }
    let curves: Vec<Curve> = curves_by_run
        .into_iter()
        .map(|(id, (arch, mut pts))| {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            (id.to_string(), arch, pts)
        })
        .collect();

    // Iso-body pairs: a reference cell and a variant cell with the same body and seed.
    let mut efficiency = Vec::new();
    let mut buckets = Vec::new();
    let mut throughput = Vec::new();
    for r in usable.iter().filter(|c| c.arch == spec.reference) {
        for v in usable.iter().filter(|c| {
            c.arch != spec.reference
                && c.mode == "iso_body"
                && c.body() == r.body()
                && c.seed == r.seed
        }) {
            let curve = curves
                .iter()
                .find(|c| c.0 == v.run_id)
                .map(|c| c.2.clone())
                .unwrap_or_default();
            let vt = tokens_to_reach(&curve, r.val_loss);
            efficiency.push(TokenEfficiency {
                body: r.body_label(),
                reference_run: r.run_id.clone(),
                variant_run: v.run_id.clone(),
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
                    body: r.body_label(),
                    reference_run: r.run_id.clone(),
                    variant_run: v.run_id.clone(),
                    n_params_reference: r.n_params,
                    ppl_change: rb
                        .iter()
                        .zip(&vb)
                        .map(|(a, b)| Some((b.as_ref()? - a.as_ref()?).exp() - 1.0))
                        .collect(),
                });
            }
            if r.tokens_per_s > 0.0 && v.tokens_per_s > 0.0 {
                throughput.push((r.body_label(), r.tokens_per_s, v.tokens_per_s));
            }
        }
    }
    let wall_s_total = cells
        .iter()
        .map(|c| c.wall_s)
        .filter(|w| w.is_finite())
        .sum();
    Ok(Analysis {
        law,
        reference_arch: spec.reference.clone(),
        cells,
        left_out,
        reference,
        variants,
        multipliers,
        rollouts,
        efficiency,
        buckets,
        curves,
        throughput,
        fit_errors,
        wall_s_total,
    })
}

impl Analysis {
    /// fits.json: every group's fit report (with manifest) and the multipliers.
    pub fn fits_json(&self) -> serde_json::Value {
        serde_json::json!({
            "law": self.law.name(),
            "reference": self.reference,
            "variants": self.variants,
            "multipliers": self.multipliers.iter().map(|(k, rows)| serde_json::json!({"group": k, "rows": rows})).collect::<Vec<_>>(),
            "rollout": self.rollouts,
            "left_out": self.left_out,
            "fit_errors": self.fit_errors,
        })
    }

    /// multipliers.csv: one row per variant group and size.
    pub fn multipliers_csv(&self) -> String {
        let f = |x: Option<f64>| x.map(|v| format!("{v}")).unwrap_or_default();
        let mut s = String::from(
            "group,arch,n_params,tokens,variant_loss,n_eq,multiplier,lo,hi,unbounded,unbounded_fraction\n",
        );
        for (key, rows) in &self.multipliers {
            for r in rows {
                s += &format!(
                    "{key},{},{},{},{},{},{},{},{},{},{}\n",
                    r.arch,
                    r.n_params,
                    r.tokens,
                    r.variant_loss,
                    f(r.n_eq),
                    f(r.multiplier),
                    f(r.lo),
                    f(r.hi),
                    r.unbounded,
                    f(r.unbounded_fraction)
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
