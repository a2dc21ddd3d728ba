//! IsoFLOP grids and the dry run's cost: each cell trains the whole batches of tokens that
//! spend its budget by the model's own FLOP counter, its rows carry the nominal budget, and
//! the dry run's total equals the sum of the FLOPs the cells' final rows count; a size rule
//! picks log-spaced sizes from the grid's; bad budgets are one line naming the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ladder::config::ExperimentSpec;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/moby-dick")
}

const SIZES: &str = "sizes = [{ d_model = 16, n_layers = 1, n_heads = 2 }, { d_model = 24, n_layers = 1, n_heads = 2 }, { d_model = 32, n_layers = 1, n_heads = 2 }]";

/// Tiny dense models on a byte-fallback vocabulary of 512 ids, batches of 64 tokens.
fn spec(budgets: &str) -> String {
    format!(
        r#"name = "t"
analysis = "a"
[data]
corpus = "{}"
compact = 512
[grid]
arches = ["dense"]
{SIZES}
budgets = {budgets}
[model]
seq_len = 16
[train]
micro_batch = 4
batch_tokens = 64
checkpoint_every = 4
[eval]
count = 1
tokens = 64
[executor]
threads_per_job = 1
"#,
        corpus().display()
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
        std::fs::write(root.join("experiments/t.toml"), text).unwrap();
        Exp { _tmp: tmp, root }
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ladder"))
            .env_remove("LADDER_TRAIN_EXE")
            .arg(args[0])
            .arg(self.root.join("experiments/t.toml"))
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
}

/// The number after `what` in the dry run's output.
fn number_after(text: &str, what: &str) -> f64 {
    let at = text
        .find(what)
        .unwrap_or_else(|| panic!("no `{what}` in:\n{text}"));
    text[at + what.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches([',', ';'])
        .parse()
        .unwrap()
}

#[test]
fn isoflop_cells_spend_their_budgets_and_the_dry_run_counts_their_flops() {
    let e = Exp::new(&spec(
        "[4e8, { flops = 8e8, sizes = [\"d16-l1\", \"d32-l1\"] }]",
    ));
    // Before tokenising, the counts use K = 512 and say so; every budget's cells are listed.
    let dry = e.run_ok(&["run", "--dry-run"]);
    assert!(
        dry.contains("cost (vocabulary 512: data.compact = K (the tokens step has not run))"),
        "{dry}"
    );
    assert!(
        dry.contains("budget C = 4.0000e8 FLOPs: 3 cells")
            && dry.contains("budget C = 8.0000e8 FLOPs: 2 cells"),
        "{dry}"
    );
    assert!(
        dry.contains("dense/untied d24-l1 seed0 lr x1 C 4.000e8"),
        "{dry}"
    );
    assert!(!dry.contains("d24-l1 seed0 lr x1 C 8.000e8"), "{dry}");
    e.run_ok(&["run"]);

    // Every cell's final row: its budget, and whole batches of tokens whose counted FLOPs
    // lie within half a batch of it.
    let rows = ladder::table::read_rows(&e.root.join("runs/t/results.parquet")).unwrap();
    let mut last: BTreeMap<String, &ladder::table::ResultRow> = BTreeMap::new();
    for r in &rows {
        if last.get(&r.run_id).is_none_or(|l| l.tokens < r.tokens) {
            last.insert(r.run_id.clone(), r);
        }
    }
    assert_eq!(last.len(), 5);
    let mut per_budget: BTreeMap<u64, usize> = BTreeMap::new();
    for r in last.values() {
        assert!([4e8, 8e8].contains(&r.budget), "{}", r.budget);
        *per_budget.entry(r.budget as u64).or_default() += 1;
        assert_eq!(r.tokens % 64, 0);
        let per_token = r.flops / r.tokens as f64;
        assert!(
            (r.flops - r.budget).abs() <= per_token * 32.0,
            "{} tokens x {per_token} = {} for a budget of {}",
            r.tokens,
            r.flops,
            r.budget
        );
    }
    assert_eq!(
        per_budget,
        BTreeMap::from([(400_000_000, 3), (800_000_000, 2)])
    );

    // After the run: the store's vocabulary, and the total the rows count is the sum of
    // the final rows' `flops`; nothing is left to run; the time comes from these cells.
    let dry = e.run_ok(&["run", "--dry-run"]);
    assert!(
        dry.contains("cost (vocabulary 512: the token store's)"),
        "{dry}"
    );
    let total = number_after(&dry, "grid: 5 cells, the rows count ");
    let sum: f64 = last.values().map(|r| r.flops).sum();
    assert!(
        (total - sum).abs() <= 1e-12 * sum,
        "{total} vs {sum}\n{dry}"
    );
    assert!(dry.contains("to run now: 0 training steps"), "{dry}");
    assert!(
        dry.contains("throughput (one training process")
            && dry.contains("(this host): runs/t/train-"),
        "{dry}"
    );
}

fn plan(dir: &Path, text: &str) -> ladder::Result<ladder::config::Plan> {
    let path = dir.join("experiments/t.toml");
    let spec = ExperimentSpec::parse(text, &path)?;
    ladder::graph::resolve_plan(&spec, &path)
}

#[test]
fn a_size_rule_picks_log_spaced_sizes_and_bad_budgets_name_their_key() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("experiments")).unwrap();
    std::fs::create_dir_all(tmp.path().join("analysis")).unwrap();
    std::fs::write(tmp.path().join("analysis/a.toml"), "law = \"n\"\n").unwrap();
    let many = "sizes = [{ d_model = 8, n_layers = 1, n_heads = 2 }, { d_model = 16, n_layers = 1, n_heads = 2 }, { d_model = 24, n_layers = 1, n_heads = 2 }, { d_model = 32, n_layers = 1, n_heads = 2 }, { d_model = 48, n_layers = 1, n_heads = 2 }, { d_model = 64, n_layers = 2, n_heads = 2 }]";
    let with = |budgets: &str| spec(budgets).replace(SIZES, many);
    // At V = 512 the pool's dense totals are 10.0k, 20.5k, 31.6k, 49.2k, 76.9k and 172k: three
    // targets over one decade around 3e4 (9.5e3, 3e4, 9.5e4) pick d8, d24 and d48.
    let p = plan(
        tmp.path(),
        &with("[{ flops = 1e10, count = 3, around = 3e4 }]"),
    )
    .unwrap();
    let widths: Vec<usize> = p.cells.iter().map(|c| c.size.d_model).collect();
    assert_eq!(widths, [8, 24, 48]);
    assert!(p.cells.iter().all(|c| c.budget == Some(1e10)));
    // The default guess: N* = sqrt(C / (6 x 20)); C = 1.08e11 puts it at 3e4 as well.
    let p = plan(tmp.path(), &with("[{ flops = 1.08e11, count = 3 }]")).unwrap();
    assert_eq!(
        p.cells.iter().map(|c| c.size.d_model).collect::<Vec<_>>(),
        [8, 24, 48]
    );
    // Too coarse a pool for the rule, and other mistakes: one line naming the key.
    let cases = [
        (
            with("[{ flops = 1e10, count = 5, around = 3e4, spread = 0.2 }]"),
            "key `grid.budgets[0].count`: grid.sizes has no distinct size near each of the 5 targets",
        ),
        (
            with("[0.0]"),
            "key `grid.budgets[0]`: expected a positive number",
        ),
        (
            with("[1e9, 1e9]"),
            "key `grid.budgets[1]`: expected distinct budgets",
        ),
        (
            with("[{ flops = 1e9, count = 2 }]"),
            "key `grid.budgets[0].count`: expected at least 3 sizes",
        ),
        (
            with("[{ flops = 1e9, count = 3, sizes = [\"d16-l1\"] }]"),
            "key `grid.budgets[0].count`: expected either sizes or a rule",
        ),
        (
            with("[{ flops = 1e9 }]"),
            "key `grid.budgets[0]`: expected `sizes` or a rule",
        ),
        (
            with("[{ flops = 1e9, sizes = [\"nope\"] }]"),
            "key `grid.budgets[0].sizes[0]`: expected a size preset",
        ),
        (
            with("[{ flops = 1e9, count = 3, spread = -1 }]"),
            "key `grid.budgets[0].spread`: expected a positive number",
        ),
        (
            with("[{ flops = 1e9, count = 3 }]").replace("compact = 512", "compact = true"),
            "key `grid.budgets[0].count`: a size rule compares parameter counts",
        ),
        (
            with("[1e9]").replace(
                "budgets = [1e9]",
                "budgets = [1e9]\ntokens_per_param = [20]",
            ),
            "key `grid.tokens_per_param`: expected either grid.budgets or grid.tokens_per_param",
        ),
        (
            with("[1e9]").replace("checkpoint_every = 4", "checkpoint_every = 4\ntokens = 640"),
            "key `train.tokens`: expected either grid.budgets or train.tokens",
        ),
        (
            with("[\"big\"]"),
            "key `grid.budgets`: expected a FLOP budget (a number) or a table",
        ),
    ];
    for (text, want) in cases {
        let e = plan(tmp.path(), &text).unwrap_err().to_string();
        assert!(e.contains(want), "want `{want}`, got: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
}
