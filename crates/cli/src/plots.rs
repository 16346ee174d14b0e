//! PNG plots drawn with plotters and an embedded font, so they look the same on every machine.

use anyhow::{Context, Result};
use oxnas_engine::train::EpochMetrics;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let font: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        // Registered under the family name plotters asks for by default.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, font);
    });
}

fn read_metrics(path: &Path) -> Result<Vec<EpochMetrics>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| Ok(serde_json::from_str(l)?)).collect()
}

/// Loss (left) and accuracy (right) against epoch, from a run's metrics.jsonl.
pub fn learning_curves(metrics: &Path, png: &Path) -> Result<()> {
    register_font();
    let h = read_metrics(metrics)?;
    if h.is_empty() {
        return Ok(());
    }
    let tmp = png.with_extension("png.tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (1100, 420)).into_drawing_area();
        root.fill(&WHITE)?;
        let (left, right) = root.split_horizontally(550);
        let x_max = h.last().map(|m| m.epoch + 1).unwrap_or(1) as f64;
        let loss_max = h.iter().flat_map(|m| [m.train_loss, m.test_loss]).fold(0.0, f64::max).max(1e-3) * 1.05;
        let mut c = ChartBuilder::on(&left)
            .caption("loss", ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(0.5..x_max + 0.5, 0.0..loss_max)?;
        c.configure_mesh().x_desc("epoch").draw()?;
        for (name, color, f) in [
            ("train", BLUE, (|m: &EpochMetrics| m.train_loss) as fn(&EpochMetrics) -> f64),
            ("test", RED, |m| m.test_loss),
        ] {
            c.draw_series(LineSeries::new(h.iter().map(|m| (m.epoch as f64 + 1.0, f(m))), color.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        }
        c.configure_series_labels().border_style(BLACK).background_style(WHITE.mix(0.8)).draw()?;
        let mut c = ChartBuilder::on(&right)
            .caption("accuracy (%)", ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(0.5..x_max + 0.5, 0.0..100.0)?;
        c.configure_mesh().x_desc("epoch").draw()?;
        for (name, color, f) in [
            ("train", BLUE, (|m: &EpochMetrics| m.train_acc) as fn(&EpochMetrics) -> f64),
            ("test top-1", RED, |m| m.test_acc),
            ("test top-5", GREEN, |m| m.test_top5),
        ] {
            c.draw_series(LineSeries::new(h.iter().map(|m| (m.epoch as f64 + 1.0, f(m))), color.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()?;
        root.present()?;
    }
    std::fs::rename(&tmp, png)?;
    Ok(())
}

/// A confusion matrix as a heat map, rows = true class, normalised per row.
pub fn confusion_matrix(confusion: &[Vec<u64>], names: &[String], png: &Path) -> Result<()> {
    register_font();
    let k = confusion.len();
    let cell = if k <= 12 { 48 } else { (900 / k.max(1)).max(6) } as i32;
    let margin = 130;
    let size = (margin as u32 + cell as u32 * k as u32 + 20, margin as u32 + cell as u32 * k as u32 + 20);
    let tmp = png.with_extension("png.tmp.png");
    {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE)?;
        root.draw(&Text::new("predicted →", (margin, 8), ("sans-serif", 16)))?;
        root.draw(&Text::new("true ↓", (4, margin - 24), ("sans-serif", 16)))?;
        for (i, row) in confusion.iter().enumerate() {
            let total: u64 = row.iter().sum::<u64>().max(1);
            for (j, &n) in row.iter().enumerate() {
                let frac = n as f64 / total as f64;
                let shade = (255.0 * (1.0 - frac)) as u8;
                let (x, y) = (margin + j as i32 * cell, margin + i as i32 * cell);
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], RGBColor(shade, shade, 255).filled()))?;
                if k <= 12 {
                    let color = if frac > 0.5 { WHITE } else { BLACK };
                    root.draw(&Text::new(
                        format!("{n}"),
                        (x + 4, y + cell / 2 - 6),
                        ("sans-serif", 12).into_font().color(&color),
                    ))?;
                }
            }
            if k <= 20 {
                let label = names.get(i).cloned().unwrap_or_else(|| i.to_string());
                root.draw(&Text::new(label, (4, margin + i as i32 * cell + cell / 2 - 6), ("sans-serif", 12)))?;
            }
        }
        if k <= 20 {
            for j in 0..k {
                root.draw(&Text::new(
                    format!("{j}"),
                    (margin + j as i32 * cell + cell / 2 - 4, margin - 20),
                    ("sans-serif", 12),
                ))?;
            }
        }
        root.present()?;
    }
    std::fs::rename(&tmp, png)?;
    Ok(())
}

use oxnas_engine::search::SearchEpoch;
use oxnas_engine::train::Architecture;

/// λmax per executed epoch (rolled-back epochs in grey), with decisions marked and phases shaded;
/// below it validation accuracy and the number of skip-connection edges.
pub fn lambda_plot(trace: &[SearchEpoch], png: &Path) -> Result<()> {
    register_font();
    if trace.is_empty() {
        return Ok(());
    }
    let tmp = png.with_extension("png.tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (1000, 700)).into_drawing_area();
        root.fill(&WHITE)?;
        let (top, bottom) = root.split_vertically(400);
        let n = trace.len() as f64;
        let lambdas: Vec<(f64, f64, bool)> =
            trace.iter().filter_map(|e| e.lambda_max.map(|l| (e.iteration as f64 + 1.0, l, e.rolled_back))).collect();
        let (lo, hi) =
            lambdas.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(_, l, _)| (lo.min(l), hi.max(l)));
        let (lo, hi) = if lo.is_finite() { (lo.min(0.0), hi.max(lo + 1e-6) * 1.1) } else { (0.0, 1.0) };
        let mut c = ChartBuilder::on(&top)
            .caption("dominant Hessian eigenvalue of the validation loss w.r.t. α", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.5..n + 0.5, lo..hi)?;
        c.configure_mesh().x_desc("executed epoch (rolled-back epochs in grey)").y_desc("λmax").draw()?;
        // Decisions: vertical lines where a phase ended.
        for e in trace.iter().filter(|e| !e.decisions.is_empty()) {
            let x = e.iteration as f64 + 1.0;
            c.draw_series(LineSeries::new(vec![(x, lo), (x, hi)], RED.mix(0.5).stroke_width(1)))?;
            let label: Vec<String> = e.decisions.iter().map(|d| format!("{}:{}", d.edge, d.op)).collect();
            c.draw_series(std::iter::once(Text::new(
                label.join(" "),
                (x, hi * 0.97),
                ("sans-serif", 11).into_font().color(&RED),
            )))?;
        }
        c.draw_series(LineSeries::new(lambdas.iter().map(|&(x, l, _)| (x, l)), BLUE.stroke_width(2)))?;
        c.draw_series(lambdas.iter().map(|&(x, l, rb)| {
            Circle::new((x, l), 4, if rb { RGBColor(160, 160, 160).filled() } else { BLUE.filled() })
        }))?;

        // Classifier supernets log accuracy, language models perplexity.
        let valid: Vec<(f64, f64)> =
            trace.iter().filter_map(|e| e.valid_acc.or(e.valid_ppl).map(|v| (e.iteration as f64 + 1.0, v))).collect();
        let text = trace.iter().any(|e| e.valid_ppl.is_some());
        let (caption, quality, top) = match text {
            false => ("validation accuracy (%) and skip-connection edges", "valid acc %", 100.0),
            true => (
                "validation perplexity and identity edges",
                "valid ppl",
                valid.iter().map(|v| v.1).fold(1.0, f64::max) * 1.05,
            ),
        };
        let mut c = ChartBuilder::on(&bottom)
            .caption(caption, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .right_y_label_area_size(40)
            .build_cartesian_2d(0.5..n + 0.5, 0.0..top)?
            .set_secondary_coord(
                0.5..n + 0.5,
                0.0..(trace.iter().map(|e| e.skip_count).max().unwrap_or(1).max(1) as f64 + 1.0),
            );
        c.configure_mesh().x_desc("executed epoch").y_desc(quality).draw()?;
        c.configure_secondary_axes().y_desc("skip edges").draw()?;
        c.draw_series(LineSeries::new(valid, GREEN.stroke_width(2)))?
            .label(quality)
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], GREEN.stroke_width(2)));
        c.draw_secondary_series(LineSeries::new(
            trace.iter().map(|e| (e.iteration as f64 + 1.0, e.skip_count as f64)),
            MAGENTA.stroke_width(2),
        ))?
        .label("skip edges")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], MAGENTA.stroke_width(2)));
        c.configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()?;
        root.present()?;
    }
    std::fs::rename(&tmp, png)?;
    Ok(())
}

