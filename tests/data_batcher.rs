//! Deterministic batches: shape, windows that are real slices of the split, one visit per
//! window per epoch, same seed same stream, and exact resume from a saved position.

use ladder::data::batcher::{Batcher, DataPosition};
use ladder::data::store::{FORMAT_VERSION, Manifest, SplitManifest, write_store};
use ladder::data::{TokenStore, TokenizerName};

/// A store whose train split is the ids 0, 1, 2, ...: a window's content gives its start.
fn counting_store(n: u32) -> (tempfile::TempDir, TokenStore) {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<u32> = (0..n).collect();
    let manifest = Manifest {
        format: FORMAT_VERSION,
        tokenizer: TokenizerName::O200kBase,
        compacted: false,
        compact_size: None,
        vocab_size: n,
        end_of_text: 0,
        max_tokens: None,
        hashed_split: false,
        skipped_documents: 0,
        splits: vec![SplitManifest {
            name: "train".into(),
            file: None,
            shards: vec![],
            tokens: n as u64,
            bytes: 0,
            tokenizer_tokens: None,
            fallback_tokens: None,
            sources: vec![],
        }],
    };
    // Shards of 97 tokens: windows cross shard boundaries all the time.
    write_store(
        dir.path(),
        &manifest,
        &[&ids],
        None,
        &vec![1; n as usize],
        97,
    )
    .unwrap();
    let store = TokenStore::open(dir.path()).unwrap();
    (dir, store)
}

fn take(b: &mut Batcher, n: usize) -> Vec<Vec<u32>> {
    (0..n).map(|_| b.next_batch().tokens).collect()
}

#[test]
fn batches_are_fixed_shape_windows_of_the_split() {
    let (_dir, store) = counting_store(1000);
    let tokens = store.tokens("train").unwrap();
    let mut b = Batcher::new(tokens, 4, 16, 7).unwrap();
    for _ in 0..30 {
        let batch = b.next_batch();
        assert_eq!((batch.rows, batch.cols), (4, 17));
        assert_eq!(batch.tokens.len(), 4 * 17);
        for r in 0..4 {
            let row = batch.row(r);
            let start = row[0];
            assert!(start as usize + 17 <= 1000);
            assert!(
                row.iter()
                    .enumerate()
                    .all(|(i, &id)| id == start + i as u32),
                "{row:?}"
            );
        }
    }
}

#[test]
fn each_epoch_visits_every_window_once_at_one_offset() {
    let (_dir, store) = counting_store(1000);
    let tokens = store.tokens("train").unwrap();
    let mut b = Batcher::new(tokens, 1, 16, 3).unwrap();
    let per_epoch = b.windows_per_epoch();
    let mut starts: Vec<u32> = (0..per_epoch).map(|_| b.next_batch().tokens[0]).collect();
    assert_eq!(b.position().epoch, 0);
    let offset = starts[0] % 16;
    assert!(starts.iter().all(|s| s % 16 == offset));
    assert_eq!(per_epoch, (1000 - 1 - offset as usize) / 16);
    let in_order = starts.clone();
    starts.sort_unstable();
    starts.dedup();
    assert_eq!(starts.len(), per_epoch, "no window repeats within an epoch");
    assert_ne!(in_order, starts, "windows are shuffled");
    // The next batch opens epoch 1, with its own offset and order.
    b.next_batch();
    assert_eq!((b.position().epoch, b.position().cursor), (1, 1));
}

#[test]
fn same_seed_same_stream_other_seed_other_stream() {
    let (_dir, store) = counting_store(5000);
    let tokens = store.tokens("train").unwrap();
    let a = take(&mut Batcher::new(tokens, 3, 32, 11).unwrap(), 100);
    let b = take(&mut Batcher::new(tokens, 3, 32, 11).unwrap(), 100);
    let c = take(&mut Batcher::new(tokens, 3, 32, 12).unwrap(), 100);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn resuming_from_a_saved_position_continues_the_stream_exactly() {
    let (_dir, store) = counting_store(3000);
    let tokens = store.tokens("train").unwrap();
    // 3 x 64 windows of ~46 per epoch: the run crosses several epoch boundaries, and the
    // checkpoint (after batch 37) falls mid-epoch.
    let mut straight = Batcher::new(tokens, 3, 64, 99).unwrap();
    let all = take(&mut straight, 80);

    let mut first = Batcher::new(tokens, 3, 64, 99).unwrap();
    take(&mut first, 37);
    let saved = serde_json::to_string(&first.position()).unwrap();
    drop(first);

    let pos: DataPosition = serde_json::from_str(&saved).unwrap();
    assert_eq!(pos.batches, 37);
    assert!(pos.epoch >= 1 && pos.cursor > 0);
    let mut resumed = Batcher::resume(tokens, pos).unwrap();
    assert_eq!(take(&mut resumed, 43), all[37..]);
    assert_eq!(resumed.position(), straight.position());
}

#[test]
fn resume_refuses_another_split_or_a_bad_shape() {
    let (_dir, store) = counting_store(3000);
    let (_other_dir, other) = counting_store(2999);
    let tokens = store.tokens("train").unwrap();
    let mut b = Batcher::new(tokens, 2, 8, 1).unwrap();
    b.next_batch();
    let err = Batcher::resume(other.tokens("train").unwrap(), b.position()).unwrap_err();
    assert!(err.to_string().contains("3000 tokens"), "{err}");
    assert!(Batcher::new(tokens, 0, 8, 1).is_err());
    assert!(
        Batcher::new(tokens, 2, 3000, 1).is_err(),
        "a window longer than the split"
    );
    let mut pos = b.position();
    pos.cursor = 1_000_000;
    assert!(Batcher::resume(tokens, pos).is_err());
}
