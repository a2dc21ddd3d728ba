//! `ladder bench train`: training throughput (forward + backward + AdamW step) of the dense
//! baseline and of Leviathan at the same body, beside eager PyTorch
//! (/work/shared/peers/torch_dense.py) at the identical dense config when torch is installed;
//! plus the LEV generator alone, once per token in chunks against once per distinct id.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use burn::module::{AutodiffModule, Module};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use serde_json::{Value, json};

use crate::model::backend::{OnBackend, run_on};
use crate::model::step::{StepSettings, StepTiming, timed_train_step};
use crate::model::{
    BodyConfig, DenseConfig, DeviceKind, GeneratorConfig, GeneratorStrategy, LanguageModel,
    LeviathanConfig, count, materialize, vocab,
};

#[derive(Debug, clap::Args)]
pub struct BenchTrainArgs {
    /// Vocabulary size [default: o200k_base padded to 64, 200,064].
    #[arg(long)]
    pub vocab: Option<usize>,
    /// Model configs as WIDTHxLAYERS, comma separated.
    #[arg(long, default_value = "128x4,256x6", value_delimiter = ',')]
    pub configs: Vec<String>,
    /// Sequence length.
    #[arg(long, default_value_t = 256)]
    pub seq: usize,
    /// Sequences per step.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Attention heads (the peer's default is 4).
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    /// Timed steps per model.
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Untimed warm-up steps per model.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    #[command(flatten)]
    pub generator: super::generator_args::GeneratorArgs,
    /// Token ids per step: `zipf` (exponent 1, like text: repeated ids) or `uniform` (the peer's).
    #[arg(long, default_value = "zipf", value_parser = ["zipf", "uniform"])]
    pub data: String,
    /// Tokens for the inference-only generator timing (per token in chunks vs per distinct id);
    /// 0 skips it.
    #[arg(long, default_value_t = 65_536)]
    pub gen_tokens: usize,
    /// Device: cpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// The PyTorch peer script.
    #[arg(long, default_value = "/work/shared/peers/torch_dense.py")]
    pub peer: String,
    /// Threads for the peer (torch.set_num_threads).
    #[arg(long, default_value_t = 2)]
    pub peer_threads: usize,
    /// Skip the PyTorch peer.
    #[arg(long)]
    pub no_peer: bool,
    /// One JSON object on stdout instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// The peer's SwiGLU width, `int(8·d/3/8 + 1)·8`, so that both sides build the same model.
fn peer_d_ff(d: usize) -> usize {
    ((8.0 * d as f64 / 3.0 / 8.0) as usize + 1) * 8
}

fn parse_config(s: &str) -> anyhow::Result<(usize, usize)> {
    let (d, l) = s
        .trim()
        .split_once('x')
        .with_context(|| format!("config {s:?} is not WIDTHxLAYERS"))?;
    Ok((d.parse().context("width")?, l.parse().context("layers")?))
}

/// Deterministic token ids: Zipf(1) over the vocabulary via the inverse CDF, or uniform.
fn tokens(n: usize, vocab: usize, zipf: bool, seed: u64) -> Vec<i64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    if !zipf {
        return (0..n)
            .map(|_| ((next() * vocab as f64) as usize).min(vocab - 1) as i64)
            .collect();
    }
    let mut cdf = Vec::with_capacity(vocab);
    let mut acc = 0.0;
    for r in 1..=vocab {
        acc += 1.0 / r as f64;
        cdf.push(acc);
    }
    (0..n)
        .map(|_| {
            let u = next() * acc;
            cdf.partition_point(|&c| c < u).min(vocab - 1) as i64
        })
        .collect()
}

/// CPU seconds (user + system, all threads) this process has used, from /proc/self/stat;
/// `None` off Linux. With other work on the machine, wall-clock rates understate a quiet run;
/// tokens per CPU-second do not.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

fn distinct(ids: &[i64]) -> usize {
    let mut v = ids.to_vec();
    v.sort_unstable();
    v.dedup();
    v.len()
}

