//! Steps and their identities. A step's id is a short hex sha256 of its kind, its kind's code
//! version, its versioned config (canonical JSON) and the ids of its inputs (Marin's
//! executor): the same inputs and config always give the same id, hence the same directory
//! `runs/<exp>/<kind>-<id>/`, which is what makes a rerun skip finished work and an added grid
//! point train alone. Only what changes a step's output is versioned: labels, executor
//! settings and paths are not.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::plan::{Plan, PlannedCell};
use crate::config::spec::Compact;
use crate::{Error, Result};

/// Hex digits kept of a step's hash: 40 bits, so a collision among 10^4 cells of one
/// experiment has a probability near 5e-5.
pub const ID_LEN: usize = 10;

/// What a step does (ordered as the pipeline runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Fingerprints the corpus folder.
    Corpus,
    /// Tokenises the corpus into a token store.
    Tokens,
    /// One cell: `ladder train cell.toml`.
    Train,
    /// A WSD stable prefix (`ladder train` on a `[wsd] role = "prefix"` cell): warmup, then
    /// the peak learning rate, keeping a checkpoint at each of its branches' start points.
    Prefix,
    /// A WSD cooldown branch: one cell, started from its prefix's checkpoint.
    Branch,
    /// Every cell's record into runs/<exp>/results.{parquet,csv}.
    Collect,
    /// Scaling-law fits (fits.json).
    Fit,
    /// Effective-parameter multipliers (multipliers.csv).
    Multiplier,
    /// Figures.
    Plots,
    /// REPORT.md and everything beside it, into reports/<exp>/.
    Report,
}

impl StepKind {
    pub const ALL: [StepKind; 10] = [
        StepKind::Corpus,
        StepKind::Tokens,
        StepKind::Train,
        StepKind::Prefix,
        StepKind::Branch,
        StepKind::Collect,
        StepKind::Fit,
        StepKind::Multiplier,
        StepKind::Plots,
        StepKind::Report,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Corpus => "corpus",
            StepKind::Tokens => "tokens",
            StepKind::Train => "train",
            StepKind::Prefix => "prefix",
            StepKind::Branch => "branch",
            StepKind::Collect => "collect",
            StepKind::Fit => "fit",
            StepKind::Multiplier => "multiplier",
            StepKind::Plots => "plots",
            StepKind::Report => "report",
        }
    }

    /// Bumped when the kind's code changes what it outputs for the same config, so every
    /// step of that kind gets a new id (and reruns).
    pub fn version(self) -> u32 {
        1
    }

    /// Whether the step's output is a pure function of its id. Such steps never need
    /// rerunning once succeeded. The others (a train cell retried after a failure, a collect
    /// over cells that changed state) stamp each success, and their dependents rerun when the
    /// stamp they consumed is no longer the current one.
    pub fn content_addressed(self) -> bool {
        matches!(self, StepKind::Corpus | StepKind::Tokens)
    }

    /// Whether dependents record this step's success stamp and rerun when it changes. Not
    /// for content-addressed steps, nor for a stable prefix: rerunning it to reach a new
    /// branch point changes none of the checkpoints its finished branches started from.
    pub fn stamped(self) -> bool {
        !self.content_addressed() && self != StepKind::Prefix
    }

    /// Whether dependents may run when some inputs of this kind failed: collect gathers the
    /// cells that finished, so one failed cell never blocks the table and the report.
    pub fn soft_input(self) -> bool {
        self.yields_rows()
    }

    /// Whether the step runs a training process (`ladder train`).
    pub fn trains_model(self) -> bool {
        matches!(self, StepKind::Train | StepKind::Prefix | StepKind::Branch)
    }

    /// Whether the step's record is rows of the results table: train cells and cooldown
    /// branches (a stable prefix's own evaluations are never fit points).
    pub fn yields_rows(self) -> bool {
        matches!(self, StepKind::Train | StepKind::Branch)
    }
}

impl std::fmt::Display for StepKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One node of the graph.
#[derive(Debug, Clone)]
pub struct Step {
    pub kind: StepKind,
    /// Short hex hash.
    pub id: String,
    /// Human label (not hashed).
    pub label: String,
    /// The versioned config that went into the id.
    pub config: Value,
    /// Indices of the input steps in [`Graph::steps`].
    pub inputs: Vec<usize>,
    /// For train and branch steps: the index of the cell in [`Plan::cells`]; for a stable
    /// prefix, its first branch's cell (they differ only in token budget).
    pub cell: Option<usize>,
}

impl Step {
    /// `<kind>-<id>`: the directory name under runs/<exp>/.
    pub fn name(&self) -> String {
        format!("{}-{}", self.kind, self.id)
    }
}

/// The experiment graph, in topological order (every input before its dependents).
#[derive(Debug, Clone)]
pub struct Graph {
    pub steps: Vec<Step>,
    /// runs/<exp>/.
    pub runs_dir: PathBuf,
}

