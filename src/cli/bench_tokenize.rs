//! `ladder bench tokenize`: tokenisation beside Python tiktoken (peers/tiktoken_encode.py,
//! `encode_ordinary_batch`) on the same files with the same thread count, interleaved, with
//! two ratios: encoding alone (vocabularies loaded, documents in memory) and end to end
//! (process start to ids written: `ladder corpus prepare` against the peer's whole run).
//! Both encode the same documents in the same order; the ids are compared by sha256.
//!
//! Without `--data`, the files are `.jsonl.zst` shards (one document per line, as the Pile
//! ships) built once from a corpus, `--copies` times over to reach a realistic size.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use base64::Engine;
use clap::Args;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::data::documents::{self, Payload, ReadOptions};
use crate::data::prepare::encode_document;
use crate::data::{Corpus, Tokenizer, TokenizerName};

#[derive(Debug, Args)]
pub struct BenchTokenizeArgs {
    /// Files to tokenise: a folder, file or glob of .txt, .jsonl, .jsonl.gz, .jsonl.zst
    /// [default: .jsonl.zst shards built from --from].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Corpus the shards are built from.
    #[arg(long, default_value = "corpus/demo")]
    pub from: PathBuf,
    /// Times the corpus is repeated in the shards (the demo corpus is 44 MB: 3 copies pass
    /// 100 MB).
    #[arg(long, default_value_t = 3)]
    pub copies: usize,
    /// Folder for the shards, the stores and the peer's vocabulary file.
    #[arg(long, default_value = "target/bench-tokenize")]
    pub work: PathBuf,
    /// Threads for both sides [default: rayon's count].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Python with tiktoken (and zstandard) installed.
    #[arg(long, default_value = ".venv-bench/bin/python")]
    pub python: PathBuf,
    #[arg(long, default_value = "peers/tiktoken_encode.py")]
    pub peer: PathBuf,
    /// o200k_base or cl100k_base (the vocabularies tiktoken ships in its own file format).
    #[arg(long, default_value = "o200k_base")]
    pub tokenizer: String,
    /// Repetitions of each measurement (medians are reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn run(args: BenchTokenizeArgs) -> anyhow::Result<()> {
    let name: TokenizerName = args.tokenizer.parse()?;
    if name == TokenizerName::R50kBase {
        bail!(
            "r50k_base ships in another file format than tiktoken's; bench o200k_base or cl100k_base"
        );
    }
    let threads = args
        .threads
        .unwrap_or_else(rayon::current_num_threads)
        .max(1);
    std::fs::create_dir_all(&args.work)?;
    let data = match &args.data {
        Some(d) => d.clone(),
        None => build_shards(&args.from, args.copies, &args.work.join("shards"))?,
    };
    let corpus = Corpus::open(&data)?;
    let files: Vec<PathBuf> = corpus.files.iter().map(|f| f.path.clone()).collect();
    let file_bytes: u64 = corpus.files.iter().map(|f| f.size).sum();

    let tokenizer = Tokenizer::new(name);
    let docs = read_documents(&corpus)?;
    let text_bytes: usize = docs.iter().map(String::len).sum();
    println!(
        "data: {} files, {:.1} MB on disk, {} documents, {:.1} MB of text; {threads} threads",
        files.len(),
        file_bytes as f64 / 1e6,
        docs.len(),
        text_bytes as f64 / 1e6
    );
    let vocab_dir = args.work.join("vocab");
    write_tiktoken_file(&tokenizer, &vocab_dir.join(format!("{name}.tiktoken")))?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let exe = std::env::current_exe()?;
    let peer_ready = args.python.exists() && args.peer.exists();
    if !peer_ready {
        println!(
            "peer skipped: {} or {} not found (set-up: README, Benchmarks)",
            args.python.display(),
            args.peer.display()
        );
    }