/// Throughput of one model.
#[derive(Debug, Clone, serde::Serialize)]
struct Run {
    arch: String,
    params: u64,
    tokens_per_s: f64,
    seconds_per_step: f64,
    /// Mean per-step phase times.
    phases: StepTiming,
    /// Process CPU seconds per step (all threads).
    cpu_s_per_step: Option<f64>,
    /// Training tokens per CPU-second.
    tokens_per_cpu_s: Option<f64>,
    /// Of the forward, the generator alone (Leviathan), seconds per step.
    generator_forward: Option<f64>,
    loss_first: f64,
    loss_last: f64,
}

struct Bench<'a> {
    args: &'a BenchTrainArgs,
    vocab: usize,
    d: usize,
    layers: usize,
    ids: Vec<i64>,
}

impl Bench<'_> {
    fn body(&self) -> BodyConfig {
        let mut b =
            BodyConfig::new(self.d, self.layers, self.args.heads).with_seq_len(self.args.seq);
        b.d_ff = Some(peer_d_ff(self.d));
        b
    }

    fn generator(&self) -> anyhow::Result<GeneratorConfig> {
        let g = self.args.generator.config(self.vocab, self.d)?;
        g.validate()?;
        Ok(g)
    }

    /// Inputs and next-token targets of one step.
    fn batch<B: Backend>(&self, dev: &B::Device) -> (Tensor<B, 2, Int>, Tensor<B, 2, Int>) {
        let (b, t) = (self.args.batch, self.args.seq);
        let mut inputs = Vec::with_capacity(b * t);
        let mut targets = Vec::with_capacity(b * t);
        for row in self.ids.chunks(t + 1) {
            inputs.extend_from_slice(&row[..t]);
            targets.extend_from_slice(&row[1..]);
        }
        (
            Tensor::from_data(TensorData::new(inputs, [b, t]), dev),
            Tensor::from_data(TensorData::new(targets, [b, t]), dev),
        )
    }

    fn time<B: AutodiffBackend, M: AutodiffModule<B> + LanguageModel<B>>(
        &self,
        arch: &str,
        mut model: M,
        params: u64,
        dev: &B::Device,
    ) -> Run {
        let settings = StepSettings::default();
        let mut optim = settings.adamw().init::<B, M>();
        let (inputs, targets) = self.batch::<B>(dev);
        let mut loss_first = f64::NAN;
        let mut loss_last = f64::NAN;
        for _ in 0..self.args.warmup {
            let (m, loss, _) = timed_train_step(
                model,
                &mut optim,
                &settings,
                inputs.clone(),
                targets.clone(),
            );
            model = m;
            loss_first = loss;
        }
        let mut sum = StepTiming::default();
        let cpu0 = process_cpu_seconds();
        for _ in 0..self.args.steps {
            let (m, loss, t) = timed_train_step(
                model,
                &mut optim,
                &settings,
                inputs.clone(),
                targets.clone(),
            );
            model = m;
            loss_last = loss;
            sum.add(&t);
        }
        let n = self.args.steps.max(1) as f64;
        let cpu = process_cpu_seconds().zip(cpu0).map(|(b, a)| (b - a) / n);
        let phases = StepTiming {
            forward: sum.forward / n,
            backward: sum.backward / n,
            update: sum.update / n,
        };
        let tokens = (self.args.batch * self.args.seq) as f64;
        Run {
            arch: arch.into(),
            params,
            tokens_per_s: tokens / phases.total(),
            seconds_per_step: phases.total(),
            phases,
            cpu_s_per_step: cpu,
            tokens_per_cpu_s: cpu.map(|c| tokens / c),
            generator_forward: None,
            loss_first,
            loss_last,
        }
    }
}

/// Everything measured for one model config on one backend.
struct Measure<'a>(&'a Bench<'a>);