/// The id of a step: sha256 over the kind, its version, the canonical config and the input
/// ids, first [`ID_LEN`] hex digits.
pub fn step_id(kind: StepKind, config: &Value, input_ids: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_str().as_bytes());
    h.update([0]);
    h.update(kind.version().to_le_bytes());
    h.update([0]);
    // serde_json's Map is ordered by key (no `preserve_order`), so this is canonical.
    h.update(config.to_string().as_bytes());
    for id in input_ids {
        h.update([0]);
        h.update(id.as_bytes());
    }
    let digest = h.finalize();
    digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..ID_LEN]
        .to_string()
}

impl Graph {
    /// Builds the graph of a plan. Reads the corpus (to fingerprint it; file hashes are
    /// cached in [`hash_cache`]) and the analysis spec (whose content is versioned into the
    /// analysis steps); writes nothing else.
    pub fn build(plan: &Plan) -> Result<Graph> {
        if !plan.budget_rules.is_empty() {
            return Err(Error::Graph(
                "grid.budgets: the sizes of rule budgets are chosen by graph::load_plan, not yet here".into(),
            ));
        }
        let mut steps: Vec<Step> = Vec::with_capacity(plan.cells.len() + 7);
        let push = |steps: &mut Vec<Step>,
                    kind,
                    label: String,
                    config: Value,
                    inputs: Vec<usize>,
                    cell| {
            let mut ids: Vec<&str> = inputs
                .iter()
                .map(|&i: &usize| steps[i].id.as_str())
                .collect();
            // Input order carries no meaning (a grid's cells may be listed in any order).
            ids.sort_unstable();
            let id = step_id(kind, &config, &ids);
            steps.push(Step {
                kind,
                id,
                label,
                config,
                inputs,
                cell,
            });
            steps.len() - 1
        };

        let fingerprint = corpus_fingerprint(&plan.corpus, Some(&hash_cache(plan)))?;
        let corpus = push(
            &mut steps,
            StepKind::Corpus,
            plan.corpus
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            json!({ "fingerprint": fingerprint }),
            vec![],
            None,
        );
        let tokens = push(
            &mut steps,
            StepKind::Tokens,
            format!(
                "{}{}",
                plan.tokenizer,
                match plan.compact {
                    Compact::Off => String::new(),
                    Compact::Used => " compact".into(),
                    Compact::Top(k) => format!(" compact {k}"),
                }
            ),
            tokens_config(plan),
            vec![corpus],
            None,
        );
        // Under WSD every cell is a cooldown branch of the stable prefix it shares with the
        // cells that differ from it only in token budget (src/graph/wsd.rs).
        let wsd = plan.train.schedule == "wsd";
        let mut prefixes: std::collections::HashMap<String, usize> = Default::default();
        let mut trains = Vec::with_capacity(plan.cells.len());
        for (ci, cell) in plan.cells.iter().enumerate() {
            let label = cell.label(plan.train.tokens);
            let t = if wsd {
                let config = super::wsd::prefix_config(plan, cell);
                let key = config.to_string();
                let prefix = match prefixes.get(&key) {
                    Some(&p) => p,
                    None => {
                        let p = push(
                            &mut steps,
                            StepKind::Prefix,
                            format!("{} stable prefix", cell.shape_label()),
                            config,
                            vec![tokens],
                            Some(ci),
                        );
                        prefixes.insert(key, p);
                        p
                    }
                };
                push(
                    &mut steps,
                    StepKind::Branch,
                    label,
                    train_config(plan, cell),
                    vec![tokens, prefix],
                    Some(ci),
                )
            } else {
                push(
                    &mut steps,
                    StepKind::Train,
                    label,
                    train_config(plan, cell),
                    vec![tokens],
                    Some(ci),
                )
            };
            trains.push(t);
        }
        let collect = push(
            &mut steps,
            StepKind::Collect,
            format!("{} cells", trains.len()),
            json!({}),
            trains,
            None,
        );
        let analysis = match &plan.analysis {
            Some(p) => analysis_config(p)?,
            None => Value::Null,
        };
        let fit = push(
            &mut steps,
            StepKind::Fit,
            String::new(),
            json!({ "analysis": analysis }),
            vec![collect],
            None,
        );
        let mult = push(
            &mut steps,
            StepKind::Multiplier,
            String::new(),
            json!({ "analysis": analysis }),
            vec![fit],
            None,
        );
        let plots = push(
            &mut steps,
            StepKind::Plots,
            String::new(),
            json!({ "analysis": analysis }),
            vec![mult],
            None,
        );
        push(
            &mut steps,
            StepKind::Report,
            format!("reports/{}", plan.name),
            json!({ "analysis": analysis, "description": plan.description }),
            vec![plots],
            None,
        );
        Ok(Graph {
            steps,
            runs_dir: plan.runs_dir(),
        })
    }

    /// runs/<exp>/<kind>-<id>/.
    pub fn dir(&self, i: usize) -> PathBuf {
        self.runs_dir.join(self.steps[i].name())
    }

