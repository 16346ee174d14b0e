//! Pruning bookkeeping on a toy space with hand-made scores: no tensors, every number derivable.

use super::*;
use crate::oneshot::{Feature, Nb201RankSpace, PARAMS};
use crate::rank::GroundTruth;
use rand::SeedableRng;

/// Two slots `a` and `b`, each choosing among x, y, z: nine architectures written `x-y`.
struct Toy;

const TOY_FEATURES: [Feature; 1] = [Feature { name: PARAMS, high: "big", low: "small" }];

impl RankSpace for Toy {
    fn name(&self) -> &'static str {
        "toy"
    }
    fn canonical(&self, text: &str) -> Result<String, ArchError> {
        let ok = text.len() == 3 && text.as_bytes()[1] == b'-' && text.chars().step_by(2).all(|c| "xyz".contains(c));
        ok.then(|| text.to_string()).ok_or_else(|| ArchError { space: "toy", text: text.into(), reason: "bad".into() })
    }
    fn sample(&self, _: &mut ChaCha8Rng) -> String {
        "x-x".into()
    }
    fn enumerate(&self) -> Option<Vec<String>> {
        Some(["x", "y", "z"].iter().flat_map(|a| ["x", "y", "z"].iter().map(move |b| format!("{a}-{b}"))).collect())
    }
    fn features(&self) -> &'static [Feature] {
        &TOY_FEATURES
    }
    fn feature_values(&self, _: &str) -> Result<Vec<f64>, ArchError> {
        Ok(vec![0.0])
    }
    fn params_note(&self) -> String {
        String::new()
    }
    fn slots(&self) -> Vec<String> {
        vec!["a".into(), "b".into()]
    }
    fn choices(&self, c: &str) -> Result<Vec<String>, ArchError> {
        Ok(self.canonical(c)?.split('-').map(String::from).collect())
    }
}

