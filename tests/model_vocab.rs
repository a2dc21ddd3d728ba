//! Vocabulary sizes: the cached o200k_base size agrees with tiktoken-rs, and padding rounds up.

use ladder::model::vocab::{self, O200K_BASE_N_VOCAB};

#[test]
fn o200k_base_size_matches_tiktoken_rs() {
    assert_eq!(
        vocab::o200k_base_n_vocab_from_tiktoken(),
        O200K_BASE_N_VOCAB
    );
}

#[test]
fn padding_rounds_up_to_the_multiple() {
    assert_eq!(vocab::o200k_padded(64).unwrap(), 200_064);
    assert_eq!(vocab::o200k_padded(1).unwrap(), 200_019);
    assert_eq!(vocab::padded(200_064, 64).unwrap(), 200_064);
    assert_eq!(vocab::padded(200_065, 64).unwrap(), 200_128);
    assert!(vocab::padded(10, 0).is_err());
}
