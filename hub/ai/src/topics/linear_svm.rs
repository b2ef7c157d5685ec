//! One-vs-rest linear support vector machines trained by dual coordinate descent, as liblinear's
//! `L2R_L2LOSS_SVC_DUAL` solver (scikit-learn's `LinearSVC`) does: L2-regularized squared hinge
//! loss, a bias learnt as the weight of a constant feature, random order and shrinking of the
//! rows that cannot move. Hsieh et al., "A dual coordinate descent method for large-scale
//! linear SVM", ICML 2008.
//!
//! Each class is an independent problem with its own generator, so the classes are shared out
//! over threads and the result does not depend on how many there are.

use super::{Rng, Sparse};

/// Knobs of the solver.
#[derive(Clone, Debug)]
pub(super) struct SvmConfig {
    /// Cost of a margin violation (liblinear's `C`); higher fits the training rows more closely.
    pub cost: f32,
    /// Stop when the projected gradient's spread falls below this (liblinear's `eps`).
    pub tolerance: f32,
    /// Passes over the rows at most, per class.
    pub max_passes: usize,
    pub seed: u64,
}

/// Weights in the layout prediction reads: `weights[feature * classes + class]`.
pub(super) struct Linear {
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
}

/// The value of the constant feature whose weight is the bias (liblinear's `-B 1`).
const BIAS_FEATURE: f32 = 1.0;

/// Trains one binary machine per class (its rows against all others).
pub(super) fn fit(
    xs: &[Sparse],
    ys: &[usize],
    features: usize,
    classes: usize,
    config: &SvmConfig,
) -> Linear {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, classes.max(1));
    let per_class: Vec<(Vec<f32>, f32)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|worker| {
                scope.spawn(move || {
                    (worker..classes)
                        .step_by(threads)
                        .map(|class| (class, fit_binary(xs, ys, class, features, config)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut trained: Vec<(usize, (Vec<f32>, f32))> = workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect();
        trained.sort_by_key(|(class, _)| *class);
        trained.into_iter().map(|(_, machine)| machine).collect()
    });
    let mut weights = vec![0.0f32; features * classes];
    let mut bias = vec![0.0f32; classes];
    for (class, (w, b)) in per_class.into_iter().enumerate() {
        for (feature, value) in w.into_iter().enumerate() {
            weights[feature * classes + class] = value;
        }
        bias[class] = b;
    }
    Linear { weights, bias }
}

/// The dual coordinate descent for one class; returns its weights and bias.
fn fit_binary(
    xs: &[Sparse],
    ys: &[usize],
    class: usize,
    features: usize,
    config: &SvmConfig,
) -> (Vec<f32>, f32) {
    let rows = xs.len();
    let mut w = vec![0.0f32; features];
    let mut bias = 0.0f32;
    let mut alpha = vec![0.0f32; rows];
    // Squared hinge loss: the dual has no upper bound and a diagonal of 1 / (2C).
    let diagonal = 0.5 / config.cost;
    let sign: Vec<f32> = ys
        .iter()
        .map(|&y| if y == class { 1.0 } else { -1.0 })
        .collect();
    let curvature: Vec<f32> = xs
        .iter()
        .map(|x| diagonal + x.iter().map(|(_, v)| v * v).sum::<f32>() + BIAS_FEATURE.powi(2))
        .collect();
    let mut order: Vec<usize> = (0..rows).collect();
    let mut active = rows;
    let mut rng = Rng(config.seed ^ (class as u64).wrapping_mul(0x9e37_79b9));
    // Without an upper bound on alpha only the largest projected gradient shrinks rows.
    let mut max_old = f32::INFINITY;
    for _ in 0..config.max_passes {
        let (mut max_new, mut min_new) = (f32::NEG_INFINITY, f32::INFINITY);
        rng.shuffle(&mut order[..active]);
        let mut s = 0;
        while s < active {
            let i = order[s];
            let x = &xs[i];
            let y = sign[i];
            let margin =
                x.iter().map(|&(f, v)| w[f as usize] * v).sum::<f32>() + bias * BIAS_FEATURE;
            let gradient = y * margin - 1.0 + diagonal * alpha[i];
            let mut projected = gradient;
            if alpha[i] == 0.0 {
                if gradient > max_old {
                    // At its bound and pushing outwards: leave it out until the end.
                    active -= 1;
                    order.swap(s, active);
                    continue;
                }
                projected = projected.min(0.0);
            }
            max_new = max_new.max(projected);
            min_new = min_new.min(projected);
            if projected.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (old - gradient / curvature[i]).max(0.0);
                let step = (alpha[i] - old) * y;
                for &(f, v) in x {
                    w[f as usize] += step * v;
                }
                bias += step * BIAS_FEATURE;
            }
            s += 1;
        }
        if max_new - min_new <= config.tolerance {
            if active == rows {
                break;
            }
            // Converged on the active rows: check once more on all of them.
            active = rows;
            max_old = f32::INFINITY;
            continue;
        }
        max_old = if max_new <= 0.0 {
            f32::INFINITY
        } else {
            max_new
        };
    }
    (w, bias)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SvmConfig {
        SvmConfig {
            cost: 1.0,
            tolerance: 0.01,
            max_passes: 1000,
            seed: 7,
        }
    }

    fn scores(linear: &Linear, x: &Sparse, classes: usize) -> Vec<f32> {
        let mut out = linear.bias.clone();
        for &(f, v) in x {
            for (class, o) in out.iter_mut().enumerate() {
                *o += linear.weights[f as usize * classes + class] * v;
            }
        }
        out
    }

    #[test]
    fn separable_rows_are_learnt_exactly_with_a_margin() {
        // Three classes, each owning two features; rows mix in a shared noise feature.
        let xs: Vec<Sparse> = (0..30)
            .map(|i| {
                let class = (i % 3) as u32;
                vec![(class * 2, 0.8), (class * 2 + 1, 0.5), (6, 0.3)]
            })
            .collect();
        let ys: Vec<usize> = (0..30).map(|i| i % 3).collect();
        let linear = fit(&xs, &ys, 7, 3, &config());
        for (x, &y) in xs.iter().zip(&ys) {
            let s = scores(&linear, x, 3);
            for (class, score) in s.iter().enumerate() {
                if class == y {
                    assert!(*score > 0.5, "{s:?}");
                } else {
                    assert!(*score < -0.5, "{s:?}");
                }
            }
        }
    }

    #[test]
    fn training_is_deterministic() {
        let xs: Vec<Sparse> = (0..40)
            .map(|i| vec![((i % 5) as u32, 1.0), (5 + (i % 7) as u32, 0.5)])
            .collect();
        let ys: Vec<usize> = (0..40).map(|i| i % 4).collect();
        let a = fit(&xs, &ys, 12, 4, &config());
        let b = fit(&xs, &ys, 12, 4, &config());
        assert_eq!(a.weights, b.weights);
        assert_eq!(a.bias, b.bias);
    }
}