/// score(a-b) = value(a) * 10 + value(b) with x = 1, y = 2, z = 3: `z-z` is best (33), `x-x` worst (11).
fn toy_scores() -> BTreeMap<String, f64> {
    let v = |c: &str| match c {
        "x" => 1.0,
        "y" => 2.0,
        _ => 3.0,
    };
    Toy.enumerate().unwrap().into_iter().map(|s| (s.clone(), v(&s[..1]) * 10.0 + v(&s[2..]))).collect()
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

#[test]
fn removal_counts_round_and_never_take_all() {
    assert_eq!(removal_count(9, 0.5), 5); // 4.5 rounds away from zero
    assert_eq!(removal_count(10, 0.25), 3); // 2.5 → 3
    assert_eq!(removal_count(10, 0.01), 1, "at least one");
    assert_eq!(removal_count(10, 1.0), 9, "never all");
    assert_eq!((removal_count(1, 0.5), removal_count(0, 0.5)), (0, 0));
}

#[test]
fn architecture_pruning_removes_the_worst_scored() {
    let all = Toy.enumerate().unwrap();
    let step = prune_archs(&all, &toy_scores(), 0.5).unwrap();
    // Scores 11 12 13 21 22 23 31 32 33: the five lowest are x-x x-y x-z y-x y-y.
    assert_eq!(step.survivors, ["y-z", "z-x", "z-y", "z-z"]);
    assert_eq!(step.removed_archs, 5);
    // Ties go by canonical string, the larger first, whatever order the survivors came in.
    let tied: BTreeMap<String, f64> = all.iter().map(|a| (a.clone(), 1.0)).collect();
    let mut reversed = all.clone();
    reversed.reverse();
    let a = prune_archs(&all, &tied, 0.34).unwrap().survivors;
    let b = prune_archs(&reversed, &tied, 0.34).unwrap().survivors;
    assert_eq!(a, ["x-x", "x-y", "x-z", "y-x", "y-y", "y-z"]);
    assert_eq!(b.iter().rev().collect::<Vec<_>>(), a.iter().collect::<Vec<_>>());
}

#[test]
fn architecture_pruning_refuses_unscored_survivors() {
    let all = Toy.enumerate().unwrap();
    let mut s = toy_scores();
    s.remove("y-y");
    let e = prune_archs(&all, &s, 0.5).unwrap_err().to_string();
    assert!(e.contains("1 of 9") && e.contains("y-y") && e.contains("score_sample = 0"), "{e}");
}

#[test]
fn marginal_scores_by_hand() {
    let all = Toy.enumerate().unwrap();
    let m = marginals(&all, &toy_scores(), &Toy).unwrap();
    let get = |slot: &str, op: &str| m.iter().find(|m| m.choice.slot == slot && m.choice.op == op).unwrap();
    // a = x: (11 + 12 + 13) / 3 = 12; b = x: (11 + 21 + 31) / 3 = 21.
    assert_eq!((get("a", "x").mean_score, get("a", "x").scored), (Some(12.0), 3));
    assert_eq!(get("b", "x").mean_score, Some(21.0));
    assert_eq!(get("a", "z").mean_score, Some(32.0));
    // Only scored survivors count: without x-x, a = x averages 12.5 over two.
    let mut s = toy_scores();
    s.remove("x-x");
    let m = marginals(&all, &s, &Toy).unwrap();
    let ax = m.iter().find(|m| m.choice == Choice { slot: "a".into(), op: "x".into() }).unwrap();
    assert_eq!((ax.mean_score, ax.scored), (Some(12.5), 2));
}

#[test]
fn op_pruning_removes_low_marginals_and_keeps_a_choice_per_slot() {
    let all = Toy.enumerate().unwrap();
    // Marginals: a = x 12, y 22, z 32; b = x 21, y 22, z 23. A third of six choices is two: the
    // lowest, a=x (12) and b=x (21).
    let step = prune_ops(&all, &toy_scores(), &Toy, 0.34).unwrap();
    let removed: Vec<String> =
        step.removed_choices.iter().map(|m| format!("{}={}", m.choice.slot, m.choice.op)).collect();
    assert_eq!(removed, ["a=x", "b=x"]);
    assert_eq!(step.survivors, ["y-y", "y-z", "z-y", "z-z"]);
    assert_eq!(step.removed_archs, 5);
    // Asking for almost everything still leaves one choice per slot: z on both.
    let step = prune_ops(&all, &toy_scores(), &Toy, 0.99).unwrap();
    assert_eq!(step.survivors, ["z-z"]);
    let e = prune_ops(&step.survivors, &toy_scores(), &Toy, 0.5).unwrap_err().to_string();
    assert!(e.contains("one choice"), "{e}");
}

#[test]
fn op_pruning_does_not_judge_unscored_choices() {
    let all = Toy.enumerate().unwrap();
    // Nothing with b = x is scored: b = x cannot be removed although it would score lowest.
    let s: BTreeMap<String, f64> = toy_scores().into_iter().filter(|(a, _)| !a.ends_with('x')).collect();
    let step = prune_ops(&all, &s, &Toy, 0.2).unwrap();
    assert_eq!(step.removed_choices.len(), 1);
    assert_eq!(step.removed_choices[0].choice, Choice { slot: "a".into(), op: "x".into() });
}

#[test]
fn random_baselines_remove_as_many_reproducibly() {
    let all = Toy.enumerate().unwrap();
    let a = random_archs(&all, 0.5, &mut rng(1));
    assert_eq!((a.survivors.len(), a.removed_archs), (4, 5));
    assert_eq!(a, random_archs(&all, 0.5, &mut rng(1)), "seeded");
    let differ = (2..10).any(|s| random_archs(&all, 0.5, &mut rng(s)).survivors != a.survivors);
    assert!(differ, "other seeds remove other architectures");
    let o = random_ops(&all, &Toy, 0.34, &mut rng(1)).unwrap();
    assert_eq!(o.removed_choices.len(), 2);
    assert_eq!(o, random_ops(&all, &Toy, 0.34, &mut rng(1)).unwrap());
    // Whatever was drawn, every survivor avoids the removed choices and each slot keeps one.
    for seed in 0..20 {
        let o = random_ops(&all, &Toy, 0.99, &mut rng(seed)).unwrap();
        assert_eq!(o.survivors.len(), 1, "seed {seed}: {:?}", o.survivors);
    }
}

#[test]
fn op_pruning_needs_slots() {
    struct NoSlots;
    impl RankSpace for NoSlots {
        fn name(&self) -> &'static str {
            "flat"
        }
        fn canonical(&self, t: &str) -> Result<String, ArchError> {
            Ok(t.into())
        }
        fn sample(&self, _: &mut ChaCha8Rng) -> String {
            "a".into()
        }
        fn features(&self) -> &'static [Feature] {
            &TOY_FEATURES
        }
        fn feature_values(&self, _: &str) -> Result<Vec<f64>, ArchError> {
            Ok(vec![0.0])
        }
        fn params_note(&self) -> String {
            String::new()
        }
    }
    let e = prune_ops(&["a".into()], &BTreeMap::new(), &NoSlots, 0.5).unwrap_err().to_string();
    assert!(e.contains("flat") && e.contains("unit = \"arch\""), "{e}");
    let e = split_by_slots(&["a".into()], &NoSlots, &[0]).unwrap_err().to_string();
    assert!(e.contains("no per-slot choices"), "{e}");
}

