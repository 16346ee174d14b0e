//! Benchmark: oxnas's data `Loader` over the embedded Fashion-MNIST subset (6,000 training images),
//! single-threaded, batch 64, shuffled, for three training transforms.
//!
//!     cargo run --release -p oxnas-core --example bench_loader [-- EPOCHS]
//!
//! One JSON line per transform: images/s (median and best over EPOCHS timed epochs, default 5, after
//! one untimed warm-up epoch). The transforms are oxnas's named pipelines:
//!   fashion-mnist-train           RandomCrop(32, pad 4) + HorizontalFlip + ToFloat + Normalize
//!   fashion-mnist-train+cutout16  the same + Cutout(16)
//!   emnist-train                  Resize(32, bilinear) + RandomAffine(±30°, 0.1, 0.8-1.2, shear ±30) + ToFloat + Normalize
use oxnas_core::data::source::embedded_fashion_mnist;
use oxnas_core::data::{Loader, Split, Transform};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let epochs: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let data = Arc::new(embedded_fashion_mnist(Split::Train).expect("embedded subset decodes"));
    let transforms = [
        ("fashion-mnist-train", Transform::fashion_mnist_train(None)),
        ("fashion-mnist-train+cutout16", Transform::fashion_mnist_train(Some(16))),
        ("emnist-train", Transform::emnist_train()),
    ];
    for (name, transform) in transforms {
        let loader = Loader::shuffled(data.clone(), (0..data.len()).collect(), 64, transform, 0).expect("loader");
        let mut rates = vec![];
        let mut shape = (0, 0, 0);
        let mut images = 0;
        for e in 0..=epochs {
            let t = Instant::now();
            images = 0;
            for b in loader.epoch(e) {
                images += b.batch;
                shape = (b.channels, b.height, b.width);
                black_box(&b.images);
            }
            if e > 0 {
                rates.push(images as f64 / t.elapsed().as_secs_f64());
            }
        }
        rates.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
        println!(
            "{}",
            serde_json::json!({
                "framework": "oxnas", "transform": name, "images": images,
                "shape": [shape.0, shape.1, shape.2],
                "images_per_s_median": rates[rates.len() / 2], "images_per_s_max": rates[rates.len() - 1],
                "epochs": epochs, "threads": 1,
            })
        );
    }
}
