//! Step ids (Marin's `test_versioning`): change one field of an experiment at a time and
//! check exactly which steps get a new id. Only what changes a step's output may change its
//! id; labels and executor settings never do; a new grid point adds one train step and
//! renews only the steps downstream of the cells.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ladder::config::{ExperimentSpec, Plan};
use ladder::graph::{Graph, StepKind};

const BASE: &str = r#"
name = "v"
analysis = "a"
[data]
corpus = "corpus"
[grid]
arches = ["dense", "leviathan"]
modes = ["iso_body", "isoparametric"]
sizes = ["cpu-xs", { name = "mine", d_model = 64, n_layers = 2, n_heads = 4 }]
seeds = [0]
tokens_per_param = [20.0]
[model]
seq_len = 32
[train]
micro_batch = 4
[eval]
tokens = 256
[executor]
jobs = 2
"#;

fn fixture(dir: &Path) {
    std::fs::create_dir_all(dir.join("corpus/train")).unwrap();
    std::fs::create_dir_all(dir.join("corpus/val")).unwrap();
    std::fs::write(
        dir.join("corpus/train/a.txt"),
        "Call me Ishmael. Some years ago.",
    )
    .unwrap();
    std::fs::write(dir.join("corpus/val/b.txt"), "It is a way I have.").unwrap();
    std::fs::create_dir_all(dir.join("analysis")).unwrap();
    std::fs::write(dir.join("analysis/a.toml"), "law = \"n\"\nbootstrap = 10\n").unwrap();
}

/// Step key (kind, or `train <label without size name>` for cells) -> id.
fn ids(dir: &Path, text: &str) -> BTreeMap<String, String> {
    let path = dir.join("v.toml");
    let spec = ExperimentSpec::parse(text, &path).unwrap();
    let plan = Plan::resolve(&spec, &path).unwrap();
    let graph = Graph::build(&plan).unwrap();
    graph
        .steps
        .iter()
        .map(|s| {
            let key = match s.cell {
                Some(c) => {
                    let c = &plan.cells[c];
                    let tie = match c.tie {
                        Some(true) if c.arch == "dense" || c.mode == "isoparametric" => " tied",
                        _ => "",
                    };
                    let lr = if c.lr_scale == 1.0 {
                        String::new()
                    } else {
                        format!(" lr{}", c.lr_scale)
                    };
                    format!(
                        "train {} {} d{} s{} r{}{tie}{lr}",
                        c.arch, c.mode, c.size.d_model, c.seed, c.tokens_per_param
                    )
                }
                None => s.kind.to_string(),
            };
            (key, s.id.clone())
        })
        .collect()
}

