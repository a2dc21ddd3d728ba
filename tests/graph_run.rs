//! `ladder run` end to end with the real `ladder train` on tiny cells: a rerun trains
//! nothing, an added grid point trains exactly one cell and redoes the table and analysis,
//! two orchestrators on one experiment never train the same cell, an orchestrator killed
//! with `kill -9` mid-grid and restarted finishes with no cell trained twice, failed cells
//! stay failed until `--retry-failed`, `--only` limits the run, and a malformed spec is one
//! clear line.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ladder::graph::status::{StatusFile, read_status};

fn ladder() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ladder"));
    c.env_remove("LADDER_TRAIN_EXE");
    c
}

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/moby-dick")
}

/// A grid of tiny dense cells (one per size), each a few optimiser steps.
fn spec(sizes: &[(usize, usize)], tokens: u64) -> String {
    let sizes: Vec<String> = sizes
        .iter()
        .map(|(d, l)| format!("{{ d_model = {d}, n_layers = {l}, n_heads = 2 }}"))
        .collect();
    format!(
        r#"name = "t"
analysis = "a"
[data]
corpus = "{}"
[grid]
arches = ["dense"]
sizes = [{}]
[model]
seq_len = 16
[train]
micro_batch = 4
batch_tokens = 64
tokens = {tokens}
checkpoint_every = 2
[eval]
count = 2
tokens = 64
[executor]
threads_per_job = 1
"#,
        corpus().display(),
        sizes.join(", ")
    )
}

struct Exp {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Exp {
    fn new(text: &str) -> Exp {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        std::fs::create_dir_all(root.join("experiments")).unwrap();
        std::fs::create_dir_all(root.join("analysis")).unwrap();
        std::fs::write(
            root.join("analysis/a.toml"),
            "law = \"n\"\nbootstrap = 0\nrollout = false\n",
        )
        .unwrap();
        let e = Exp { _tmp: tmp, root };
        e.write(text);
        e
    }
    fn write(&self, text: &str) {
        std::fs::write(self.spec(), text).unwrap();
    }
    fn spec(&self) -> PathBuf {
        self.root.join("experiments/t.toml")
    }
    fn runs(&self) -> PathBuf {
        self.root.join("runs/t")
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = ladder();
        c.arg(args[0])
            .arg(self.spec())
            .args(&args[1..])
            .current_dir(&self.root);
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
    fn run_ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "ladder {args:?} failed:\n{text}");
        text
    }
    /// Step directories of `kind`, by name.
    fn steps(&self, kind: &str) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.runs())
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        v.retain(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{kind}-"))
        });
        v.sort();
        v
    }
    fn status(&self, dir: &Path) -> StatusFile {
        read_status(dir).unwrap_or_else(|| panic!("no status in {}", dir.display()))
    }
}

fn trained(out: &str) -> usize {
    let tail = out
        .lines()
        .find(|l| l.contains("cells trained"))
        .unwrap_or_else(|| panic!("no summary in:\n{out}"));
    let n = tail
        .split("; ")
        .last()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    n.parse().unwrap()
}

