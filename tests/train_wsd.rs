//! WSD cooldown branches end to end with a tiny dense model on the committed corpus: a stable
//! prefix with two branch points, then two branches ending at their D_i; the prefix's steps
//! are trained once (counted in its metrics.jsonl); a third, later branch point trains only the
//! extra prefix and the new branch; a branch point behind the prefix's end is retrained from
//! the nearest kept point only; a killed branch resumes from its own checkpoint, without the
//! prefix, to the same losses; mismatched or missing prefixes are one clear error.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ladder::config::{CellSpec, DataSpec, EvalSpec, ModelSpec, TrainSpec, Wsd};
use ladder::data::prepare::{PrepareOptions, prepare};
use ladder::data::tokenizer::TokenizerName;
use ladder::train::{Progress, RunRecord, RunStatus, train_cell};

const BATCH: u64 = 256;

fn store(dir: &Path) -> PathBuf {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/moby-dick");
    let out = dir.join("store");
    prepare(
        &corpus,
        &out,
        &PrepareOptions {
            tokenizer: TokenizerName::O200kBase,
            compact: ladder::config::spec::Compact::Used,
            ..Default::default()
        },
    )
    .unwrap();
    out
}

/// The tiny dense cell every test starts from (the vocabulary of a store that may not exist
/// is not read).
fn base(store: &Path) -> CellSpec {
    let vocab = ladder::data::store::TokenStore::open(store)
        .map(|s| s.manifest().vocab_size as usize)
        .unwrap_or(100);
    CellSpec {
        exp: "wsd".into(),
        run_id: "prefix".into(),
        arch: "dense".into(),
        mode: "reference".into(),
        seed: 3,
        device: "cpu".into(),
        model: ModelSpec {
            vocab,
            d_model: 32,
            n_layers: 1,
            n_heads: 2,
            d_ff: Some(64),
            seq_len: 32,
            tie_embeddings: false,
            generator: None,
        },
        data: DataSpec {
            store: store.to_path_buf(),
        },
        train: TrainSpec {
            tokens: 12 * BATCH,
            batch_tokens: BATCH,
            micro_batch: 4,
            lr: 3e-3,
            warmup_tokens: 2 * BATCH,
            schedule: "wsd".into(),
            final_lr_frac: 0.1,
            decay_frac: 0.25,
            weight_decay: 0.1,
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8,
            clip_norm: 1.0,
            checkpoint_every: 2,
            precision: "f32".into(),
        },
        eval: EvalSpec {
            every_tokens: 4 * BATCH,
            tokens: 512,
        },
        config_hash: "test".into(),
        study: Default::default(),
        budget: None,
        wsd: None,
        peak_tflops: None,
    }
}

fn prefix_cell(store: &Path, tokens: u64, keep: &[u64]) -> CellSpec {
    let mut c = base(store);
    c.train.tokens = tokens;
    c.wsd = Some(Wsd::Prefix {
        keep: keep.to_vec(),
    });
    c
}

fn branch_cell(store: &Path, prefix: &Path, d: u64, decay_frac: f64) -> CellSpec {
    let mut c = base(store);
    c.run_id = format!("branch-{d}");
    c.train.tokens = d;
    c.train.decay_frac = decay_frac;
    let start = c.train.branch_start(d);
    c.wsd = Some(Wsd::Branch {
        prefix: prefix.to_path_buf(),
        start_tokens: start,
    });
    c
}

fn write_cell(dir: &Path, c: &CellSpec) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join("cell.toml");
    c.save(&p).unwrap();
    p
}

fn train(dir: &Path, c: &CellSpec) -> RunRecord {
    let rec = train_cell(&write_cell(dir, c), None, Progress::Quiet).unwrap();
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.message);
    rec
}