    let (mut ours_enc, mut ours_e2e, mut peer_enc, mut peer_e2e, mut peer_load) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut our_sha = String::new();
    let mut peer_sha = String::new();
    for rep in 0..args.reps.max(1) {
        // Encoding alone: documents in memory, vocabulary loaded.
        let t0 = Instant::now();
        let ids: Vec<Vec<u32>> = pool.install(|| {
            docs.par_iter()
                .map(|d| {
                    let mut v = Vec::with_capacity(d.len() / 3);
                    encode_document(&tokenizer, d, &mut v);
                    v
                })
                .collect()
        });
        ours_enc.push(t0.elapsed().as_secs_f64());
        if rep == 0 {
            let mut h = Sha256::new();
            for doc in &ids {
                for id in doc.iter().chain([&name.end_of_text()]) {
                    h.update(id.to_le_bytes());
                }
            }
            our_sha = hex::encode(&h.finalize());
        }
        drop(ids);

        // End to end: a fresh `ladder corpus prepare`.
        let store = args.work.join("store");
        let t0 = Instant::now();
        let out = Command::new(&exe)
            .args(["corpus", "prepare"])
            .arg(&data)
            .arg("--out")
            .arg(&store)
            .args(["--tokenizer", name.as_str(), "--json"])
            .env("RAYON_NUM_THREADS", threads.to_string())
            .output()?;
        ours_e2e.push(t0.elapsed().as_secs_f64());
        if !out.status.success() {
            bail!(
                "ladder corpus prepare failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }

        if peer_ready {
            let t0 = Instant::now();
            let out = Command::new(&args.python)
                .arg(&args.peer)
                .args(&files)
                .args(["--encoding", name.as_str()])
                .args(["--threads", &threads.to_string()])
                .arg("--out")
                .arg(args.work.join("peer.u32"))
                .arg("--vocab-dir")
                .arg(&vocab_dir)
                .env("TIKTOKEN_CACHE_DIR", args.work.join("tiktoken-cache"))
                .output()?;
            peer_e2e.push(t0.elapsed().as_secs_f64());
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                bail!(
                    "the tiktoken peer failed: {}",
                    err.lines().last().unwrap_or("")
                );
            }
            let v: serde_json::Value =
                serde_json::from_slice(&out.stdout).context("the tiktoken peer printed no JSON")?;
            peer_enc.push(v["encode_s"].as_f64().unwrap_or(f64::NAN));
            peer_load.push(v["load_s"].as_f64().unwrap_or(f64::NAN));
            peer_sha = v["sha256"].as_str().unwrap_or("").to_string();
        }
    }
    let mb = text_bytes as f64 / 1e6;
    let enc = median(ours_enc);
    let e2e = median(ours_e2e);
    println!(
        "ladder  encoding alone: {enc:.3} s ({:.1} MB/s); end to end (corpus prepare): {e2e:.3} s",
        mb / enc
    );
    if peer_ready {
        let penc = median(peer_enc);
        let pe2e = median(peer_e2e);
        println!(
            "tiktoken encoding alone: {penc:.3} s ({:.1} MB/s); end to end: {pe2e:.3} s (of which import and vocabulary {:.3} s)",
            mb / penc,
            median(peer_load)
        );
        println!(
            "ids {}",
            if peer_sha == our_sha {
                "identical"
            } else {
                "DIFFER"
            }
        );
        println!(
            "ratio   tiktoken / ladder: encoding alone {:.2}x, end to end {:.2}x (medians of {})",
            penc / enc,
            pe2e / e2e,
            args.reps.max(1)
        );
        if peer_sha != our_sha {
            bail!("ladder's ids differ from tiktoken's ({our_sha} vs {peer_sha})");
        }
    }
    Ok(())
}

/// Every document of the corpus, in order.
fn read_documents(corpus: &Corpus) -> anyhow::Result<Vec<String>> {
    let opts = ReadOptions {
        text_field: "text".into(),
        skip_bad: false,
        batch_bytes: 1 << 20,
    };
    let mut docs = Vec::new();
    for file in &corpus.files {
        let mut batches = Vec::new();
        documents::read_file(file, &opts, &mut |b| {
            batches.push(b);
            true
        })?;
        for b in batches {
            match b.payload {
                Payload::Texts(t) => docs.extend(t.into_iter().map(|(_, t)| t)),
                Payload::JsonLines { first_line, lines } => {
                    let (t, _) =
                        documents::parse_json_lines(&file.path, first_line, &lines, "text", false)?;
                    docs.extend(t.into_iter().map(|(_, t)| t.into_owned()));
                }
            }
        }
    }
    Ok(docs)
}

/// `.jsonl.zst` shards of `from`'s documents, `copies` times over, built once.
fn build_shards(from: &Path, copies: usize, dir: &Path) -> anyhow::Result<PathBuf> {
    let done = dir.join(format!("done-{copies}"));
    let glob = dir.join("*.jsonl.zst");
    if done.exists() {
        return Ok(glob);
    }
    let corpus = Corpus::open(from).with_context(|| {
        format!(
            "building shards from {} (run `ladder corpus fetch` first, or pass --data)",
            from.display()
        )
    })?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let docs = read_documents(&corpus)?;
    for copy in 0..copies.max(1) {
        // About 16 MB of text per shard.
        let mut shard = 0;
        let mut it = docs.iter().peekable();
        while it.peek().is_some() {
            let path = dir.join(format!("c{copy}-{shard:03}.jsonl.zst"));
            let mut enc = zstd::stream::write::Encoder::new(std::fs::File::create(&path)?, 3)?;
            let mut bytes = 0;
            while bytes < 16_000_000
                && let Some(d) = it.next()
            {
                serde_json::to_writer(&mut enc, &serde_json::json!({ "text": d }))?;
                enc.write_all(b"\n")?;
                bytes += d.len();
            }
            enc.finish()?;
            shard += 1;
        }
    }
    std::fs::write(&done, b"")?;
    Ok(glob)
}

/// The vocabulary in tiktoken's file format (base64 token, space, rank), as OpenAI
/// publishes it: the peer's tiktoken checks the result against its pinned sha256.
fn write_tiktoken_file(t: &Tokenizer, path: &Path) -> anyhow::Result<()> {
    let mut text = String::new();
    for id in 0..t.name().n_vocab() {
        if let Some(bytes) = t.bytes_of(id) {
            text.push_str(&base64::engine::general_purpose::STANDARD.encode(bytes));
            text.push(' ');
            text.push_str(&id.to_string());
            text.push('\n');
        }
    }
    crate::io::write_atomic(path, text.as_bytes())?;
    Ok(())
}
