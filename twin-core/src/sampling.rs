//! Random draws the models share (seeded ChaCha generators everywhere, so runs repeat): a
//! standard normal and a Poisson count.

use rand::Rng;

/// A standard normal draw (Box–Muller).
pub fn standard_normal(rng: &mut impl Rng) -> f64 {
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// A Poisson draw with mean `lambda`: Knuth's product method up to 30, a rounded normal above.
#[allow(clippy::neg_cmp_op_on_partial_ord)] // NaN counts as no arrivals
pub fn poisson(rng: &mut impl Rng, lambda: f64) -> u64 {
    if !(lambda > 0.0) {
        return 0;
    }
    if lambda > 30.0 {
        let x = lambda + lambda.sqrt() * standard_normal(rng);
        return x.round().max(0.0) as u64;
    }
    let limit = (-lambda).exp();
    let mut k = 0;
    let mut p: f64 = rng.random();
    while p > limit {
        k += 1;
        p *= rng.random::<f64>();
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn draws_have_the_right_moments() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let n = 200_000;
        let z: Vec<f64> = (0..n).map(|_| standard_normal(&mut rng)).collect();
        let mean = z.iter().sum::<f64>() / n as f64;
        let var = z.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.02,
            "{mean} {var}"
        );
        for lambda in [0.3, 4.0, 80.0] {
            let k: Vec<f64> = (0..n).map(|_| poisson(&mut rng, lambda) as f64).collect();
            let m = k.iter().sum::<f64>() / n as f64;
            let v = k.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
            assert!((m / lambda - 1.0).abs() < 0.02, "{lambda}: mean {m}");
            assert!((v / lambda - 1.0).abs() < 0.05, "{lambda}: variance {v}");
        }
        assert_eq!(poisson(&mut rng, 0.0), 0);
        assert_eq!(poisson(&mut rng, f64::NAN), 0);
    }
}
