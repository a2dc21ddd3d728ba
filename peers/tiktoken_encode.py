"""Python tiktoken on the same files as `ladder bench tokenize`, with the same thread count.

Reads every document of the given files (.txt split on form-feed lines, .jsonl, .jsonl.gz,
.jsonl.zst with a `text` field), encodes them with `encode_ordinary_batch`, appends
end-of-text after each and writes the ids as little-endian u32 to --out. Prints one JSON
object: seconds to import and load the vocabulary, to read, to encode and to write, the
documents, bytes and tokens, and the sha256 of the ids (documents in file order, each
followed by end-of-text), which ladder compares with its own.

The vocabulary is tiktoken's own `get_encoding(name)` (its pattern, special tokens and
pinned sha256 of OpenAI's vocabulary file), with the file read from --vocab-dir, where ladder
writes it from the copy tiktoken-rs embeds, instead of downloaded: tiktoken checks it against
its sha256 before use.

Set-up (see README, "Benchmarks"):
    python3 -m venv .venv-bench && .venv-bench/bin/pip install tiktoken==0.14.0 zstandard==0.25.0
"""

import argparse
import time

START = time.perf_counter()

import array  # noqa: E402
import gzip  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

import os  # noqa: E402

import tiktoken  # noqa: E402
import tiktoken.load  # noqa: E402
from tiktoken_ext import openai_public  # noqa: E402


def documents(path):
    if path.endswith(".txt"):
        with open(path, encoding="utf-8") as f:
            for doc in f.read().split("\n\f\n"):
                if doc.strip():
                    yield doc
        return
    if path.endswith(".jsonl.zst"):
        import zstandard

        raw = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"))
        lines = io.TextIOWrapper(raw, encoding="utf-8")
    elif path.endswith(".jsonl.gz"):
        lines = gzip.open(path, "rt", encoding="utf-8")
    else:
        lines = open(path, encoding="utf-8")
    with lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)["text"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("files", nargs="+")
    p.add_argument("--encoding", default="o200k_base")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--vocab-dir", required=True)
    a = p.parse_args()

    def local_file(blob, expected_hash=None):
        path = os.path.join(a.vocab_dir, os.path.basename(blob))
        return tiktoken.load.load_tiktoken_bpe(path, expected_hash=expected_hash)

    openai_public.load_tiktoken_bpe = local_file
    enc = tiktoken.get_encoding(a.encoding)
    loaded = time.perf_counter()
    docs = [d for f in a.files for d in documents(f)]
    read = time.perf_counter()
    ids = enc.encode_ordinary_batch(docs, num_threads=a.threads)
    encoded = time.perf_counter()
    out = array.array("I")
    for doc in ids:
        out.extend(doc)
        out.append(enc.eot_token)
    if sys.byteorder != "little":
        out.byteswap()
    data = out.tobytes()
    with open(a.out, "wb") as f:
        f.write(data)
    written = time.perf_counter()
    print(
        json.dumps(
            {
                "load_s": loaded - START,
                "read_s": read - loaded,
                "encode_s": encoded - read,
                "write_s": written - encoded,
                "documents": len(docs),
                "bytes": sum(len(d.encode("utf-8")) for d in docs),
                "tokens": len(out),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    )


if __name__ == "__main__":
    main()