#[test]
fn scoring_samples_are_seeded_subsets_in_survivor_order() {
    let all = Toy.enumerate().unwrap();
    assert_eq!(to_score(&all, 0, &mut rng(0)), all);
    assert_eq!(to_score(&all, 20, &mut rng(0)), all);
    let s = to_score(&all, 4, &mut rng(3));
    assert_eq!(s.len(), 4);
    assert_eq!(s, to_score(&all, 4, &mut rng(3)));
    let pos: Vec<usize> = s.iter().map(|a| all.iter().position(|b| b == a).unwrap()).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{pos:?}");
}

#[test]
fn truth_summary_by_hand() {
    let all = Toy.enumerate().unwrap();
    let truth = GroundTruth::from_pairs("t", toy_scores());
    // Top 10% of 9: ceil(0.9) = 1 (z-z); top 1%: also at least one.
    let top10 = record::top_percent(&all, &truth, 10.0);
    assert_eq!(top10.iter().collect::<Vec<_>>(), ["z-z"]);
    assert_eq!(record::top_percent(&all, &truth, 30.0).len(), 3); // ceil(2.7)
    let s = TruthSummary::of(&all, &truth, &top10, &top10).unwrap();
    // Sorted 11 12 13 21 22 23 31 32 33: median 22; q25 at position 2 = 13; q75 at position 6 = 31.
    assert_eq!((s.known, s.min, s.q25, s.median, s.q75, s.max), (9, 11.0, 13.0, 22.0, 31.0, 33.0));
    assert_eq!(s.mean, 22.0);
    assert_eq!((s.top10_kept, s.top10_total), (1, 1));
    // Interpolated: four values 11 12 13 21, median = 12.5.
    let four: Vec<String> = all[..4].to_vec();
    let s = TruthSummary::of(&four, &truth, &top10, &top10).unwrap();
    assert_eq!((s.median, s.top10_kept), (12.5, 0));
    assert!(TruthSummary::of(&["q-q".into()], &truth, &top10, &top10).is_none());
}

#[test]
fn nb201_splits_cover_every_cell_once() {
    let space = Nb201RankSpace::default();
    let all = space.enumerate().unwrap();
    for (slots, k) in [(vec![0], 5), (vec![0, 5], 25)] {
        let groups = split_by_slots(&all, &space, &slots).unwrap();
        assert_eq!(groups.len(), k);
        let mut seen: Vec<&String> = groups.values().flatten().collect();
        assert_eq!(seen.len(), all.len(), "no cell twice");
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 15_625, "every cell");
        for (key, members) in &groups {
            assert_eq!(members.len(), 15_625 / k);
            for m in members {
                assert_eq!(&split::group_key(&space, m, &slots).unwrap(), key);
            }
        }
    }
    let groups = split_by_slots(&all, &space, &[0]).unwrap();
    assert!(groups.contains_key("1<-0=skip_connect"), "{:?}", groups.keys());
    let e = split_by_slots(&all, &space, &[6]).unwrap_err().to_string();
    assert!(e.contains("slots 0..5") && e.contains("3<-2"), "{e}");
    assert!(split_by_slots(&all, &space, &[1, 1]).unwrap_err().to_string().contains("twice"));
}
