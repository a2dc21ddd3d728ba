//! `ladder bench train`: training throughput (forward + backward + AdamW step) of the dense
//! baseline and of Leviathan at the same body, beside eager PyTorch (bench/torch_dense.py,
//! carried in the binary) on the same dense model and the very same token ids. Rounds
//! interleave ladder and the peer; medians and ranges are reported, and ratios are taken
//! within a round. Also the LEV generator's own cost inside a step.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use burn::module::{AutodiffModule, Module};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use serde_json::{Value, json};

use super::peer::{self, Spread};
use crate::model::backend::{OnBackend, run_on};
use crate::model::step::{StepSettings, StepTiming, timed_train_step};
use crate::model::{
    BodyConfig, DenseConfig, DeviceKind, GeneratorConfig, GeneratorStrategy, LanguageModel,
    LeviathanConfig, TokenBatch, count, materialize,
};

#[derive(Debug, clap::Args)]
pub struct BenchTrainArgs {
    /// Vocabulary size.
    #[arg(long, default_value_t = 8192)]
    pub vocab: usize,
    /// Model configs as WIDTHxLAYERS or WIDTHxLAYERSxHEADS, comma separated.
    #[arg(long, default_value = "128x4", value_delimiter = ',')]
    pub configs: Vec<String>,
    /// Sequence length.
    #[arg(long, default_value_t = 128)]
    pub seq: usize,
    /// Sequences per step.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Attention heads (the peer's default is 4).
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    /// Timed steps per model and run.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Untimed warm-up steps per model and run.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Rounds, each timing ladder's models and then the peer (interleaved, so that a change in
    /// the machine's load falls on both sides); medians and ranges are reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Models to time, comma separated: dense, leviathan.
    #[arg(long, default_value = "dense,leviathan", value_delimiter = ',', value_parser = ["dense", "leviathan"])]
    pub arches: Vec<String>,
    #[command(flatten)]
    pub generator: super::generator_args::GeneratorArgs,
    /// Token ids per step: `zipf` (exponent 1, like text: repeated ids) or `uniform`. The peer
    /// trains on the very same ids.
    #[arg(long, default_value = "zipf", value_parser = ["zipf", "uniform"])]
    pub data: String,
    /// Tokens for the inference-only generator timing (per token in chunks vs per distinct id);
    /// 0 skips it.
    #[arg(long, default_value_t = 0)]
    pub gen_tokens: usize,
    /// Device: cpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// CPU backend: flex (what `ladder train` uses), or ndarray (with OpenBLAS) / candle in a
    /// build with the cargo feature of that name.
    #[arg(long, default_value = "flex", value_parser = ["flex", "ndarray", "candle"])]
    pub backend: String,
    /// Python interpreter of the PyTorch peer [default: $LADDER_PYTHON, else python3].
    #[arg(long)]
    pub python: Option<String>,
    /// The PyTorch peer script [default: the copy of bench/torch_dense.py in the binary].
    #[arg(long)]
    pub peer: Option<std::path::PathBuf>,
    /// Threads for the peer (torch.set_num_threads) [default: the cores rayon uses].
    #[arg(long)]
    pub peer_threads: Option<usize>,
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

/// `WIDTHxLAYERS` or `WIDTHxLAYERSxHEADS` (heads default to `--heads`).
fn parse_config(s: &str, heads: usize) -> anyhow::Result<(usize, usize, usize)> {
    let parts: Vec<&str> = s.trim().split('x').collect();
    let num = |i: usize, what: &str| -> anyhow::Result<usize> {
        parts[i]
            .parse()
            .with_context(|| format!("config {s:?}: {what} {:?} is not a number", parts[i]))
    };
    match parts.len() {
        2 => Ok((num(0, "width")?, num(1, "layers")?, heads)),
        3 => Ok((num(0, "width")?, num(1, "layers")?, num(2, "heads")?)),
        _ => bail!("config {s:?} is not WIDTHxLAYERS or WIDTHxLAYERSxHEADS"),
    }
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
    loss_first: f64,
    loss_last: f64,
}

struct Bench<'a> {
    args: &'a BenchTrainArgs,
    vocab: usize,
    d: usize,
    layers: usize,
    heads: usize,
    ids: Vec<i64>,
}

