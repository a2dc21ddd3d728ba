//! What each step kind does once the executor has given it its lease: fingerprint the corpus,
//! tokenise it, write a cell file and supervise `ladder train` on it, collect the records into
//! the results table, fit, compute multipliers, draw the plots, publish the report. The
//! executors decide when and where; this module decides what.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use crate::config::CellSpec;
use crate::config::plan::Plan;
use crate::graph::status::{Lease, State};
use crate::graph::step::{Graph, StepKind};
use crate::report::{self, AnalysisSpec};
use crate::resolve::{cell_spec, estimated_vocab, setup};
use crate::table::{self, ResultRow};
use crate::train::{RECORD_FILE, RunRecord};
use crate::{Error, Result};

/// The cell file inside a train step's directory.
pub const CELL_FILE: &str = "cell.toml";
/// Where `ladder train` output goes, inside the step directory.
pub const TRAIN_LOG: &str = "train.log";
/// The token store inside the tokens step's directory.
pub const STORE_DIR: &str = "store";
/// The collected table's stem inside the collect step's directory and in runs/<exp>/.
pub const RESULTS_STEM: &str = "results";

/// How to start a training process.
#[derive(Debug, Clone)]
pub struct Trainer {
    /// The `ladder` binary (this one unless `LADDER_TRAIN_EXE` names another, e.g. a fake in
    /// tests); it is run as `<exe> train <cell.toml>`.
    pub exe: PathBuf,
    /// `RAYON_NUM_THREADS` of each training process.
    pub threads: usize,
    /// When cells train on CUDA: the visible GPUs, one handed to each training process as its
    /// `CUDA_VISIBLE_DEVICES` (so its device 0) for as long as it runs.
    pub gpus: Option<std::sync::Arc<GpuPool>>,
}

/// The GPUs a local orchestrator may use: `CUDA_VISIBLE_DEVICES` when set (CUDA's rules: the
/// list stops at the first empty or `-1` entry), else one per `/proc/driver/nvidia/gpus`
/// entry, else none.
pub fn visible_gpus() -> Vec<String> {
    match std::env::var("CUDA_VISIBLE_DEVICES") {
        Ok(v) => parse_visible_devices(&v),
        Err(_) => {
            let n = std::fs::read_dir("/proc/driver/nvidia/gpus")
                .map(|d| d.count())
                .unwrap_or(0);
            (0..n).map(|i| i.to_string()).collect()
        }
    }
}

/// The device names of a `CUDA_VISIBLE_DEVICES` value.
pub fn parse_visible_devices(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .take_while(|s| !s.is_empty() && !s.starts_with('-'))
        .map(str::to_string)
        .collect()
}

/// GPUs handed out one per training process.
#[derive(Debug)]
pub struct GpuPool {
    free: Mutex<Vec<String>>,
}

impl GpuPool {
    pub fn new(gpus: Vec<String>) -> Self {
        let mut free = gpus;
        free.reverse(); // handed out in the listed order
        GpuPool {
            free: Mutex::new(free),
        }
    }