    /// Indices of the steps whose records are the results table's rows (train cells and
    /// cooldown branches), in plan order.
    pub fn cells(&self) -> impl Iterator<Item = usize> + '_ {
        self.steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind.yields_rows())
            .map(|(i, _)| i)
    }

    /// Indices of the branches of stable prefix `prefix`, in plan order.
    pub fn branches_of(&self, prefix: usize) -> impl Iterator<Item = usize> + '_ {
        self.steps
            .iter()
            .enumerate()
            .filter(move |(_, s)| s.kind == StepKind::Branch && s.inputs.contains(&prefix))
            .map(|(i, _)| i)
    }

    /// The index of the single step of `kind` (every kind but train has one).
    pub fn one(&self, kind: StepKind) -> usize {
        self.steps
            .iter()
            .position(|s| s.kind == kind)
            .expect("every kind is in the graph")
    }

    /// Steps whose name or label matches `only`, plus all their ancestors (a selected step
    /// cannot run before its inputs), as a mask over [`Graph::steps`].
    pub fn select(&self, only: Option<&regex::Regex>) -> Vec<bool> {
        let Some(re) = only else {
            return vec![true; self.steps.len()];
        };
        let mut keep: Vec<bool> = self
            .steps
            .iter()
            .map(|s| re.is_match(&s.name()) || re.is_match(&s.label))
            .collect();
        // Reverse topological order: dependents before inputs.
        for i in (0..self.steps.len()).rev() {
            if keep[i] {
                for &j in &self.steps[i].inputs {
                    keep[j] = true;
                }
            }
        }
        keep
    }
}

/// The versioned config of the tokens step. Keys at their defaults are left out, so stores
/// made before they existed keep their ids.
pub fn tokens_config(plan: &Plan) -> Value {
    let mut config = json!({ "tokenizer": plan.tokenizer, "compact": plan.compact });
    if let Some(field) = &plan.text_field {
        config["text_field"] = json!(field);
    }
    if let Some(max) = plan.max_tokens {
        config["max_tokens"] = json!(max);
    }
    config
}

/// The versioned config of a cell: everything that changes what it trains. Fields that only
/// matter for one arch or mode are included only there, so changing the generator leaves
/// the dense cells alone and the isoparametric tolerance leaves iso-body cells alone. Fields
/// added after the first studies appear only away from their old behaviour (an untied
/// baseline, a learning-rate scale of 1), so cells planned before them keep their ids.
pub fn train_config(plan: &Plan, cell: &PlannedCell) -> Value {
    let m = &plan.model;
    let mut model = json!({ "seq_len": m.seq_len });
    if cell.arch == "dense" {
        model["tie_embeddings"] = json!(cell.tie.unwrap_or(false));
    } else {
        model["generator"] = json!(m.generator);
    }
    if cell.mode == "isoparametric" {
        model["iso_tolerance"] = json!(m.iso_tolerance);
        model["max_layers"] = json!(m.max_layers);
        // The depth is matched to this baseline's total.
        if cell.tie == Some(true) {
            model["baseline_tie"] = json!(true);
        }
    }
    let mut config = json!({
        "arch": cell.arch,
        "mode": cell.mode,
        "size": cell.size,
        "seed": cell.seed,
        "tokens_per_param": cell.tokens_per_param,
        "model": model,
        "train": plan.train,
        "eval": plan.eval,
    });
    if cell.lr_scale != 1.0 {
        config["lr_scale"] = json!(cell.lr_scale);
    }
    // An IsoFLOP cell's budget replaces the ratio it does not use; a cell of a `train.tokens`
    // list is the cell a single `train.tokens` of that value plans, id included.
    if let Some(c) = cell.budget {
        config
            .as_object_mut()
            .expect("an object")
            .remove("tokens_per_param");
        config["budget"] = json!(c);
    } else if let Some(n) = cell.tokens {
        config["train"]["tokens"] = json!(n);
    }
    // Under `dense_twin` the recipe of most cells reads the primary baseline's total.
    if plan.train.hyper_from == crate::config::HyperFrom::DenseTwin {
        config["twin_tie"] = json!(m.ties[0]);
    }
    config
}

/// The analysis spec's content as canonical JSON (comments and formatting do not count).
fn analysis_config(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    // Validate now: a bad analysis spec should fail the plan, not the fit an hour later.
    crate::report::AnalysisSpec::parse(&text, &path.display().to_string())?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    serde_json::to_value(table).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

/// sha256 over every corpus file's relative path and content hash, in reading order
/// (src/data/corpus.rs); the content hashes are cached in `cache` by (path, size, mtime).
pub fn corpus_fingerprint(corpus: &Path, cache: Option<&Path>) -> Result<String> {
    let corpus = crate::data::Corpus::open(corpus)?;
    corpus.fingerprint(&mut crate::data::corpus::HashCache::load(cache))
}

/// Where graph builds cache corpus file hashes: `runs/.file-sha256.json`.
pub fn hash_cache(plan: &Plan) -> PathBuf {
    plan.root.join("runs").join(".file-sha256.json")
}
