//! The LEV generator's pieces: digits, B-spline basis, signed product, gradients, strategies.

use burn::backend::{Autodiff, Flex};
use burn::module::Param;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use ladder::model::leviathan::{
    Generator, bspline_basis, digit_base, digits, from_digits, separable_product,
};
use ladder::model::{GeneratorConfig, GeneratorStrategy};

type B = Flex;
type AD = Autodiff<Flex>;

fn vec_of<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

fn basis_at(ts: &[f32], knots: usize, normalize: bool) -> Vec<Vec<f32>> {
    let t = Tensor::<B, 3>::from_data(
        TensorData::new(ts.to_vec(), [1, ts.len(), 1]),
        &Default::default(),
    );
    let v = vec_of(bspline_basis(t, knots, normalize));
    v.chunks(knots).map(|c| c.to_vec()).collect()
}

#[test]
fn digits_round_trip_every_id_of_the_paper_vocabulary() {
    let base = digit_base(200_376, 3);
    assert_eq!(base, 59);
    for id in 0..200_376 {
        let d = digits(id, base, 3);
        assert!(d.iter().all(|&x| x < base));
        assert_eq!(from_digits(&d, base), id);
    }
    for (vocab, k) in [(64, 3), (1000, 2), (50_000, 4), (7, 1)] {
        let b = digit_base(vocab, k);
        for id in 0..vocab {
            assert_eq!(from_digits(&digits(id, b, k), b), id);
        }
    }
    // Most significant digit first.
    assert_eq!(digits(1, 59, 3), vec![0, 0, 1]);
    assert_eq!(digits(59 * 59, 59, 3), vec![1, 0, 0]);
}

#[test]
fn bspline_basis_is_a_partition_of_unity_in_the_interior() {
    let knots = 8;
    // Interior: u = t·(κ−1) ∈ [0.5, κ−1.5], where all three overlapping pieces exist.
    let ts: Vec<f32> = (0..=60)
        .map(|i| (0.5 + 6.0 * i as f32 / 60.0) / 7.0)
        .collect();
    for (t, row) in ts.iter().zip(basis_at(&ts, knots, false)) {
        let sum: f32 = row.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "sum {sum} at t = {t}");
        assert!(row.iter().all(|&b| b >= 0.0));
        assert!(
            row.iter().filter(|&&b| b > 0.0).count() <= 3,
            "support of 3 at most"
        );
    }
    // At the ends the raw sum is 0.75 + 0.125; normalised it is 1.
    for row in basis_at(&[0.0, 1.0], knots, false) {
        assert!((row.iter().sum::<f32>() - 0.875).abs() < 1e-6);
    }
    for row in basis_at(&[0.0, 0.01, 0.5, 0.99, 1.0], knots, true) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
}

#[test]
fn bspline_basis_matches_the_closed_form() {
    // κ = 5: knots at 0, 0.25, 0.5, 0.75, 1; δ = |t − g/4|·4.
    let rows = basis_at(&[0.3, 0.0, 0.5, 0.9], 5, false);
    let want = [
        // t = 0.3 (u = 1.2): g0 δ=1.2 → ½·0.3²; g1 δ=0.2 → 0.75−0.04; g2 δ=0.8 → ½·0.7².
        [0.045, 0.71, 0.245, 0.0, 0.0],
        [0.75, 0.125, 0.0, 0.0, 0.0],
        [0.0, 0.125, 0.75, 0.125, 0.0],
        // t = 0.9 (u = 3.6): g2 δ=1.6 → 0; g3 δ=0.6 → ½·0.9²; g4 δ=0.4 → 0.75−0.16.
        [0.0, 0.0, 0.0, 0.405, 0.59],
    ];
    for (got, want) in rows.iter().zip(want) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
        }
    }
}

#[test]
fn signed_product_has_the_right_parity() {
    // Columns: (−2, 3, −0.5) → 3; (−2, 3, 0.5) → −3; (−1, −1, −1) → −1; (2, 0, 5) → ~0.
    let factors = [
        [-2.0f32, -2.0, -1.0, 2.0],
        [3.0, 3.0, -1.0, 0.0],
        [-0.5, 0.5, -1.0, 5.0],
    ];
    let data: Vec<f32> = factors.iter().flatten().copied().collect();
    let t = Tensor::<B, 3>::from_data(TensorData::new(data, [1, 3, 4]), &Default::default());
    let got = vec_of(separable_product(t, 1e-9));
    let want = [3.0, -3.0, -1.0, 0.0];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-4, "{got:?} vs {want:?}");
    }
    // Products of 128 factors stay finite and exact in sign.
    let many: Vec<f32> = (0..128)
        .map(|j| if j % 3 == 0 { -1.01 } else { 0.99 })
        .collect();
    let negatives = many.iter().filter(|&&x| x < 0.0).count();
    let exact: f64 = many.iter().map(|&x| x as f64).product();
    let t = Tensor::<B, 3>::from_data(TensorData::new(many, [1, 128, 1]), &Default::default());
    let got = vec_of(separable_product(t, 1e-9))[0] as f64;
    assert_eq!(negatives % 2 == 1, got < 0.0);
    assert!((got - exact).abs() < 1e-4 * exact.abs(), "{got} vs {exact}");
}