/// Keys whose id differs, appeared or disappeared.
fn changed(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> BTreeSet<String> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

const ANALYSIS: [&str; 4] = ["fit", "multiplier", "plots", "report"];

fn downstream(plus: &[&str]) -> BTreeSet<String> {
    let mut s = set(plus);
    s.insert("collect".into());
    s.extend(ANALYSIS.iter().map(|k| k.to_string()));
    s
}

fn all_trains(base: &BTreeMap<String, String>) -> Vec<&str> {
    base.keys()
        .filter(|k| k.starts_with("train"))
        .map(String::as_str)
        .collect()
}

#[test]
fn ids_change_exactly_where_they_should() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fixture(dir);
    let base = ids(dir, BASE);
    assert_eq!(base.len(), 2 + 6 + 5, "{base:?}");
    // Deterministic: the same spec gives the same ids.
    assert_eq!(ids(dir, BASE), base);
    let trains = all_trains(&base);
    let with = |from: &str, to: &str| {
        assert!(BASE.contains(from), "{from}");
        ids(dir, &BASE.replacen(from, to, 1))
    };

    // Nothing that does not change an output changes an id.
    for (from, to) in [
        ("name = \"mine\"", "name = \"renamed\""),
        (
            "jobs = 2",
            "jobs = 7\nthreads_per_job = 3\n[executor.slurm]\npartition = \"gpu\"",
        ),
        ("[model]", "# a comment\n[model]"),
        // The order in which sizes are listed.
        (
            "sizes = [\"cpu-xs\", { name = \"mine\", d_model = 64, n_layers = 2, n_heads = 4 }]",
            "sizes = [{ name = \"mine\", d_model = 64, n_layers = 2, n_heads = 4 }, \"cpu-xs\"]",
        ),
    ] {
        assert_eq!(changed(&base, &with(from, to)), set(&[]), "{to}");
    }

    // A new size: exactly its three cells appear, and the table and analysis are redone.
    let more = with(
        "n_heads = 4 }]",
        "n_heads = 4 }, { d_model = 96, n_layers = 1, n_heads = 4 }]",
    );
    assert_eq!(
        changed(&base, &more),
        downstream(&[
            "train dense reference d96 s0 r20",
            "train leviathan iso_body d96 s0 r20",
            "train leviathan isoparametric d96 s0 r20",
        ])
    );

    // A new seed: three new cells per size (6), nothing old changes but collect and after.
    let seeds = with("seeds = [0]", "seeds = [0, 1]");
    let c = changed(&base, &seeds);
    assert_eq!(
        c.iter().filter(|k| k.starts_with("train")).count(),
        6,
        "{c:?}"
    );
    assert!(
        c.iter()
            .filter(|k| k.starts_with("train"))
            .all(|k| k.contains(" s1 ")),
        "{c:?}"
    );
    assert_eq!(
        c.iter()
            .filter(|k| !k.starts_with("train"))
            .cloned()
            .collect::<BTreeSet<_>>(),
        downstream(&[])
    );

    // The generator changes Leviathan cells only.
    let g = with("[train]", "[model.generator]\nknots = 12\n[train]");
    let lev: Vec<&str> = trains
        .iter()
        .copied()
        .filter(|k| k.contains("leviathan"))
        .collect();
    assert_eq!(changed(&base, &g), downstream(&lev));

    // Tying embeddings changes the dense cells and the isoparametric ones (their depth is
    // matched to the dense total), not the iso-body ones.
    let tie = with("seq_len = 32", "seq_len = 32\ntie_embeddings = true");
    let matched: Vec<&str> = trains
        .iter()
        .copied()
        .filter(|k| k.contains("dense") || k.contains("isoparametric"))
        .collect();
    // (The keys of tied cells end in ` tied`, so each matched cell is one key gone, one new.)
    let tied: Vec<String> = matched.iter().map(|k| format!("{k} tied")).collect();
    let mut expected = downstream(&matched);
    expected.extend(tied);
    assert_eq!(changed(&base, &tie), expected);
    // So does a one-value `grid.tie`, to the same ids.
    assert_eq!(tie, with("seeds = [0]", "seeds = [0]\ntie = [true]"));

    // A second baseline adds its dense and isoparametric cells beside every existing cell.
    let both = with("seeds = [0]", "seeds = [0]\ntie = [false, true]");
    assert_eq!(
        changed(&base, &both)
            .iter()
            .filter(|k| k.starts_with("train"))
            .count(),
        4
    );
    assert!(
        base.iter()
            .all(|(k, v)| !k.starts_with("train") || both.get(k) == Some(v))
    );

    // A learning-rate axis adds cells at the new scales and keeps those at 1.
    let lrs = with("seeds = [0]", "seeds = [0]\nlr_scale = [0.5, 1.0]");
    assert!(
        base.iter()
            .all(|(k, v)| !k.starts_with("train") || lrs.get(k) == Some(v))
    );
    assert_eq!(lrs.keys().filter(|k| k.starts_with("train")).count(), 12);

    // The recipe policy changes every cell.
    let twin = with(
        "micro_batch = 4",
        "micro_batch = 4\nhyper_from = \"dense_twin\"",
    );
    assert_eq!(changed(&base, &twin), downstream(&trains));

    // The isoparametric tolerance changes isoparametric cells only.
    let tol = with("seq_len = 32", "seq_len = 32\niso_tolerance = 0.05");
    let iso: Vec<&str> = trains
        .iter()
        .copied()
        .filter(|k| k.contains("isoparametric"))
        .collect();
    assert_eq!(changed(&base, &tol), downstream(&iso));

    // Training, evaluation and shape settings change every cell but not the data steps.
    for (from, to) in [
        ("micro_batch = 4", "micro_batch = 4\nlr = 0.001"),
        ("micro_batch = 4", "micro_batch = 2"),
        ("tokens = 256", "tokens = 512"),
        ("seq_len = 32", "seq_len = 64"),
    ] {
        assert_eq!(changed(&base, &with(from, to)), downstream(&trains), "{to}");
    }

    // The tokenizer changes tokens and everything after, not the corpus.
    let mut tok = downstream(&trains);
    tok.insert("tokens".into());
    assert_eq!(
        changed(
            &base,
            &with(
                "corpus = \"corpus\"",
                "corpus = \"corpus\"\ntokenizer = \"r50k_base\""
            )
        ),
        tok
    );
    assert_eq!(
        changed(
            &base,
            &with(
                "corpus = \"corpus\"",
                "corpus = \"corpus\"\ncompact = false"
            )
        ),
        tok
    );

    // The data keys added with other corpus formats: at their defaults nothing moves; set,
    // the tokens step and everything after it.
    assert_eq!(
        changed(
            &base,
            &with(
                "corpus = \"corpus\"",
                "corpus = \"corpus\"\ntext_field = \"text\""
            )
        ),
        set(&[])
    );
    for to in [
        "compact = 4096",
        "max_tokens = 1000",
        "text_field = \"body\"",
    ] {
        assert_eq!(
            changed(
                &base,
                &with("corpus = \"corpus\"", &format!("corpus = \"corpus\"\n{to}"))
            ),
            tok,
            "{to}"
        );
    }

    // The corpus's content changes everything.
    std::fs::write(
        dir.join("corpus/train/a.txt"),
        "Call me Ishmael. Some years ago!",
    )
    .unwrap();
    let mut everything = tok.clone();
    everything.insert("corpus".into());
    assert_eq!(changed(&base, &ids(dir, BASE)), everything);
    std::fs::write(
        dir.join("corpus/train/a.txt"),
        "Call me Ishmael. Some years ago.",
    )
    .unwrap();
    assert_eq!(ids(dir, BASE), base);

    // The analysis spec changes the analysis steps only.
    std::fs::write(dir.join("analysis/a.toml"), "law = \"n\"\nbootstrap = 20\n").unwrap();
    assert_eq!(changed(&base, &ids(dir, BASE)), set(&ANALYSIS));
    // ... but not its formatting or comments.
    std::fs::write(
        dir.join("analysis/a.toml"),
        "# same\nbootstrap = 10\nlaw = \"n\"\n",
    )
    .unwrap();
    assert_eq!(changed(&base, &ids(dir, BASE)), set(&[]));

    // The description reaches the report only.
    assert_eq!(
        changed(
            &base,
            &with("name = \"v\"", "name = \"v\"\ndescription = \"hello\"")
        ),
        set(&["report"])
    );
}

