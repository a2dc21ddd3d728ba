//! Parameter accounting against the paper's arithmetic (docs/leviathan.md §2.3, §2.4), against
//! burn's own `num_params()` of the built models, and the isoparametric depth search.

use burn::backend::Flex;
use burn::module::Module;
use ladder::model::count::{self, GeneratorParams};
use ladder::model::sizing::{self, DEFAULT_TOLERANCE};
use ladder::model::vocab::PAPER_VOCAB;
use ladder::model::{BodyConfig, DenseConfig, GeneratorConfig, LeviathanConfig};

fn body(d: usize, layers: usize, heads: usize, d_ff: usize) -> BodyConfig {
    let mut b = BodyConfig::new(d, layers, heads);
    b.d_ff = Some(d_ff);
    b
}

#[test]
fn v2_generator_at_1_2b_width_is_2_25m_with_the_papers_breakdown() {
    let cfg = LeviathanConfig::new(
        body(2048, 16, 16, 5504),
        GeneratorConfig::v2(PAPER_VOCAB, 2048),
    );
    let c = count::leviathan(&cfg);
    assert_eq!(c.params.embed_in, 2_252_928);
    let g = c.params.generator.expect("leviathan has a generator");
    assert_eq!(
        g,
        GeneratorParams {
            codebooks: 22_656,
            w_seed: 131_072,
            layer_norm: 2_048,
            spline_coefficients: 1_048_576,
            w_out: 1_048_576,
        }
    );
    // The head stays an untied V×D table.
    assert_eq!(c.params.head, 410_370_048);
}

#[test]
fn dense_input_table_at_d2048_is_410m() {
    let cfg = DenseConfig::new(PAPER_VOCAB, body(2048, 16, 16, 5504));
    let c = count::dense(&cfg);
    assert_eq!(c.params.embed_in, 410_370_048);
    assert_eq!(c.params.head, 410_370_048);
    let tied = count::dense(&cfg.clone().with_tie_embeddings(true));
    assert_eq!(tied.params.head, 0);
    assert_eq!(tied.params.total, c.params.total - 410_370_048);
}

#[test]
fn generator_table_of_leviathan_md_2_3() {
    // Rows of the table in §2.3, in thousands (rounded as printed there).
    for (d, k16, k32) in [
        (256, 1_335, 2_384),
        (512, 1_466, 2_515),
        (1024, 1_729, 2_777),
    ] {
        let v2 = GeneratorParams::of(&GeneratorConfig::v2(PAPER_VOCAB, d)).total();
        let v1 = GeneratorParams::of(&GeneratorConfig::v1(PAPER_VOCAB, d)).total();
        assert_eq!((v2 as f64 / 1000.0).round() as u64, k16, "κ=16 at D={d}");
        assert_eq!((v1 as f64 / 1000.0).round() as u64, k32, "κ=32 at D={d}");
    }
}