fn tiny(strategy: GeneratorStrategy, chunk: usize) -> GeneratorConfig {
    GeneratorConfig::new(27, 6)
        .with_d_seed(4)
        .with_heads(2)
        .with_knots(5)
        .with_modes(3)
        .with_sigmoid_scale(2.0) // spreads t over [0,1], so the basis normaliser matters
        .with_chunk_tokens(chunk)
        .with_strategy(strategy)
}

fn ids(v: &[i64]) -> Tensor<AD, 2, Int> {
    Tensor::from_data(
        TensorData::new(v.to_vec(), [1, v.len()]),
        &Default::default(),
    )
}

#[test]
fn all_strategies_and_chunkings_give_the_same_embeddings() {
    let dev = Default::default();
    let tokens: Vec<i64> = vec![5, 3, 5, 26, 0, 3, 3, 17, 5, 9];
    let reference: Generator<B> = tiny(GeneratorStrategy::PerToken, 1000).init(&dev);
    let batch = || Tensor::<B, 2, Int>::from_data(TensorData::new(tokens.clone(), [2, 5]), &dev);
    let want = vec_of(reference.forward(batch()).unwrap());
    for strategy in [
        GeneratorStrategy::PerToken,
        GeneratorStrategy::DistinctIds,
        GeneratorStrategy::Vocabulary,
        GeneratorStrategy::Auto,
    ] {
        for chunk in [1, 3, 1000] {
            let g = reference.clone().with_strategy(strategy, chunk);
            let got = vec_of(g.forward(batch()).unwrap());
            assert_eq!(got.len(), want.len());
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-6, "{strategy:?} chunk {chunk}");
            }
        }
    }
    // An embedding depends on the id only: positions 0, 2 and 8 hold id 5.
    let d = 6;
    assert_eq!(&want[0..d], &want[2 * d..3 * d]);
    assert_eq!(&want[0..d], &want[8 * d..9 * d]);
    assert_ne!(&want[0..d], &want[d..2 * d]);
}

/// Σ E·W for a fixed W: a scalar whose gradient reaches every generator parameter.
fn objective(g: &Generator<AD>, tokens: &[i64], w: &Tensor<AD, 3>) -> Tensor<AD, 1> {
    (g.forward(ids(tokens)).unwrap() * w.clone()).sum()
}

fn with_param2(p: &Param<Tensor<AD, 2>>, idx: usize, delta: f32) -> Param<Tensor<AD, 2>> {
    let t = p.val();
    let shape = t.dims();
    let mut v: Vec<f32> = t.into_data().iter::<f32>().collect();
    v[idx] += delta;
    Param::from_tensor(Tensor::from_data(
        TensorData::new(v, shape),
        &Default::default(),
    ))
}

fn with_param3(p: &Param<Tensor<AD, 3>>, idx: usize, delta: f32) -> Param<Tensor<AD, 3>> {
    let t = p.val();
    let shape = t.dims();
    let mut v: Vec<f32> = t.into_data().iter::<f32>().collect();
    v[idx] += delta;
    Param::from_tensor(Tensor::from_data(
        TensorData::new(v, shape),
        &Default::default(),
    ))
}