    /// A free GPU, waiting for one if all are taken (the executor runs at most as many
    /// training processes as there are GPUs, so this does not wait in practice).
    pub fn take(self: &std::sync::Arc<Self>) -> GpuLease {
        loop {
            if let Some(id) = self.free.lock().expect("gpu pool").pop() {
                return GpuLease {
                    pool: self.clone(),
                    id,
                };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A GPU held by one training process; returned to the pool on drop.
pub struct GpuLease {
    pool: std::sync::Arc<GpuPool>,
    pub id: String,
}

impl Drop for GpuLease {
    fn drop(&mut self) {
        self.pool
            .free
            .lock()
            .expect("gpu pool")
            .push(std::mem::take(&mut self.id));
    }
}

impl Trainer {
    pub fn from_env(threads: usize) -> Result<Trainer> {
        let exe = match std::env::var_os("LADDER_TRAIN_EXE") {
            Some(p) => PathBuf::from(p),
            None => std::env::current_exe()
                .map_err(|e| Error::Graph(format!("cannot find the ladder binary: {e}")))?,
        };
        Ok(Trainer {
            exe,
            threads: threads.max(1),
            gpus: None,
        })
    }

    /// Hands each training process one of `gpus` (none: leave the environment alone).
    pub fn with_gpus(mut self, gpus: Vec<String>) -> Trainer {
        self.gpus = (!gpus.is_empty()).then(|| std::sync::Arc::new(GpuPool::new(gpus)));
        self
    }
}

/// Everything a step needs besides its own directory.
pub struct Ctx<'a> {
    pub plan: &'a Plan,
    pub graph: &'a Graph,
    pub trainer: Trainer,
    analysis_spec: AnalysisSpec,
    /// The last analysis computed (collect stamp, analysis), shared by fit and multiplier.
    cache: Mutex<Option<(PathBuf, std::sync::Arc<report::Analysis>)>>,
    /// The token store's vocabulary, once it exists.
    vocab: std::sync::OnceLock<usize>,
}

impl<'a> Ctx<'a> {
    pub fn new(plan: &'a Plan, graph: &'a Graph, trainer: Trainer) -> Result<Self> {
        let analysis_spec = match &plan.analysis {
            Some(p) => AnalysisSpec::load(p)?,
            None => AnalysisSpec::default(),
        };
        Ok(Ctx {
            plan,
            graph,
            trainer,
            analysis_spec,
            cache: Mutex::new(None),
            vocab: std::sync::OnceLock::new(),
        })
    }

    fn dir(&self, kind: StepKind) -> PathBuf {
        self.graph.dir(self.graph.one(kind))
    }

    /// Runs an in-process step (every kind but train). Returns a one-line summary.
    pub fn run_inline(&self, i: usize, lease: &Lease) -> Result<String> {
        let step = &self.graph.steps[i];
        let dir = self.graph.dir(i);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        match step.kind {
            StepKind::Corpus => self.corpus(&dir),
            StepKind::Tokens => self.tokens(&dir, lease),
            StepKind::Collect => self.collect(&dir),
            StepKind::Fit => self.fit(&dir),
            StepKind::Multiplier => self.multiplier(&dir),
            StepKind::Plots => self.plots(&dir),
            StepKind::Report => self.report(&dir, lease),
            StepKind::Train | StepKind::Prefix | StepKind::Branch => {
                Err(Error::Graph("training steps run as processes".into()))
            }
        }
    }

    /// Whether a finished step's outputs are still where later steps and users look.
    pub fn outputs_exist(&self, i: usize) -> bool {
        let dir = self.graph.dir(i);
        match self.graph.steps[i].kind {
            StepKind::Tokens => dir
                .join(STORE_DIR)
                .join(crate::data::store::MANIFEST_FILE)
                .is_file(),
            StepKind::Train | StepKind::Branch => dir.join(RECORD_FILE).is_file(),
            // What a stable prefix must provide depends on its branches (src/graph/wsd.rs).
            StepKind::Prefix => true,
            StepKind::Collect => self
                .plan
                .runs_dir()
                .join(format!("{RESULTS_STEM}.parquet"))
                .is_file(),
            StepKind::Report => self.plan.reports_dir().join("REPORT.md").is_file(),
            _ => true,
        }
    }

    fn corpus(&self, dir: &Path) -> Result<String> {
        let corpus = crate::data::Corpus::open(&self.plan.corpus)?;
        let splits = corpus.split_files();
        let manifest = serde_json::json!({
            "corpus": self.plan.corpus,
            "fingerprint": self.graph.steps[self.graph.one(StepKind::Corpus)].config["fingerprint"],
            "splits": splits.iter().map(|(name, files)| serde_json::json!({"name": name, "files": files})).collect::<Vec<_>>(),
        });
        crate::io::write_atomic(&dir.join("corpus.json"), manifest.to_string().as_bytes())?;
        Ok(format!(
            "{} files in {} splits",
            corpus.files.len(),
            splits.len()
        ))
    }

    fn tokens(&self, dir: &Path, lease: &Lease) -> Result<String> {
        let tokenizer: crate::data::TokenizerName = self.plan.tokenizer.parse()?;
        // Prepared beside the final place and renamed in, so a killed prepare leaves no store
        // that looks finished.
        let tmp = dir.join(format!(".{STORE_DIR}.{}.tmp", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let opts = crate::data::PrepareOptions {
            tokenizer,
            compact: self.plan.compact,
            text_field: self
                .plan
                .text_field
                .clone()
                .unwrap_or_else(|| "text".into()),
            max_tokens: self.plan.max_tokens,
            hash_cache: Some(crate::graph::step::hash_cache(self.plan)),
            ..Default::default()
        };
        let prepared = crate::data::prepare(&self.plan.corpus, &tmp, &opts)?;
        if !lease.check() {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(Error::Graph("lease lost".into()));
        }
        let store = dir.join(STORE_DIR);
        let _ = std::fs::remove_dir_all(&store);
        std::fs::rename(&tmp, &store).map_err(|e| Error::io(&store, e))?;
        let m = &prepared.manifest;
        let tokens: Vec<String> = m
            .splits
            .iter()
            .map(|s| format!("{} {}", s.name, s.tokens))
            .collect();
        Ok(format!(
            "vocab {}, tokens: {}",
            m.vocab_size,
            tokens.join(", ")
        ))
    }

    /// Vocabulary of the token store (after the tokens step).
    pub fn vocab(&self) -> Result<usize> {
        if let Some(v) = self.vocab.get() {
            return Ok(*v);
        }
        let store = self.dir(StepKind::Tokens).join(STORE_DIR);
        let m = crate::data::TokenStore::open(&store)?;
        let v = m.manifest().vocab_size as usize;
        let _ = self.vocab.set(v);
        Ok(v)
    }

    /// The vocabulary to count parameters and FLOPs with, and where it came from: the token
    /// store's once the tokens step has run, else what the spec says it will be (the dry run
    /// tokenises nothing).
    pub fn planning_vocab(&self) -> (usize, String) {
        match self.vocab() {
            Ok(v) => (v, "the token store's".into()),
            Err(_) => estimated_vocab(self.plan),
        }
    }

    /// The token store as a cell file names it, relative to the cell's step directory.
    pub fn store_for_cell(&self) -> PathBuf {
        PathBuf::from("..")
            .join(self.graph.steps[self.graph.one(StepKind::Tokens)].name())
            .join(STORE_DIR)
    }

    /// The cell file of training step `i` (train, prefix or branch) at vocabulary `vocab`.
    pub fn cell_file(&self, i: usize, vocab: usize) -> Result<CellSpec> {
        let step = &self.graph.steps[i];
        let cell = &self.plan.cells[step.cell.expect("training steps have a cell")];
        match step.kind {
            StepKind::Prefix => super::wsd::prefix_spec(self, i, vocab),
            StepKind::Branch => super::wsd::branch_spec(self, i, vocab),
            _ => cell_spec(self.plan, cell, &step.id, vocab, self.store_for_cell()),
        }
    }

    /// Writes (or refreshes) the cell file of training step `i` and returns its path.
    pub fn write_cell(&self, i: usize) -> Result<PathBuf> {
        let spec = self.cell_file(i, self.vocab()?)?;
        let dir = self.graph.dir(i);
        let path = dir.join(CELL_FILE);
        if CellSpec::load(&path).ok().as_ref() != Some(&spec) {
            spec.save(&path)?;
        }
        Ok(path)
    }

    fn rows(&self) -> Result<(Vec<ResultRow>, Vec<String>)> {
        let mut rows = Vec::new();
        let mut missing = Vec::new();
        for t in self.graph.cells() {
            let path = self.graph.dir(t).join(RECORD_FILE);
            match RunRecord::load(&path) {
                Ok(r) if !r.rows.is_empty() => rows.extend(r.rows),
                _ => missing.push(self.graph.steps[t].name()),
            }
        }
        Ok((rows, missing))
    }

    fn collect(&self, dir: &Path) -> Result<String> {
        let (rows, missing) = self.rows()?;
        if rows.is_empty() {
            return Err(Error::Graph("no cell has results to collect".into()));
        }
        table::write_rows(&rows, &dir.join(RESULTS_STEM))?;
        table::copy_table(
            &dir.join(RESULTS_STEM),
            &self.plan.runs_dir().join(RESULTS_STEM),
        )?;
        let summary = serde_json::json!({ "rows": rows.len(), "missing": missing });
        crate::io::write_atomic(&dir.join("collect.json"), summary.to_string().as_bytes())?;
        Ok(format!(
            "{} rows from {} cells ({} missing) -> {}",
            rows.len(),
            self.graph.cells().count() - missing.len(),
            missing.len(),
            self.plan
                .runs_dir()
                .join(format!("{RESULTS_STEM}.parquet"))
                .display()
        ))
    }

    fn collected_rows(&self) -> Result<(PathBuf, Vec<ResultRow>)> {
        let path = self
            .dir(StepKind::Collect)
            .join(format!("{RESULTS_STEM}.parquet"));
        let rows = table::read_rows(&path)?;
        Ok((path, rows))
    }

    fn analysis(&self) -> Result<std::sync::Arc<report::Analysis>> {
        let (path, rows) = self.collected_rows()?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((p, a)) = cache.as_ref()
            && *p == path
        {
            return Ok(a.clone());
        }
        let a = std::sync::Arc::new(report::analyse(&rows, &self.analysis_spec)?);
        *cache = Some((path, a.clone()));
        Ok(a)
    }

    fn fit(&self, dir: &Path) -> Result<String> {
        // Recomputed from the table on every run of this step (the cache only spares the
        // multiplier step from doing it again in the same process).
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).take();
        let a = self.analysis()?;
        let json = serde_json::to_string_pretty(&a.fits_json())
            .map_err(|e| Error::Graph(e.to_string()))?;
        crate::io::write_atomic(&dir.join("fits.json"), json.as_bytes())?;
        let fitted = a.fits.len();
        Ok(format!(
            "{fitted} fits, {} could not be made",
            a.fit_errors.len()
        ))
    }

    fn multiplier(&self, dir: &Path) -> Result<String> {
        let a = self.analysis()?;
        crate::io::write_atomic(&dir.join("multipliers.csv"), a.multipliers_csv().as_bytes())?;
        let n: usize = a.comparisons.iter().map(|c| c.comparison.rows.len()).sum();
        Ok(format!(
            "{n} multipliers in {} comparisons",
            a.comparisons.len()
        ))
    }

    /// Renders the report folder from the fit and multiplier steps' analysis (the same
    /// process's, else made again from the collected table) and copies their files.
    fn plots(&self, dir: &Path) -> Result<String> {
        let a = self.analysis()?;
        let out = dir.join("report");
        let setup = setup(self.plan, self.vocab().ok());
        let data = report::DataFiles::Copy {
            table_stem: &self.dir(StepKind::Collect).join(RESULTS_STEM),
            fits: &self.dir(StepKind::Fit).join("fits.json"),
            multipliers: &self.dir(StepKind::Multiplier).join("multipliers.csv"),
        };
        let written = report::render(&a, data, &self.analysis_spec, &setup, &out)?;
        let figures = written
            .files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "png"))
            .count();
        Ok(format!("{figures} figures"))
    }

    /// Publishes the plots step's report folder as reports/<exp>/ (copied to a temp folder
    /// beside it, then swapped in).
    fn report(&self, _dir: &Path, lease: &Lease) -> Result<String> {
        let from = self.dir(StepKind::Plots).join("report");
        let to = self.plan.reports_dir();
        let parent = to.parent().expect("reports/<exp> has a parent");
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let tmp = parent.join(format!(".{}.{}.tmp", self.plan.name, std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        copy_dir(&from, &tmp)?;
        if !lease.check() {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(Error::Graph("lease lost".into()));
        }
        let old = parent.join(format!(".{}.{}.old", self.plan.name, std::process::id()));
        if to.exists() {
            std::fs::rename(&to, &old).map_err(|e| Error::io(&to, e))?;
        }
        std::fs::rename(&tmp, &to).map_err(|e| Error::io(&to, e))?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(format!("{}", to.join("REPORT.md").display()))
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.map_err(|e| Error::io(from, e.into()))?;
        let dst = to.join(entry.path().strip_prefix(from).unwrap_or(entry.path()));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dst).map_err(|e| Error::io(&dst, e))?;
        } else {
            std::fs::copy(entry.path(), &dst).map_err(|e| Error::io(entry.path(), e))?;
        }
    }
    Ok(())
}

/// Starts `ladder train cell.toml` with its output appended to the step's log. The child is
/// killed if this thread's process dies (`PR_SET_PDEATHSIG`), so a `kill -9`ed orchestrator
/// leaves no orphan training that a restarted one would duplicate.
pub fn spawn_trainer(
    trainer: &Trainer,
    cell: &Path,
    dir: &Path,
    gpu: Option<&str>,
) -> Result<Child> {
    use std::os::unix::process::CommandExt;
    let log_path = dir.join(TRAIN_LOG);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Error::io(&log_path, e))?;
    let err = log.try_clone().map_err(|e| Error::io(&log_path, e))?;
    let mut cmd = Command::new(&trainer.exe);
    cmd.arg("train")
        .arg(cell)
        .env("RAYON_NUM_THREADS", trainer.threads.to_string())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err);
    if let Some(id) = gpu {
        cmd.env("CUDA_VISIBLE_DEVICES", id);
    }
    // SAFETY: prctl and getppid are async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        let parent = libc::getpid();
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != parent {
                libc::_exit(137);
            }
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| Error::Graph(format!("cannot start {}: {e}", trainer.exe.display())))
}