/// softmax(α) of every edge over the executed epochs: one small panel per edge, one line per op.
pub fn alpha_plot(trace: &[SearchEpoch], png: &Path) -> Result<()> {
    register_font();
    let Some(first) = trace.first() else { return Ok(()) };
    let panels: Vec<(usize, usize)> =
        first.alphas.iter().enumerate().flat_map(|(c, cell)| (0..cell.probs.len()).map(move |e| (c, e))).collect();
    let ops = first.alphas[0].probs[0].len();
    let cols = if panels.len() <= 6 { 3 } else { 7 };
    let rows = panels.len().div_ceil(cols);
    let tmp = png.with_extension("png.tmp.png");
    let palette = [BLACK, RGBColor(230, 120, 0), BLUE, RED, GREEN, MAGENTA, CYAN, RGBColor(120, 60, 0)];
    {
        let root = BitMapBackend::new(&tmp, (cols as u32 * 260, rows as u32 * 200 + 40)).into_drawing_area();
        root.fill(&WHITE)?;
        let (legend, body) = root.split_vertically(40);
        let names = op_names(trace);
        for (k, name) in names.iter().enumerate() {
            let x = 10 + k as i32 * 150;
            legend.draw(&PathElement::new(vec![(x, 20), (x + 20, 20)], palette[k % palette.len()].stroke_width(3)))?;
            legend.draw(&Text::new(name.clone(), (x + 25, 13), ("sans-serif", 13)))?;
        }
        let n = trace.len() as f64;
        for (area, &(c, e)) in body.split_evenly((rows, cols)).iter().zip(&panels) {
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{} edge {e}", first.alphas[c].cell), ("sans-serif", 13))
                .margin(6)
                .x_label_area_size(18)
                .y_label_area_size(30)
                .build_cartesian_2d(0.5..n + 0.5, 0.0..1.0)?;
            chart.configure_mesh().x_labels(4).y_labels(3).label_style(("sans-serif", 10)).draw()?;
            for k in 0..ops {
                let color = palette[k % palette.len()];
                chart.draw_series(LineSeries::new(
                    trace.iter().map(|t| (t.iteration as f64 + 1.0, t.alphas[c].probs[e][k])),
                    color.stroke_width(2),
                ))?;
            }
        }
        root.present()?;
    }
    std::fs::rename(&tmp, png)?;
    Ok(())
}

