//! Run progress: a live bar on a terminal, plain log lines otherwise (CI, pipes, files).

use indicatif::{ProgressBar, ProgressStyle};
use oxnas_engine::progress::Progress;
use oxnas_engine::train::EpochMetrics;
use std::io::IsTerminal;
use std::path::PathBuf;

/// The per-epoch bar of a training or search loop: drawn on a terminal only, so that logs from CI,
/// pipes and files stay plain lines.
#[derive(Default)]
pub struct EpochBar(Option<ProgressBar>);

impl EpochBar {
    /// `unit` names what the bar counts ("batches", "steps").
    pub fn start(&mut self, epoch: usize, epochs: usize, len: usize, unit: &str) {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(len as u64);
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "epoch {{prefix}} [{{bar:30}}] {{pos}}/{{len}} {unit}, loss {{msg}} ({{elapsed}}<{{eta}})"
                ))
                .expect("static template")
                .progress_chars("=> "),
            );
            bar.set_prefix(format!("{}/{}", epoch + 1, epochs));
            self.0 = Some(bar);
        }
    }

    pub fn update(&self, done: usize, loss: f64) {
        if let Some(bar) = &self.0 {
            bar.set_position(done as u64);
            bar.set_message(format!("{loss:.4}"));
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }

    /// A line of output that does not tear the bar.
    pub fn println(&self, msg: &str) {
        match &self.0 {
            Some(bar) => bar.println(msg),
            None => eprintln!("{msg}"),
        }
    }
}

pub struct Reporter {
    bar: EpochBar,
    epochs: usize,
    /// Re-drawn after each epoch so the curves are current even if the run is killed.
    curves: Option<(PathBuf, PathBuf)>,
}

impl Reporter {
    pub fn new(curves: Option<(PathBuf, PathBuf)>) -> Self {
        Reporter { bar: EpochBar::default(), epochs: 0, curves }
    }
}

impl Progress<EpochMetrics> for Reporter {
    fn epoch_start(&mut self, epoch: usize, epochs: usize, batches: usize) {
        self.epochs = epochs;
        self.bar.start(epoch, epochs, batches, "batches");
    }

    fn batch(&mut self, done: usize, loss: f64) {
        self.bar.update(done, loss);
    }

    fn epoch_end(&mut self, m: &EpochMetrics) {
        self.bar.finish();
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
        self.bar.println(msg);
    }

    fn interrupted(&mut self) -> bool {
        crate::signals::requested().is_some()
    }
}
