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
