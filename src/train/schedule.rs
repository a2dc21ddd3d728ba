//! Learning-rate schedules by optimiser step: linear warmup from zero, then cosine decay to a
//! floor (the default; Hoffmann et al. 2022 decay to 10%), or warmup-stable-decay (Hägele et
//! al. 2024: constant, then a linear decay over the last fraction of training).

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
}

impl Schedule {
    /// Learning rate for optimiser step `step` (0-based).
    pub fn lr(&self, step: u64) -> f64 {
        let floor = self.peak * self.final_frac;
        if step < self.warmup {
            return self.peak * (step + 1) as f64 / self.warmup as f64;
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