impl OnBackend for Measure<'_> {
    type Output = anyhow::Result<Value>;

    fn run<B: AutodiffBackend>(self, dev: B::Device) -> anyhow::Result<Value> {
        let bench = self.0;
        B::seed(&dev, 0);
        let dense_cfg = DenseConfig::new(bench.vocab, bench.body());
        let dense_params = count::dense(&dense_cfg).params.total;
        let model = materialize(dense_cfg.init::<B>(&dev));
        anyhow::ensure!(
            dense_params == model.num_params() as u64,
            "dense count differs from burn's"
        );
        let dense = bench.time::<B, _>("dense", model, dense_params, &dev);

        let lev_cfg = LeviathanConfig::new(bench.body(), bench.generator()?);
        let lev_params = count::leviathan(&lev_cfg).params.total;
        let model = materialize(lev_cfg.init::<B>(&dev));
        let generator = model.generator.clone();
        let mut lev = bench.time::<B, _>("leviathan", model, lev_params, &dev);

        // The generator inside a training step: forward alone, then forward + backward, per
        // distinct id and per token (chunked), on this step's ids.
        let (inputs, _) = bench.batch::<B>(&dev);
        let mut gen_train = serde_json::Map::new();
        for (name, strategy) in [
            ("distinct_ids", GeneratorStrategy::DistinctIds),
            ("per_token", GeneratorStrategy::PerToken),
        ] {
            let g = generator
                .clone()
                .with_strategy(strategy, lev_cfg.generator.chunk_tokens);
            let t0 = Instant::now();
            let e = g.forward(inputs.clone());
            B::sync(&dev).expect("sync");
            let fwd = t0.elapsed().as_secs_f64();
            let _ = e.sum().backward();
            B::sync(&dev).expect("sync");
            let total = t0.elapsed().as_secs_f64();
            if strategy == GeneratorStrategy::DistinctIds {
                lev.generator_forward = Some(fwd);
            }
            gen_train.insert(
                name.into(),
                json!({"forward_s": fwd, "forward_backward_s": total}),
            );
        }

        // Inference only: `gen_tokens` ids through the generator, per token in chunks against per
        // distinct id. Skipped at 0.
        let mut gen_infer = Value::Null;
        if bench.args.gen_tokens > 0 {
            let n = bench.args.gen_tokens;
            let ids = tokens(n, bench.vocab, bench.args.data == "zipf", 7);
            let n_distinct = distinct(&ids);
            let ids =
                Tensor::<B::InnerBackend, 2, Int>::from_data(TensorData::new(ids, [1, n]), &dev);
            let g = generator.valid();
            let mut out = serde_json::Map::new();
            out.insert("tokens".into(), json!(n));
            out.insert("distinct_ids".into(), json!(n_distinct));
            out.insert("chunk_tokens".into(), json!(lev_cfg.generator.chunk_tokens));
            for (name, strategy) in [
                ("distinct_ids_s", GeneratorStrategy::DistinctIds),
                ("per_token_chunked_s", GeneratorStrategy::PerToken),
            ] {
                let g = g
                    .clone()
                    .with_strategy(strategy, lev_cfg.generator.chunk_tokens);
                let t0 = Instant::now();
                let _ = g.forward(ids.clone());
                B::sync(&dev).expect("sync");
                out.insert(name.into(), json!(t0.elapsed().as_secs_f64()));
            }
            gen_infer = Value::Object(out);
        }
        Ok(json!({
            "dense": dense,
            "leviathan": lev,
            "generator_in_step": gen_train,
            "generator_inference": gen_infer,
        }))
    }
}