impl Bench<'_> {
    fn body(&self) -> BodyConfig {
        let mut b = BodyConfig::new(self.d, self.layers, self.heads).with_seq_len(self.args.seq);
        b.d_ff = Some(peer_d_ff(self.d));
        b
    }

    fn generator(&self) -> anyhow::Result<GeneratorConfig> {
        let g = self.args.generator.config(self.vocab, self.d, "cpu")?;
        g.validate()?;
        Ok(g)
    }

    fn wants(&self, arch: &str) -> bool {
        self.args.arches.iter().any(|a| a == arch)
    }

    /// Inputs and next-token targets of one step.
    fn batch<B: Backend>(
        &self,
        dev: &B::Device,
    ) -> anyhow::Result<(TokenBatch<B>, Tensor<B, 2, Int>)> {
        let (b, t) = (self.args.batch, self.args.seq);
        let mut inputs = Vec::with_capacity(b * t);
        let mut targets = Vec::with_capacity(b * t);
        for row in self.ids.chunks(t + 1) {
            inputs.extend_from_slice(&row[..t]);
            targets.extend_from_slice(&row[1..]);
        }
        Ok((
            TokenBatch::new(inputs, [b, t], self.vocab, dev)?,
            Tensor::from_data(TensorData::new(targets, [b, t]), dev),
        ))
    }

    fn time<B: AutodiffBackend, M: AutodiffModule<B> + LanguageModel<B>>(
        &self,
        arch: &str,
        mut model: M,
        params: u64,
        dev: &B::Device,
    ) -> anyhow::Result<Run> {
        let settings = StepSettings::default();
        let mut optim = settings.adamw().init::<B, M>();
        let (inputs, targets) = self.batch::<B>(dev)?;
        let mut loss_first = f64::NAN;
        let mut loss_last = f64::NAN;
        for _ in 0..self.args.warmup {
            let (m, loss, _) =
                timed_train_step(model, &mut optim, &settings, &inputs, targets.clone())?;
            model = m;
            loss_first = loss;
        }
        let mut sum = StepTiming::default();
        let cpu0 = process_cpu_seconds();
        for _ in 0..self.args.steps {
            let (m, loss, t) =
                timed_train_step(model, &mut optim, &settings, &inputs, targets.clone())?;
            model = m;
            if loss_first.is_nan() {
                loss_first = loss;
            }
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
        Ok(Run {
            arch: arch.into(),
            params,
            tokens_per_s: tokens / phases.total(),
            seconds_per_step: phases.total(),
            phases,
            cpu_s_per_step: cpu,
            tokens_per_cpu_s: cpu.map(|c| tokens / c),
            loss_first,
            loss_last,
        })
    }
}

/// One round of ladder's models on one backend: each model's throughput, and on the first
/// round the generator's own cost.
struct Measure<'a> {
    bench: &'a Bench<'a>,
    first: bool,
}

impl OnBackend for Measure<'_> {
    type Output = anyhow::Result<Value>;

    fn run<B: AutodiffBackend>(self, dev: B::Device) -> anyhow::Result<Value> {
        let bench = self.bench;
        let mut out = json!({});
        if bench.wants("dense") {
            B::seed(&dev, 0);
            let dense_cfg = DenseConfig::new(bench.vocab, bench.body());
            let dense_params = count::dense(&dense_cfg).params.total;
            let model = materialize(dense_cfg.init::<B>(&dev));
            anyhow::ensure!(
                dense_params == model.num_params() as u64,
                "dense count differs from burn's"
            );
            out["dense"] = json!(bench.time::<B, _>("dense", model, dense_params, &dev)?);
        }
        if !bench.wants("leviathan") {
            return Ok(out);
        }
        B::seed(&dev, 0);
        let lev_cfg = LeviathanConfig::new(bench.body(), bench.generator()?);
        let lev_params = count::leviathan(&lev_cfg).params.total;
        let model = materialize(lev_cfg.init::<B>(&dev));
        let generator = model.generator.clone();
        out["leviathan"] = json!(bench.time::<B, _>("leviathan", model, lev_params, &dev)?);
        if !self.first {
            return Ok(out);
        }

        // The generator inside a training step: forward alone, then forward + backward, per
        // distinct id and per token (chunked), on this step's ids.
        let (inputs, _) = bench.batch::<B>(&dev)?;
        let host = inputs.host();
        let mut gen_train = serde_json::Map::new();
        for (name, strategy) in [
            ("distinct_ids", GeneratorStrategy::DistinctIds),
            ("per_token", GeneratorStrategy::PerToken),
        ] {
            let g = generator
                .clone()
                .with_strategy(strategy, lev_cfg.generator.chunk_tokens);
            let t0 = Instant::now();
            let e = g.forward_host(host, [bench.args.batch, bench.args.seq], &dev)?;
            B::sync(&dev).expect("sync");
            let fwd = t0.elapsed().as_secs_f64();
            let _ = e.sum().backward();
            B::sync(&dev).expect("sync");
            let total = t0.elapsed().as_secs_f64();
            gen_train.insert(
                name.into(),
                json!({"forward_s": fwd, "forward_backward_s": total}),
            );
        }
        out["generator_in_step"] = Value::Object(gen_train);

        // Inference only: `gen_tokens` ids through the generator, per token in chunks against per
        // distinct id. Skipped at 0.
        if bench.args.gen_tokens > 0 {
            let n = bench.args.gen_tokens;
            let ids = tokens(n, bench.vocab, bench.args.data == "zipf", 7);
            let n_distinct = distinct(&ids);
            let g = generator.valid();
            let mut gi = serde_json::Map::new();
            gi.insert("tokens".into(), json!(n));
            gi.insert("distinct_ids".into(), json!(n_distinct));
            gi.insert("chunk_tokens".into(), json!(lev_cfg.generator.chunk_tokens));
            for (name, strategy) in [
                ("distinct_ids_s", GeneratorStrategy::DistinctIds),
                ("per_token_chunked_s", GeneratorStrategy::PerToken),
            ] {
                let g = g
                    .clone()
                    .with_strategy(strategy, lev_cfg.generator.chunk_tokens);
                let t0 = Instant::now();
                let _ = g.forward_host(&ids, [1, n], &dev)?;
                B::sync(&dev).expect("sync");
                gi.insert(name.into(), json!(t0.elapsed().as_secs_f64()));
            }
            out["generator_inference"] = Value::Object(gi);
        }
        Ok(out)
    }
}

