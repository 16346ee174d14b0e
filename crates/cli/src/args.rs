//! Flags every config-driven command shares (`train`, `search`, `supernet train`, `import`).

use clap::Args;
use oxnas_engine::DeviceChoice;
use std::path::PathBuf;

#[derive(Args)]
pub struct Overrides {
    /// A TOML file whose keys override the preset's.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override one key, e.g. --set optim.lr=0.05 --set run.threads=2. Repeatable; unknown keys are errors.
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub sets: Vec<String>,
    /// Shorthand for --set optim.epochs=N.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Shorthand for --set run.seed=N.
    #[arg(long)]
    pub seed: Option<u64>,
    /// auto, cpu, cuda or cuda:N (auto: CUDA when libtorch sees a GPU).
    #[arg(long)]
    pub device: Option<DeviceChoice>,
    /// Directory with the dataset files (sets data.data_dir and data.source = auto).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl Overrides {
    /// The flags as `section.key=value` overrides, the explicit `--set`s last so they win.
    pub fn sets(&self) -> Vec<String> {
        self.overrides(true)
    }

    /// [`Overrides::sets`] for a text corpus, whose `[data]` has a directory but no image source.
    pub fn text_sets(&self) -> Vec<String> {
        self.overrides(false)
    }

    fn overrides(&self, image_source: bool) -> Vec<String> {
        let mut out = vec![];
        if let Some(e) = self.epochs {
            out.push(format!("optim.epochs={e}"));
        }
        if let Some(s) = self.seed {
            out.push(format!("run.seed={s}"));
        }
        if let Some(d) = self.device {
            out.push(format!("run.device=\"{d}\""));
        }
        if let Some(d) = &self.data_dir {
            out.push(format!("data.data_dir={}", toml_string(&d.display().to_string())));
            if image_source {
                out.push("data.source=\"auto\"".into());
            }
        }
        out.extend(self.sets.iter().cloned());
        out
    }
}

/// A TOML basic string literal for `s`.
pub fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_overrides_with_explicit_sets_last() {
        let o = Overrides {
            config: None,
            sets: vec!["optim.epochs=9".into()],
            epochs: Some(3),
            seed: Some(7),
            device: Some(DeviceChoice::Cpu),
            data_dir: Some(PathBuf::from("/data/a \"b\"")),
        };
        assert_eq!(
            o.sets(),
            vec![
                "optim.epochs=3",
                "run.seed=7",
                "run.device=\"cpu\"",
                "data.data_dir=\"/data/a \\\"b\\\"\"",
                "data.source=\"auto\"",
                "optim.epochs=9"
            ]
        );
    }
}
