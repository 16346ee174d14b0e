//! The evaluation networks against the reference PyTorch implementations.
//!
//! Golden numbers were produced by running the reference code itself (quark0/darts `NetworkCIFAR`
//! at f276dd3; AutoDL-Projects `TinyNetwork`/`InferCell` at f46486e) under torch 2.11.0 on CPU:
//! parameter counts from `sum(p.numel())`, MACs from forward hooks on Conv2d/Linear (32x32 input,
//! eval mode), and the forward fixtures in `fixtures/` from `torch.manual_seed(0)` weights with every
//! BatchNorm's affine parameters and running statistics randomised (so eval-mode BN is not a no-op).

use oxnas_core::darts::Genotype;
use oxnas_core::nb201::Nb201Arch;
use oxnas_engine::checkpoint;
use oxnas_engine::nn::profile::{darts_profile, nb201_profile};
use oxnas_engine::nn::state_dict;
use oxnas_engine::nn::{DartsNetConfig, DropPath, Nb201NetConfig};
use std::collections::BTreeSet;
use std::path::PathBuf;
use tch::{nn::VarStore, Device};

fn darts_cfg(channels: i64, layers: i64, num_classes: i64, auxiliary: bool, in_channels: i64) -> DartsNetConfig {
    DartsNetConfig { channels, layers, num_classes, in_channels, auxiliary }
}

/// (genotype, C, layers, classes, aux, in_ch, params incl. aux, params excl. aux, MACs at 32x32)
type DartsCase = (&'static str, i64, i64, i64, bool, i64, i64, i64, i64);
/// arch -> [(classes, in_ch, params, MACs at 32x32)]
type Nb201Case = (&'static str, &'static [(i64, i64, i64, i64)]);

#[test]
fn darts_parameter_counts_and_macs_match_reference() {
    // (genotype, C, layers, classes, aux, in_ch) -> (params incl. aux, params excl. aux, MACs at 32x32)
    let cases: &[DartsCase] = &[
        ("DARTS_V2", 36, 20, 10, false, 3, 3_349_342, 3_349_342, 528_359_040),
        ("DARTS_V2", 36, 20, 10, true, 3, 3_825_768, 3_349_342, 528_359_040),
        ("DARTS_V2", 36, 20, 47, true, 1, 3_873_626, 3_368_747, 526_389_696),
        ("DARTS_V2", 16, 8, 10, false, 3, 246_106, 246_106, 43_444_736),
        ("DARTS_V1", 36, 20, 10, false, 3, 3_169_414, 3_169_414, 500_987_520),
        ("DARTS_V1", 36, 20, 10, false, 1, 3_167_470, 3_167_470, 498_996_864),
        ("FashionMNIST_1", 36, 20, 10, true, 3, 4_175_472, 3_699_046, 573_148_800),
        ("FashionMNIST_1", 16, 8, 10, false, 3, 296_378, 296_378, 49_342_976),
        ("FashionMNIST_2", 36, 20, 10, false, 1, 3_280_654, 3_280_654, 510_609_024),
        ("FashionMNIST_2", 36, 20, 47, true, 1, 3_806_882, 3_302_003, 510_630_336),
        ("FashionMNIST_3", 36, 20, 10, false, 3, 3_033_982, 3_033_982, 469_219_968),
        ("FashionMNIST_3", 16, 8, 10, false, 3, 255_002, 255_002, 42_146_304),
    ];
    for &(name, c, l, k, aux, inc, params, no_aux, macs) in cases {
        let g = Genotype::named(name).unwrap();
        let p = darts_profile(&darts_cfg(c, l, k, aux, inc), &g, 32).unwrap();
        assert_eq!(
            (p.params, p.params_no_aux, p.flops),
            (params, no_aux, macs),
            "{name} C={c} L={l} K={k} aux={aux} in={inc}"
        );
    }
}

#[test]
fn nb201_parameter_counts_and_macs_match_reference() {
    // arch -> [(classes, in_ch, params, MACs at 32x32)]
    let cases: &[Nb201Case] = &[
        (
            "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
            &[(10, 3, 129_306, 15_647_360), (100, 3, 135_156, 15_653_120), (10, 1, 129_018, 15_352_448)],
        ),
        (
            "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
            &[(10, 3, 73_306, 7_783_040), (120, 3, 80_456, 7_790_080)],
        ),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", &[(10, 3, 73_306, 7_783_040)]),
        (
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
            &[(10, 3, 1_073_466, 153_272_960), (100, 3, 1_079_316, 153_278_720)],
        ),
        (
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
            // NAS-Bench-201's largest cell: 1.53 MB, 220.11 MFLOPs in the paper.
            &[(10, 3, 1_531_546, 220_119_680), (10, 1, 1_531_258, 219_824_768)],
        ),
    ];
    for (arch, configs) in cases {
        let a: Nb201Arch = arch.parse().unwrap();
        for &(classes, in_ch, params, macs) in *configs {
            let cfg = Nb201NetConfig { num_classes: classes, in_channels: in_ch, ..Default::default() };
            let p = nb201_profile(&cfg, &a, 32);
            assert_eq!((p.params, p.flops), (params, macs), "{arch} classes={classes} in={in_ch}");
        }
    }
    // ImageNet16-120 images are 16x16: a quarter of the conv work.
    let a: Nb201Arch = cases[3].0.parse().unwrap();
    let cfg = Nb201NetConfig { num_classes: 120, ..Default::default() };
    assert_eq!(nb201_profile(&cfg, &a, 16).flops, 38_325_760);
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn golden() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("golden_forward.json")).unwrap()).unwrap()
}