/// One round on a CPU backend other than flex (cargo features `ndarray`, `candle`).
#[cfg_attr(
    not(any(feature = "ndarray", feature = "candle")),
    allow(unused_variables)
)]
fn other_cpu_backend(name: &str, measure: Measure<'_>) -> anyhow::Result<Value> {
    crate::model::backend::tune_cpu_allocator();
    match name {
        #[cfg(feature = "ndarray")]
        "ndarray" => measure.run::<burn::backend::Autodiff<burn::backend::NdArray>>(
            burn::backend::ndarray::NdArrayDevice::Cpu,
        ),
        // burn 0.21 marks its candle backend deprecated; it is measured here, not used.
        #[cfg(feature = "candle")]
        #[allow(deprecated)]
        "candle" => measure.run::<burn::backend::Autodiff<burn::backend::Candle>>(
            burn::backend::candle::CandleDevice::Cpu,
        ),
        other => bail!("--backend {other} needs a ladder built with `--features {other}`"),
    }
}

/// Runs the PyTorch peer once on the ids in `ids_file`.
fn run_peer(
    args: &BenchTrainArgs,
    python: &str,
    script: &Path,
    ids_file: &Path,
    shape: (usize, usize, usize, usize),
    threads: usize,
) -> anyhow::Result<Value> {
    let (vocab, d, layers, heads) = shape;
    let n = |v: usize| v.to_string();
    let out = Command::new(python)
        .arg(script)
        .args(["--vocab", &n(vocab), "--d", &n(d), "--layers", &n(layers)])
        .args(["--heads", &n(heads), "--seq", &n(args.seq)])
        .args(["--batch", &n(args.batch), "--steps", &n(args.steps)])
        .args(["--warmup", &n(args.warmup), "--threads", &n(threads)])
        .arg("--ids")
        .arg(ids_file)
        .output()
        .with_context(|| format!("running {python} {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "the PyTorch peer failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |key: &str| -> Option<f64> {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|v| v.parse().ok())
    };
    let tps = field("tokens/s=").with_context(|| format!("unexpected peer output: {text}"))?;
    Ok(
        json!({"params": field("params=").map(|p| p as u64), "tokens_per_s": tps,
        "gflop_per_s": field("GFLOP/s="), "tokens_per_cpu_s": field("tokens/cpu-s=")}),
    )
}

fn tps(v: &Value) -> f64 {
    v["tokens_per_s"].as_f64().unwrap_or(f64::NAN)
}

pub fn run(args: BenchTrainArgs) -> anyhow::Result<()> {
    let device: DeviceKind = args.device.parse()?;
    let vocab = args.vocab;
    if args.batch == 0 || args.seq == 0 || args.steps == 0 || args.runs == 0 || vocab == 0 {
        bail!("--vocab, --batch, --seq, --steps and --runs must be positive");
    }
    let missing = (args.backend == "ndarray" && !cfg!(feature = "ndarray"))
        || (args.backend == "candle" && !cfg!(feature = "candle"));
    if missing {
        bail!(
            "--backend {0} needs a ladder built with `--features {0}`",
            args.backend
        );
    }
    if args.backend != "flex" && device != DeviceKind::Cpu {
        bail!(
            "--backend {} is a CPU backend: use it with --device cpu",
            args.backend
        );
    }
    let python = peer::python(args.python.as_deref());
    let peer_ready = if args.no_peer {
        Err("--no-peer".to_string())
    } else {
        peer::check_modules(&python, "torch")
    };
    let peer_note = match &peer_ready {
        Ok(()) => format!("peer: eager PyTorch ({python}), same model and ids, interleaved"),
        Err(why) => format!("peer skipped: {why}"),
    };
    let script = match peer_ready {
        Ok(()) => Some(peer::Script::new(
            args.peer.as_deref(),
            peer::TORCH_DENSE,
            "torch_dense.py",
        )?),
        Err(_) => None,
    };
    let peer_threads = args.peer_threads.unwrap_or_else(rayon::current_num_threads);
    let mut results = Vec::new();
    let mut rates = Vec::new();
    for spec in &args.configs {
        let (d, layers, heads) = parse_config(spec, args.heads)?;
        let ids = tokens(args.batch * (args.seq + 1), vocab, args.data == "zipf", 1);
        let n_distinct = distinct(&ids);
        let bench = Bench {
            args: &args,
            vocab,
            d,
            layers,
            heads,
            ids,
        };
        bench.body().validate()?;
        let ids_file = std::env::temp_dir().join(format!("ladder-{}-ids.txt", std::process::id()));
        let text: Vec<String> = bench.ids.iter().map(i64::to_string).collect();
        std::fs::write(&ids_file, text.join(" "))
            .with_context(|| format!("writing {}", ids_file.display()))?;
        if !args.json {
            eprintln!(
                "measuring V={vocab} d={d} L={layers} seq={} batch={}, {} runs ...",
                args.seq, args.batch, args.runs
            );
        }
        let mut rounds = Vec::new();
        let mut extra = json!({});
        for round in 0..args.runs {
            let measure = Measure {
                bench: &bench,
                first: round == 0,
            };
            let mut r = match args.backend.as_str() {
                "flex" => run_on(device, measure)??,
                other => other_cpu_backend(other, measure)?,
            };
            for key in ["generator_in_step", "generator_inference"] {
                if let Some(v) = r.as_object_mut().and_then(|o| o.remove(key)) {
                    extra[key] = v;
                }
            }
            if let Some(s) = &script {
                let p = run_peer(
                    &args,
                    &python,
                    s.path(),
                    &ids_file,
                    (vocab, d, layers, heads),
                    peer_threads,
                );
                r["peer"] = match p {
                    Ok(v) => v,
                    Err(e) => {
                        let _ = std::fs::remove_file(&ids_file);
                        return Err(e);
                    }
                };
            }
            if !args.json {
                eprintln!(
                    "  run {}: dense {:.0} tok/s, leviathan {:.0} tok/s, pytorch {:.0} tok/s",
                    round + 1,
                    tps(&r["dense"]),
                    tps(&r["leviathan"]),
                    tps(&r["peer"])
                );
            }
            rounds.push(r);
        }
        let _ = std::fs::remove_file(&ids_file);
        let col = |f: &dyn Fn(&Value) -> f64| -> Option<Spread> {
            Spread::of(&rounds.iter().map(f).collect::<Vec<_>>())
        };
        let g = bench.generator()?;
        let summary = json!({
            "dense_tokens_per_s": col(&|r| tps(&r["dense"])),
            "leviathan_tokens_per_s": col(&|r| tps(&r["leviathan"])),
            "peer_tokens_per_s": col(&|r| tps(&r["peer"])),
            // Ratios are taken within a round, then summarised.
            "dense_vs_peer": col(&|r| tps(&r["dense"]) / tps(&r["peer"])),
            // Per CPU-second (all threads): less sensitive to other load on the machine.
            "dense_vs_peer_per_cpu_s": col(&|r| r["dense"]["tokens_per_cpu_s"].as_f64().unwrap_or(f64::NAN)
                / r["peer"]["tokens_per_cpu_s"].as_f64().unwrap_or(f64::NAN)),
            "leviathan_step_overhead": col(&|r| tps(&r["dense"]) / tps(&r["leviathan"]) - 1.0),
        });
        let mut out = json!({
            "config": {"generator": {"digits": g.digits, "d_seed": g.d_seed, "heads": g.heads,
                "knots": g.knots, "modes": g.modes, "chunk_tokens": g.chunk_tokens},
                "vocab": vocab, "d_model": d, "n_layers": layers, "n_heads": heads,
                "d_ff": peer_d_ff(d), "seq": args.seq, "batch": args.batch, "steps": args.steps,
                "warmup": args.warmup, "runs": args.runs, "data": args.data, "backend": args.backend,
                "distinct_ids_per_step": n_distinct, "device": device.to_string(),
                "threads": rayon::current_num_threads(), "peer_threads": peer_threads},
            "summary": summary,
            "rounds": rounds,
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            out[k] = v.clone();
        }
        // The median rates, kept for the dry run's cost estimates.
        let medians = json!({
            "dense": {"tokens_per_s": col(&|r| tps(&r["dense"])).map(|s| s.median)},
            "leviathan": {"tokens_per_s": col(&|r| tps(&r["leviathan"])).map(|s| s.median)},
        });
        rates.extend(measured_rates(&bench, &medians, device)?);
        if !args.json {
            print!("{}", human(&out));
        }
        results.push(out);
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
        "\nV={} d={} L={} H={} F={} seq={} batch={} ({} distinct ids/step, {} data), {} runs of {} timed steps, {} threads\n",
        c["vocab"],
        c["d_model"],
        c["n_layers"],
        c["n_heads"],
        c["d_ff"],
        c["seq"],
        c["batch"],
        c["distinct_ids_per_step"],
        c["data"].as_str().unwrap_or(""),
        c["runs"],
        c["steps"],
        c["threads"],
    );
    let g = &c["generator"];
    s.push_str(&format!(
        "generator: k={} d_seed={} h={} kappa={} r={}\n",
        g["digits"], g["d_seed"], g["heads"], g["knots"], g["modes"]
    ));
    s.push_str(&format!(
        "{:<10} {:>11} {:>24} {:>8} {:>8} {:>8} {:>12}\n",
        "model", "params", "tokens/s median (range)", "fwd s", "bwd s", "update s", "tokens/cpu-s"
    ));
    let rounds = r["rounds"].as_array().cloned().unwrap_or_default();
    let mean = |arch: &str, f: &dyn Fn(&Value) -> Option<f64>| -> f64 {
        let v: Vec<f64> = rounds.iter().filter_map(|x| f(&x[arch])).collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let spread = |key: &str, digits: usize| -> String {
        serde_json::from_value::<SpreadIn>(r["summary"][key].clone())
            .map(|x| format!("{:.d$} ({:.d$}-{:.d$})", x.median, x.min, x.max, d = digits))
            .unwrap_or_else(|_| "-".into())
    };
    for arch in ["dense", "leviathan"] {
        let Some(first) = rounds.first().filter(|x| !x[arch].is_null()) else {
            continue;
        };
        s.push_str(&format!(
            "{:<10} {:>11} {:>24} {:>8.3} {:>8.3} {:>8.3} {:>12.0}\n",
            arch,
            first[arch]["params"],
            spread(&format!("{arch}_tokens_per_s"), 0),
            mean(arch, &|m| m["phases"]["forward"].as_f64()),
            mean(arch, &|m| m["phases"]["backward"].as_f64()),
            mean(arch, &|m| m["phases"]["update"].as_f64()),
            mean(arch, &|m| m["tokens_per_cpu_s"].as_f64()),
        ));
    }
    if rounds.first().is_some_and(|x| !x["peer"].is_null()) {
        s.push_str(&format!(
            "{:<10} {:>11} {:>24} {:>8} {:>8} {:>8} {:>12.0}\n",
            "pytorch",
            rounds[0]["peer"]["params"],
            spread("peer_tokens_per_s", 0),
            "",
            "",
            "",
            mean("peer", &|m| m["tokens_per_cpu_s"].as_f64()),
        ));
        s.push_str(&format!(
            "dense / eager PyTorch, per run: {}x (per CPU-second: {}x)\n",
            spread("dense_vs_peer", 2),
            spread("dense_vs_peer_per_cpu_s", 2)
        ));
    }
    if !r["summary"]["leviathan_step_overhead"].is_null() {
        s.push_str(&format!(
            "Leviathan step overhead over dense, per run: {}\n",
            spread("leviathan_step_overhead", 3)
        ));
    }
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

/// A [`Spread`] read back from the JSON summary.
#[derive(serde::Deserialize)]
struct SpreadIn {
    median: f64,
    min: f64,
    max: f64,
}
