//! The RobustDARTS early-stop rule on the dominant Hessian eigenvalue λmax (see docs/algorithms.md, "DARTS-ES"), as the
//! reference class `EVLocalAvg` (automl/RobustDARTS `src/utils.py`, copied unchanged into SGAS-es)
//! behaves, including its edge cases.
//!
//! λmax is smoothed by a local average over `window` consecutive evaluations; the search stops when
//! the newest local average exceeds the one `delta` evaluations earlier by more than `factor`, and
//! the architecture to keep is the one of the epoch that earlier average is centred on.

use std::collections::BTreeMap;

/// Why a tracker could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EarlyStopError {
    #[error("early-stop window must be at least 1 (it is the number of λmax values averaged)")]
    ZeroWindow,
    #[error("early-stop ev_freq must be at least 1 (it is the epoch stride between λmax evaluations)")]
    ZeroEvFreq,
}

/// The λmax stop rule shared by DARTS-ES and SGAS-es: the `[early_stop]` section of a search
/// config. A local average of `window` consecutive λmax values is compared with the one `delta`
/// evaluations earlier; the rule fires when it grew by more than `factor`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaRule {
    /// λmax values per local average.
    pub window: usize,
    /// How many local averages back the comparison looks.
    pub delta: usize,
    /// Fire when LA_now / LA_then > factor (strictly).
    pub factor: f64,
    /// No stop may point before this epoch: counted from the run's start (DARTS-ES) or from each
    /// phase's first epoch (SGAS-es).
    pub start_epoch: usize,
}

impl LambdaRule {
    /// RobustDARTS `src/search/args.py`: window 5, delta 4, factor 1.3, start epoch 10.
    pub fn robust_darts() -> Self {
        LambdaRule { window: 5, delta: 4, factor: 1.3, start_epoch: 10 }
    }

    /// SGAS-es `train_search.py`: window 3, delta 4, factor 1.3, from each phase's first epoch.
    pub fn sgas_es() -> Self {
        LambdaRule { window: 3, delta: 4, factor: 1.3, start_epoch: 0 }
    }
}

/// `np.mean` of a list of floats, bit for bit: numpy sums float64 pairwise (8 running partial sums
/// per block of up to 128 values, recursive halves above that), then divides by the count. For
/// the windows used in practice (3, 5) this is a plain left-to-right sum.
fn numpy_mean(values: &[f64]) -> f64 {
    fn pairwise_sum(a: &[f64]) -> f64 {
        let n = a.len();
        if n < 8 {
            a.iter().fold(-0.0, |s, &x| s + x)
        } else if n <= 128 {
            let mut r = [0.0; 8];
            r.copy_from_slice(&a[..8]);
            let whole = n - n % 8;
            let mut i = 8;
            while i < whole {
                for j in 0..8 {
                    r[j] += a[i + j];
                }
                i += 8;
            }
            let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for &x in &a[whole..] {
                res += x;
            }
            res
        } else {
            let mut n2 = n / 2;
            n2 -= n2 % 8;
            pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
        }
    }
    pairwise_sum(values) / values.len() as f64
}

/// The local-average tracker (`EVLocalAvg`) without the per-epoch genotypes: the search loop keeps
/// a checkpoint per epoch and reloads the one of the returned stop epoch instead.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "RawLocalAverage")]
pub struct LocalAverage {
    window: usize,
    ev_freq: usize,
    total_epochs: usize,
    ev: Vec<f64>,
    local_avg: Vec<f64>,
    /// Epoch of each update → epoch its newest local average is centred on (−1 while too few
    /// values exist). Epochs without an update have no entry, as in the reference dict.
    la_epochs: BTreeMap<usize, i64>,
}

#[derive(serde::Deserialize)]
struct RawLocalAverage {
    window: usize,
    ev_freq: usize,
    total_epochs: usize,
    ev: Vec<f64>,
    local_avg: Vec<f64>,
    la_epochs: BTreeMap<usize, i64>,
}

impl TryFrom<RawLocalAverage> for LocalAverage {
    type Error = EarlyStopError;

    fn try_from(r: RawLocalAverage) -> Result<Self, Self::Error> {
        let mut t = LocalAverage::new(r.window, r.ev_freq, r.total_epochs)?;
        t.ev = r.ev;
        t.local_avg = r.local_avg;
        t.la_epochs = r.la_epochs;
        Ok(t)
    }
}

