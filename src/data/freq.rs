//! Token frequencies of the training split and the frequency buckets evaluation reports
//! loss by (docs/anchors.md §5): ids bucketed by how often training saw them, from the most
//! frequent bucket down to a bucket of ids training never saw.
//!
//! Buckets are defined by count thresholds, so they depend only on the training counts and
//! stay fixed across runs; the default deciles are stored in `freq.json` beside the store.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::write_atomic;

/// Unigram counts of one split, indexed by id (the store's id space).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrequencyTable {
    pub split: String,
    pub counts: Vec<u64>,
}

impl FrequencyTable {
    /// Counts `ids` over a vocabulary of `vocab_size` ids.
    pub fn count(split: &str, vocab_size: u32, ids: &[u32]) -> Result<Self> {
        let mut counts = vec![0u64; vocab_size as usize];
        for &id in ids {
            *counts.get_mut(id as usize).ok_or_else(|| {
                Error::Invalid(format!(
                    "token id {id} is outside the vocabulary of {vocab_size}"
                ))
            })? += 1;
        }
        Ok(FrequencyTable {
            split: split.to_string(),
            counts,
        })
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Ids that occur at least once.
    pub fn distinct(&self) -> usize {
        self.counts.iter().filter(|&&c| c > 0).count()
    }
}

/// Frequency buckets: bucket 0 holds the most frequent ids, then rarer and rarer ones, and
/// the last bucket holds the ids training never saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Buckets {
    /// How the thresholds were chosen, e.g. `mass_quantiles(10)`, `log_spaced(10)`.
    pub scheme: String,
    /// Strictly decreasing counts: an id seen `c > 0` times is in bucket
    /// `#{t in thresholds : c < t}`.
    pub thresholds: Vec<u64>,
}

impl Buckets {
    /// Buckets holding about equal shares of the training token mass: `n` of them when the
    /// counts allow (ties at a threshold can merge neighbours), plus the never-seen bucket.
    pub fn mass_quantiles(table: &FrequencyTable, n: usize) -> Result<Self> {
        if n == 0 {
            return Err(Error::Invalid("need at least one frequency bucket".into()));
        }
        let mut seen: Vec<u64> = table.counts.iter().copied().filter(|&c| c > 0).collect();
        seen.sort_unstable_by(|a, b| b.cmp(a));
        let total: u64 = seen.iter().sum();
        let mut thresholds = Vec::new();
        let mut cum = 0u128;
        let mut k = 1u128;
        for &c in &seen {
            // The id that starts the k-th share of the mass opens bucket k: the threshold sits
            // just above its count, so it and every id tied with it land in bucket k.
            while k < n as u128 && cum * n as u128 >= k * total as u128 {
                if thresholds.last().is_none_or(|&t| c + 1 < t) {
                    thresholds.push(c + 1);
                }
                k += 1;
            }
            cum += c as u128;
        }
        Ok(Buckets {
            scheme: format!("mass_quantiles({n})"),
            thresholds,
        })
    }

    /// Buckets `[base^k, base^(k+1))` of training count, from the largest power reached down
    /// to `[1, base)`, plus the never-seen bucket.
    pub fn log_spaced(table: &FrequencyTable, base: u64) -> Result<Self> {
        if base < 2 {
            return Err(Error::Invalid(format!(
                "log-spaced bucket base must be >= 2, got {base}"
            )));
        }
        let max = table.counts.iter().copied().max().unwrap_or(0);
        let mut thresholds = Vec::new();
        let mut t = base;
        while t <= max {
            thresholds.push(t);
            match t.checked_mul(base) {
                Some(next) => t = next,
                None => break,
            }
        }
        thresholds.reverse();
        Ok(Buckets {
            scheme: format!("log_spaced({base})"),
            thresholds,
        })
    }

