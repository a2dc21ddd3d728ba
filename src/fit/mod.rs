//! Scaling-law fits.
