//! `oxnas report ranking`: the ranking runs of any spaces in one table, with their plots side by
//! side, as Markdown with PNGs and as one self-contained HTML page (images embedded, no script, no
//! external resource), so the page opens from disk or a mail attachment in any browser.

use crate::plots;
use crate::runs::timestamp;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use oxnas_core::fsutil::write_atomic;
use oxnas_core::rank::collect::{self, RankRun, COLUMNS};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum ReportCommand {
    /// Supernet ranking runs of any spaces in one table (τ, ρ, precision, biases) with their plots.
    Ranking(RankingArgs),
}

#[derive(Args)]
pub struct RankingArgs {
    /// Output directories of `oxnas rank` (holding rank.json), or directories above them: every
    /// rank.json below is collected.
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Where ranking.md, ranking.html and plots/ go (default: runs/report-ranking-<timestamp>).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(c: ReportCommand) -> Result<()> {
    match c {
        ReportCommand::Ranking(a) => ranking(a),
    }
}

const MARKDOWN: &str = "ranking.md";
const HTML: &str = "ranking.html";
const PLOTS: &str = "plots";

/// One run's plots, as paths relative to the output directory; None where there is nothing to draw.
struct RunPlots {
    scatter: String,
    tau: Option<String>,
    /// Why there is no τ plot.
    no_tau: &'static str,
}

fn ranking(a: RankingArgs) -> Result<()> {
    let runs = collect::collect(&a.dirs)?;
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("report-ranking-{}", timestamp())));
    prepare_out(&out)?;
    let labels: Vec<String> = runs.iter().map(|r| r.dir.display().to_string()).collect();
    let mut plots = Vec::with_capacity(runs.len());
    for (i, run) in runs.iter().enumerate() {
        plots.push(run_plots(&out, i + 1, run, &labels[i])?);
    }
    let series: Vec<(String, Vec<(usize, f64)>)> =
        runs.iter().zip(&labels).filter_map(|(r, l)| Some((l.clone(), tau_points(r)?))).collect();
    let overlay = if series.iter().any(|(_, p)| !p.is_empty()) {
        let rel = format!("{PLOTS}/tau-all.png");
        plots::tau_curves(&series, "Kendall τ per supernet epoch, all runs", &out.join(&rel))
            .with_context(|| format!("drawing {}", out.join(&rel).display()))?;
        Some(rel)
    } else {
        None
    };
    let rows: Vec<(String, &oxnas_core::rank::RankSummary)> =
        labels.iter().cloned().zip(runs.iter().map(|r| &r.summary)).collect();
    let table = collect::markdown_table(&rows);
    let md = markdown(&table, &labels, &plots, overlay.as_deref());
    write(&out.join(MARKDOWN), md.as_bytes())?;
    let page = html(&out, &rows, &plots, overlay.as_deref())?;
    write(&out.join(HTML), page.as_bytes())?;
    print!("{table}");
    println!(
        "report: {} (Markdown, plots in {PLOTS}/) and {} (self-contained: open it in any browser)",
        out.join(MARKDOWN).display(),
        out.join(HTML).display()
    );
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// The output directory: new, empty, or an earlier report (whose plots are replaced). Anything
/// else is someone's data and is refused untouched.
fn prepare_out(out: &Path) -> Result<()> {
    if out.exists() {
        if !out.is_dir() {
            bail!("--out {} is a file; give a directory for the report", out.display());
        }
        let empty = std::fs::read_dir(out).with_context(|| format!("reading {}", out.display()))?.next().is_none();
        if !empty && !out.join(MARKDOWN).is_file() {
            bail!(
                "--out {} is not empty and holds no earlier ranking report ({MARKDOWN}); give a new or empty directory",
                out.display()
            );
        }
        let old = out.join(PLOTS);
        if old.is_dir() {
            std::fs::remove_dir_all(&old)
                .with_context(|| format!("removing the earlier report's {}", old.display()))?;
        }
    }
    std::fs::create_dir_all(out.join(PLOTS)).with_context(|| format!("--out {}: cannot create it", out.display()))
}

fn tau_points(run: &RankRun) -> Option<Vec<(usize, f64)>> {
    let trace = run.summary.supernet.as_ref()?;
    Some(trace.tau_per_epoch.iter().map(|p| (p.epoch, p.tau)).collect())
}

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Copies the run's score-vs-truth scatter (drawn by `oxnas rank`) and draws its τ per epoch.
fn run_plots(out: &Path, n: usize, run: &RankRun, label: &str) -> Result<RunPlots> {
    let source = run.dir.join("scatter.png");
    let bytes = std::fs::read(&source).with_context(|| {
        format!("cannot read {}; rerun `oxnas rank --scores {}` to draw it", source.display(), run.scores)
    })?;
    if !bytes.starts_with(PNG_MAGIC) {
        bail!("{} is not a PNG image; rerun `oxnas rank --scores {}` to redraw it", source.display(), run.scores);
    }
    let scatter = format!("{PLOTS}/{n:02}-scatter.png");
    write(&out.join(&scatter), &bytes)?;
    let (tau, no_tau) = match tau_points(run) {
        None => (None, "no supernet.jsonl beside the scores"),
        Some(p) if p.is_empty() => (None, "the supernet tracked no τ"),
        Some(points) => {
            let rel = format!("{PLOTS}/{n:02}-tau.png");
            plots::tau_curves(&[(label.to_string(), points)], "Kendall τ per supernet epoch", &out.join(&rel))
                .with_context(|| format!("drawing {}", out.join(&rel).display()))?;
            (Some(rel), "")
        }
    };
    Ok(RunPlots { scatter, tau, no_tau })
}