    /// Number of buckets, the never-seen one included.
    pub fn len(&self) -> usize {
        self.thresholds.len() + 2
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Index of the never-seen bucket (the last).
    pub fn never_seen(&self) -> usize {
        self.thresholds.len() + 1
    }

    /// The bucket of an id seen `count` times in training.
    pub fn bucket_of_count(&self, count: u64) -> usize {
        if count == 0 {
            return self.never_seen();
        }
        self.thresholds.partition_point(|&t| count < t)
    }

    /// The bucket of every id in `table`'s vocabulary.
    pub fn assign(&self, table: &FrequencyTable) -> Vec<u16> {
        table
            .counts
            .iter()
            .map(|&c| self.bucket_of_count(c) as u16)
            .collect()
    }
}

/// `freq.json`: sparse training counts and the default buckets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FreqFile {
    split: String,
    vocab_size: u32,
    total_tokens: u64,
    distinct_ids: u64,
    /// `[id, count]` for every id with a non-zero count, in id order.
    counts: Vec<(u32, u64)>,
    buckets: Buckets,
}

/// Default buckets stored beside the store: deciles of token mass.
pub const DEFAULT_MASS_BUCKETS: usize = 10;

/// Writes the table and its default buckets to `path` atomically.
pub fn write_freq(path: &Path, table: &FrequencyTable) -> Result<Buckets> {
    let buckets = Buckets::mass_quantiles(table, DEFAULT_MASS_BUCKETS)?;
    let file = FreqFile {
        split: table.split.clone(),
        vocab_size: table.counts.len() as u32,
        total_tokens: table.total(),
        distinct_ids: table.distinct() as u64,
        counts: table
            .counts
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c > 0)
            .map(|(id, &c)| (id as u32, c))
            .collect(),
        buckets: buckets.clone(),
    };
    let json = serde_json::to_vec(&file)
        .map_err(|e| Error::data(path, format!("cannot serialise frequency table: {e}")))?;
    write_atomic(path, &json)?;
    Ok(buckets)
}

/// Reads a frequency table and its stored buckets.
pub fn read_freq(path: &Path) -> Result<(FrequencyTable, Buckets)> {
    let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let file: FreqFile = serde_json::from_slice(&text)
        .map_err(|e| Error::data(path, format!("not a frequency table: {e}")))?;
    let mut counts = vec![0u64; file.vocab_size as usize];
    for (id, c) in file.counts {
        *counts.get_mut(id as usize).ok_or_else(|| {
            Error::data(path, format!("id {id} >= vocab_size {}", file.vocab_size))
        })? = c;
    }
    Ok((
        FrequencyTable {
            split: file.split,
            counts,
        },
        file.buckets,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(counts: &[u64]) -> FrequencyTable {
        FrequencyTable {
            split: "train".into(),
            counts: counts.to_vec(),
        }
    }

    #[test]
    fn mass_quantiles_split_mass_evenly() {
        // Total 120, quarters of 30. Mass before each id: 0, 40, 60, 80, 90, 100, ...; the
        // quarters start at id 1 (count 20), id 2 (count 20 again: merged) and id 4 (count 10),
        // so three frequent buckets of 40 tokens each and the never-seen one.
        let t = table(&[40, 20, 20, 10, 10, 5, 5, 5, 5, 0]);
        let b = Buckets::mass_quantiles(&t, 4).unwrap();
        assert_eq!(b.thresholds, [21, 11]);
        assert_eq!(b.len(), 4);
        let assigned = b.assign(&t);
        assert_eq!(assigned, [0, 1, 1, 2, 2, 2, 2, 2, 2, 3]);
        assert_eq!(b.never_seen(), 3);
    }

    #[test]
    fn log_spaced_buckets_by_powers() {
        let t = table(&[1500, 99, 100, 9, 1, 0]);
        let b = Buckets::log_spaced(&t, 10).unwrap();
        assert_eq!(b.thresholds, [1000, 100, 10]);
        assert_eq!(b.assign(&t), [0, 2, 1, 3, 3, 4]);
    }

    #[test]
    fn freq_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("freq.json");
        let t = table(&[3, 0, 7, 1]);
        let b = write_freq(&path, &t).unwrap();
        let (back, bb) = read_freq(&path).unwrap();
        assert_eq!(back, t);
        assert_eq!(bb, b);
    }
}