fn assert_logits(got: &tch::Tensor, want: &serde_json::Value) {
    let want: Vec<Vec<f64>> = serde_json::from_value(want.clone()).unwrap();
    let got: Vec<Vec<f64>> =
        (0..want.len()).map(|i| Vec::<f64>::try_from(got.get(i as i64).to_kind(tch::Kind::Double)).unwrap()).collect();
    for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
        assert!((g - w).abs() < 1e-4, "logit {g} vs reference {w}\n got {got:?}\nwant {want:?}");
    }
}

/// The keys of a reference state_dict must be exactly our variables plus BN counters, and loading
/// the reference weights must reproduce the reference logits.
fn check_keys(vs: &VarStore, file: &std::collections::BTreeMap<String, tch::Tensor>) {
    let ours: BTreeSet<String> = state_dict::export(vs, 0).into_iter().map(|(k, _)| k).collect();
    let theirs: BTreeSet<String> = file.keys().cloned().collect();
    assert_eq!(
        ours,
        theirs,
        "key sets differ: ours-only {:?}, reference-only {:?}",
        ours.difference(&theirs).collect::<Vec<_>>(),
        theirs.difference(&ours).collect::<Vec<_>>()
    );
}

#[test]
fn nb201_forward_matches_reference_logits() {
    let g = golden();
    let arch: Nb201Arch = g["nb201_arch"].as_str().unwrap().parse().unwrap();
    let vs = VarStore::new(Device::Cpu);
    let cfg = Nb201NetConfig { channels: 4, cells_per_stage: 1, num_classes: 10, in_channels: 3 };
    let net = cfg.init(&vs.root(), &arch);
    let (weights, _) = checkpoint::load(&fixture("nb201_c4_n1.safetensors")).unwrap();
    check_keys(&vs, &weights);
    state_dict::import(&vs, &weights).unwrap();
    let (x, _) = checkpoint::load(&fixture("input_2x3x32x32.safetensors")).unwrap();
    let logits = tch::no_grad(|| net.forward_t(&x["x"], false));
    assert_logits(&logits, &g["nb201_c4_n1"]["logits"]);
}

#[test]
fn darts_forward_matches_reference_logits() {
    let g = golden();
    let genotype: Genotype = g["darts_mixed_genotype"].as_str().unwrap().parse().unwrap();
    let vs = VarStore::new(Device::Cpu);
    let net = darts_cfg(4, 5, 10, true, 3).init(&vs.root(), &genotype).unwrap();
    let (weights, _) = checkpoint::load(&fixture("darts_mixed_c4_l5_aux.safetensors")).unwrap();
    check_keys(&vs, &weights);
    state_dict::import(&vs, &weights).unwrap();
    let (x, _) = checkpoint::load(&fixture("input_2x3x32x32.safetensors")).unwrap();
    let logits = tch::no_grad(|| net.forward_t(&x["x"], false, &DropPath::off()).logits);
    assert_logits(&logits, &g["darts_mixed_c4_l5_aux"]["logits"]);
}

#[test]
fn import_rejects_weights_of_another_architecture() {
    let g = golden();
    let genotype = Genotype::named("DARTS_V2").unwrap();
    let vs = VarStore::new(Device::Cpu);
    let _net = darts_cfg(4, 5, 10, true, 3).init(&vs.root(), &genotype).unwrap();
    let (weights, _) = checkpoint::load(&fixture("darts_mixed_c4_l5_aux.safetensors")).unwrap();
    let err = state_dict::import(&vs, &weights).unwrap_err().to_string();
    assert!(err.contains("lack") || err.contains("does not have") || err.contains("shape"), "{err}");
    let _ = g;
}

#[test]
fn training_mode_runs_auxiliary_head_and_drop_path() {
    let genotype = Genotype::named("FashionMNIST_1").unwrap();
    let vs = VarStore::new(Device::Cpu);
    let net = darts_cfg(4, 5, 10, true, 1).init(&vs.root(), &genotype).unwrap();
    let x = tch::Tensor::randn([3, 1, 32, 32], (tch::Kind::Float, Device::Cpu));
    let out = net.forward_t(&x, true, &DropPath::new(0.2, 7));
    assert_eq!(out.logits.size(), [3, 10]);
    assert_eq!(out.aux_logits.unwrap().size(), [3, 10]);
    // Same seed, same masks: drop-path draws are reproducible.
    tch::manual_seed(0);
    let a = net.forward_t(&x, true, &DropPath::new(0.5, 11)).logits;
    let b = net.forward_t(&x, true, &DropPath::new(0.5, 11)).logits;
    assert!(a.allclose(&b, 1e-6, 1e-6, false));
    // Odd sizes (Fashion-MNIST evaluated at 28x28 reduces to 7x7) run in eval mode.
    let y = net.predict(&tch::Tensor::randn([2, 1, 28, 28], (tch::Kind::Float, Device::Cpu)));
    assert_eq!(y.size(), [2, 10]);
}