impl LocalAverage {
    /// `total_epochs` is the planned search length: at its last epoch the reference closes the
    /// series differently (see [`LocalAverage::update`]).
    pub fn new(window: usize, ev_freq: usize, total_epochs: usize) -> Result<Self, EarlyStopError> {
        if window == 0 {
            return Err(EarlyStopError::ZeroWindow);
        }
        if ev_freq == 0 {
            return Err(EarlyStopError::ZeroEvFreq);
        }
        Ok(LocalAverage {
            window,
            ev_freq,
            total_epochs,
            ev: Vec::new(),
            local_avg: Vec::new(),
            la_epochs: BTreeMap::new(),
        })
    }

    /// RobustDARTS defaults: window 5, λmax every 2 epochs.
    pub fn robust_darts(total_epochs: usize) -> Self {
        LocalAverage {
            window: 5,
            ev_freq: 2,
            total_epochs,
            ev: Vec::new(),
            local_avg: Vec::new(),
            la_epochs: BTreeMap::new(),
        }
    }

    pub fn window(&self) -> usize {
        self.window
    }

    pub fn ev_freq(&self) -> usize {
        self.ev_freq
    }

    pub fn total_epochs(&self) -> usize {
        self.total_epochs
    }

    /// λmax values in update order.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.ev
    }

    /// Local averages in the order they were formed.
    pub fn local_averages(&self) -> &[f64] {
        &self.local_avg
    }

    /// The epoch the newest local average at update `epoch` is centred on (−1 before the first
    /// one); `None` if `epoch` had no update.
    pub fn la_epoch(&self, epoch: usize) -> Option<i64> {
        self.la_epochs.get(&epoch).copied()
    }

    /// Records λmax of `epoch`.
    ///
    /// A local average is formed once ⌈window/2⌉ values exist: the mean of all values while fewer
    /// than `window` exist, then of the newest `window`. It is attributed to epoch
    /// `epoch − ev_freq·⌊window/2⌋`, the centre of a full window. Before that the epoch maps to −1.
    ///
    /// At the last planned epoch (`total_epochs − 1`) the reference instead appends ⌈window/2⌉
    /// right-truncated averages (of the newest `window`, `window − 1`, … values) to close the
    /// series, and records no centre epoch, so no check can run there. With fewer than `window`
    /// values at that point the reference fails an assertion; here the averages then start from
    /// the oldest value. Updates past the last planned epoch only store the value.
    pub fn update(&mut self, epoch: usize, ev: f64) {
        self.ev.push(ev);
        let n = self.ev.len();
        let half_up = self.window.div_ceil(2);
        let last = self.total_epochs.checked_sub(1);
        if n >= half_up && last.is_none_or(|l| epoch < l) {
            let from = n.saturating_sub(self.window);
            self.local_avg.push(numpy_mean(&self.ev[from..]));
            let centre = epoch as i64 - (self.ev_freq * (self.window / 2)) as i64;
            self.la_epochs.insert(epoch, centre);
        } else if n < half_up {
            self.la_epochs.insert(epoch, -1);
        } else if Some(epoch) == last {
            let from = n.saturating_sub(self.window);
            for i in 0..half_up {
                self.local_avg.push(numpy_mean(&self.ev[from + i..]));
            }
        }
    }

    /// The stop test after the update of `epoch`; `Some(stop_epoch)` when it fires.
    ///
    /// Runs only once `la_epoch(epoch) − ev_freq·delta >= es_start_epoch`, i.e. once the earlier
    /// average lies at or after `es_start_epoch`. Fires iff LA[−1] / LA[−1−delta] > factor
    /// (strict, IEEE division: a zero earlier average gives ±∞ or NaN, as numpy does). The stop
    /// epoch is the centre of LA[−1−delta].
    ///
    /// `None` also where the reference would raise: an epoch without an update (`KeyError`),
    /// fewer than `delta + 1` averages (`IndexError`), or a stop epoch before this tracker's first
    /// update (possible when `start_epoch` precedes the first λmax and the window is even; the
    /// reference raises there). So a returned stop epoch always had a λmax of this tracker.
    pub fn check(&self, epoch: usize, factor: f64, start_epoch: usize, delta: usize) -> Option<usize> {
        let centre = *self.la_epochs.get(&epoch)?;
        let stop_epoch = centre - (self.ev_freq * delta) as i64;
        let first_update = *self.la_epochs.keys().next()? as i64;
        if stop_epoch < start_epoch as i64 || stop_epoch < first_update {
            return None;
        }
        let n = self.local_avg.len();
        if n < delta + 1 {
            return None;
        }
        let current = self.local_avg[n - 1];
        let previous = self.local_avg[n - 1 - delta];
        // `stop_epoch >= start_epoch >= 0`, so the conversion is lossless.
        (current / previous > factor).then_some(stop_epoch as usize)
    }

    /// [`LocalAverage::check`] with the thresholds of `rule`.
    pub fn check_rule(&self, epoch: usize, rule: &LambdaRule) -> Option<usize> {
        self.check(epoch, rule.factor, rule.start_epoch, rule.delta)
    }

    /// Forgets every value, as a freshly built tracker.
    ///
    /// The reference `reset()` clears the lists but not its window indices, so a tracker reused
    /// after it would average the wrong slice (or fail an assertion); neither reference search
    /// calls it — both build a new tracker — so this does what they do.
    pub fn reset(&mut self) {
        self.ev.clear();
        self.local_avg.clear();
        self.la_epochs.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `evs` at epochs `start, start + ev_freq, …` and returns, per update, the epoch and
    /// what `check` says.
    fn run(t: &mut LocalAverage, start: usize, evs: &[f64], rule: LambdaRule) -> Vec<(usize, Option<usize>)> {
        let freq = t.ev_freq();
        evs.iter()
            .enumerate()
            .map(|(i, &ev)| {
                let epoch = start + i * freq;
                t.update(epoch, ev);
                (epoch, t.check_rule(epoch, &rule))
            })
            .collect()
    }

    fn first_stop(steps: &[(usize, Option<usize>)]) -> Option<(usize, usize)> {
        steps.iter().find_map(|&(e, s)| s.map(|s| (e, s)))
    }

    fn sgas_es_rule(es_start: usize) -> LambdaRule {
        LambdaRule { start_epoch: es_start, ..LambdaRule::sgas_es() }
    }

    #[test]
    fn window3_jump_after_six_flat_epochs_stops_at_epoch_1() {
        // SGAS-es rule (docs/algorithms.md#sgas-es): window 3, ev_freq 1: LA(k) = mean(ev[k−1..=k+1]), the first = mean(ev0, ev1).
        // e6: LA = [e1: 1, e2..e5: 1, e6: (1+1+2)/3] centred 0..5; check active since 5 − 4 ≥ 0;
        // 4/3 / 1 > 1.3 ⇒ stop_epoch = 5 − 4 = 1.
        let mut t = LocalAverage::new(3, 1, 125).unwrap();
        let steps = run(&mut t, 0, &[1., 1., 1., 1., 1., 1., 2.], sgas_es_rule(0));
        assert_eq!(first_stop(&steps), Some((6, 1)));
        assert_eq!(steps[..6].iter().filter(|s| s.1.is_some()).count(), 0);
        assert_eq!(t.la_epoch(0), Some(-1));
        assert_eq!(t.la_epoch(1), Some(0));
        assert_eq!(t.la_epoch(6), Some(5));
        let la = t.local_averages();
        assert_eq!(la.len(), 6);
        assert_eq!(la[5], 4.0 / 3.0);
    }

    #[test]
    fn phase_starting_at_10_with_a_jump_at_15_stops_at_epoch_10() {
        // A fresh tracker from e = 10, es_start = 10: check first active at e = 15
        // (la_epoch 14, 14 − 4 = 10 ≥ 10) and LA[−5] is the first average (centred 10).
        let mut t = LocalAverage::new(3, 1, 125).unwrap();
        let steps = run(&mut t, 10, &[1., 1., 1., 1., 1., 2.], sgas_es_rule(10));
        assert_eq!(first_stop(&steps), Some((15, 10)));
    }

    #[test]
    fn robust_darts_defaults_compare_la_e_minus_4_with_la_e_minus_12() {
        // Window 5, λ every 2 epochs, es_start 10: la_epoch(e) = e − 4; active from e − 12 ≥ 10.
        // λ = 1 at 0..=28, 3 at 30 ⇒ LA(26) = (1+1+1+1+3)/5 = 1.4, LA(18) = 1 ⇒ stop_epoch 18.
        let mut evs = vec![1.0; 15];
        evs.push(3.0);
        let mut t = LocalAverage::robust_darts(50);
        let steps = run(&mut t, 0, &evs, LambdaRule::robust_darts());
        assert_eq!(first_stop(&steps), Some((30, 18)));
        assert_eq!(t.la_epoch(30), Some(26));
        // The same jump before the check is active is not acted on later: λ = 3 at e = 10 only,
        // then flat. At e = 22 (first check) LA(18) = 1 and LA(10) = 1.4 ⇒ ratio < 1.
        let mut evs = vec![1.0; 25];
        evs[5] = 3.0;
        let mut t = LocalAverage::robust_darts(50);
        let steps = run(&mut t, 0, &evs, LambdaRule::robust_darts());
        assert_eq!(first_stop(&steps), None);
        // Checks ran from e = 22 on: 22 − 4 − 8 = 10.
        let expected_first_active = 22;
        assert_eq!(t.la_epoch(expected_first_active), Some(18));
    }

    #[test]
    fn a_smooth_rise_triggers_once_the_steady_ratio_exceeds_the_factor() {
        // Growth 1.07 per evaluation, window 3, ev_freq 1, es_start 0. Steady state:
        // LA[−1]/LA[−5] = 1.07⁴ = 1.31079601 > 1.3. The first check (e = 5) compares with the
        // 2-value first average (1 + 1.07)/2, which lags, so the ratio is only ≈ 1.268 there; it
        // fires at e = 6 with stop_epoch 1. A Python re-typing of EVLocalAvg prints the same
        // (6, 1, 1.3107960100000002).
        let evs: Vec<f64> = (0..10).map(|i| 1.07f64.powi(i)).collect();
        let mut t = LocalAverage::new(3, 1, 125).unwrap();
        let steps = run(&mut t, 0, &evs, sgas_es_rule(0));
        assert_eq!(first_stop(&steps), Some((6, 1)));
        assert_eq!(steps[5].1, None);
        // Growth 1.06: 1.06⁴ ≈ 1.2625 < 1.3, never fires.
        let evs: Vec<f64> = (0..10).map(|i| 1.06f64.powi(i)).collect();
        let mut t = LocalAverage::new(3, 1, 125).unwrap();
        assert_eq!(first_stop(&run(&mut t, 0, &evs, sgas_es_rule(0))), None);
    }

    #[test]
    fn flat_and_decreasing_sequences_never_trigger() {
        for evs in [vec![2.5; 40], (0..40).map(|i| 10.0 - 0.2 * i as f64).collect()] {
            let mut t = LocalAverage::new(3, 1, 125).unwrap();
            assert_eq!(first_stop(&run(&mut t, 0, &evs, sgas_es_rule(0))), None);
            let mut t = LocalAverage::robust_darts(200);
            let steps = run(&mut t, 0, &evs, LambdaRule::robust_darts());
            assert_eq!(first_stop(&steps), None);
        }
    }

    #[test]
    fn a_ratio_of_exactly_the_factor_does_not_trigger() {
        // LA 10 → 13: mean(10, 10, 19) = 39/3 = 13 exactly, and 13/10 rounds to the double 1.3,
        // so `>` is false. A hair more fires.
        let mut t = LocalAverage::new(3, 1, 125).unwrap();
        let evs = [10., 10., 10., 10., 10., 10., 19.];
        assert_eq!(13.0 / 10.0, 1.3);
        assert_eq!(first_stop(&run(&mut t, 0, &evs, sgas_es_rule(0))), None);
        assert_eq!(t.local_averages()[5], 13.0);
        let mut t = LocalAverage::new(3, 1, 125).unwrap();
        let evs = [10., 10., 10., 10., 10., 10., 19.000001];
        assert_eq!(first_stop(&run(&mut t, 0, &evs, sgas_es_rule(0))), Some((6, 1)));
    }

    #[test]
    fn last_planned_epoch_closes_the_series_without_a_centre() {
        // total 8, window 3: at e = 7 the reference appends ⌈3/2⌉ = 2 truncated means —
        // mean(ev5, ev6, ev7) and mean(ev6, ev7) — and no la_epoch.
        let mut t = LocalAverage::new(3, 1, 8).unwrap();
        for e in 0..8 {
            t.update(e, e as f64);
        }
        assert_eq!(t.la_epoch(7), None);
        assert_eq!(t.check(7, 1.0, 0, 1), None);
        let la = t.local_averages();
        // e1: mean(0,1); e2..e6: mean of 3; e7: mean(5,6,7), mean(6,7).
        assert_eq!(la, &[0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 6.5]);
        // Past the planned end only the value is kept.
        t.update(8, 100.0);
        assert_eq!(t.local_averages().len(), 8);
        assert_eq!(t.eigenvalues().len(), 9);
    }

    #[test]
    fn missing_epochs_and_short_series_do_not_panic() {
        let mut t = LocalAverage::robust_darts(50);
        t.update(0, 1.0);
        // Odd epochs have no update; the reference would raise KeyError.
        assert_eq!(t.check(1, 1.3, 0, 4), None);
        // Too few averages for LA[−1−delta] with a negative-leaning start.
        let mut t = LocalAverage::new(1, 1, 50).unwrap();
        t.update(20, 1.0);
        t.update(21, 5.0);
        assert_eq!(t.check(21, 1.3, 0, 4), None);
        assert_eq!(t.check(21, 1.3, 0, 1), Some(20));
    }

    #[test]
    fn numpy_mean_matches_numpy_bits() {
        // Values printed by numpy 2.4 `np.mean`: 0.1 × 10 sums pairwise to exactly 1.0, where a
        // left-to-right sum gives 0.9999999999999999.
        assert_eq!(numpy_mean(&[0.1; 10]), 0.1);
        let left_to_right: f64 = [0.1; 10].iter().sum();
        assert_ne!(left_to_right / 10.0, 0.1);
        let v: Vec<f64> = (0..200).map(|i| 1.0 / (i as f64 + 1.0)).collect();
        assert_eq!(numpy_mean(&v), NUMPY_MEAN_HARMONIC_200);
        assert_eq!(numpy_mean(&[1.0, 2.0, 4.0]), 7.0 / 3.0);
    }

    /// `np.mean([1/(i+1) for i in range(200)])`, printed with `repr`.
    /// (A left-to-right sum gives 0.02939015474060723.)
    const NUMPY_MEAN_HARMONIC_200: f64 = 0.029390154740607223;

    #[test]
    fn reset_and_serde_round_trip() {
        let mut t = LocalAverage::new(3, 1, 125).unwrap();
        for e in 0..5 {
            t.update(e, 1.0 + e as f64);
        }
        let json = serde_json::to_string(&t).unwrap();
        let mut back: LocalAverage = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
        t.update(5, 9.0);
        back.update(5, 9.0);
        assert_eq!(back.check(5, 1.3, 0, 4), t.check(5, 1.3, 0, 4));
        t.reset();
        assert_eq!(t, LocalAverage::new(3, 1, 125).unwrap());
        let bad = json.replace("\"window\":3", "\"window\":0");
        assert!(serde_json::from_str::<LocalAverage>(&bad)
            .unwrap_err()
            .to_string()
            .contains("window must be at least 1"));
        assert_eq!(LocalAverage::new(3, 0, 10), Err(EarlyStopError::ZeroEvFreq));
    }

    #[test]
    fn no_stop_epoch_before_the_trackers_first_update() {
        // Window 2 (even), λ every epoch, updates from epoch 5: the first average is centred on
        // epoch 4, before any λ of this tracker. At epoch 6 the rule (delta 1, start 0) would point
        // to epoch 4, where the reference raises; here it is no stop.
        let mut t = LocalAverage::new(2, 1, 100).unwrap();
        t.update(5, 1.0);
        t.update(6, 10.0);
        assert_eq!(t.check(6, 1.3, 0, 1), None, "stop epoch 4 precedes the first update at 5");
        // One epoch later the rule points to epoch 5, which had a λ: LA 55 / 5.5 > 1.3 fires.
        t.update(7, 100.0);
        assert_eq!(t.check(7, 1.3, 0, 1), Some(5));
    }
}
