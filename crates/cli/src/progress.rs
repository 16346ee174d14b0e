//! Training progress: a live bar on a terminal, plain log lines otherwise (CI, pipes, files).

use indicatif::{ProgressBar, ProgressStyle};
use oxnas_engine::progress::Progress;
use oxnas_engine::train::EpochMetrics;
use std::io::IsTerminal;
use std::path::PathBuf;

pub struct Reporter {
    bar: Option<ProgressBar>,
    epochs: usize,
    /// Re-drawn after each epoch so the curves are current even if the run is killed.
    curves: Option<(PathBuf, PathBuf)>,
}

impl Reporter {
    pub fn new(curves: Option<(PathBuf, PathBuf)>) -> Self {
        Reporter { bar: None, epochs: 0, curves }
    }
}

impl Progress<EpochMetrics> for Reporter {
    fn epoch_start(&mut self, epoch: usize, epochs: usize, batches: usize) {
        self.epochs = epochs;
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(batches as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "epoch {prefix} [{bar:30}] {pos}/{len} batches, loss {msg} ({elapsed}<{eta})",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
            bar.set_prefix(format!("{}/{}", epoch + 1, epochs));
            self.bar = Some(bar);
        }
    }

    fn batch(&mut self, done: usize, loss: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
            bar.set_message(format!("{loss:.4}"));
        }
    }

    fn epoch_end(&mut self, m: &EpochMetrics) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        eprintln!(
            "epoch {:>3}/{}  lr {:.5}  train loss {:.4} acc {:6.2}%  test loss {:.4} acc {:6.2}% (top-5 {:6.2}%)  {:.1}s, {:.0} img/s",
            m.epoch + 1,
            self.epochs,
            m.lr,
            m.train_loss,
            m.train_acc,
            m.test_loss,
            m.test_acc,
            m.test_top5,
            m.epoch_time_s,
            m.images_per_s
        );
        if let Some((metrics, png)) = &self.curves {
            if let Err(e) = crate::plots::learning_curves(metrics, png) {
                eprintln!("warning: could not draw {}: {e}", png.display());
            }
        }
    }

    fn message(&mut self, msg: &str) {
        match &self.bar {
            Some(bar) => bar.println(msg),
            None => eprintln!("{msg}"),
        }
    }
}