#[test]
fn generator_gradient_matches_finite_differences() {
    let dev = Default::default();
    let mut g: Generator<AD> = tiny(GeneratorStrategy::DistinctIds, 2).init(&dev);
    // Larger weights than the init so that every gradient is well above f32 noise.
    g.w_out = Param::from_tensor(Tensor::random(
        g.w_out.dims(),
        Distribution::Normal(0.0, 1.0),
        &dev,
    ));
    g.codebooks = Param::from_tensor(Tensor::random(
        g.codebooks.dims(),
        Distribution::Normal(0.0, 1.0),
        &dev,
    ));
    g.w_seed = Param::from_tensor(Tensor::random(
        g.w_seed.dims(),
        Distribution::Normal(0.0, 1.0),
        &dev,
    ));
    let tokens = [4i64, 13, 4, 26, 0];
    let w = Tensor::<AD, 3>::random([1, tokens.len(), 6], Distribution::Normal(0.0, 1.0), &dev);

    let grads = objective(&g, &tokens, &w).backward();
    let value = |g: &Generator<AD>| objective(g, &tokens, &w).into_scalar() as f64;
    let h = 5e-3f32;
    let mut checked = 0;
    let check = |analytic: f32, plus: f64, minus: f64, what: &str| {
        let numeric = (plus - minus) / (2.0 * h as f64);
        let err = (analytic as f64 - numeric).abs();
        assert!(
            err <= 2e-2 * numeric.abs().max(analytic.abs() as f64) + 2e-3,
            "{what}: autodiff {analytic} vs finite difference {numeric}"
        );
    };

    // Every 2-D parameter, a spread of coordinates.
    type Get = fn(&mut Generator<AD>) -> &mut Param<Tensor<AD, 2>>;
    let params2: [(&str, Get); 5] = [
        ("codebooks", |g| &mut g.codebooks),
        ("w_seed", |g| &mut g.w_seed),
        ("ln_gamma", |g| &mut g.ln_gamma),
        ("ln_beta", |g| &mut g.ln_beta),
        ("w_out", |g| &mut g.w_out),
    ];
    for (name, get) in params2 {
        let p = get(&mut g).clone();
        let grad: Vec<f32> = p
            .grad(&grads)
            .expect("has a gradient")
            .into_data()
            .iter::<f32>()
            .collect();
        let n = grad.len();
        for idx in [0, n / 3, n / 2, n - 1] {
            let mut gp = g.clone();
            *get(&mut gp) = with_param2(&p, idx, h);
            let plus = value(&gp);
            *get(&mut gp) = with_param2(&p, idx, -h);
            let minus = value(&gp);
            check(grad[idx], plus, minus, &format!("{name}[{idx}]"));
            checked += 1;
        }
    }
    let p = g.spline.clone();
    let grad: Vec<f32> = p
        .grad(&grads)
        .expect("has a gradient")
        .into_data()
        .iter::<f32>()
        .collect();
    let n = grad.len();
    let mut nonzero = 0;
    for idx in (0..n).step_by(7) {
        let mut gp = g.clone();
        gp.spline = with_param3(&p, idx, h);
        let plus = value(&gp);
        gp.spline = with_param3(&p, idx, -h);
        let minus = value(&gp);
        check(grad[idx], plus, minus, &format!("spline[{idx}]"));
        nonzero += usize::from(grad[idx].abs() > 1e-4);
        checked += 1;
    }
    assert!(
        nonzero > 5,
        "the spline gradient should not be trivially zero"
    );
    assert!(checked > 30);
}

/// Decoupled weight decay shrinks every decayed parameter toward 0 (p <- p - lr wd p). Under
/// the default `SplineDecay::One` the parameter is delta = S - 1, so AdamW pulls the spline
/// coefficients S toward 1, where the d_seed-fold product is well scaled; under `Zero` it pulls
/// S toward 0; under `Exempt` the trainer leaves S out of decay.
#[test]
fn weight_decay_pulls_spline_coefficients_where_the_option_says() {
    use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
    use ladder::model::SplineDecay;
    use ladder::train::runner::exempt_params;
    let dev = Default::default();
    let mean_abs = |t: Tensor<AD, 3>, around: f32| -> f32 {
        let v: Vec<f32> = t.into_data().iter::<f32>().collect();
        v.iter().map(|x| (x - around).abs()).sum::<f32>() / v.len() as f32
    };
    for (mode, toward) in [(SplineDecay::One, 1.0f32), (SplineDecay::Zero, 0.0)] {
        let g: Generator<AD> = tiny(GeneratorStrategy::DistinctIds, 4)
            .with_spline_decay(mode)
            .init(&dev);
        let before = mean_abs(g.coefficients(), toward);
        // A zero loss: every gradient is 0, so only the decay moves the parameters.
        let loss = g.forward(ids(&[1, 2, 3])).unwrap().sum() * 0.0;
        let grads = GradientsParams::from_grads(loss.backward(), &g);
        let mut opt = AdamWConfig::new().with_weight_decay(0.5).init();
        let g = opt.step(0.5, g, grads);
        let after = mean_abs(g.coefficients(), toward);
        // One step shrinks the parameter by 1 - lr wd = 0.75.
        assert!(
            (after / before - 0.75).abs() < 1e-3,
            "{mode:?}: mean |S - {toward}| {before} -> {after}"
        );
    }
    // The initial coefficients are the same under every parameterisation: S ~ N(1, 0.1^2).
    let s = |mode| {
        <AD as burn::tensor::backend::Backend>::seed(&dev, 3);
        let g: Generator<AD> = tiny(GeneratorStrategy::DistinctIds, 4)
            .with_spline_decay(mode)
            .init(&dev);
        mean_abs(g.coefficients(), 1.0)
    };
    let (one, zero) = (s(SplineDecay::One), s(SplineDecay::Zero));
    assert!(
        (one - zero).abs() < 1e-6 && one > 0.05 && one < 0.12,
        "{one} {zero}"
    );
    // Only `Exempt` takes S out of the decayed set.
    for mode in [SplineDecay::One, SplineDecay::Exempt, SplineDecay::Zero] {
        let g: Generator<AD> = tiny(GeneratorStrategy::DistinctIds, 4)
            .with_spline_decay(mode)
            .init(&dev);
        let exempt = exempt_params::<AD, _>(&g, mode);
        assert_eq!(
            exempt.contains(&g.spline.id),
            mode == SplineDecay::Exempt,
            "{mode:?}"
        );
        // The codebooks and LayerNorm are always exempt; the projections never.
        assert!(exempt.contains(&g.codebooks.id) && !exempt.contains(&g.w_out.id));
    }
}