/// Runs one training process to its end, holding `lease`: kills the process and fails the
/// step if the lease is lost. Returns the state and a one-line summary.
pub fn supervise_train(
    trainer: &Trainer,
    cell: &Path,
    dir: &Path,
    lease: &Lease,
) -> Result<(State, String)> {
    let gpu = trainer.gpus.as_ref().map(|p| p.take());
    let mut child = spawn_trainer(trainer, cell, dir, gpu.as_ref().map(|g| g.id.as_str()))?;
    let status = loop {
        if lease.is_lost() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Graph(
                "lease lost to another orchestrator; training stopped".into(),
            ));
        }
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(Error::Graph(format!("waiting for the trainer: {e}"))),
        }
    };
    let record = RunRecord::load(&dir.join(RECORD_FILE)).ok();
    let last = record.as_ref().and_then(|r| r.rows.last());
    let summary = match last {
        Some(r) => format!("val_loss {:.4} after {} tokens", r.val_loss, r.tokens),
        None => String::new(),
    };
    match (status.code(), record.as_ref().map(|r| r.status)) {
        (Some(0), Some(crate::train::RunStatus::Succeeded)) => Ok((State::Succeeded, summary)),
        (Some(0), other) => Ok((
            State::Failed,
            format!(
                "ladder train exited 0 but record.json says {}",
                other.map_or("nothing", |s| s.as_str())
            ),
        )),
        (Some(3), _) => Ok((
            State::Diverged,
            record.and_then(|r| r.message).unwrap_or(summary),
        )),
        (code, _) => {
            let why = record
                .and_then(|r| r.message)
                .unwrap_or_else(|| last_line(&dir.join(TRAIN_LOG)));
            let code = code.map_or_else(|| "a signal".to_string(), |c| format!("code {c}"));
            Ok((
                State::Failed,
                format!("ladder train exited with {code}: {why}"),
            ))
        }
    }
}

fn last_line(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_string)
        })
        .unwrap_or_default()
}