#[test]
fn step_id_is_a_short_hash_of_kind_config_and_inputs() {
    use ladder::graph::step_id;
    use serde_json::json;
    let a = step_id(StepKind::Fit, &json!({"x": 1}), &["collect-1"]);
    assert_eq!(a.len(), 10);
    assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(a, step_id(StepKind::Fit, &json!({"x": 1}), &["collect-1"]));
    assert_ne!(
        a,
        step_id(StepKind::Plots, &json!({"x": 1}), &["collect-1"])
    );
    assert_ne!(a, step_id(StepKind::Fit, &json!({"x": 2}), &["collect-1"]));
    assert_ne!(a, step_id(StepKind::Fit, &json!({"x": 1}), &["collect-2"]));
}

/// The ids a fixed spec had when the first studies were trained (computed with the code at
/// commit 1c27619). New fields at their defaults must leave every one of them in place; a
/// refactor must too. The spline-coefficient decay (`model.generator.spline_decay`) changed
/// Leviathan's default behaviour on purpose: a spec that names the old behaviour (`zero`)
/// keeps its ids, one that does not retrains its Leviathan cells.
const GOLDEN: &str = r#"
name = "golden"
analysis = "a"
[data]
corpus = "corpus"
[grid]
arches = ["dense", "leviathan"]
modes = ["iso_body", "isoparametric"]
sizes = ["cpu-xs", { name = "mine", d_model = 64, n_layers = 2, n_heads = 4 }]
seeds = [0, 1]
tokens_per_param = [20.0]
[model]
seq_len = 32
[model.generator]
spline_decay = "zero"
[train]
micro_batch = 4
[eval]
tokens = 256
"#;

const GOLDEN_IDS: &[(&str, &str)] = &[
    ("corpus", "79d2da8817"),
    ("tokens", "d8737b5d97"),
    ("train dense reference d32 s0 r20", "cd53f2b4a0"),
    ("train leviathan iso_body d32 s0 r20", "917d92bc71"),
    ("train leviathan isoparametric d32 s0 r20", "c1c8590568"),
    ("train dense reference d32 s1 r20", "a48425414c"),
    ("train leviathan iso_body d32 s1 r20", "20ae313382"),
    ("train leviathan isoparametric d32 s1 r20", "9c77f0227f"),
    ("train dense reference d64 s0 r20", "49fb0e21b6"),
    ("train leviathan iso_body d64 s0 r20", "a87a6e080e"),
    ("train leviathan isoparametric d64 s0 r20", "a5ecb2fc1c"),
    ("train dense reference d64 s1 r20", "0b746e7874"),
    ("train leviathan iso_body d64 s1 r20", "13a6bbf579"),
    ("train leviathan isoparametric d64 s1 r20", "c556b83af9"),
    ("collect", "ad72628249"),
    ("fit", "f3d8294d46"),
    ("multiplier", "353815ce26"),
    ("plots", "a40dac7d97"),
    ("report", "f9856c3b7b"),
];

#[test]
fn ids_of_existing_specs_do_not_move() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fixture(dir);
    let golden: BTreeMap<String, String> = GOLDEN_IDS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(ids(dir, GOLDEN), golden);
    // The new axes and policies at their defaults, written out, change nothing.
    let explicit = GOLDEN
        .replace(
            "seeds = [0, 1]",
            "seeds = [0, 1]\ntie = [false]\nlr_scale = [1.0]",
        )
        .replace("micro_batch = 4", "micro_batch = 4\nhyper_from = \"total\"");
    assert_eq!(ids(dir, &explicit), golden);
    // Without `spline_decay = "zero"` the default (`one`) retrains Leviathan cells only.
    let default = ids(dir, &GOLDEN.replace("spline_decay = \"zero\"", ""));
    let moved = changed(&golden, &default);
    assert!(
        moved
            .iter()
            .filter(|k| k.starts_with("train"))
            .all(|k| k.contains("leviathan")),
        "{moved:?}"
    );
    assert_eq!(moved.iter().filter(|k| k.contains("leviathan")).count(), 8);
}
