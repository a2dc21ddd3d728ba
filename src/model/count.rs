//! Exact parameter and forward-FLOP accounting by group for the dense and Leviathan models,
//! computed from the same configs that build them (so the totals equal burn's `num_params()`,
//! which `tests/model_count.rs` checks). Backs `ladder count` and the isoparametric search.
//!
//! Parameters (docs/leviathan.md §2.3 and §2.4):
//! - per block: attention 4·D² (q, k, v, o without bias), SwiGLU 3·D·F, two RMSNorms 2·D;
//! - final RMSNorm D; dense input table V·D; head V·D unless tied;
//! - LEV generator P_gen = k·b·d_seed + h·d_seed² + 2·h·d_seed + h·d_seed·κ·r + h·r·D.
//!
//! FLOPs per token of the forward pass, 2 per multiply-add, matmuls only (norms, RoPE, softmax
//! and element-wise work are left out, as in Kaplan et al. 2020 and Chinchilla's appendix F):
//! - attention projections 2·4·D² and SwiGLU 2·3·D·F per layer; head 2·V·D;
//! - attention scores and weighted values 2·2·T·D per layer at context T, counted over the
//!   full T×T score matrix because the implementation computes all of it before masking;
//! - the generator as if it ran once per token: 2·h·d_seed² (W_seed) + 2·h·d_seed·κ·r (basis
//!   times coefficients, dense over κ) + 2·h·r·D (W_out), plus h·d_seed·r for the product.
//!   Running it once per distinct id divides this by (tokens per distinct id).

use serde::Serialize;

use super::dense::DenseConfig;
use super::leviathan::{GeneratorConfig, LeviathanConfig};

/// The LEV generator's parameters by group (§2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GeneratorParams {
    pub codebooks: u64,
    pub w_seed: u64,
    pub layer_norm: u64,
    pub spline_coefficients: u64,
    pub w_out: u64,
}

impl GeneratorParams {
    pub fn of(g: &GeneratorConfig) -> Self {
        let (k, b, ds, h) = (
            g.digits as u64,
            g.base() as u64,
            g.d_seed as u64,
            g.heads as u64,
        );
        let (kappa, r, d) = (g.knots as u64, g.modes as u64, g.d_model as u64);
        GeneratorParams {
            codebooks: k * b * ds,
            w_seed: h * ds * ds,
            layer_norm: 2 * h * ds,
            spline_coefficients: h * ds * kappa * r,
            w_out: h * r * d,
        }
    }

    pub fn total(&self) -> u64 {
        self.codebooks + self.w_seed + self.layer_norm + self.spline_coefficients + self.w_out
    }
}

/// Parameters by group. `embed_in + attention + feed_forward + norms + head == total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Params {
    /// The V×D input table (dense) or the whole generator (Leviathan).
    pub embed_in: u64,
    /// The generator's own breakdown (Leviathan only).
    pub generator: Option<GeneratorParams>,
    /// q, k, v, o projections of all blocks.
    pub attention: u64,
    /// SwiGLU W1, W3, W2 of all blocks.
    pub feed_forward: u64,
    /// Every RMSNorm weight of the body (two per block and the final one).
    pub norms: u64,
    /// The untied V×D output head; 0 when tied (the table is counted once, in `embed_in`).
    pub head: u64,
    pub total: u64,
}

impl Params {
    /// Parameters outside the input and output embeddings.
    pub fn nonembed(&self) -> u64 {
        self.attention + self.feed_forward + self.norms
    }
}

/// Forward FLOPs per token by group (see the module doc for the conventions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Flops {
    /// 0 for a table lookup; the generator's per-token cost for Leviathan.
    pub embed_in: u64,
    pub attention_projections: u64,
    pub attention_scores: u64,
    pub feed_forward: u64,
    pub head: u64,
    pub total: u64,
}

/// A model's parameter and FLOP accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Count {
    pub arch: &'static str,
    pub params: Params,
    pub flops_per_token: Flops,
}

