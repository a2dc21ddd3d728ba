//! A cell's curves as TensorBoard event files, so that `tensorboard --logdir runs/<exp>`
//! shows every cell of an experiment (one run per cell, named by its step directory).
//!
//! Scalars, with the training tokens seen as the step (cells of different batch sizes line
//! up): `train/loss`, `train/grad_norm`, `train/lr`, `train/tokens_per_s` at every step,
//! `val/loss` (nats/token) and `val/bpb` at every evaluation. The files are derived data:
//! when a run starts or resumes, `tb/` is written afresh from `metrics.jsonl` and the
//! evaluations kept in the checkpoint, so a resumed run has exactly one point per step, as
//! if it had never stopped. Written with the `tboard` crate (records with masked CRC32C,
//! `Event` protos), which also reads them back.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The event-file folder inside a run's output directory.
pub const TB_DIR: &str = "tb";

/// Appends scalars to a cell's event file.
pub struct Curves {
    writer: tboard::EventWriter<File>,
    dir: PathBuf,
}

fn tb_err(dir: &Path, e: tboard::Error) -> Error {
    Error::Invalid(format!(
        "{}: cannot write TensorBoard events: {e}",
        dir.display()
    ))
}

impl Curves {
    /// Starts `out/tb/` afresh (any older event file is removed).
    pub fn create(out: &Path) -> Result<Curves> {
        let dir = out.join(TB_DIR);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        let writer = tboard::EventWriter::create(&dir).map_err(|e| tb_err(&dir, e))?;
        Ok(Curves { writer, dir })
    }

    /// One scalar at `tokens`; a non-finite value is written as it is (TensorBoard shows it).
    pub fn scalar(&mut self, tag: &str, tokens: u64, value: f64) -> Result<()> {
        self.writer
            .write_scalar(tokens as i64, tag, value as f32)
            .map_err(|e| tb_err(&self.dir, e))
    }

    /// A training step's scalars.
    pub fn train_step(
        &mut self,
        tokens: u64,
        loss: f64,
        grad_norm: f64,
        lr: f64,
        tokens_per_s: f64,
    ) -> Result<()> {
        self.scalar("train/loss", tokens, loss)?;
        self.scalar("train/grad_norm", tokens, grad_norm)?;
        self.scalar("train/lr", tokens, lr)?;
        self.scalar("train/tokens_per_s", tokens, tokens_per_s)
    }

    /// An evaluation's scalars.
    pub fn eval(&mut self, tokens: u64, loss: f64, bpb: f64) -> Result<()> {
        self.scalar("val/loss", tokens, loss)?;
        self.scalar("val/bpb", tokens, bpb)
    }

    /// Pushes what was written to the file (called at every host read of the metrics).
    pub fn flush(&mut self) -> Result<()> {
        self.writer.flush().map_err(|e| tb_err(&self.dir, e))
    }
}

/// Every scalar in the event files under `dir` as (tag, step, value), in file order (for
/// tests and tools; TensorBoard itself reads the same records).
pub fn read_scalars(dir: &Path) -> Result<Vec<(String, i64, f32)>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("events.out.tfevents."))
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        for event in tboard::SummaryReader::new(std::io::BufReader::new(file)) {
            let event = event.map_err(|e| {
                Error::Invalid(format!("{}: corrupt event file: {e}", path.display()))
            })?;
            if let Some(tboard::tensorboard::event::What::Summary(s)) = event.what {
                for v in s.value {
                    if let Some(tboard::tensorboard::summary::value::Value::SimpleValue(x)) =
                        v.value
                    {
                        out.push((v.tag, event.step, x));
                    }
                }
            }
        }
    }
    Ok(out)
}