#[test]
fn v1_isoparametric_example_6_layers_dense_vs_about_52_layers_leviathan() {
    // docs/leviathan.md §2.4: d = 256, SwiGLU 1024, untied dense at 6 layers ≈ 108.9M.
    let dense = DenseConfig::new(PAPER_VOCAB, body(256, 6, 4, 1024));
    let total = count::dense(&dense).params.total;
    assert_eq!(
        total,
        2 * 200_376 * 256 + 6 * (4 * 256 * 256 + 3 * 256 * 1024 + 2 * 256) + 256
    );
    assert_eq!((total as f64 / 1e5).round() as u64, 1089);

    // κ = 16 (v2 generator): the first depth within 2% is 52 layers, 107.2M.
    let s = sizing::isoparametric(
        &dense,
        &GeneratorConfig::v2(PAPER_VOCAB, 256),
        DEFAULT_TOLERANCE,
        200,
    )
    .unwrap();
    assert!(s.within_tolerance);
    assert_eq!(s.leviathan.body.n_layers, 52);
    assert_eq!((s.leviathan_total as f64 / 1e5).round() as u64, 1072);
    assert!(
        s.gap < 0.0 && s.gap.abs() <= DEFAULT_TOLERANCE,
        "gap {}",
        s.gap
    );

    // κ = 32 (v1 knot count): the generator is 1.05M larger, so one layer fewer suffices.
    let s1 = sizing::isoparametric(
        &dense,
        &GeneratorConfig::v1(PAPER_VOCAB, 256),
        DEFAULT_TOLERANCE,
        200,
    )
    .unwrap();
    assert_eq!(s1.leviathan.body.n_layers, 51);
    assert!(s1.gap.abs() <= DEFAULT_TOLERANCE);

    // A tight tolerance forces the nearest depth instead.
    let tight =
        sizing::isoparametric(&dense, &GeneratorConfig::v2(PAPER_VOCAB, 256), 0.001, 200).unwrap();
    let gap_at = |l: usize| {
        let mut b = dense.body.clone();
        b.n_layers = l;
        let lev = LeviathanConfig::new(b, GeneratorConfig::v2(PAPER_VOCAB, 256));
        (count::leviathan(&lev).params.total as f64 / total as f64 - 1.0).abs()
    };
    let l = tight.leviathan.body.n_layers;
    assert!(gap_at(l) <= gap_at(l - 1) && gap_at(l) <= gap_at(l + 1));
    // No depth comes within 0.1% of the dense total (the gap moves in steps of one layer's
    // parameters), so the nearest depth comes back flagged as outside the tolerance.
    assert!(gap_at(l) > 0.001 && gap_at(l - 1) > 0.001 && gap_at(l + 1) > 0.001);
    assert!(!tight.within_tolerance);
}

#[test]
fn iso_body_keeps_the_body_and_saves_the_table() {
    let dense = DenseConfig::new(PAPER_VOCAB, body(256, 6, 4, 1024));
    let s = sizing::iso_body(&dense, &GeneratorConfig::v2(1, 1));
    assert_eq!(s.leviathan.body.n_layers, 6);
    assert_eq!(s.leviathan.vocab(), PAPER_VOCAB);
    let gen_total = GeneratorParams::of(&GeneratorConfig::v2(PAPER_VOCAB, 256)).total();
    assert_eq!(s.dense_total - s.leviathan_total, 200_376 * 256 - gen_total);
}

#[test]
fn counts_equal_burns_num_params_on_small_models() {
    type B = Flex;
    let dev = Default::default();
    for (vocab, d, layers, heads, d_ff, tie) in [
        (64, 32, 1, 2, 96, false),
        (100, 32, 2, 4, 64, true),
        (77, 48, 2, 3, 128, false),
    ] {
        let cfg = DenseConfig::new(vocab, body(d, layers, heads, d_ff)).with_tie_embeddings(tie);
        let model = cfg.init::<B>(&dev);
        assert_eq!(
            model.num_params() as u64,
            count::dense(&cfg).params.total,
            "dense {cfg:?}"
        );
    }
    for (vocab, d, layers, digits, d_seed, heads, knots, modes) in [
        (64, 32, 1, 3, 8, 2, 5, 4),
        (1000, 32, 2, 2, 16, 3, 7, 6),
        (200, 48, 1, 4, 12, 1, 16, 8),
    ] {
        let g = GeneratorConfig::new(vocab, d)
            .with_digits(digits)
            .with_d_seed(d_seed)
            .with_heads(heads)
            .with_knots(knots)
            .with_modes(modes);
        let cfg = LeviathanConfig::new(body(d, layers, 2, 64), g);
        let model = cfg.init::<B>(&dev);
        let c = count::leviathan(&cfg);
        assert_eq!(
            model.num_params() as u64,
            c.params.total,
            "leviathan {cfg:?}"
        );
        assert_eq!(model.generator.num_params() as u64, c.params.embed_in);
    }
}