/// Column names, recovered from the decisions when present, else positional.
fn op_names(trace: &[SearchEpoch]) -> Vec<String> {
    let ops = trace[0].alphas[0].probs[0].len();
    if trace[0].alphas[0].cell == "recurrent" {
        return oxnas_core::darts_rnn::RnnOp::ALL.iter().map(|o| o.name().to_string()).collect();
    }
    if ops == 5 && trace[0].alphas.len() == 1 {
        return oxnas_core::nb201::Nb201Op::ALL.iter().map(|o| o.name().to_string()).collect();
    }
    // DARTS: the search's op set is in config.toml; positional names stay honest if it is not at hand.
    (0..ops).map(|k| format!("op {k}")).collect()
}

/// A cell to draw: title, node labels, edges (from, to, op).
type CellDrawing = (String, Vec<String>, Vec<(usize, usize, String)>);

/// The final cell(s) as Graphviz DOT (`cell.dot`) and as a PNG drawn here (`cell.png`), so no Graphviz
/// install is needed to look at it.
pub fn cell_diagram(arch: &Architecture, dir: &Path) -> Result<()> {
    register_font();
    let cells: Vec<CellDrawing> = match arch {
        Architecture::Nb201(a) => {
            let edges = oxnas_core::nb201::EDGES
                .iter()
                .zip(a.ops.iter())
                .filter(|(_, op)| **op != oxnas_core::nb201::Nb201Op::None)
                .map(|(&(to, from), op)| (from, to, op.name().to_string()))
                .collect();
            vec![("NAS-Bench-201 cell".into(), vec!["in (0)".into(), "1".into(), "2".into(), "out (3)".into()], edges)]
        }
        Architecture::Nb101(c) => {
            let ops = c.op_names();
            let last = ops.len() - 1;
            let labels = ops.iter().enumerate().map(|(v, op)| format!("{v}: {op}")).collect();
            let edges = (0..=last)
                .flat_map(|i| (i + 1..=last).filter(move |&j| c.has_edge(i, j)).map(move |j| (i, j, String::new())))
                .collect();
            vec![("NAS-Bench-101 cell".into(), labels, edges)]
        }
        Architecture::Darts(g) => {
            [("normal cell", &g.normal, &g.normal_concat), ("reduction cell", &g.reduce, &g.reduce_concat)]
                .iter()
                .map(|(title, pairs, concat)| {
                    let steps = pairs.len() / 2;
                    let mut labels: Vec<String> = vec!["c_{k-2}".into(), "c_{k-1}".into()];
                    labels.extend((0..steps).map(|i| i.to_string()));
                    labels.push("c_{k}".into());
                    let out = labels.len() - 1;
                    let mut edges: Vec<(usize, usize, String)> = pairs
                        .iter()
                        .enumerate()
                        .map(|(k, (op, input))| (*input, k / 2 + 2, op.name().to_string()))
                        .collect();
                    edges.extend(concat.iter().map(|&c| (c, out, String::new())));
                    (title.to_string(), labels, edges)
                })
                .collect()
        }
        Architecture::DartsRnn(g) => {
            // Node 0 is the initial state from [x_t, h_{t-1}]; h_t averages the concat nodes.
            let mut labels: Vec<String> = vec!["0: x_t, h_{t-1}".into()];
            labels.extend((1..=g.recurrent.len()).map(|i| i.to_string()));
            labels.push("h_t".into());
            let out = labels.len() - 1;
            let mut edges: Vec<(usize, usize, String)> =
                g.recurrent.iter().enumerate().map(|(i, (op, pred))| (*pred, i + 1, op.name().to_string())).collect();
            edges.extend(g.concat.iter().map(|&c| (c, out, String::new())));
            vec![("recurrent cell".into(), labels, edges)]
        }
        // A ProxylessNAS subnet is a chain of blocks, not a cell: nothing to draw.
        Architecture::Proxyless(_) => return Ok(()),
    };
    let mut dot = String::new();
    for (title, labels, edges) in &cells {
        dot.push_str(&format!("digraph \"{title}\" {{\n  rankdir=LR;\n  node [shape=box, style=rounded];\n"));
        for (i, l) in labels.iter().enumerate() {
            dot.push_str(&format!("  n{i} [label=\"{l}\"];\n"));
        }
        for (from, to, op) in edges {
            dot.push_str(&format!("  n{from} -> n{to} [label=\"{op}\"];\n"));
        }
        dot.push_str("}\n");
    }
    oxnas_core::fsutil::write_atomic(&dir.join("cell.dot"), dot.as_bytes())?;

    let png = dir.join("cell.png");
    let tmp = png.with_extension("png.tmp.png");
    {
        let height = 340 * cells.len() as u32;
        let root = BitMapBackend::new(&tmp, (1100, height)).into_drawing_area();
        root.fill(&WHITE)?;
        for (area, (title, labels, edges)) in root.split_evenly((cells.len(), 1)).iter().zip(&cells) {
            area.draw(&Text::new(title.clone(), (10, 8), ("sans-serif", 16)))?;
            let n = labels.len() as i32;
            let y = 160;
            let x_of = |i: usize| 60 + i as i32 * (980 / (n - 1).max(1));
            for (k, (from, to, op)) in edges.iter().enumerate() {
                let (x0, x1) = (x_of(*from), x_of(*to));
                // Odd spans arc above the node line, even spans below, higher for longer spans, so arcs
                // and labels of a dense cell do not pile up.
                let span = (*to as i32 - *from as i32).max(1);
                let side = if span % 2 == 1 { -1 } else { 1 };
                let lift = 20 + 18 * span + 8 * (k as i32 % 3);
                let pts: Vec<(i32, i32)> = (0..=24)
                    .map(|t| {
                        let t = t as f64 / 24.0;
                        let x = x0 as f64 + (x1 - x0) as f64 * t;
                        (x as i32, y + side * (4.0 * lift as f64 * t * (1.0 - t)) as i32)
                    })
                    .collect();
                let color = if op.is_empty() { RGBColor(150, 150, 150) } else { BLUE };
                area.draw(&PathElement::new(pts, color.stroke_width(2)))?;
                if !op.is_empty() {
                    let ly = if side < 0 { y - lift - 14 } else { y + lift + 2 };
                    area.draw(&Text::new(op.clone(), ((x0 + x1) / 2 - 35, ly), ("sans-serif", 12)))?;
                }
            }
            for (i, l) in labels.iter().enumerate() {
                let x = x_of(i);
                area.draw(&Rectangle::new([(x - 28, y - 14), (x + 28, y + 14)], RGBColor(235, 240, 255).filled()))?;
                area.draw(&Rectangle::new([(x - 28, y - 14), (x + 28, y + 14)], BLACK.stroke_width(1)))?;
                area.draw(&Text::new(l.clone(), (x - 24, y - 7), ("sans-serif", 12)))?;
            }
        }
        root.present()?;
    }
    std::fs::rename(&tmp, &png)?;
    Ok(())
}

