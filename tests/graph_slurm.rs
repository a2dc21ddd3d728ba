//! The Slurm executor against a real single-node Slurm (started by `.ci/slurm up` when
//! `sbatch` is installed but no cluster answers): a tiny grid runs as a job array plus an
//! afterok analysis job and ends with every cell succeeded and a report. The experiment's
//! name and job name hold shell code (`; touch PWNED`), which must reach no shell as code.
//! Skipped, with a printed reason, only when `sbatch` is absent and LADDER_REQUIRE_SLURM is
//! unset.

use std::path::{Path, PathBuf};
use std::process::Command;

use ladder::graph::exec::slurm::{array_script, post_script, shell_quote};
use ladder::graph::status::read_status;

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

fn cluster_up() -> bool {
    Command::new("sinfo")
        .args(["-h", "-o", "%t"])
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("idle"))
}

fn ci_slurm(action: &str) -> bool {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/slurm");
    Command::new(script)
        .arg(action)
        .status()
        .is_ok_and(|s| s.success())
}

/// The Slurm tests share one cluster: one at a time, so one never stops it under another.
static CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Makes sure a cluster answers; returns whether this test started it (and must stop it).
fn ensure_slurm() -> Option<bool> {
    let required = std::env::var_os("LADDER_REQUIRE_SLURM").is_some();
    if !have("sbatch") && !required {
        println!(
            "SKIPPED: sbatch is not installed (run .ci/slurm up, or set LADDER_REQUIRE_SLURM=1 to make this an error)"
        );
        return None;
    }
    if cluster_up() {
        return Some(false);
    }
    assert!(
        ci_slurm("up") && cluster_up(),
        "could not start a single-node Slurm with .ci/slurm up"
    );
    Some(true)
}

#[test]
fn generated_scripts_keep_hostile_paths_as_data() {
    let tmp = tempfile::tempdir().unwrap();
    // A folder name that is shell code in every way we know.
    let evil = tmp
        .path()
        .join("a; touch PWNED $(touch PWNED2) `touch PWNED3` 'q\" \\");
    std::fs::create_dir_all(&evil).unwrap();
    let exe = evil.join("fake ladder");
    let args_out = tmp.path().join("args.txt");
    std::fs::write(
        &exe,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > {}\n",
            shell_quote(&args_out.to_string_lossy())
        ),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&exe).status().unwrap();
    let spec = evil.join("x; rm -rf ~.toml");
    let tasks = evil.join("cells.txt");
    std::fs::write(&tasks, "train-0123456789\ntrain-abcdef0123\n").unwrap();

    let script = evil.join("cells.sh");
    std::fs::write(&script, array_script(&exe, &spec, &tasks)).unwrap();
    let st = Command::new("bash")
        .arg(&script)
        .env("SLURM_ARRAY_TASK_ID", "1")
        .current_dir(tmp.path())
        .status()
        .unwrap();
    assert!(st.success());
    let args = std::fs::read_to_string(&args_out).unwrap();
    assert_eq!(
        args,
        format!("run-step\n{}\ntrain-abcdef0123\n", spec.display())
    );

    std::fs::write(&script, post_script(&exe, &spec)).unwrap();
    assert!(
        Command::new("bash")
            .arg(&script)
            .current_dir(tmp.path())
            .status()
            .unwrap()
            .success()
    );
    let args = std::fs::read_to_string(&args_out).unwrap();
    assert!(
        args.starts_with(&format!("run\n{}\n--executor\nlocal\n", spec.display())),
        "{args}"
    );

    for name in ["PWNED", "PWNED2", "PWNED3"] {
        assert!(
            !tmp.path().join(name).exists() && !evil.join(name).exists(),
            "{name} was created"
        );
    }
}

fn pwned(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for e in walk(dir) {
        if e.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("PWNED"))
        {
            found.push(e);
        }
    }
    found
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            }
            out.push(p);
        }
    }
    out
}

