//! Finished cells survive a fresh clone: with `[executor] archive`, each finished cell's small
//! files are copied to a tracked folder; with runs/ deleted, a rerun trains nothing and
//! writes the same results table, and an added cell trains alone. Under WSD the prefix is
//! never archived: with its branches archived it is not needed, and a new branch point
//! retrains it from the start, which the dry run says.

use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/moby-dick")
}

/// Tiny dense cells, one per width, archived in studies/t/cells.
fn spec(widths: &[usize], train: &str) -> String {
    let sizes: Vec<String> = widths
        .iter()
        .map(|d| format!("{{ d_model = {d}, n_layers = 1, n_heads = 2 }}"))
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
checkpoint_every = 2
{train}
[eval]
count = 2
tokens = 64
[executor]
threads_per_job = 1
archive = "studies/t/cells"
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
        std::fs::write(self.root.join("experiments/t.toml"), text).unwrap();
    }
    fn run_ok(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_ladder"))
            .env_remove("LADDER_TRAIN_EXE")
            .arg(args[0])
            .arg(self.root.join("experiments/t.toml"))
            .args(&args[1..])
            .current_dir(&self.root)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "ladder {args:?} failed:\n{text}");
        text
    }
    fn archive(&self) -> PathBuf {
        self.root.join("studies/t/cells")
    }
    /// A fresh clone: no runs/.
    fn clone_fresh(&self) {
        std::fs::remove_dir_all(self.root.join("runs")).unwrap();
    }
}

fn trained(out: &str) -> usize {
    let line = out
        .lines()
        .find(|l| l.contains("cells trained"))
        .unwrap_or_else(|| panic!("no summary in:\n{out}"));
    line.rsplit("; ")
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn finished_cells_survive_a_fresh_clone_and_an_added_cell_trains_alone() {
    let e = Exp::new(&spec(&[16, 24], "tokens = 256"));
    let out = e.run_ok(&["run"]);
    assert_eq!(trained(&out), 2, "{out}");
    let cells = entries(&e.archive());
    assert_eq!(cells.len(), 2, "{cells:?}");
    for c in &cells {
        assert!(c.starts_with("train-"), "{c}");
        // The small files only: never checkpoints.
        assert_eq!(
            entries(&e.archive().join(c)),
            ["cell.toml", "metrics.jsonl", "record.json", "status.json"]
        );
    }
    let table = std::fs::read(e.root.join("runs/t/results.csv")).unwrap();

    e.clone_fresh();
    let dry = e.run_ok(&["run", "--dry-run"]);
    assert_eq!(
        dry.matches("(succeeded in the archive ").count(),
        2,
        "{dry}"
    );
    assert!(dry.contains("to run now: 0 training steps"), "{dry}");
    let status = e.run_ok(&["status"]);
    assert!(
        status.contains("2 archived") && status.contains("missing cells: none"),
        "{status}"
    );
    let out = e.run_ok(&["run"]);
    assert_eq!(trained(&out), 0, "{out}");
    assert!(
        out.contains("2 finished cells restored into runs/"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(e.root.join("runs/t/results.csv")).unwrap(),
        table,
        "the results table changed"
    );

    // A new size on the fresh clone: only it trains, and joins the archive.
    e.write(&spec(&[16, 24, 32], "tokens = 256"));
    let out = e.run_ok(&["run"]);
    assert_eq!(trained(&out), 1, "{out}");
    assert_eq!(entries(&e.archive()).len(), 3);
}

#[test]
fn a_new_branch_point_after_a_fresh_clone_retrains_the_prefix_from_the_start() {
    let wsd = |tokens: &str| {
        format!("tokens = {tokens}\nschedule = \"wsd\"\ndecay_frac = 0.25\nwarmup_tokens = 128")
    };
    let e = Exp::new(&spec(&[16], &wsd("[512, 1024]")));
    let out = e.run_ok(&["run"]);
    assert_eq!(trained(&out), 2, "{out}");
    // The branches are archived; the prefix (checkpoints) is not.
    let archived = entries(&e.archive());
    assert_eq!(archived.len(), 2);
    assert!(
        archived.iter().all(|c| c.starts_with("branch-")),
        "{archived:?}"
    );

    e.clone_fresh();
    let dry = e.run_ok(&["run", "--dry-run"]);
    assert!(
        dry.contains("stable prefix  (not needed: every branch of it is finished)"),
        "{dry}"
    );
    let out = e.run_ok(&["run"]);
    assert_eq!(trained(&out), 0, "{out}");
    assert!(!out.contains("stable prefix"), "{out}");

    // A third branch point: the prefix has no checkpoint here, so it trains from the start
    // to the new point (1536 tokens, 24 steps), and only the new branch cools down.
    e.write(&spec(&[16], &wsd("[512, 1024, 2048]")));
    let dry = e.run_ok(&["run", "--dry-run"]);
    assert!(
        dry.contains(
            "(trains from scratch to 1536 tokens for 1 branch point: no checkpoint here, and the 2 finished branches need none)"
        ),
        "{dry}"
    );
    let out = e.run_ok(&["run"]);
    assert_eq!(trained(&out), 1, "{out}");
    assert!(out.contains("and 1 stable prefix"), "{out}");
    let runs = e.root.join("runs/t");
    let prefix = entries(&runs)
        .into_iter()
        .find(|n| n.starts_with("prefix-"))
        .unwrap();
    let steps: Vec<u64> = std::fs::read_to_string(runs.join(&prefix).join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(steps, (1..=24).collect::<Vec<_>>());
    assert_eq!(entries(&e.archive()).len(), 3);
}