/// Kendall τ and Spearman ρ of the tracked sample over supernet training epochs.
/// A chart with f64 axes on a PNG, as the plots below draw them.
type Chart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// One labelled series: a line through the points and a dot on each.
fn line_with_dots(c: &mut Chart, xy: &[(f64, f64)], name: &str, color: RGBAColor) -> Result<()> {
    c.draw_series(LineSeries::new(xy.to_vec(), color.stroke_width(2)))?
        .label(name.to_string())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    c.draw_series(xy.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    Ok(())
}

/// The legend box, framed, at `position`.
fn legend<'b>(c: &mut Chart<'b, 'b>, position: SeriesLabelPosition) -> Result<()> {
    c.configure_series_labels().position(position).border_style(BLACK).background_style(WHITE.mix(0.8)).draw()?;
    Ok(())
}

pub fn tau_plot(history: &[oxnas_engine::oneshot::train::SupernetEpoch], png: &Path) -> Result<()> {
    register_font();
    let pts: Vec<(f64, f64, f64)> =
        history.iter().filter_map(|e| Some((e.epoch as f64 + 1.0, e.tau?, e.rho?))).collect();
    if pts.is_empty() {
        return Ok(());
    }
    let tmp = png.with_extension("png.tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (800, 450)).into_drawing_area();
        root.fill(&WHITE)?;
        let x_max = history.last().map(|e| e.epoch + 1).unwrap_or(1) as f64;
        let mut c = ChartBuilder::on(&root)
            .caption("ranking quality of the tracked sample over supernet training", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(0.5..x_max + 0.5, -1.0..1.0)?;
        c.configure_mesh().x_desc("supernet epoch").y_desc("correlation with ground truth").draw()?;
        for (name, color, pick) in [("Kendall τ", BLUE, 0usize), ("Spearman ρ", RED, 1)] {
            let series: Vec<(f64, f64)> = pts.iter().map(|&(x, t, r)| (x, if pick == 0 { t } else { r })).collect();
            line_with_dots(&mut c, &series, name, color.to_rgba())?;
        }
        legend(&mut c, SeriesLabelPosition::LowerRight)?;
        root.present()?;
    }
    std::fs::rename(&tmp, png)?;
    Ok(())
}

fn bounds(v: &[f64]) -> (f64, f64) {
    let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    let pad = ((hi - lo) * 0.05).max(1e-6);
    (lo - pad, hi + pad)
}

/// Supernet score against ground truth, one point per cell.
pub fn score_scatter(scores: &[f64], truth: &[f64], truth_name: &str, png: &Path) -> Result<()> {
    register_font();
    let tmp = png.with_extension("png.tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (700, 600)).into_drawing_area();
        root.fill(&WHITE)?;
        let (x0, x1) = bounds(truth);
        let (y0, y1) = bounds(scores);
        let mut c = ChartBuilder::on(&root)
            .caption("supernet score vs ground truth", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        c.configure_mesh()
            .x_desc(format!("ground truth: {truth_name}"))
            .y_desc("supernet score (inherited weights)")
            .draw()?;
        c.draw_series(truth.iter().zip(scores).map(|(&t, &s)| Circle::new((t, s), 2, BLUE.mix(0.4).filled())))?;
        root.present()?;
    }
    std::fs::rename(&tmp, png)?;
    Ok(())
}

/// Rank by supernet score against rank by ground truth (1 = best): a perfect ranker is the diagonal.
pub fn rank_rank(scores: &[f64], truth: &[f64], truth_name: &str, png: &Path) -> Result<()> {
    register_font();
    let rank = |v: &[f64]| -> Vec<f64> {
        // 1 = best; ties get their average rank, as in the statistics.
        let neg: Vec<f64> = v.iter().map(|x| -x).collect();
        oxnas_core::rank::stats::average_ranks(&neg).unwrap_or_default()
    };
    let (rs, rt) = (rank(scores), rank(truth));
    let n = scores.len() as f64;
    let tmp = png.with_extension("png.tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (650, 600)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut c = ChartBuilder::on(&root)
            .caption("rank by supernet vs rank by ground truth", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..n + 1.0, 0.0..n + 1.0)?;
        c.configure_mesh().x_desc(format!("ground-truth rank ({truth_name})")).y_desc("supernet rank").draw()?;
        c.draw_series(LineSeries::new(vec![(0.0, 0.0), (n + 1.0, n + 1.0)], BLACK.mix(0.4)))?;
        c.draw_series(rt.iter().zip(&rs).map(|(&t, &s)| Circle::new((t, s), 2, RED.mix(0.4).filled())))?;
        root.present()?;
    }
    std::fs::rename(&tmp, png)?;
    Ok(())
}

/// Pruning rounds: the survivors' ground truth (median with the inter-quartile band) and the share
/// of the initial pool's true top-10% still alive, from round 0 (the initial pool) on.
pub fn prune_plot(records: &[oxnas_core::prune::RoundRecord], png: &Path) -> Result<()> {
    register_font();
    let mut pts: Vec<(f64, &oxnas_core::prune::TruthSummary)> = vec![];
    if let Some(t) = records.first().and_then(|r| r.truth_before.as_ref()) {
        pts.push((0.0, t));
    }
    pts.extend(records.iter().filter_map(|r| Some((r.round as f64, r.truth_after.as_ref()?))));
    if pts.is_empty() {
        return Ok(());
    }
    let tmp = png.with_extension("png.tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (1000, 420)).into_drawing_area();
        root.fill(&WHITE)?;
        let (left, right) = root.split_horizontally(500);
        let x_max = pts.last().map_or(1.0, |p| p.0) + 0.5;
        let lows: Vec<f64> = pts.iter().map(|p| p.1.q25).collect();
        let highs: Vec<f64> = pts.iter().map(|p| p.1.q75).collect();
        let (lo, _) = bounds(&lows);
        let (_, hi) = bounds(&highs);
        let mut c = ChartBuilder::on(&left)
            .caption("survivors' ground truth", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(-0.5..x_max, lo..hi)?;
        c.configure_mesh().x_desc("round").y_desc("truth: median and quartiles").draw()?;
        for (x, t) in &pts {
            c.draw_series(std::iter::once(PathElement::new(vec![(*x, t.q25), (*x, t.q75)], BLUE.stroke_width(3))))?;
        }
        c.draw_series(LineSeries::new(pts.iter().map(|(x, t)| (*x, t.median)), BLUE.stroke_width(2)))?;
        c.draw_series(pts.iter().map(|(x, t)| Circle::new((*x, t.median), 4, BLUE.filled())))?;
        let mut c = ChartBuilder::on(&right)
            .caption("true top-10% / top-1% still alive", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(-0.5..x_max, 0.0..1.05)?;
        c.configure_mesh().x_desc("round").y_desc("share kept").draw()?;
        let share = |k: usize, n: usize| if n == 0 { f64::NAN } else { k as f64 / n as f64 };
        for (name, color, top1) in [("top-10%", BLUE, false), ("top-1%", RED, true)] {
            let series: Vec<(f64, f64)> = pts
                .iter()
                .map(|(x, t)| {
                    (*x, if top1 { share(t.top1_kept, t.top1_total) } else { share(t.top10_kept, t.top10_total) })
                })
                .filter(|p| p.1.is_finite())
                .collect();
            line_with_dots(&mut c, &series, name, color.to_rgba())?;
        }
        legend(&mut c, SeriesLabelPosition::LowerLeft)?;
        root.present()?;
    }
    std::fs::rename(&tmp, png)?;
    Ok(())
}

/// Kendall τ per supernet epoch of one or more runs (one line each, labelled), on a common
/// epoch axis; a run without τ points draws nothing. Epochs are shown counting from 1.
pub fn tau_curves(series: &[(String, Vec<(usize, f64)>)], caption: &str, png: &Path) -> Result<()> {
    register_font();
    let x_max = series.iter().flat_map(|(_, p)| p.iter().map(|&(e, _)| e + 1)).max().unwrap_or(1) as f64;
    let tmp = png.with_extension("png.tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (700, 450)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut c = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(0.5..x_max + 0.5, -1.0..1.0)?;
        c.configure_mesh().x_desc("supernet epoch").y_desc("Kendall τ with ground truth").draw()?;
        for (i, (name, points)) in series.iter().enumerate().filter(|(_, (_, p))| !p.is_empty()) {
            let color = Palette99::pick(i).to_rgba();
            let xy: Vec<(f64, f64)> = points.iter().map(|&(e, t)| (e as f64 + 1.0, t)).collect();
            line_with_dots(&mut c, &xy, name, color)?;
        }
        legend(&mut c, SeriesLabelPosition::LowerRight)?;
        root.present()?;
    }
    std::fs::rename(&tmp, png)?;
    Ok(())
}

/// Train, validation and test perplexity against epoch, from a language-model run's
/// metrics.jsonl; the epochs trained with averaged SGD are shaded.
pub fn perplexity_curves(metrics: &Path, png: &Path) -> Result<()> {
    register_font();
    let text = std::fs::read_to_string(metrics).with_context(|| format!("reading {}", metrics.display()))?;
    let h: Vec<oxnas_engine::lm::LmEpoch> =
        text.lines().filter(|l| !l.trim().is_empty()).map(serde_json::from_str).collect::<Result<_, _>>()?;
    if h.is_empty() {
        return Ok(());
    }
    let all: Vec<f64> =
        h.iter().flat_map(|m| [m.train_ppl, m.valid_ppl, m.test_ppl]).filter(|v| v.is_finite()).collect();
    let (lo, hi) = bounds(&all);
    let tmp = png.with_extension("png.tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (800, 450)).into_drawing_area();
        root.fill(&WHITE)?;
        let x_max = h.last().map_or(1, |m| m.epoch + 1) as f64;
        let mut c = ChartBuilder::on(&root)
            .caption("perplexity (shaded: averaged SGD)", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(0.5..x_max + 0.5, lo..hi)?;
        c.configure_mesh().x_desc("epoch").y_desc("perplexity").draw()?;
        if let Some(first) = h.iter().find(|m| m.averaging) {
            let from = first.epoch as f64 + 0.5;
            c.draw_series(std::iter::once(Rectangle::new([(from, lo), (x_max + 0.5, hi)], BLACK.mix(0.06).filled())))?;
        }
        type Pick = fn(&oxnas_engine::lm::LmEpoch) -> f64;
        for (name, color, f) in [
            ("train", BLUE, (|m| m.train_ppl) as Pick),
            ("validation", RED, |m| m.valid_ppl),
            ("test", GREEN, |m| m.test_ppl),
        ] {
            let series: Vec<(f64, f64)> = h.iter().map(|m| (m.epoch as f64 + 1.0, f(m))).collect();
            line_with_dots(&mut c, &series, name, color.to_rgba())?;
        }
        legend(&mut c, SeriesLabelPosition::UpperRight)?;
        root.present()?;
    }
    std::fs::rename(&tmp, png)?;
    Ok(())
}