#[test]
fn tiny_grid_runs_through_slurm() {
    let _one_at_a_time = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(started) = ensure_slurm() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("experiments")).unwrap();
    std::fs::create_dir_all(root.join("analysis")).unwrap();
    std::fs::write(
        root.join("analysis/a.toml"),
        "law = \"n\"\nbootstrap = 0\nrollout = false\n",
    )
    .unwrap();
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/moby-dick");
    let name = "s; touch PWNED";
    let spec = format!(
        r#"name = "{name}"
analysis = "a"
[data]
corpus = "{}"
[grid]
arches = ["dense"]
sizes = [{{ d_model = 16, n_layers = 1, n_heads = 2 }}, {{ d_model = 24, n_layers = 1, n_heads = 2 }}, {{ d_model = 32, n_layers = 1, n_heads = 2 }}]
[model]
seq_len = 16
[train]
micro_batch = 4
batch_tokens = 64
tokens = 256
[eval]
count = 2
tokens = 64
[executor]
kind = "slurm"
[executor.slurm]
job_name = "j; touch PWNED_JOB"
throttle = 2
time = "00:10:00"
"#,
        corpus.display()
    );
    let path = root.join("experiments/s.toml");
    std::fs::write(&path, spec).unwrap();
    let orchestrator = Command::new(env!("CARGO_BIN_EXE_ladder"))
        .arg("run")
        .arg(&path)
        .env_remove("LADDER_TRAIN_EXE")
        .current_dir(root)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let orchestrator_pid = orchestrator.id();
    let out = orchestrator.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if started {
        ci_slurm("down");
    }
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("array job") && text.contains("analysis job"),
        "{text}"
    );
    assert!(text.contains("3 cells, at most 2 at once"), "{text}");
    let runs = root.join("runs").join(name);
    let cells: Vec<PathBuf> = std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("train-")
        })
        .collect();
    assert_eq!(cells.len(), 3);
    for c in &cells {
        let s = read_status(c).unwrap();
        assert_eq!(
            (s.status.as_str(), s.starts()),
            ("succeeded", 1),
            "{}",
            c.display()
        );
    }
    let report = read_status(
        &std::fs::read_dir(&runs)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("report-")
            })
            .unwrap(),
    )
    .unwrap();
    assert_eq!(report.status.as_str(), "succeeded");
    // The analysis ran inside the afterok job, not in the orchestrator (`ladder run` above),
    // and somebody did run it.
    assert!(!report.events.is_empty());
    assert!(
        report
            .events
            .iter()
            .all(|e| !e.owner.ends_with(&format!(":{orchestrator_pid}"))),
        "{:?}",
        report.events.iter().map(|e| &e.owner).collect::<Vec<_>>()
    );
    assert!(root.join("reports").join(name).join("REPORT.md").is_file());
    assert!(pwned(root).is_empty(), "{:?}", pwned(root));
    assert!(
        pwned(&std::env::temp_dir())
            .iter()
            .all(|p| !p.starts_with(root))
    );
}

