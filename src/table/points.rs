//! Fit points from a loss table. Three column conventions are accepted:
//! ours (`arch`, `n_params`, `tokens`, `val_loss`), Chinchilla-style (`Model Size`,
//! `Training FLOP`, `loss`; D = C / 6N, as Besiroglu et al. 2024 extracted them) and plain
//! `N`, `D`, `loss`. Without `arch` every row is one arch named `all`. Where the table has
//! `status`, only succeeded rows are fitted; where it has `run_id` and `step`, only each
//! run's final checkpoint. Every row left out is recorded with its reason. Each point carries
//! its group (arch, mode, tie), its bootstrap unit (grid size), seed and learning-rate scale
//! where the table has them. A `budget` (or `compute`) column, the nominal FLOP budget of IsoFLOP cells, is carried for Approach 2;
//! empty or NaN cells mean "no budget".

use std::collections::HashMap;
use std::path::Path;

use polars::prelude::DataFrame;
use serde::Serialize;

use super::group::Group;
use super::io::{bool_column, f64_column, read_frame, str_column};
use crate::{Error, Result};

/// One observation: a model of `n` parameters (total, or non-embedding under that
/// convention) trained on `d` tokens reached `loss`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub label: String,
    pub group: Group,
    pub n: f64,
    pub d: f64,
    pub loss: f64,
    /// The grid size the run was planned for: runs of one size and seed are one bootstrap
    /// unit, paired across groups. Empty where the table does not say (each point is then
    /// its own unit).
    pub unit: String,
    pub seed: i64,
    /// The learning-rate multiplier the run trained with (1 where the table has none).
    pub lr_scale: f64,
    /// Non-embedding parameters, where the table has them.
    #[serde(skip)]
    pub n_nonembed: Option<f64>,
    /// Nominal FLOP budget the run was planned for (IsoFLOP grids), where the table says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<f64>,
}

impl Point {
    /// A point of `arch` with no mode, baseline, unit, seed or learning-rate scale.
    pub fn new(label: impl Into<String>, arch: &str, n: f64, d: f64, loss: f64) -> Point {
        Point {
            label: label.into(),
            group: Group::new(arch, None, None),
            n,
            d,
            loss,
            unit: String::new(),
            seed: 0,
            lr_scale: 1.0,
            n_nonembed: None,
            budget: None,
        }
    }
}

/// Which parameter count N a fit reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamCount {
    /// Every parameter (Hoffmann et al. 2022; Pearce & Song 2024 recommend it).
    #[default]
    Total,
    /// Parameters outside the input table (or generator) and the output head (Kaplan et al.
    /// 2020's N).
    Nonembed,
}

impl ParamCount {
    pub fn name(self) -> &'static str {
        match self {
            ParamCount::Total => "total",
            ParamCount::Nonembed => "nonembed",
        }
    }

    /// How figures and reports name N under this convention.
    pub fn describe(self) -> &'static str {
        match self {
            ParamCount::Total => "total parameters",
            ParamCount::Nonembed => "non-embedding parameters",
        }
    }
}

impl std::str::FromStr for ParamCount {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "total" => Ok(ParamCount::Total),
            "nonembed" => Ok(ParamCount::Nonembed),
            other => Err(Error::Invalid(format!(
                "unknown parameter convention `{other}`: expected total or nonembed"
            ))),
        }
    }
}

/// A row that was read but not fitted, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Excluded {
    pub label: String,
    pub reason: String,
}

/// The points of a table, with what was left out.
#[derive(Debug, Clone, Serialize)]
pub struct FitInput {
    pub source: String,
    pub convention: &'static str,
    /// What `Point::n` counts.
    pub params: ParamCount,
    pub points: Vec<Point>,
    pub excluded: Vec<Excluded>,
    /// Rows that were earlier checkpoints of a run whose final checkpoint is fitted.
    pub earlier_checkpoints: usize,
    /// The column the points' budgets came from (`budget` or `compute`); `None` when the
    /// table has neither or it holds no finite value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_column: Option<String>,
}

impl FitInput {
    /// A table-less input (synthetic points, report fits) under the total convention.
    pub fn new(source: impl Into<String>, points: Vec<Point>) -> FitInput {
        FitInput {
            source: source.into(),
            convention: "N, D, loss",
            params: ParamCount::Total,
            points,
            excluded: Vec::new(),
            earlier_checkpoints: 0,
            budget_column: None,
        }
    }

    /// The groups present, in order of first appearance.
    pub fn groups(&self) -> Vec<Group> {
        let mut out: Vec<Group> = Vec::new();
        for p in &self.points {
            if !out.contains(&p.group) {
                out.push(p.group.clone());
            }
        }
        out
    }