/// (step, lr, loss) per metrics line.
fn metrics(path: &Path) -> Vec<(u64, f64, f64)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["step"].as_u64().unwrap(),
                v["lr"].as_f64().unwrap(),
                v["loss"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn steps(path: &Path) -> Vec<u64> {
    metrics(path).iter().map(|m| m.0).collect()
}

#[test]
fn a_prefix_with_branches_trains_each_stable_step_once() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let prefix = tmp.path().join("prefix");
    let (d1, d2, d3) = (8 * BATCH, 16 * BATCH, 24 * BATCH);
    let spec = base(&store).train;
    let (s1, s2, s3) = (
        spec.branch_start(d1),
        spec.branch_start(d2),
        spec.branch_start(d3),
    );
    assert_eq!((s1, s2, s3), (6 * BATCH, 12 * BATCH, 18 * BATCH));

    // The prefix: warmup, then the peak learning rate, checkpoints kept at S1 and S2.
    let p = train(&prefix, &prefix_cell(&store, s2, &[s1, s2]));
    assert_eq!(p.rows.last().unwrap().tokens as u64, s2);
    let m = metrics(&prefix.join("metrics.jsonl"));
    assert_eq!(
        m.iter().map(|x| x.0).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
    assert!(
        m[2..].iter().all(|x| x.1 == 3e-3),
        "constant after warmup: {m:?}"
    );
    for s in [s1, s2] {
        assert!(
            ladder::train::runner::keep_dir(&prefix, s)
                .join("state.json")
                .exists()
        );
    }

    // Two branches, each from its point, each ending at its D_i.
    let mut records = Vec::new();
    for (d, s) in [(d1, s1), (d2, s2)] {
        let dir = tmp.path().join(format!("b{d}"));
        let rec = train(&dir, &branch_cell(&store, &prefix, d, 0.25));
        let last = rec.rows.last().unwrap();
        assert_eq!((last.tokens as u64, last.step as u64), (d, d / BATCH));
        assert!(rec.rows.iter().all(|r| r.tokens as u64 > s));
        let bm = metrics(&dir.join("metrics.jsonl"));
        assert_eq!(
            bm.iter().map(|x| x.0).collect::<Vec<_>>(),
            (s / BATCH + 1..=d / BATCH).collect::<Vec<_>>()
        );
        // Linear decay from the peak to the floor (0.1 of the peak) at the last step.
        assert!((bm.last().unwrap().1 - 3e-4).abs() < 1e-12, "{bm:?}");
        assert!(bm.windows(2).all(|w| w[1].1 < w[0].1));
        records.push((
            dir,
            std::fs::read(tmp.path().join(format!("b{d}/record.json"))).unwrap(),
        ));
    }
    // The prefix was not touched by its branches.
    assert_eq!(
        steps(&prefix.join("metrics.jsonl")),
        (1..=12).collect::<Vec<_>>()
    );

    // A third, later branch point: the prefix trains only steps 13..18, the branch 19..24.
    train(&prefix, &prefix_cell(&store, s3, &[s1, s2, s3]));
    assert_eq!(
        steps(&prefix.join("metrics.jsonl")),
        (1..=18).collect::<Vec<_>>()
    );
    assert!(!prefix.join("fill-metrics.jsonl").exists());
    let dir3 = tmp.path().join("b3");
    let rec3 = train(&dir3, &branch_cell(&store, &prefix, d3, 0.25));
    assert_eq!(rec3.rows.last().unwrap().tokens as u64, d3);
    assert_eq!(
        steps(&dir3.join("metrics.jsonl")),
        (19..=24).collect::<Vec<_>>()
    );
    for (dir, before) in &records {
        assert_eq!(&std::fs::read(dir.join("record.json")).unwrap(), before);
    }

    // A branch point behind the prefix's end: retrained from the nearest kept point (S1),
    // steps 7..9 only, logged apart; the main line's metrics are unchanged.
    let s_mid = 9 * BATCH;
    train(&prefix, &prefix_cell(&store, s3, &[s1, s_mid, s2, s3]));
    assert_eq!(
        steps(&prefix.join("metrics.jsonl")),
        (1..=18).collect::<Vec<_>>()
    );
    assert_eq!(steps(&prefix.join("fill-metrics.jsonl")), vec![7, 8, 9]);
    // The retrained steps match the main line's (same weights, optimiser state and data).
    let main = metrics(&prefix.join("metrics.jsonl"));
    for (step, _, loss) in metrics(&prefix.join("fill-metrics.jsonl")) {
        let orig = main[step as usize - 1].2;
        assert!(
            (loss - orig).abs() < 1e-6 * orig,
            "step {step}: {loss} vs {orig}"
        );
    }
    assert!(
        ladder::train::runner::keep_dir(&prefix, s_mid)
            .join("state.json")
            .exists()
    );
    assert!(
        !prefix
            .join("fill")
            .join(format!("tokens-{s_mid:012}"))
            .exists()
    );
}

fn latest_step(dir: &Path) -> Option<u64> {
    let name = std::fs::read_to_string(dir.join("checkpoints/LATEST")).ok()?;
    name.trim().strip_prefix("step-")?.parse().ok()
}

#[test]
fn a_killed_branch_resumes_from_its_own_checkpoint_to_the_same_losses() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let prefix = tmp.path().join("prefix");
    let start = 6 * BATCH;
    train(&prefix, &prefix_cell(&store, start, &[start]));
    // A long cooldown (decay_frac 0.75: 18 steps from S = 6 batches) leaves time to kill it.
    let d = 24 * BATCH;
    let spec = branch_cell(&store, &prefix, d, 0.75);
    assert_eq!(spec.train.branch_start(d), start);
    let whole = train(&tmp.path().join("whole"), &spec);

    let killed = tmp.path().join("killed");
    let cell = write_cell(&killed, &spec);
    let mut child = Command::new(env!("CARGO_BIN_EXE_ladder"))
        .args(["train", cell.to_str().unwrap(), "--quiet"])
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while latest_step(&killed).is_none_or(|s| s < 10) {
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "no checkpoint appeared"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(latest_step(&killed).unwrap() < 24);

    // The prefix is moved away: the branch must resume from its own checkpoint alone.
    let away = tmp.path().join("prefix-away");
    std::fs::rename(&prefix, &away).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ladder"))
        .args(["train", cell.to_str().unwrap(), "--quiet"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resumed = RunRecord::load(&killed.join("record.json")).unwrap();
    let (a, b) = (
        metrics(&tmp.path().join("whole/metrics.jsonl")),
        metrics(&killed.join("metrics.jsonl")),
    );
    assert_eq!(
        a.iter().map(|x| x.0).collect::<Vec<_>>(),
        b.iter().map(|x| x.0).collect::<Vec<_>>()
    );
    // Measured: identical to the last bit on the 2-core development machine (weights, both
    // optimisers' moments, step and data position all come back); 1e-6 relative leaves room
    // for another reduction order on another thread pool.
    for (x, y) in a.iter().zip(&b) {
        assert!(
            (x.2 - y.2).abs() < 1e-6 * x.2,
            "step {}: {} vs {}",
            x.0,
            x.2,
            y.2
        );
    }
    assert_eq!(whole.rows.len(), resumed.rows.len());
    for (x, y) in whole.rows.iter().zip(&resumed.rows) {
        assert_eq!(x.tokens, y.tokens);
        assert!((x.val_loss - y.val_loss).abs() < 1e-6 * x.val_loss);
    }
    assert_eq!(resumed.rows.last().unwrap().tokens as u64, d);
}

#[test]
fn a_branch_refuses_a_prefix_it_does_not_belong_to() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let prefix = tmp.path().join("prefix");
    let ladder_train = |cell: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_ladder"))
            .args(["train", cell.to_str().unwrap(), "--quiet"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        err
    };
    // No prefix trained yet.
    let b = branch_cell(&store, &prefix, 8 * BATCH, 0.25);
    let err = ladder_train(&write_cell(&tmp.path().join("b0"), &b));
    assert!(err.contains("no stable prefix"), "{err}");

    train(&prefix, &prefix_cell(&store, 4 * BATCH, &[4 * BATCH]));
    // Its point was not kept.
    let err = ladder_train(&write_cell(&tmp.path().join("b1"), &b));
    assert!(
        err.contains("keeps no checkpoint at 1536 tokens (it keeps 1024)"),
        "{err}"
    );
    // Another learning rate is another prefix.
    let mut other = branch_cell(&store, &prefix, 6 * BATCH, 0.25);
    other.wsd = Some(Wsd::Branch {
        prefix: prefix.clone(),
        start_tokens: 4 * BATCH,
    });
    other.train.lr = 1e-3;
    let err = ladder_train(&write_cell(&tmp.path().join("b2"), &other));
    assert!(err.contains("differs from it in key `train.lr`"), "{err}");
    // A prefix directory keeps its identity.
    let mut p2 = prefix_cell(&store, 4 * BATCH, &[4 * BATCH]);
    p2.seed = 4;
    let err = ladder_train(&write_cell(&prefix, &p2));
    assert!(err.contains("differs") && err.contains("`seed`"), "{err}");
}

#[test]
fn wsd_cell_fields_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = base(Path::new("no-store"));
    c.wsd = Some(Wsd::Prefix { keep: vec![300] });
    let p = write_cell(tmp.path(), &c);
    let e = CellSpec::load(&p).unwrap_err().to_string();
    assert!(e.contains("key `wsd.keep`") && e.contains("300"), "{e}");
    c.wsd = Some(Wsd::Branch {
        prefix: "p".into(),
        start_tokens: BATCH,
    });
    let e = CellSpec::load(&write_cell(tmp.path(), &c))
        .unwrap_err()
        .to_string();
    assert!(e.contains("inside the warmup"), "{e}");
    c.train.schedule = "cosine".into();
    let e = CellSpec::load(&write_cell(tmp.path(), &c))
        .unwrap_err()
        .to_string();
    assert!(e.contains("train.schedule = \"wsd\""), "{e}");
    // The file form: `[wsd]` with a role; unknown keys are refused.
    c.train.schedule = "wsd".into();
    c.wsd = Some(Wsd::Branch {
        prefix: "../p".into(),
        start_tokens: 4 * BATCH,
    });
    let p = write_cell(tmp.path(), &c);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(
        text.contains("[wsd]") && text.contains("role = \"branch\""),
        "{text}"
    );
    assert_eq!(CellSpec::load(&p).unwrap().wsd, c.wsd);
    std::fs::write(&p, text.replace("start_tokens", "start")).unwrap();
    assert!(CellSpec::load(&p).is_err());
    // The identity ignores the length, the keep points and the cooldown settings.
    let a = prefix_cell(Path::new("s"), 4 * BATCH, &[4 * BATCH]);
    let mut b = prefix_cell(Path::new("s"), 40 * BATCH, &[8 * BATCH]);
    b.train.decay_frac = 0.5;
    b.run_id = "other".into();
    assert_eq!(a.prefix_identity(), b.prefix_identity());
    b.train.lr *= 2.0;
    assert_ne!(a.prefix_identity(), b.prefix_identity());
}
