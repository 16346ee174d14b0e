//! Default run directory names: `runs/<kind>-<preset>-<UTC timestamp>`.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 to a civil (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

pub fn timestamp() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", s / 3600, s / 60 % 60, s % 60)
}

pub fn default_dir(kind: &str, preset: &str) -> PathBuf {
    let preset = std::path::Path::new(preset).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    PathBuf::from("runs").join(format!("{kind}-{preset}-{}", timestamp()))
}

/// The directory and config a run starts with: `--resume DIR` continues DIR with its own config
/// (`None`); otherwise the preset with the user's overrides and `extra` ones resolves into `--out`
/// (default `runs/<kind>-<preset>-<time>`).
pub fn start<C: oxnas_core::config::ConfigFile>(
    kind: &str,
    preset: &str,
    overrides: &crate::args::Overrides,
    extra: &[&str],
    out: &Option<PathBuf>,
    resume: &Option<PathBuf>,
) -> anyhow::Result<(PathBuf, Option<C>)> {
    if let Some(dir) = resume {
        return Ok((dir.clone(), None));
    }
    let mut sets = overrides.sets();
    sets.extend(extra.iter().map(|s| s.to_string()));
    let cfg = C::resolve(preset, overrides.config.as_deref(), &sets)?;
    Ok((out.clone().unwrap_or_else(|| default_dir(kind, preset)), Some(cfg)))
}

/// [`start`] for a config whose data may be a text corpus (`reads_text`): see [`resolve_data`].
pub fn start_data<C: oxnas_core::config::ConfigFile>(
    kind: &str,
    preset: &str,
    overrides: &crate::args::Overrides,
    out: &Option<PathBuf>,
    resume: &Option<PathBuf>,
    reads_text: fn(&C) -> bool,
) -> anyhow::Result<(PathBuf, Option<C>)> {
    if let Some(dir) = resume {
        return Ok((dir.clone(), None));
    }
    let cfg = resolve_data(preset, overrides, &[], reads_text)?;
    Ok((out.clone().unwrap_or_else(|| default_dir(kind, preset)), Some(cfg)))
}

/// The preset with the user's overrides and `extra` ones, for a config whose data may be a text
/// corpus (`reads_text`, judged on the preset with the user's `--set`s): there `--data-dir` sets
/// only `data.data_dir`, since a corpus has no image `source`.
pub fn resolve_data<C: oxnas_core::config::ConfigFile>(
    preset: &str,
    overrides: &crate::args::Overrides,
    extra: &[String],
    reads_text: fn(&C) -> bool,
) -> anyhow::Result<C> {
    let config = overrides.config.as_deref();
    let mut sets = match reads_text(&C::resolve(preset, config, &overrides.sets)?) {
        true => overrides.text_sets(),
        false => overrides.sets(),
    };
    sets.extend(extra.iter().cloned());
    Ok(C::resolve(preset, config, &sets)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(11_016), (2000, 2, 29));
        assert_eq!(civil(20_780), (2026, 11, 23));
    }
}
