//! `ladder count`: parameter and forward-FLOP breakdown of a dense or Leviathan model, as an
//! aligned table or one JSON object.

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::model::count::{self, Count};
use crate::model::sizing;
use crate::model::{BodyConfig, DenseConfig, LeviathanConfig, vocab};

#[derive(Debug, clap::Args)]
pub struct CountArgs {
    /// Architecture: dense or leviathan.
    #[arg(long, value_parser = ["dense", "leviathan"])]
    pub arch: String,
    /// Vocabulary size [default: o200k_base padded to --pad-multiple].
    #[arg(long)]
    pub vocab: Option<usize>,
    /// Padding multiple for the default vocabulary.
    #[arg(long, default_value_t = vocab::DEFAULT_PAD_MULTIPLE)]
    pub pad_multiple: usize,
    /// Residual width D.
    #[arg(long)]
    pub d_model: usize,
    /// Number of blocks.
    #[arg(long)]
    pub layers: usize,
    /// Attention heads [default: d_model / 64, at least 1].
    #[arg(long)]
    pub heads: Option<usize>,
    /// SwiGLU width [default: 8/3 · d_model rounded up to a multiple of 64].
    #[arg(long)]
    pub d_ff: Option<usize>,
    /// Context length for the attention FLOPs.
    #[arg(long, default_value_t = 512)]
    pub seq_len: usize,
    /// Tie the dense head to the embedding table (dense only; Leviathan's head is untied).
    #[arg(long)]
    pub tie: bool,
    #[command(flatten)]
    pub generator: super::generator_args::GeneratorArgs,
    /// Leviathan only: treat --layers as a dense model's depth (untied, or tied with --tie-dense)
    /// and raise Leviathan's depth until the totals match within --tolerance.
    #[arg(long)]
    pub isoparametric: bool,
    /// Relative tolerance of --isoparametric.
    #[arg(long, default_value_t = crate::model::sizing::DEFAULT_TOLERANCE)]
    pub tolerance: f64,
    /// With --isoparametric: the dense reference is tied.
    #[arg(long)]
    pub tie_dense: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: CountArgs) -> anyhow::Result<()> {
    let vocab = match args.vocab {
        Some(v) => v,
        None => vocab::o200k_padded(args.pad_multiple)?,
    };
    let heads = args.heads.unwrap_or((args.d_model / 64).max(1));
    let mut body = BodyConfig::new(args.d_model, args.layers, heads).with_seq_len(args.seq_len);
    body.d_ff = Some(args.d_ff.unwrap_or_else(|| body.d_ff()));
    let mut sized: Option<Value> = None;
    let mut layers = args.layers;
    if args.isoparametric && args.arch != "leviathan" {
        bail!("--isoparametric sizes a Leviathan model: use it with --arch leviathan");
    }
    let c = if args.arch == "dense" {
        let cfg = DenseConfig::new(vocab, body).with_tie_embeddings(args.tie);
        cfg.validate().context("invalid model")?;
        count::dense(&cfg)
    } else {
        if args.tie {
            bail!("--tie applies to dense only: Leviathan's head is untied");
        }
        let g = args.generator.config(vocab, args.d_model, "v2")?;
        let mut cfg = LeviathanConfig::new(body, g);
        cfg.validate().context("invalid model")?;
        if args.isoparametric {
            let dense =
                DenseConfig::new(vocab, cfg.body.clone()).with_tie_embeddings(args.tie_dense);
            let s = sizing::isoparametric(&dense, &cfg.generator, args.tolerance, 100_000)?;
            sized = Some(json!({
                "mode": "isoparametric",
                "dense_layers": args.layers,
                "dense_total": s.dense_total,
                "dense_tied": args.tie_dense,
                "leviathan_layers": s.leviathan.body.n_layers,
                "leviathan_total": s.leviathan_total,
                "gap": s.gap,
                "tolerance": args.tolerance,
                "within_tolerance": s.within_tolerance,
            }));
            cfg = s.leviathan;
        }
        layers = cfg.body.n_layers;
        count::leviathan(&cfg)
    };
    if args.json {
        let mut v = to_json(&c, vocab, &args, heads, layers);
        if let Some(s) = sized {
            v["sizing"] = s;
        }
        println!("{v}");
    } else {
        if let Some(s) = &sized {
            println!(
                "isoparametric: dense L={} ({} params{}) -> Leviathan L={} ({} params), gap {:+.2}%{}\n",
                s["dense_layers"],
                grouped(s["dense_total"].as_u64().unwrap_or(0)),
                if args.tie_dense { ", tied" } else { ", untied" },
                s["leviathan_layers"],
                grouped(s["leviathan_total"].as_u64().unwrap_or(0)),
                100.0 * s["gap"].as_f64().unwrap_or(f64::NAN),
                if s["within_tolerance"].as_bool() == Some(true) {
                    ""
                } else {
                    " (outside the tolerance)"
                },
            );
        }
        print!("{}", table(&c, vocab, &args, heads, layers));
    }
    Ok(())
}