struct Body {
    attention: u64,
    feed_forward: u64,
    norms: u64,
    flops_proj: u64,
    flops_scores: u64,
    flops_ffn: u64,
}

fn body(b: &super::blocks::BodyConfig) -> Body {
    let (d, f, l, t) = (
        b.d_model as u64,
        b.d_ff() as u64,
        b.n_layers as u64,
        b.seq_len as u64,
    );
    Body {
        attention: l * 4 * d * d,
        feed_forward: l * 3 * d * f,
        norms: l * 2 * d + d,
        flops_proj: l * 2 * 4 * d * d,
        flops_scores: l * 2 * 2 * t * d,
        flops_ffn: l * 2 * 3 * d * f,
    }
}

fn assemble(
    arch: &'static str,
    body: Body,
    embed_in: u64,
    generator: Option<GeneratorParams>,
    head: u64,
    embed_flops: u64,
    head_flops: u64,
) -> Count {
    let total = embed_in + body.attention + body.feed_forward + body.norms + head;
    let params = Params {
        embed_in,
        generator,
        attention: body.attention,
        feed_forward: body.feed_forward,
        norms: body.norms,
        head,
        total,
    };
    assert_eq!(
        params.embed_in + params.nonembed() + params.head,
        params.total,
        "parameter groups must sum to the total"
    );
    if let Some(g) = generator {
        assert_eq!(g.total(), embed_in, "generator groups must sum to embed_in");
    }
    let flops_total =
        embed_flops + body.flops_proj + body.flops_scores + body.flops_ffn + head_flops;
    let flops = Flops {
        embed_in: embed_flops,
        attention_projections: body.flops_proj,
        attention_scores: body.flops_scores,
        feed_forward: body.flops_ffn,
        head: head_flops,
        total: flops_total,
    };
    Count {
        arch,
        params,
        flops_per_token: flops,
    }
}

/// Accounting of a dense model.
pub fn dense(c: &DenseConfig) -> Count {
    let (v, d) = (c.vocab as u64, c.body.d_model as u64);
    let head = if c.tie_embeddings { 0 } else { v * d };
    assemble("dense", body(&c.body), v * d, None, head, 0, 2 * v * d)
}

/// Per-token forward FLOPs of the generator (module doc).
pub fn generator_flops(g: &GeneratorConfig) -> u64 {
    let (ds, h) = (g.d_seed as u64, g.heads as u64);
    let (kappa, r, d) = (g.knots as u64, g.modes as u64, g.d_model as u64);
    2 * h * ds * ds + 2 * h * ds * kappa * r + h * ds * r + 2 * h * r * d
}

/// Accounting of a Leviathan model.
pub fn leviathan(c: &LeviathanConfig) -> Count {
    let (v, d) = (c.vocab() as u64, c.body.d_model as u64);
    let g = GeneratorParams::of(&c.generator);
    assemble(
        "leviathan",
        body(&c.body),
        g.total(),
        Some(g),
        v * d,
        generator_flops(&c.generator),
        2 * v * d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::blocks::BodyConfig;

    #[test]
    fn v2_generator_at_d2048_is_the_papers_2_25m() {
        let g = GeneratorParams::of(&GeneratorConfig::v2(200_376, 2048));
        assert_eq!(g.codebooks, 22_656);
        assert_eq!(g.w_seed, 131_072);
        assert_eq!(g.layer_norm, 2_048);
        assert_eq!(g.spline_coefficients, 1_048_576);
        assert_eq!(g.w_out, 1_048_576);
        assert_eq!(g.total(), 2_252_928);
    }

    #[test]
    fn flops_groups_sum() {
        let body = BodyConfig::new(64, 2, 4).with_seq_len(32);
        let c = dense(&DenseConfig::new(100, body));
        let f = c.flops_per_token;
        assert_eq!(
            f.total,
            f.embed_in + f.attention_projections + f.attention_scores + f.feed_forward + f.head
        );
        assert_eq!(f.head, 2 * 100 * 64);
        assert_eq!(f.attention_scores, 2 * 4 * 32 * 64);
    }
}
