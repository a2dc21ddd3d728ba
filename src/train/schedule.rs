//! Learning-rate schedules by optimiser step: linear warmup from zero, then cosine decay to a
//! floor (the default; Hoffmann et al. 2022 decay to 10%), or warmup-stable-decay (Hägele et
//! al. 2024: constant, then a linear decay over the last fraction of training). A WSD stable
//! prefix holds the peak after its warmup for as long as it is asked to run; a cooldown branch
//! holds it up to its branch point, then decays linearly to the floor by its last step.

use crate::config::{CellSpec, Wsd};

/// A resolved schedule over `total` optimiser steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub peak: f64,
    pub warmup: u64,
    pub total: u64,
    /// The final learning rate as a fraction of the peak.
    pub final_frac: f64,
    pub kind: ScheduleKind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScheduleKind {
    Cosine,
    /// Decay over the last `decay_frac` of the steps.
    Wsd {
        decay_frac: f64,
    },
    /// A stable prefix: the peak after warmup, whatever `total` is (so extending the prefix
    /// never changes a step it has already taken).
    Constant,
    /// A cooldown branch: the peak up to step `start`, then linear to the floor, reached at
    /// the last step (`total - 1`).
    Cooldown {
        start: u64,
    },
}

impl Schedule {
    /// The schedule a cell asks for, over its `train.tokens`. Warmup is counted in whole
    /// optimiser steps from `train.warmup_tokens`.
    pub fn of(cell: &CellSpec) -> Self {
        let t = &cell.train;
        let total = cell.total_steps();
        let kind = match (&cell.wsd, t.schedule.as_str()) {
            (Some(Wsd::Prefix { .. }), _) => ScheduleKind::Constant,
            (Some(Wsd::Branch { start_tokens, .. }), _) => ScheduleKind::Cooldown {
                start: start_tokens / t.batch_tokens,
            },
            (None, "wsd") => ScheduleKind::Wsd {
                decay_frac: t.decay_frac,
            },
            (None, _) => ScheduleKind::Cosine,
        };
        let warmup = t.warmup_tokens.div_ceil(t.batch_tokens);
        Schedule {
            peak: t.lr,
            // A prefix's warmup must not depend on how far it is asked to train.
            warmup: if kind == ScheduleKind::Constant {
                warmup
            } else {
                warmup.min(total)
            },
            total,
            final_frac: t.final_lr_frac,
            kind,
        }
    }

    /// Learning rate for optimiser step `step` (0-based).
    pub fn lr(&self, step: u64) -> f64 {
        let floor = self.peak * self.final_frac;
        if step < self.warmup {
            return self.peak * (step + 1) as f64 / self.warmup as f64;
        }
        match self.kind {
            ScheduleKind::Constant => return self.peak,
            ScheduleKind::Cooldown { start } if step >= start => {
                let span = self.total.saturating_sub(start).max(1) as f64;
                let done = ((step + 1 - start) as f64 / span).min(1.0);
                return self.peak - (self.peak - floor) * done;
            }
            ScheduleKind::Cooldown { .. } => return self.peak,
            _ => {}
        }
        let span = self.total.saturating_sub(self.warmup).max(1) as f64;
        let progress = ((step - self.warmup) as f64 / span).min(1.0);
        match self.kind {
            ScheduleKind::Cosine => {
                floor + (self.peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            ScheduleKind::Wsd { decay_frac } => {
                let start = 1.0 - decay_frac;
                if progress <= start {
                    self.peak
                } else {
                    self.peak - (self.peak - floor) * (progress - start) / decay_frac.max(1e-12)
                }
            }
            ScheduleKind::Constant | ScheduleKind::Cooldown { .. } => self.peak,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine_to_the_floor() {
        let s = Schedule {
            peak: 1e-3,
            warmup: 10,
            total: 110,
            final_frac: 0.1,
            kind: ScheduleKind::Cosine,
        };
        assert!((s.lr(0) - 1e-4).abs() < 1e-15);
        assert!((s.lr(9) - 1e-3).abs() < 1e-15);
        assert!((s.lr(10) - 1e-3).abs() < 1e-15);
        assert!((s.lr(60) - 0.55e-3).abs() < 1e-12, "{}", s.lr(60));
        assert!((s.lr(110) - 1e-4).abs() < 1e-15);
        assert!((1..110).all(|i| i < 10 || s.lr(i) <= s.lr(i - 1) + 1e-18));
    }

    #[test]
    fn a_prefix_is_flat_and_a_branch_decays_from_its_start_to_the_floor() {
        let prefix = |total| Schedule {
            peak: 1.0,
            warmup: 4,
            total,
            final_frac: 0.1,
            kind: ScheduleKind::Constant,
        };
        // The prefix's steps do not depend on how far it is asked to train.
        for step in 0..20 {
            assert_eq!(prefix(20).lr(step), prefix(200).lr(step));
        }
        assert_eq!(prefix(20).lr(3), 1.0);
        assert_eq!(prefix(20).lr(19), 1.0);
        let branch = Schedule {
            kind: ScheduleKind::Cooldown { start: 12 },
            total: 16,
            ..prefix(16)
        };
        for step in 0..12 {
            assert_eq!(branch.lr(step), prefix(16).lr(step), "step {step}");
        }
        assert!((branch.lr(12) - 0.775).abs() < 1e-12);
        assert!((branch.lr(15) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn wsd_is_flat_then_decays_linearly() {
        let s = Schedule {
            peak: 1.0,
            warmup: 0,
            total: 100,
            final_frac: 0.1,
            kind: ScheduleKind::Wsd { decay_frac: 0.2 },
        };
        assert_eq!(s.lr(50), 1.0);
        assert_eq!(s.lr(80), 1.0);
        assert!((s.lr(90) - 0.55).abs() < 1e-12);
        assert!((s.lr(100) - 0.1).abs() < 1e-12);
    }
}
