//! Vocabulary sizes: o200k_base's size (from tiktoken-rs) padded up to a multiple, and the
//! paper's V = 200,376 (docs/leviathan.md §2.3, §3.4; how the paper padded to it is not known).

use crate::error::{Error, Result};

/// tiktoken o200k_base: 199,998 ranks plus the specials up to `<|endofprompt|>` = 200,018.
/// `tests/model_vocab.rs` checks it against tiktoken-rs.
pub const O200K_BASE_N_VOCAB: usize = 200_019;

/// The vocabulary size the paper reports for o200k_base.
pub const PAPER_VOCAB: usize = 200_376;

/// Default padding multiple: keeps the head's V dimension a multiple of the usual GEMM tile.
pub const DEFAULT_PAD_MULTIPLE: usize = 64;

/// `n` rounded up to a multiple of `multiple`.
pub fn padded(n: usize, multiple: usize) -> Result<usize> {
    if multiple == 0 {
        return Err(Error::Invalid(
            "vocabulary padding multiple must be positive".into(),
        ));
    }
    Ok(n.div_ceil(multiple) * multiple)
}

/// o200k_base's size padded to `multiple` (200,064 at the default 64).
pub fn o200k_padded(multiple: usize) -> Result<usize> {
    padded(O200K_BASE_N_VOCAB, multiple)
}

/// o200k_base's size read from tiktoken-rs: one more than the largest id, which in o200k_base
/// is a special token's (the ordinary ranks end at 199,997). Slow (it builds the BPE tables); [`O200K_BASE_N_VOCAB`] is the cached answer.
pub fn o200k_base_n_vocab_from_tiktoken() -> usize {
    let bpe = tiktoken_rs::o200k_base_singleton();
    let specials = bpe.special_tokens();
    let max_special = specials
        .iter()
        .flat_map(|s| bpe.encode_with_special_tokens(s))
        .max()
        .unwrap_or(0) as usize;
    max_special + 1
}