fn to_json(c: &Count, vocab: usize, args: &CountArgs, heads: usize, layers: usize) -> Value {
    let p = &c.params;
    let mut breakdown = json!({
        if p.generator.is_some() { "generator" } else { "embedding" }: p.embed_in,
        "attention": p.attention,
        "feed_forward": p.feed_forward,
        "norms": p.norms,
        "head": p.head,
    });
    if let Some(g) = &p.generator {
        breakdown["generator_detail"] = serde_json::to_value(g).expect("plain struct");
    }
    json!({
        "arch": c.arch,
        "vocab": vocab,
        "d_model": args.d_model,
        "n_layers": layers,
        "n_heads": heads,
        "seq_len": args.seq_len,
        "tied": args.tie,
        "total": p.total,
        "embed_in": p.embed_in,
        "embed_out": p.head,
        "nonembed": p.nonembed(),
        "breakdown": breakdown,
        "flops_per_token": c.flops_per_token.total,
        "flops_breakdown": c.flops_per_token,
    })
}

/// 1234567 -> "1,234,567".
fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn table(c: &Count, vocab: usize, args: &CountArgs, heads: usize, layers: usize) -> String {
    let p = &c.params;
    let total = p.total as f64;
    let mut rows: Vec<(String, u64, bool)> = Vec::new();
    match &p.generator {
        Some(g) => {
            rows.push(("generator (embed_in)".into(), p.embed_in, true));
            for (name, v) in [
                ("codebooks", g.codebooks),
                ("W_seed", g.w_seed),
                ("LayerNorm", g.layer_norm),
                ("spline coefficients", g.spline_coefficients),
                ("W_out", g.w_out),
            ] {
                rows.push((format!("  {name}"), v, false));
            }
        }
        None => rows.push(("embedding (embed_in)".into(), p.embed_in, true)),
    }
    rows.push(("attention".into(), p.attention, true));
    rows.push(("feed-forward".into(), p.feed_forward, true));
    rows.push(("norms".into(), p.norms, true));
    let head = if args.tie {
        "head (tied)"
    } else {
        "head (embed_out)"
    };
    rows.push((head.into(), p.head, true));
    rows.push(("total".into(), p.total, true));

    let f = &c.flops_per_token;
    let mut out = format!(
        "{} V={} D={} L={} H={} F={} T={}\n\n",
        c.arch,
        vocab,
        args.d_model,
        layers,
        heads,
        args.d_ff
            .unwrap_or_else(|| crate::model::blocks::default_d_ff(args.d_model)),
        args.seq_len
    );
    out.push_str(&format!(
        "{:<24} {:>15} {:>8}\n",
        "parameters", "count", "share"
    ));
    for (name, v, share) in rows {
        let share = if share {
            format!("{:.2}%", 100.0 * v as f64 / total)
        } else {
            String::new()
        };
        out.push_str(&format!("{:<24} {:>15} {:>8}\n", name, grouped(v), share));
    }
    out.push_str(&format!(
        "{:<24} {:>15}\n\n",
        "non-embedding",
        grouped(p.nonembed())
    ));
    out.push_str(&format!(
        "{:<24} {:>15}\n",
        "forward FLOPs / token", "count"
    ));
    let embed_name = if p.generator.is_some() {
        "generator"
    } else {
        "embedding"
    };
    for (name, v) in [
        (embed_name, f.embed_in),
        ("attention projections", f.attention_projections),
        ("attention scores", f.attention_scores),
        ("feed-forward", f.feed_forward),
        ("head", f.head),
        ("total", f.total),
    ] {
        out.push_str(&format!("{:<24} {:>15}\n", name, grouped(v)));
    }
    out
}