#[test]
fn a_requeued_cell_resumes_from_its_checkpoint() {
    let _one_at_a_time = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(started) = ensure_slurm() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("experiments")).unwrap();
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/moby-dick");
    let job = format!("ladder-requeue-{}", std::process::id());
    let spec = format!(
        r#"name = "rq"
[data]
corpus = "{}"
[grid]
arches = ["dense"]
sizes = [{{ d_model = 16, n_layers = 1, n_heads = 2 }}]
[model]
seq_len = 16
[train]
micro_batch = 4
batch_tokens = 64
tokens = 4096
checkpoint_every = 4
[eval]
count = 2
tokens = 64
[executor.slurm]
job_name = "{job}"
"#,
        corpus.display()
    );
    let path = root.join("experiments/rq.toml");
    std::fs::write(&path, spec).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ladder"))
        .arg("run")
        .arg(&path)
        .args(["--executor", "slurm", "--only", "^train-"])
        .env_remove("LADDER_TRAIN_EXE")
        .current_dir(root)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let runs = root.join("runs/rq");
    let cell = || {
        std::fs::read_dir(&runs)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("train-")
            })
    };
    let t = std::time::Instant::now();
    let task = loop {
        assert!(
            t.elapsed().as_secs() < 300,
            "the cell never reached a checkpoint under Slurm"
        );
        let ckpt = cell().is_some_and(|c| {
            c.join("checkpoints")
                .read_dir()
                .is_ok_and(|mut d| d.next().is_some())
        });
        let running = Command::new("squeue")
            .args(["-h", "-n", &job, "-t", "R", "-o", "%i"])
            .output()
            .unwrap();
        let id = String::from_utf8_lossy(&running.stdout).trim().to_string();
        if ckpt && !id.is_empty() {
            break id;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    // Requeue the running task (as preemption would) and let it start again at once.
    assert!(
        Command::new("scontrol")
            .args(["requeue", &task])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(std::time::Duration::from_secs(1));
    let _ = Command::new("scontrol")
        .args(["update", &format!("JobId={task}"), "StartTime=now"])
        .status();
    let out = child.wait_with_output().unwrap();
    if started {
        ci_slurm("down");
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    let c = cell().unwrap();
    let s = read_status(&c).unwrap();
    assert_eq!(
        (s.status.as_str(), s.starts()),
        ("succeeded", 2),
        "{:?}",
        s.events
    );
    // Resumed, not retrained: the first progress line (step 3) appears once, and the record holds each
    // evaluation once.
    let log = std::fs::read_to_string(c.join("train.log")).unwrap();
    assert_eq!(log.matches(": step 3/64 ").count(), 1, "{log}");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.join("record.json")).unwrap()).unwrap();
    let steps: Vec<i64> = record["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["step"].as_i64().unwrap())
        .collect();
    assert_eq!(steps, [32, 64]);
}

#[test]
fn a_failed_cell_under_slurm_still_gets_a_table_and_a_report() {
    let _one_at_a_time = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(started) = ensure_slurm() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("experiments")).unwrap();
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/moby-dick");
    let spec = format!(
        r#"name = "f"
[data]
corpus = "{}"
[grid]
arches = ["dense"]
sizes = [{{ d_model = 16, n_layers = 1, n_heads = 2 }}, {{ d_model = 24, n_layers = 1, n_heads = 2 }}, {{ d_model = 32, n_layers = 1, n_heads = 2 }}]
[model]
seq_len = 16
[train]
micro_batch = 4
batch_tokens = 64
tokens = 256
[eval]
count = 1
tokens = 64
[executor]
kind = "slurm"
"#,
        corpus.display()
    );
    let path = root.join("experiments/f.toml");
    std::fs::write(&path, spec).unwrap();
    // A trainer that fails the d_model 24 cell (the Slurm tasks inherit the environment).
    let fake = root.join("fake-ladder.sh");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nif grep -q '^d_model = 24$' \"$2\"; then echo 'planned failure' >&2; exit 2; fi\nexec '{}' \"$@\"\n",
            env!("CARGO_BIN_EXE_ladder")
        ),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&fake).status().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ladder"))
        .arg("run")
        .arg(&path)
        .env("LADDER_TRAIN_EXE", &fake)
        .current_dir(root)
        .output()
        .unwrap();
    if started {
        ci_slurm("down");
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("running the analysis steps here"), "{text}");
    assert!(text.contains("1 steps did not succeed: train-"), "{text}");
    let csv = std::fs::read_to_string(root.join("runs/f/results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2, "{csv}");
    assert!(root.join("reports/f/REPORT.md").is_file());
}

#[test]
fn gres_reaches_sbatch() {
    // No cluster needed: fake sbatch/squeue/scancel on PATH record what the executor submits.
    // The fake queue forgets the jobs at once, so the run ends with the cells lost (an error),
    // after both submissions.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(root.join("experiments")).unwrap();
    let args_log = root.join("sbatch-args.txt");
    for (name, body) in [
        (
            "sbatch",
            format!(
                "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> {}\necho ---- >> {}\necho 4242\n",
                shell_quote(&args_log.to_string_lossy()),
                shell_quote(&args_log.to_string_lossy())
            ),
        ),
        ("squeue", "#!/bin/sh\nexit 0\n".to_string()),
        ("scancel", "#!/bin/sh\nexit 0\n".to_string()),
    ] {
        let p = bin.join(name);
        std::fs::write(&p, body).unwrap();
        Command::new("chmod").arg("+x").arg(&p).status().unwrap();
    }
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/moby-dick");
    let spec = format!(
        r#"name = "g"
[data]
corpus = "{}"
[grid]
arches = ["dense"]
sizes = [{{ d_model = 16, n_layers = 1, n_heads = 2 }}]
[model]
seq_len = 16
[train]
device = "cuda"
micro_batch = 4
batch_tokens = 64
tokens = 128
[eval]
count = 1
tokens = 64
[executor]
kind = "slurm"
[executor.slurm]
gres = "gpu:h100:1"
"#,
        corpus.display()
    );
    let path = root.join("experiments/g.toml");
    std::fs::write(&path, spec).unwrap();
    let path_env = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ladder"))
        .arg("run")
        .arg(&path)
        .env("PATH", path_env)
        .current_dir(root)
        .output()
        .unwrap();
    let submitted = std::fs::read_to_string(&args_log).unwrap_or_else(|_| {
        panic!(
            "sbatch was never called: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let jobs: Vec<&str> = submitted
        .split("----\n")
        .filter(|j| !j.is_empty())
        .collect();
    assert_eq!(
        jobs.len(),
        2,
        "the cells' array and the analysis job: {submitted}"
    );
    let array = jobs[0];
    assert!(array.lines().any(|l| l == "--gres=gpu:h100:1"), "{array}");
    assert!(
        array.lines().any(|l| l.starts_with("--array=0-0")),
        "{array}"
    );
    // The array task's script runs the cell's step; the GPU comes from Slurm's own
    // CUDA_VISIBLE_DEVICES, which the trainer leaves alone.
    let script = array.lines().last().unwrap();
    let text = std::fs::read_to_string(script).unwrap();
    assert!(text.contains("run-step"), "{text}");
}
