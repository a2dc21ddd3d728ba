//! WSD cells through the graph, with the real `ladder train` on a tiny dense model: a cell
//! with two branch points is one stable prefix and two cooldown branches, two rows in the
//! table, the stable phase trained once (counted in the step logs); a third branch point
//! trains only the rest of the prefix and its own cooldown; a branch that can resume from its
//! own checkpoint never needs its prefix again; the prefix's id depends neither on its length
//! nor on its branch points.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ladder::config::ExperimentSpec;
use ladder::graph::status::read_status;
use ladder::graph::{Graph, StepKind};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/moby-dick")
}

/// One tiny dense size under WSD, a branch per token budget: batches of 64 tokens, cooldown
/// over the last quarter (S = 3/4 D), a fixed warmup of 2 batches.
fn spec(tokens: &[u64], extra: &str) -> String {
    let list: Vec<String> = tokens.iter().map(u64::to_string).collect();
    format!(
        r#"name = "t"
analysis = "a"
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
tokens = [{}]
schedule = "wsd"
decay_frac = 0.25
warmup_tokens = 128
checkpoint_every = 2
[eval]
count = 2
tokens = 64
[executor]
threads_per_job = 1
{extra}
"#,
        corpus().display(),
        list.join(", ")
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
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ladder"))
            .env_remove("LADDER_TRAIN_EXE")
            .arg(args[0])
            .arg(self.spec())
            .args(&args[1..])
            .current_dir(&self.root)
            .output()
            .unwrap()
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
    fn starts(&self, dir: &Path) -> usize {
        read_status(dir)
            .unwrap_or_else(|| panic!("no status in {}", dir.display()))
            .starts()
    }
}

/// Cells and stable prefixes trained, from the run's last line.
fn trained(out: &str) -> (usize, usize) {
    let line = out
        .lines()
        .find(|l| l.contains("cells trained"))
        .unwrap_or_else(|| panic!("no summary in:\n{out}"));
    let tail = line.rsplit("; ").next().unwrap();
    let cells = tail.split_whitespace().next().unwrap().parse().unwrap();
    let prefixes = match tail.split_once(", and ") {
        Some((_, p)) => p.split_whitespace().next().unwrap().parse().unwrap(),
        None => 0,
    };
    (cells, prefixes)
}

/// The optimiser steps in a step directory's metrics.jsonl, in file order.
fn metric_steps(dir: &Path) -> Vec<u64> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

/// The branch whose cell trains `tokens`.
fn branch_of(e: &Exp, tokens: u64) -> PathBuf {
    e.steps("branch")
        .into_iter()
        .find(|b| {
            ladder::config::CellSpec::load(&b.join("cell.toml"))
                .unwrap()
                .train
                .tokens
                == tokens
        })
        .unwrap_or_else(|| panic!("no branch of {tokens} tokens"))
}

/// run_id -> (final tokens, size, seed, rows) from results.csv.
fn table(e: &Exp) -> BTreeMap<String, (i64, String, i64, usize)> {
    let csv = std::fs::read_to_string(e.runs().join("results.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (id, tokens, size, seed) = (col("run_id"), col("tokens"), col("size"), col("seed"));
    let mut out: BTreeMap<String, (i64, String, i64, usize)> = BTreeMap::new();
    for l in lines {
        // bucket_loss is a quoted JSON array with commas: parse the row properly.
        let f = split_csv(l);
        let entry = out.entry(f[id].clone()).or_insert((0, String::new(), 0, 0));
        entry.0 = entry.0.max(f[tokens].parse().unwrap());
        entry.1 = f[size].clone();
        entry.2 = f[seed].parse().unwrap();
        entry.3 += 1;
    }
    out
}

fn split_csv(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn id(dir: &Path) -> String {
    dir.file_name()
        .unwrap()
        .to_string_lossy()
        .split_once('-')
        .unwrap()
        .1
        .to_string()
}

#[test]
fn a_wsd_cell_trains_its_stable_phase_once_and_a_new_branch_point_only_what_it_needs() {
    let e = Exp::new(&spec(&[512, 1024], ""));
    let dry = e.run_ok(&["run", "--dry-run"]);
    assert!(
        dry.contains("stable prefix  (never run: trains to 768 tokens for 2 branch points)"),
        "{dry}"
    );
    let out = e.run_ok(&["run"]);
    assert_eq!(trained(&out), (2, 1), "{out}");
    assert!(e.steps("train").is_empty());
    let prefixes = e.steps("prefix");
    assert_eq!(prefixes.len(), 1);
    let prefix = &prefixes[0];
    // The stable phase, steps 1..=12 (S_max = 3/4 x 1024 tokens = 12 batches), once.
    assert_eq!(metric_steps(prefix), (1..=12).collect::<Vec<_>>());
    assert_eq!(e.starts(prefix), 1);
    let (b1, b2) = (branch_of(&e, 512), branch_of(&e, 1024));
    // Each branch trains only its cooldown: S/64 + 1 ..= D/64.
    assert_eq!(metric_steps(&b1), vec![7, 8]);
    assert_eq!(metric_steps(&b2), vec![13, 14, 15, 16]);
    // Two rows' worth of cells in the table: the branches, at their D; never the prefix.
    let t = table(&e);
    assert_eq!(
        t.keys().cloned().collect::<Vec<_>>(),
        {
            let mut v = vec![id(&b1), id(&b2)];
            v.sort();
            v
        },
        "{t:?}"
    );
    assert_eq!(t[&id(&b1)].0, 512);
    assert_eq!(t[&id(&b2)].0, 1024);
    // One prefix, one bootstrap unit: both branches are (size d16-l1, seed 0).
    assert_eq!((&t[&id(&b1)].1, t[&id(&b1)].2), (&"d16-l1".to_string(), 0));
    assert_eq!((&t[&id(&b2)].1, t[&id(&b2)].2), (&"d16-l1".to_string(), 0));
    let records: Vec<Vec<u8>> = [&b1, &b2]
        .iter()
        .map(|b| std::fs::read(b.join("record.json")).unwrap())
        .collect();

    // A third, later branch point: the prefix continues 13..=24, the new branch cools down
    // 25..=32, nothing else trains.
    e.write(&spec(&[512, 1024, 2048], ""));
    let dry = e.run_ok(&["run", "--dry-run"]);
    assert!(
        dry.contains("continues from its checkpoint at 768 tokens to 1536 for 1 branch point"),
        "{dry}"
    );
    let out = e.run_ok(&["run"]);
    assert_eq!(trained(&out), (1, 1), "{out}");
    assert_eq!(e.steps("prefix"), prefixes, "the prefix's id moved");
    assert_eq!(metric_steps(prefix), (1..=24).collect::<Vec<_>>());
    assert_eq!(e.starts(prefix), 2);
    for (b, rec) in [&b1, &b2].iter().zip(&records) {
        assert_eq!(e.starts(b), 1, "{} retrained", b.display());
        assert_eq!(&std::fs::read(b.join("record.json")).unwrap(), rec);
    }
    let b3 = branch_of(&e, 2048);
    assert_eq!(metric_steps(&b3), (25..=32).collect::<Vec<_>>());
    assert_eq!(table(&e).len(), 3);

    // A branch with a checkpoint of its own (as a killed one has) resumes from it, without
    // its prefix: remove its result and the prefix's kept points; the prefix does not rerun.
    std::fs::remove_file(b3.join("record.json")).unwrap();
    std::fs::remove_file(b3.join("status.json")).unwrap();
    std::fs::remove_dir_all(prefix.join("keep")).unwrap();
    let dry = e.run_ok(&["run", "--dry-run"]);
    assert!(
        dry.lines()
            .any(|l| l.starts_with("skip    prefix-") && l.ends_with("(succeeded)")),
        "{dry}"
    );
    let out = e.run_ok(&["run"]);
    assert_eq!(trained(&out), (1, 0), "{out}");
    assert_eq!(e.starts(prefix), 2);
    assert_eq!(metric_steps(prefix), (1..=24).collect::<Vec<_>>());
    assert_eq!(table(&e)[&id(&b3)].0, 2048);
}

/// Step ids by kind and label.
fn ids(dir: &Path, text: &str) -> BTreeMap<String, String> {
    let path = dir.join("experiments/t.toml");
    std::fs::write(&path, text).unwrap();
    let spec = ExperimentSpec::parse(text, &path).unwrap();
    let plan = ladder::graph::resolve_plan(&spec, &path).unwrap();
    let graph = Graph::build(&plan).unwrap();
    graph
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.kind,
                StepKind::Prefix | StepKind::Branch | StepKind::Train
            )
        })
        .map(|s| (format!("{} {}", s.kind, s.label), s.id.clone()))
        .collect()
}

#[test]
fn a_prefix_id_depends_neither_on_its_length_nor_on_its_branch_points() {
    let e = Exp::new(&spec(&[512], ""));
    let base = ids(&e.root, &spec(&[512, 1024], ""));
    let prefix = |m: &BTreeMap<String, String>| {
        m.iter()
            .filter(|(k, _)| k.starts_with("prefix"))
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(prefix(&base).len(), 1);
    // More, fewer or other branch points: the same prefix; the branches that stay keep ids.
    for tokens in [&[512, 1024, 2048][..], &[1024], &[4096, 512]] {
        let other = ids(&e.root, &spec(tokens, ""));
        assert_eq!(prefix(&other), prefix(&base), "{tokens:?}");
        for (k, v) in &other {
            if let Some(b) = base.get(k) {
                assert_eq!(b, v, "{k}");
            }
        }
    }
    // The cooldown's shape renews the branches only.
    let decay = ids(
        &e.root,
        &spec(&[512, 1024], "").replace("decay_frac = 0.25", "decay_frac = 0.5"),
    );
    assert_eq!(prefix(&decay), prefix(&base));
    assert!(
        base.iter()
            .filter(|(k, _)| k.starts_with("branch"))
            .all(|(k, v)| decay[k] != *v)
    );
    // What the stable phase trains renews everything.
    let lr = ids(
        &e.root,
        &spec(&[512, 1024], "").replace("micro_batch = 4", "micro_batch = 4\nlr = 0.01"),
    );
    assert!(base.iter().all(|(k, v)| lr[k] != *v));
    // Token ratios are budgets as well: [10, 20] tokens per parameter, one prefix.
    let ratios = spec(&[512], "").replace("tokens = [512]\n", "").replace(
        "arches = [\"dense\"]",
        "arches = [\"dense\"]\ntokens_per_param = [10, 20]",
    );
    let r = ids(&e.root, &ratios);
    assert_eq!(prefix(&r).len(), 1);
    assert_eq!(r.keys().filter(|k| k.starts_with("branch")).count(), 2);
}

#[test]
fn a_one_budget_list_is_the_single_budget_and_a_longer_list_adds_cells() {
    let e = Exp::new(&spec(&[512], ""));
    let cosine = |tokens: &str| {
        spec(&[512], "")
            .replace("schedule = \"wsd\"\n", "")
            .replace("tokens = [512]", tokens)
    };
    let one = ids(&e.root, &cosine("tokens = 512"));
    assert_eq!(ids(&e.root, &cosine("tokens = [512]")), one);
    let two = ids(&e.root, &cosine("tokens = [512, 1024]"));
    assert_eq!(two.len(), 2);
    assert!(two.keys().all(|k| k.starts_with("train")));
    // The 512-token cell is the same cell, so adding a budget trains only the new one.
    assert!(
        one.iter().all(|(k, v)| two.get(k) == Some(v)),
        "{one:?} {two:?}"
    );
}