const NOTES: &str = "P@top-p%: the share of the supernet's top p% (k cells) that are in the true top p%; \
bottom-10% precision: the same for the worst 10%. Strongest bias: the cell feature most correlated with the \
rank error (score rank − truth rank, 1 = best); ρ < 0 means the supernet over-rates cells with more of it, and \
a bias is called from 10 cells and |ρ| ≥ 0.1 on (docs/ranking.md).";

fn markdown(table: &str, labels: &[String], plots: &[RunPlots], overlay: Option<&str>) -> String {
    let mut md = String::from("# Supernet ranking across spaces\n\n");
    let _ = writeln!(md, "{} ranking runs, collected from the rank.json files of `oxnas rank`.\n", labels.len());
    let _ = writeln!(md, "{table}\n{NOTES}\n\n## Plots\n\n| run | score vs truth | τ per epoch |\n|---|---|---|");
    for (label, p) in labels.iter().zip(plots) {
        let tau = p.tau.as_ref().map_or_else(|| p.no_tau.to_string(), |t| format!("![τ per epoch of {label}]({t})"));
        let _ = writeln!(md, "| {} | ![score vs truth of {label}]({}) | {tau} |", label.replace('|', "\\|"), p.scatter);
    }
    if let Some(o) = overlay {
        let _ = writeln!(md, "\n![Kendall τ per supernet epoch, all runs]({o})");
    }
    md
}

/// Text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 (RFC 4648, with padding), for data URIs.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An `<img>` of a PNG in the output directory, embedded as a data URI.
fn img(out: &Path, rel: &str, alt: &str) -> Result<String> {
    let path = out.join(rel);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {} back", path.display()))?;
    Ok(format!(r#"<img alt="{}" src="data:image/png;base64,{}">"#, escape(alt), base64(&bytes)))
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}\
th,td{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}\
th{background:#eee}td.num{text-align:right;font-variant-numeric:tabular-nums}\
.pair{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}\
figure{margin:0}img{max-width:100%;height:auto;border:1px solid #ddd}p.note{max-width:60em}";

fn html(
    out: &Path,
    rows: &[(String, &oxnas_core::rank::RankSummary)],
    plots: &[RunPlots],
    overlay: Option<&str>,
) -> Result<String> {
    let mut h = String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    // An empty icon, so that no browser asks for /favicon.ico.
    h.push_str("<link rel=\"icon\" href=\"data:,\">\n<title>Supernet ranking across spaces</title>\n");
    let _ = writeln!(h, "<style>{STYLE}</style>\n</head>\n<body>\n<h1>Supernet ranking across spaces</h1>");
    let _ = writeln!(
        h,
        "<p>{} ranking runs, collected from the rank.json files of <code>oxnas rank</code>.</p>",
        rows.len()
    );
    h.push_str("<table>\n<tr>");
    for c in COLUMNS {
        let _ = write!(h, "<th>{}</th>", escape(c));
    }
    h.push_str("</tr>\n");
    for (label, summary) in rows {
        h.push_str("<tr>");
        for (i, cell) in collect::row(label, summary).iter().enumerate() {
            let class = if (5..=9).contains(&i) { " class=\"num\"" } else { "" };
            let _ = write!(h, "<td{class}>{}</td>", escape(cell));
        }
        h.push_str("</tr>\n");
    }
    let _ = writeln!(h, "</table>\n<p class=\"note\">{}</p>\n<h2>Plots</h2>", escape(NOTES));
    for ((label, _), p) in rows.iter().zip(plots) {
        let _ = writeln!(h, "<h3>{}</h3>\n<div class=\"pair\">", escape(label));
        let scatter = img(out, &p.scatter, &format!("score vs truth of {label}"))?;
        let _ = writeln!(h, "<figure>{scatter}<figcaption>score vs truth</figcaption></figure>");
        match &p.tau {
            Some(t) => {
                let tau = img(out, t, &format!("τ per epoch of {label}"))?;
                let _ = writeln!(h, "<figure>{tau}<figcaption>τ per supernet epoch</figcaption></figure>");
            }
            None => {
                let _ = writeln!(h, "<p>τ per epoch: {}</p>", escape(p.no_tau));
            }
        }
        h.push_str("</div>\n");
    }
    if let Some(o) = overlay {
        let all = img(out, o, "Kendall τ per supernet epoch, all runs")?;
        let _ = writeln!(h, "<h2>τ per supernet epoch, all runs</h2>\n<figure>{all}</figure>");
    }
    h.push_str("</body>\n</html>\n");
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases =
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE=")];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain}");
        }
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn escape_html() {
        assert_eq!(escape(r#"<a href="x">&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
        assert_eq!(escape("τ ρ"), "τ ρ");
    }

    #[test]
    fn out_dir_of_someone_else_is_refused_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("precious.txt"), b"x").unwrap();
        let e = prepare_out(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("not empty") && e.contains("ranking.md"), "{e}");
        assert_eq!(std::fs::read(tmp.path().join("precious.txt")).unwrap(), b"x");
        assert!(!tmp.path().join(PLOTS).exists());
        // An earlier report is replaced: its plots go.
        std::fs::write(tmp.path().join(MARKDOWN), b"old").unwrap();
        std::fs::create_dir_all(tmp.path().join(PLOTS)).unwrap();
        std::fs::write(tmp.path().join(PLOTS).join("09-scatter.png"), b"old").unwrap();
        prepare_out(tmp.path()).unwrap();
        assert!(tmp.path().join(PLOTS).is_dir() && !tmp.path().join(PLOTS).join("09-scatter.png").exists());
    }
}