#[test]
fn rerun_skips_and_an_added_size_trains_exactly_one_cell() {
    let e = Exp::new(&spec(&[(16, 1), (24, 1), (32, 1)], 256));
    let status = e.run_ok(&["status"]);
    assert!(
        status.contains("missing cells (3 without a finished result)")
            && status.contains("3 pending"),
        "{status}"
    );
    let dry = e.run_ok(&["run", "--dry-run"]);
    assert!(
        dry.contains("run     train-")
            && dry.contains("(never run)")
            && dry.contains("; 10 would run"),
        "{dry}"
    );
    let out = e.run_ok(&["run"]);
    assert_eq!(trained(&out), 3, "{out}");
    let cells = e.steps("train");
    assert_eq!(cells.len(), 3);
    let records: Vec<Vec<u8>> = cells
        .iter()
        .map(|c| std::fs::read(c.join("record.json")).unwrap())
        .collect();
    for c in &cells {
        let s = e.status(c);
        assert_eq!(
            (s.status.as_str(), s.starts()),
            ("succeeded", 1),
            "{}",
            c.display()
        );
    }
    assert!(
        e.root.join("runs/t/results.parquet").is_file()
            && e.root.join("runs/t/results.csv").is_file()
    );
    assert!(e.root.join("reports/t/REPORT.md").is_file());

    // A second run right after: nothing to do.
    let out = e.run_ok(&["run"]);
    assert_eq!(trained(&out), 0, "{out}");
    assert!(out.contains("10 skipped"), "{out}");
    let dry = e.run_ok(&["run", "--dry-run"]);
    assert!(dry.contains("; 0 would run"), "{dry}");

    // Add a size: exactly that cell trains; collect and the analysis are redone.
    let old_collect = e.steps("collect");
    e.write(&spec(&[(16, 1), (24, 1), (32, 1), (40, 1)], 256));
    let dry = e.run_ok(&["run", "--dry-run"]);
    assert!(dry.contains("; 6 would run"), "{dry}");
    let out = e.run_ok(&["run"]);
    assert_eq!(trained(&out), 1, "{out}");
    let after = e.steps("train");
    assert_eq!(after.len(), 4);
    for (c, rec) in cells.iter().zip(&records) {
        assert_eq!(e.status(c).starts(), 1, "{} retrained", c.display());
        assert_eq!(
            &std::fs::read(c.join("record.json")).unwrap(),
            rec,
            "{} rewritten",
            c.display()
        );
    }
    let new: Vec<&PathBuf> = after.iter().filter(|c| !cells.contains(c)).collect();
    assert_eq!(new.len(), 1);
    assert_eq!(e.status(new[0]).status.as_str(), "succeeded");
    for kind in ["collect", "fit", "multiplier", "plots", "report"] {
        let steps = e.steps(kind);
        assert_eq!(steps.len(), 2, "{kind}: a new id beside the old one");
        assert!(
            steps
                .iter()
                .all(|s| e.status(s).status.as_str() == "succeeded"),
            "{kind}"
        );
    }
    assert!(e.steps("collect").iter().any(|c| !old_collect.contains(c)));
    let csv = std::fs::read_to_string(e.root.join("runs/t/results.csv")).unwrap();
    for c in &after {
        let id = c
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("train-")
            .to_string();
        assert!(csv.contains(&id), "{id} missing from results.csv");
    }
    let status = e.run_ok(&["status"]);
    assert!(
        status.contains("missing cells: none") && status.contains("4 succeeded"),
        "{status}"
    );
}