/// Runs the PyTorch peer; `Ok(None)` when torch is not installed.
fn run_peer(
    args: &BenchTrainArgs,
    vocab: usize,
    d: usize,
    layers: usize,
) -> anyhow::Result<Option<Value>> {
    let has_torch = Command::new("python3")
        .args(["-c", "import torch"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_torch {
        return Ok(None);
    }
    let n = |v: usize| v.to_string();
    let out = Command::new("python3")
        .arg(&args.peer)
        .args([
            "--vocab",
            &n(vocab),
            "--d",
            &n(d),
            "--layers",
            &n(layers),
            "--heads",
            &n(args.heads),
        ])
        .args([
            "--seq",
            &n(args.seq),
            "--batch",
            &n(args.batch),
            "--steps",
            &n(args.steps),
        ])
        .args([
            "--warmup",
            &n(args.warmup),
            "--threads",
            &n(args.peer_threads),
        ])
        .output()
        .with_context(|| format!("running {}", args.peer))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            args.peer,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |key: &str| -> Option<f64> {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|v| v.parse().ok())
    };
    let tps = field("tokens/s=").with_context(|| format!("unexpected peer output: {text}"))?;
    Ok(Some(
        json!({"params": field("params="), "tokens_per_s": tps, "gflop_per_s": field("GFLOP/s=")}),
    ))
}

pub fn run(args: BenchTrainArgs) -> anyhow::Result<()> {
    let device: DeviceKind = args.device.parse()?;
    let vocab = match args.vocab {
        Some(v) => v,
        None => vocab::o200k_padded(vocab::DEFAULT_PAD_MULTIPLE)?,
    };
    if args.batch == 0 || args.seq == 0 || args.steps == 0 {
        bail!("--batch, --seq and --steps must be positive");
    }
    let peer_note = if args.no_peer {
        "peer skipped: --no-peer"
    } else if Command::new("python3")
        .args(["-c", "import torch"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        "peer: eager PyTorch (torch_dense.py)"
    } else {
        "peer skipped: torch not installed"
    };
    let mut results = Vec::new();
    let mut rates = Vec::new();
    for spec in &args.configs {
        let (d, layers) = parse_config(spec)?;
        let ids = tokens(args.batch * (args.seq + 1), vocab, args.data == "zipf", 1);
        let n_distinct = distinct(&ids);
        let bench = Bench {
            args: &args,
            vocab,
            d,
            layers,
            ids,
        };
        bench.body().validate()?;
        if !args.json {
            eprintln!(
                "measuring V={vocab} d={d} L={layers} seq={} batch={} ...",
                args.seq, args.batch
            );
        }
        let mut r = run_on(device, Measure(&bench))??;
        let peer = if args.no_peer {
            None
        } else {
            run_peer(&args, vocab, d, layers)?
        };
        let dense_tps = r["dense"]["tokens_per_s"].as_f64().unwrap_or(f64::NAN);
        let lev_tps = r["leviathan"]["tokens_per_s"].as_f64().unwrap_or(f64::NAN);
        let g = bench.generator()?;
        r["config"] = json!({"generator": {"digits": g.digits, "d_seed": g.d_seed, "heads": g.heads,
            "knots": g.knots, "modes": g.modes, "chunk_tokens": g.chunk_tokens}, "vocab": vocab, "d_model": d, "n_layers": layers, "n_heads": args.heads,
            "d_ff": peer_d_ff(d), "seq": args.seq, "batch": args.batch, "steps": args.steps,
            "warmup": args.warmup, "data": args.data, "distinct_ids_per_step": n_distinct, "device": device.to_string()});
        r["leviathan_step_overhead"] = json!(dense_tps / lev_tps - 1.0);
        if let Some(p) = &peer {
            r["dense_vs_peer"] = json!(dense_tps / p["tokens_per_s"].as_f64().unwrap_or(f64::NAN));
        }
        r["peer"] = peer.unwrap_or(Value::Null);
        rates.extend(measured_rates(&bench, &r, device)?);
        if !args.json {
            print!("{}", human(&r));
        }
        results.push(r);
    }
    // Kept for the dry run's cost estimates (src/graph/cost.rs).
    let kept = crate::graph::cost::record_bench(std::path::Path::new("."), &rates);
    if args.json {
        println!("{}", json!({"peer_note": peer_note, "results": results}));
    } else {
        println!("{peer_note}");
        match kept {
            Ok(path) => println!(
                "rates kept for `ladder run --dry-run` in {}",
                path.display()
            ),
            Err(e) => println!("rates not kept: {e}"),
        }
    }
    Ok(())
}

/// The training rates of one config, as the dry run's cost estimate reads them.
fn measured_rates(
    bench: &Bench,
    r: &Value,
    device: DeviceKind,
) -> anyhow::Result<Vec<crate::graph::cost::Measurement>> {
    let a = bench.args;
    let dense = count::dense(&DenseConfig::new(bench.vocab, bench.body()));
    let lev = count::leviathan(&LeviathanConfig::new(bench.body(), bench.generator()?));
    let source = format!(
        "ladder bench train V={} d={} L={} seq={} batch={} ({} threads)",
        bench.vocab,
        bench.d,
        bench.layers,
        a.seq,
        a.batch,
        rayon::current_num_threads()
    );
    Ok([("dense", dense), ("leviathan", lev)]
        .into_iter()
        .filter_map(|(arch, c)| {
            Some(crate::graph::cost::Measurement {
                source: source.clone(),
                host: crate::graph::status::hostname(),
                device: device.to_string(),
                arch: arch.into(),
                flops_per_token: 3.0 * c.flops_per_token.total as f64,
                tokens_per_s: r[arch]["tokens_per_s"].as_f64().filter(|t| *t > 0.0)?,
            })
        })
        .collect())
}

fn human(r: &Value) -> String {
    let c = &r["config"];
    let mut s = format!(
        "\nV={} d={} L={} H={} F={} seq={} batch={} ({} distinct ids/step, {} data), {} timed steps\n",
        c["vocab"],
        c["d_model"],
        c["n_layers"],
        c["n_heads"],
        c["d_ff"],
        c["seq"],
        c["batch"],
        c["distinct_ids_per_step"],
        c["data"].as_str().unwrap_or(""),
        c["steps"]
    );
    let g = &c["generator"];
    s.push_str(&format!(
        "generator: k={} d_seed={} h={} kappa={} r={}\n",
        g["digits"], g["d_seed"], g["heads"], g["knots"], g["modes"]
    ));
    s.push_str(&format!(
        "{:<10} {:>13} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11}\n",
        "model", "params", "tokens/s", "s/step", "fwd", "bwd", "update", "gen fwd", "tokens/cpu-s"
    ));
    for arch in ["dense", "leviathan"] {
        let m = &r[arch];
        let p = &m["phases"];
        let gen_fwd = m["generator_forward"]
            .as_f64()
            .map_or(String::from("-"), |v| format!("{v:.3}"));
        s.push_str(&format!(
            "{:<10} {:>13} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9} {:>11.0}\n",
            arch,
            m["params"],
            m["tokens_per_s"].as_f64().unwrap_or(f64::NAN),
            m["seconds_per_step"].as_f64().unwrap_or(f64::NAN),
            p["forward"].as_f64().unwrap_or(f64::NAN),
            p["backward"].as_f64().unwrap_or(f64::NAN),
            p["update"].as_f64().unwrap_or(f64::NAN),
            gen_fwd,
            m["tokens_per_cpu_s"].as_f64().unwrap_or(f64::NAN),
        ));
    }
    if !r["peer"].is_null() {
        s.push_str(&format!(
            "{:<10} {:>13} {:>10.0}\n",
            "pytorch",
            r["peer"]["params"],
            r["peer"]["tokens_per_s"].as_f64().unwrap_or(f64::NAN)
        ));
        s.push_str(&format!(
            "dense / eager PyTorch: {:.2}x\n",
            r["dense_vs_peer"].as_f64().unwrap_or(f64::NAN)
        ));
    }
    s.push_str(&format!(
        "Leviathan step overhead over dense: {:+.1}%\n",
        100.0 * r["leviathan_step_overhead"].as_f64().unwrap_or(f64::NAN)
    ));
    for (name, g) in r["generator_in_step"].as_object().into_iter().flatten() {
        s.push_str(&format!(
            "generator in step, {name}: forward {:.3} s, forward+backward {:.3} s\n",
            g["forward_s"].as_f64().unwrap_or(f64::NAN),
            g["forward_backward_s"].as_f64().unwrap_or(f64::NAN)
        ));
    }
    let gi = &r["generator_inference"];
    if !gi.is_null() {
        s.push_str(&format!(
            "generator inference, {} tokens ({} distinct): per distinct id {:.3} s, per token in chunks of {} {:.3} s\n",
            gi["tokens"], gi["distinct_ids"], gi["distinct_ids_s"].as_f64().unwrap_or(f64::NAN), gi["chunk_tokens"],
            gi["per_token_chunked_s"].as_f64().unwrap_or(f64::NAN)
        ));
    }
    s
}