    /// Only the points of one group, chosen by a selector (`dense`, `dense/tied`,
    /// `leviathan/iso_body`, ...; see [`Group::matches`]). The selector must name exactly one
    /// group of the table: pooling groups would mix baselines or comparison modes.
    pub fn select(&self, selector: &str) -> Result<FitInput> {
        let all = self.groups();
        let matching: Vec<&Group> = all.iter().filter(|g| g.matches(selector)).collect();
        let names = || {
            all.iter()
                .map(Group::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let group = match matching.as_slice() {
            [one] => (*one).clone(),
            [] => {
                return Err(Error::table(
                    &self.source,
                    format!("no rows of group `{selector}` (groups: {})", names()),
                ));
            }
            many => {
                return Err(Error::table(
                    &self.source,
                    format!(
                        "`{selector}` matches {} groups ({}): name one, e.g. `{}`",
                        many.len(),
                        many.iter()
                            .map(|g| g.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                        many[0]
                    ),
                ));
            }
        };
        Ok(FitInput {
            points: self
                .points
                .iter()
                .filter(|p| p.group == group)
                .cloned()
                .collect(),
            ..self.clone()
        })
    }

    /// The same points with N read as non-embedding parameters (an error naming the table if
    /// it has none), or unchanged under the total convention.
    pub fn with_params(mut self, params: ParamCount) -> Result<FitInput> {
        if params == ParamCount::Nonembed && self.params != ParamCount::Nonembed {
            for p in &mut self.points {
                p.n = match p.n_nonembed {
                    Some(n) if n > 0.0 => n,
                    _ => {
                        return Err(Error::table(
                            &self.source,
                            format!(
                                "--params nonembed needs a positive `n_nonembed` column ({})",
                                p.label
                            ),
                        ));
                    }
                };
            }
        }
        self.params = params;
        Ok(self)
    }

    /// Drops the `k` points with the highest loss (outliers; Besiroglu et al. drop 5).
    pub fn exclude_top(mut self, k: usize) -> Result<FitInput> {
        if k == 0 {
            return Ok(self);
        }
        if k >= self.points.len() {
            return Err(Error::Invalid(format!(
                "--exclude-top {k} would drop all {} points",
                self.points.len()
            )));
        }
        let mut order: Vec<usize> = (0..self.points.len()).collect();
        order.sort_by(|&a, &b| {
            self.points[b]
                .loss
                .total_cmp(&self.points[a].loss)
                .then(a.cmp(&b))
        });
        let drop: Vec<usize> = order[..k].to_vec();
        let mut kept = Vec::new();
        for (i, p) in self.points.into_iter().enumerate() {
            if drop.contains(&i) {
                self.excluded.push(Excluded {
                    label: p.label.clone(),
                    reason: format!("among the {k} highest losses ({:.4})", p.loss),
                });
            } else {
                kept.push(p);
            }
        }
        self.points = kept;
        Ok(self)
    }

    pub fn n(&self) -> Vec<f64> {
        self.points.iter().map(|p| p.n).collect()
    }
    pub fn d(&self) -> Vec<f64> {
        self.points.iter().map(|p| p.d).collect()
    }
    pub fn loss(&self) -> Vec<f64> {
        self.points.iter().map(|p| p.loss).collect()
    }
}

/// Reads a table file and turns it into fit points.
pub fn load_points(path: &Path) -> Result<FitInput> {
    let df = read_frame(path)?;
    points_from_frame(&df, &path.display().to_string())
}

fn has(df: &DataFrame, name: &str) -> bool {
    df.get_column_names().iter().any(|c| c.as_str() == name)
}

/// Turns a frame into fit points; `source` names it in errors.
pub fn points_from_frame(df: &DataFrame, source: &str) -> Result<FitInput> {
    let err = |msg: String| Error::table(source, msg);
    if df.height() == 0 {
        return Err(err("the table is empty: a fit needs at least 2 rows".into()));
    }
    let (convention, n_col, d_col, l_col) = if has(df, "n_params") || has(df, "val_loss") {
        ("results table", "n_params", "tokens", "val_loss")
    } else if has(df, "Model Size") {
        (
            "Chinchilla (Model Size, Training FLOP, loss)",
            "Model Size",
            "Training FLOP",
            "loss",
        )
    } else if has(df, "N") {
        ("N, D, loss", "N", "D", "loss")
    } else {
        let cols: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|c| c.to_string())
            .collect();
        return Err(err(format!(
            "missing columns: expected `n_params`, `tokens`, `val_loss` (or `Model Size`, \
             `Training FLOP`, `loss`, or `N`, `D`, `loss`); found {}",
            cols.join(", ")
        )));
    };
    let mut problems = Vec::new();
    let mut numeric = |name: &str| match f64_column(df, name) {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(e);
            None
        }
    };
    let (n, d, l) = (numeric(n_col), numeric(d_col), numeric(l_col));
    let (Some(n), Some(d), Some(l)) = (n, d, l) else {
        return Err(err(problems.join("; ")));
    };
    let text = |name: &str| -> Result<Option<Vec<Option<String>>>> {
        if has(df, name) {
            str_column(df, name).map(Some).map_err(err)
        } else {
            Ok(None)
        }
    };
    let arch = text("arch")?;
    let mode = text("mode")?;
    let size = text("size")?;
    let budget_column = ["budget", "compute"]
        .into_iter()
        .find(|c| has(df, c))
        .map(str::to_string);
    let budgets = match &budget_column {
        Some(c) => Some(f64_column(df, c).map_err(err)?),
        None => None,
    };
    let status = text("status")?;
    let run_id = text("run_id")?;
    let numbers = |name: &str| -> Result<Option<Vec<Option<f64>>>> {
        if has(df, name) {
            f64_column(df, name).map(Some).map_err(err)
        } else {
            Ok(None)
        }
    };
    let seed = numbers("seed")?;
    let lr_scale = numbers("lr_scale")?;
    let nonembed = numbers("n_nonembed")?;
    let d_model = numbers("d_model")?;
    let embed_out = numbers("n_embed_out")?;
    let tie = if has(df, "tie") {
        Some(bool_column(df, "tie").map_err(err)?)
    } else {
        None
    };
    let step = if has(df, "step") {
        Some(f64_column(df, "step").map_err(err)?)
    } else {
        None
    };

    let label = |i: usize| match (&run_id, &step) {
        (Some(r), Some(s)) => format!(
            "{}@{}",
            r[i].as_deref().unwrap_or("?"),
            s[i].map(|x| x.to_string()).unwrap_or_default()
        ),
        (Some(r), None) => r[i].clone().unwrap_or_else(|| format!("row {}", i + 1)),
        _ => format!("row {}", i + 1),
    };
    // The final checkpoint of each run: the row with the largest step.
    let mut last_step: HashMap<String, f64> = HashMap::new();
    if let (Some(r), Some(s)) = (&run_id, &step) {
        for i in 0..df.height() {
            if let (Some(id), Some(st)) = (&r[i], s[i]) {
                let e = last_step.entry(id.clone()).or_insert(st);
                *e = e.max(st);
            }
        }
    }
    let mut points = Vec::new();
    let mut excluded = Vec::new();
    let mut earlier_checkpoints = 0;
    for i in 0..df.height() {
        let row = i + 1;
        if let Some(st) = status.as_ref().and_then(|s| s[i].as_deref())
            && st != "succeeded"
        {
            excluded.push(Excluded {
                label: label(i),
                reason: format!("status {st}"),
            });
            continue;
        }
        if let (Some(r), Some(s)) = (&run_id, &step)
            && let (Some(id), Some(st)) = (&r[i], s[i])
            && st < last_step[id]
        {
            earlier_checkpoints += 1;
            continue;
        }
        let (Some(ni), Some(di), Some(li)) = (n[i], d[i], l[i]) else {
            let which = [(n_col, n[i]), (d_col, d[i]), (l_col, l[i])]
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(c, _)| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(err(format!("row {row}: {which} is empty")));
        };
        let di = if convention.starts_with("Chinchilla") {
            di / (6.0 * ni)
        } else {
            di
        };
        if !li.is_finite() {
            return Err(err(format!(
                "row {row}: `{l_col}` is {li}; losses must be finite"
            )));
        }
        if li <= 0.0 {
            return Err(err(format!(
                "row {row}: `{l_col}` is {li}; losses must be positive"
            )));
        }
        if !(ni.is_finite() && ni > 0.0) {
            return Err(err(format!(
                "row {row}: `{n_col}` is {ni}; parameter counts must be positive"
            )));
        }
        if !(di.is_finite() && di > 0.0) {
            return Err(err(format!(
                "row {row}: `{d_col}` gives D = {di}; token counts must be positive"
            )));
        }
        let arch = arch
            .as_ref()
            .and_then(|a| a[i].clone())
            .unwrap_or_else(|| "all".to_string());
        let at = |c: &Option<Vec<Option<f64>>>| c.as_ref().and_then(|v| v[i]);
        // Tables written before the `tie` column: a dense model is tied when it has no head.
        let tie = match &tie {
            Some(t) => t[i],
            None => (arch == "dense")
                .then(|| at(&embed_out).map(|h| h == 0.0))
                .flatten(),
        };
        let mode = mode.as_ref().and_then(|m| m[i].clone());
        // Tables written before the `size` column pair runs by width.
        let unit = match size.as_ref().and_then(|s| s[i].clone()) {
            Some(s) if !s.is_empty() => s,
            _ => at(&d_model).map(|d| format!("d{d}")).unwrap_or_default(),
        };
        let budget = budgets
            .as_ref()
            .and_then(|b| b[i])
            .filter(|c| c.is_finite() && *c > 0.0);
        points.push(Point {
            label: label(i),
            group: Group::new(&arch, mode.as_deref(), tie),
            n: ni,
            d: di,
            loss: li,
            unit,
            seed: at(&seed).unwrap_or(0.0) as i64,
            lr_scale: at(&lr_scale).unwrap_or(1.0),
            n_nonembed: at(&nonembed),
            budget,
        });
    }
    if points.len() < 2 {
        return Err(err(format!(
            "{} usable row{} ({} excluded): a fit needs at least 2",
            points.len(),
            if points.len() == 1 { "" } else { "s" },
            excluded.len()
        )));
    }
    Ok(FitInput {
        source: source.to_string(),
        convention,
        params: ParamCount::Total,
        budget_column: budget_column.filter(|_| points.iter().any(|p| p.budget.is_some())),
        excluded,
        earlier_checkpoints,
        points,
    })
}