#[test]
fn two_orchestrators_never_train_the_same_cell() {
    let e = Exp::new(&spec(&[(16, 1), (24, 1), (32, 1), (40, 1)], 256));
    let spawn = || {
        e.cmd(&["run", "--jobs", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let text = |o: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert!(a.status.success(), "{}", text(&a));
    assert!(b.status.success(), "{}", text(&b));
    assert_eq!(
        trained(&text(&a)) + trained(&text(&b)),
        4,
        "{}\n---\n{}",
        text(&a),
        text(&b)
    );
    for c in e.steps("train") {
        let s = e.status(&c);
        assert_eq!(
            (s.status.as_str(), s.starts()),
            ("succeeded", 1),
            "{}: {:?}",
            c.display(),
            s.events
        );
        assert!(
            !c.join("lease").exists(),
            "lease left behind in {}",
            c.display()
        );
    }
    for kind in ["tokens", "collect", "report"] {
        assert_eq!(e.status(&e.steps(kind)[0]).starts(), 1, "{kind} ran twice");
    }
}

/// Processes whose command line mentions `needle`.
fn processes_with(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmd).contains(needle) {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if !stat
                .rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
            {
                pids.push(pid);
            }
        }
    }
    pids
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn kill_9_mid_grid_then_restart_completes_without_training_a_cell_twice() {
    let e = Exp::new(&spec(&[(16, 1), (24, 1), (32, 1)], 1536));
    let mut orchestrator: Child = e
        .cmd(&["run", "--jobs", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until one cell has finished and another is training past a checkpoint.
    let mut running = PathBuf::new();
    wait_for(
        "a finished cell and a cell mid-training",
        Duration::from_secs(600),
        || {
            let cells = e.steps("train");
            let done = cells
                .iter()
                .filter(|c| read_status(c).is_some_and(|s| s.status.as_str() == "succeeded"))
                .count();
            let mid = cells.iter().find(|c| {
                read_status(c).is_some_and(|s| s.status.as_str() == "running")
                    && c.join("checkpoints")
                        .read_dir()
                        .is_ok_and(|mut d| d.next().is_some())
            });
            if let (true, Some(m)) = (done >= 1, mid) {
                running = m.clone();
                true
            } else {
                false
            }
        },
    );
    let cell_file = running.join("cell.toml").display().to_string();
    assert!(
        !processes_with(&cell_file).is_empty(),
        "the cell's trainer should be running"
    );
    // SAFETY: a child we started.
    unsafe { libc::kill(orchestrator.id() as i32, libc::SIGKILL) };
    orchestrator.wait().unwrap();
    // The trainer dies with its orchestrator (no orphan to race a restarted one).
    wait_for(
        "the orphaned trainer to die",
        Duration::from_secs(10),
        || processes_with(&cell_file).is_empty(),
    );
    let before: Vec<(PathBuf, Option<StatusFile>)> = e
        .steps("train")
        .into_iter()
        .map(|c| (c.clone(), read_status(&c)))
        .collect();

    let out = e.run_ok(&["run", "--jobs", "1"]);
    assert!(out.contains("interrupted; resuming"), "{out}");
    let cells = e.steps("train");
    assert_eq!(cells.len(), 3);
    for c in &cells {
        let s = e.status(c);
        assert_eq!(s.status.as_str(), "succeeded", "{}", c.display());
        let was = before
            .iter()
            .find(|(p, _)| p == c)
            .and_then(|(_, s)| s.clone());
        let expected_starts = match was.as_ref().map(|s| s.status.as_str()) {
            Some("succeeded") => 1, // finished before the kill: not run again
            Some("running") => 2,   // interrupted: resumed once
            _ => 1,                 // never started before the kill
        };
        assert_eq!(
            s.starts(),
            expected_starts,
            "{}: {:?}",
            c.display(),
            s.events
        );
        // Every evaluated step appears once in the record: resumed, not retrained.
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(c.join("record.json")).unwrap()).unwrap();
        let steps: Vec<i64> = record["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["step"].as_i64().unwrap())
            .collect();
        let mut sorted = steps.clone();
        sorted.dedup();
        assert_eq!(steps, sorted, "{}", c.display());
        assert_eq!(*steps.last().unwrap(), 1536 / 64);
    }
    assert_eq!(
        cells.iter().filter(|c| e.status(c).starts() == 2).count(),
        1
    );
    assert!(e.root.join("reports/t/REPORT.md").is_file());
}

#[test]
fn failed_cells_stay_failed_until_retry_failed_and_only_limits_the_run() {
    let e = Exp::new(&spec(&[(16, 1), (24, 1)], 128));
    // A trainer that fails the d_model 24 cell while the flag file exists.
    let flag = e.root.join("fail-d24");
    std::fs::write(&flag, "").unwrap();
    let fake = e.root.join("fake-ladder.sh");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nif [ -e '{}' ] && grep -q '^d_model = 24$' \"$2\"; then echo 'planned failure' >&2; exit 2; fi\nexec '{}' \"$@\"\n",
            flag.display(),
            env!("CARGO_BIN_EXE_ladder")
        ),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&fake).status().unwrap();
    let run = |args: &[&str]| e.cmd(args).env("LADDER_TRAIN_EXE", &fake).output().unwrap();

    // --only: the d16 cell and its inputs; nothing downstream.
    let out = run(&["run", "--only", "d16-l1"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert_eq!(trained(&text), 1, "{text}");
    assert!(
        e.steps("collect").is_empty() || read_status(&e.steps("collect")[0]).is_none(),
        "{text}"
    );

    let out = run(&["run"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("planned failure"), "{text}");
    // One failed cell does not block the table: collect gathers the others.
    assert!(e.root.join("runs/t/results.csv").is_file(), "{text}");

    // Without --retry-failed the failed cell is not rerun.
    let out = run(&["run"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(trained(&text), 0, "{text}");
    assert!(text.contains("--retry-failed"), "{text}");

    std::fs::remove_file(&flag).unwrap();
    let out = run(&["run", "--retry-failed"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert_eq!(trained(&text), 1, "{text}");
    // The retried cell's new result reaches the table: collect reran (same id, new stamp).
    let csv = std::fs::read_to_string(e.root.join("runs/t/results.csv")).unwrap();
    assert_eq!(
        csv.lines()
            .filter(|l| l.contains(",dense,"))
            .map(|l| l.split(',').next().unwrap())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        2
    );
    assert_eq!(e.status(&e.steps("collect")[0]).starts(), 2);
}

#[test]
fn malformed_spec_is_one_clear_line() {
    let e = Exp::new(&format!("{}\n[grid.extra]\nx = 1\n", spec(&[(16, 1)], 128)));
    let out = e.run(&["run", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("t.toml:")
            && err.contains("key `grid.extra`")
            && err.contains("unknown field"),
        "{err}"
    );

    e.write(&spec(&[(16, 1)], 128).replace("seq_len = 16", "seq_len = \"long\""));
    let err = String::from_utf8_lossy(&e.run(&["status"]).stderr).to_string();
    assert!(
        err.contains("key `model.seq_len`") && err.contains("expected"),
        "{err}"
    );

    e.write(&spec(&[(16, 1)], 128).replace("n_heads = 2", "n_heads = 3"));
    let err = String::from_utf8_lossy(&e.run(&["run"]).stderr).to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("key `grid.sizes[0].n_heads`: expected a divisor of d_model 16"),
        "{err}"
    );
}

#[test]
fn a_lost_lease_stops_the_training_process() {
    use ladder::graph::status::{LeaseFile, hostname, now};
    let e = Exp::new(&spec(&[(16, 1)], 4096));
    let child = e
        .cmd(&["run"])
        .env("LADDER_LEASE_TTL_S", "2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut cell = PathBuf::new();
    wait_for("the cell to train", Duration::from_secs(300), || {
        let cells = e.steps("train");
        match cells.first() {
            Some(c)
                if read_status(c).is_some_and(|s| s.status.as_str() == "running")
                    && c.join("metrics.jsonl").is_file() =>
            {
                cell = c.clone();
                true
            }
            _ => false,
        }
    });
    let cell_file = cell.join("cell.toml").display().to_string();
    assert!(!processes_with(&cell_file).is_empty());
    // Another holder takes the lease (as a second orchestrator would after a stall), and
    // keeps it alive for a few seconds.
    let steal = || {
        let l = LeaseFile {
            owner: "intruder".into(),
            host: hostname(),
            pid: std::process::id(),
            nonce: "intruder".into(),
            acquired_at: now(),
            heartbeat_at: now(),
            ttl_s: 2.0,
        };
        let tmp = cell.join(".lease.test");
        std::fs::write(&tmp, serde_json::to_string(&l).unwrap()).unwrap();
        std::fs::rename(&tmp, cell.join("lease")).unwrap();
    };
    let t = Instant::now();
    let mut stopped = false;
    while t.elapsed() < Duration::from_secs(6) {
        steal();
        stopped |= processes_with(&cell_file).is_empty();
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(stopped, "the trainer kept running after its lease was lost");
    // Once the intruder stops renewing, its lease goes stale and the orchestrator resumes.
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("its lease was taken; stopped"), "{text}");
    let s = e.status(&cell);
    assert_eq!(
        (s.status.as_str(), s.starts()),
        ("succeeded", 2),
        "{:?}",
        s.events
    );
}

#[test]
fn a_diverged_cell_is_a_result_not_a_failure() {
    let e = Exp::new(&spec(&[(16, 1), (24, 1)], 128));
    // A trainer that reports the d_model 24 cell as diverged (exit code 3, record says so).
    let fake = e.root.join("fake-ladder.sh");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\n'{}' \"$@\" || exit $?\nif grep -q '^d_model = 24$' \"$2\"; then\n  r=\"$(dirname \"$2\")/record.json\"\n  sed -i 's/\"status\": \"succeeded\"/\"status\": \"diverged\"/' \"$r\"\n  exit 3\nfi\n",
            env!("CARGO_BIN_EXE_ladder")
        ),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&fake).status().unwrap();
    let run = || {
        e.cmd(&["run"])
            .env("LADDER_TRAIN_EXE", &fake)
            .output()
            .unwrap()
    };
    let out = run();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("diverged train-"), "{text}");
    let states: Vec<String> = e
        .steps("train")
        .iter()
        .map(|c| e.status(c).status.to_string())
        .collect();
    assert_eq!(
        states.iter().filter(|s| *s == "diverged").count(),
        1,
        "{states:?}"
    );
    // Final: a rerun trains nothing, and the diverged cell's rows are in the table.
    let out = run();
    assert_eq!(trained(&String::from_utf8_lossy(&out.stdout)), 0);
    let csv = std::fs::read_to_string(e.root.join("runs/t/results.csv")).unwrap();
    assert!(csv.contains(",diverged,"), "{csv}");
}

#[test]
fn cuda_cells_run_one_per_visible_gpu() {
    // Three cells on `cuda` with three GPUs visible: three at once, each process seeing only
    // its own GPU, no GPU shared by two running cells. The fake trainer records its
    // CUDA_VISIBLE_DEVICES, holds a per-GPU lock while it runs, and trains the cell on the
    // CPU (this build has no CUDA).
    let text = spec(&[(16, 1), (24, 1), (32, 1)], 128)
        .replace("[train]\n", "[train]\ndevice = \"cuda\"\n");
    let e = Exp::new(&text);
    let fake = e.root.join("fake-ladder.sh");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nd=\"$(dirname \"$2\")\"\necho \"$CUDA_VISIBLE_DEVICES\" > \"$d/gpu\"\nmkdir \"{root}/lock-$CUDA_VISIBLE_DEVICES\" || echo \"$CUDA_VISIBLE_DEVICES\" >> \"{root}/clash\"\nsed 's/^device = \"cuda\"/device = \"cpu\"/' \"$2\" > \"$d/cpu.toml\"\n'{exe}' train \"$d/cpu.toml\"; r=$?\nrmdir \"{root}/lock-$CUDA_VISIBLE_DEVICES\"\nexit $r\n",
            root = e.root.display(),
            exe = env!("CARGO_BIN_EXE_ladder")
        ),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&fake).status().unwrap();
    let out = e
        .cmd(&["run"])
        .env("LADDER_TRAIN_EXE", &fake)
        .env("CUDA_VISIBLE_DEVICES", "3,5,7")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("3 training jobs at once"), "{text}");
    let mut gpus: Vec<String> = e
        .steps("train")
        .iter()
        .map(|c| {
            std::fs::read_to_string(c.join("gpu"))
                .unwrap()
                .trim()
                .to_string()
        })
        .collect();
    gpus.sort();
    assert_eq!(gpus.len(), 3);
    assert!(
        gpus.iter().all(|g| ["3", "5", "7"].contains(&g.as_str())),
        "{gpus:?}"
    );
    assert!(
        !e.root.join("clash").exists(),
        "a GPU was given to two running cells"
    );
    // CUDA stops reading the list at the first invalid entry, and so does the executor.
    assert_eq!(
        ladder::graph::work::parse_visible_devices("0, 1,-1,2"),
        vec!["0".to_string(), "1".to_string()]
    );
}

/// Leviathan through `ladder run`, both comparison modes against both baselines: iso-body
/// cells keep the dense body, isoparametric cells deepen it until their total matches each
/// dense baseline's within `model.iso_tolerance`, and the report compares every pair.
#[test]
fn leviathan_iso_body_and_isoparametric_cells_run_through_the_graph() {
    let text = spec(&[(16, 1), (24, 1)], 256)
        .replace(
            "arches = [\"dense\"]",
            "arches = [\"dense\", \"leviathan\"]\nmodes = [\"iso_body\", \"isoparametric\"]\ntie = [true, false]",
        )
        .replace("[grid]", "compact = 1024\n[grid]")
        // One layer of these tiny bodies is 5-10% of the dense total, so depth can match it
        // only this closely.
        .replace("[model]", "[model]\niso_tolerance = 0.08");
    let e = Exp::new(&text);
    let out = e.run_ok(&["run", "--jobs", "2"]);
    // 2 sizes x (dense tied, dense untied, iso-body, isoparametric tied, untied).
    assert_eq!(trained(&out), 10, "{out}");
    let rows = ladder::table::read_rows(&e.root.join("runs/t/results.parquet")).unwrap();
    let last = |arch: &str, mode: &str, tie: Option<bool>, d: i64| {
        rows.iter()
            .filter(|r| r.arch == arch && r.mode == mode && r.tie == tie && r.d_model == d)
            .max_by_key(|r| r.step)
            .unwrap_or_else(|| panic!("no {arch}/{mode}/{tie:?} row at d {d}"))
            .clone()
    };
    for d in [16, 24] {
        let iso = last("leviathan", "iso_body", None, d);
        for tie in [true, false] {
            let dense = last("dense", "reference", Some(tie), d);
            assert!(dense.val_loss.is_finite() && iso.val_loss.is_finite());
            // Iso-body: the dense body, its input table replaced by the generator.
            assert_eq!((iso.n_layers, iso.d_ff), (dense.n_layers, dense.d_ff));
            assert_eq!(dense.n_embed_in, 1024 * d);
            assert_ne!(iso.n_embed_in, dense.n_embed_in);
            let param = last("leviathan", "isoparametric", Some(tie), d);
            assert!(param.val_loss.is_finite());
            // Leviathan keeps an untied head: against untied dense its generator is smaller
            // than the table it replaces, so it grows deeper; against tied dense (one table
            // for both ends) it is already larger at the same depth.
            if tie {
                assert!(param.n_layers <= dense.n_layers, "d {d} tied");
            } else {
                assert!(param.n_layers > dense.n_layers, "d {d} untied");
            }
            let gap = (param.n_params - dense.n_params).abs() as f64 / dense.n_params as f64;
            assert!(
                gap <= 0.08,
                "d {d} tie {tie}: {} vs {}",
                param.n_params,
                dense.n_params
            );
        }
    }
    let report = std::fs::read_to_string(e.root.join("reports/t/REPORT.md")).unwrap();
    for group in [
        "leviathan/iso_body",
        "leviathan/isoparametric/tied",
        "dense/untied",
    ] {
        assert!(report.contains(group), "{group} missing from the report");
    }
}
