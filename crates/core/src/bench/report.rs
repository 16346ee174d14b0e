//! Printable and serialisable answers for `oxnas bench query | top | stats`.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::table::{RowRef, NUM_CELLS};
use super::Column;

/// Everything known about one cell. The JSON keys are the CSV's column names, plus rank and
/// percentile for the 200-epoch columns (see [`super::Nb201Table::rank`] and
/// [`super::Nb201Table::percentile`] for their exact definitions) and the isomorphism class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryReport {
    pub index: usize,
    pub arch_str: String,
    pub unique_str: String,
    pub cifar10_test_200ep: f64,
    pub cifar100_test_200ep: f64,
    pub imagenet16_120_test_200ep: f64,
    pub cifar10_valid_12ep: f64,
    pub cifar10_test_12ep: f64,
    pub cifar100_valid_12ep: f64,
    pub cifar100_test_12ep: f64,
    pub imagenet16_120_valid_12ep: f64,
    pub imagenet16_120_test_12ep: f64,
    pub rank_cifar10_test_200ep: usize,
    pub percentile_cifar10_test_200ep: f64,
    pub rank_cifar100_test_200ep: usize,
    pub percentile_cifar100_test_200ep: f64,
    pub rank_imagenet16_120_test_200ep: usize,
    pub percentile_imagenet16_120_test_200ep: f64,
    pub iso_class: usize,
    pub iso_class_size: usize,
}

impl QueryReport {
    pub(super) fn new(row: &RowRef<'_>) -> Self {
        use Column::*;
        let v = |c| row.value(c);
        QueryReport {
            index: row.index(),
            arch_str: row.arch_str(),
            unique_str: row.unique_str().to_string(),
            cifar10_test_200ep: v(Cifar10Test200ep),
            cifar100_test_200ep: v(Cifar100Test200ep),
            imagenet16_120_test_200ep: v(ImageNet16Test200ep),
            cifar10_valid_12ep: v(Cifar10Valid12ep),
            cifar10_test_12ep: v(Cifar10Test12ep),
            cifar100_valid_12ep: v(Cifar100Valid12ep),
            cifar100_test_12ep: v(Cifar100Test12ep),
            imagenet16_120_valid_12ep: v(ImageNet16Valid12ep),
            imagenet16_120_test_12ep: v(ImageNet16Test12ep),
            rank_cifar10_test_200ep: row.rank(Cifar10Test200ep),
            percentile_cifar10_test_200ep: row.percentile(Cifar10Test200ep),
            rank_cifar100_test_200ep: row.rank(Cifar100Test200ep),
            percentile_cifar100_test_200ep: row.percentile(Cifar100Test200ep),
            rank_imagenet16_120_test_200ep: row.rank(ImageNet16Test200ep),
            percentile_imagenet16_120_test_200ep: row.percentile(ImageNet16Test200ep),
            iso_class: row.iso_class(),
            iso_class_size: row.iso_class_size(),
        }
    }

    /// The accuracy in one column, in percent.
    pub fn value(&self, column: Column) -> f64 {
        match column {
            Column::Cifar10Test200ep => self.cifar10_test_200ep,
            Column::Cifar100Test200ep => self.cifar100_test_200ep,
            Column::ImageNet16Test200ep => self.imagenet16_120_test_200ep,
            Column::Cifar10Valid12ep => self.cifar10_valid_12ep,
            Column::Cifar10Test12ep => self.cifar10_test_12ep,
            Column::Cifar100Valid12ep => self.cifar100_valid_12ep,
            Column::Cifar100Test12ep => self.cifar100_test_12ep,
            Column::ImageNet16Valid12ep => self.imagenet16_120_valid_12ep,
            Column::ImageNet16Test12ep => self.imagenet16_120_test_12ep,
        }
    }

    /// Rank and percentile, for the 200-epoch columns only.
    pub fn standing(&self, column: Column) -> Option<(usize, f64)> {
        match column {
            Column::Cifar10Test200ep => Some((self.rank_cifar10_test_200ep, self.percentile_cifar10_test_200ep)),
            Column::Cifar100Test200ep => Some((self.rank_cifar100_test_200ep, self.percentile_cifar100_test_200ep)),
            Column::ImageNet16Test200ep => {
                Some((self.rank_imagenet16_120_test_200ep, self.percentile_imagenet16_120_test_200ep))
            }
            _ => None,
        }
    }
}

impl fmt::Display for QueryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "NAS-Bench-201 cell {}", self.index)?;
        writeln!(f, "  arch        {}", self.arch_str)?;
        writeln!(f, "  unique_str  {}", self.unique_str)?;
        let others = self.iso_class_size - 1;
        writeln!(
            f,
            "  iso class   {} ({others} isomorphic cell{} besides this one)",
            self.iso_class,
            if others == 1 { "" } else { "s" }
        )?;
        writeln!(f)?;
        writeln!(f, "  {:<27} {:>10}  {:>13}  {:>10}", "column", "accuracy %", "rank", "percentile")?;
        for c in Column::ALL {
            let v = self.value(c);
            match self.standing(c) {
                Some((rank, pct)) => {
                    writeln!(f, "  {:<27} {v:>10.6}  {:>13}  {pct:>10.2}", c.name(), format!("{rank}/{NUM_CELLS}"))?
                }
                None => writeln!(f, "  {:<27} {v:>10.6}", c.name())?,
            }
        }
        write!(f, "  (rank 1 = best, ties share a rank; percentile = % of the other cells strictly worse)")
    }
}

/// One line of [`TopReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopEntry {
    pub rank: usize,
    pub index: usize,
    pub arch_str: String,
    pub value: f64,
}

/// The best cells on one column, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopReport {
    pub column: Column,
    pub entries: Vec<TopEntry>,
}

impl fmt::Display for TopReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "top {} of {NUM_CELLS} cells by {}", self.entries.len(), self.column)?;
        write!(f, "{:>5}  {:>5}  {:>10}  arch", "rank", "index", "accuracy %")?;
        for e in &self.entries {
            write!(f, "\n{:>5}  {:>5}  {:>10.6}  {}", e.rank, e.index, e.value, e.arch_str)?;
        }
        Ok(())
    }
}

/// Summary of one column; `std` is the population standard deviation (divides by N).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    pub column: Column,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub median: f64,
    pub std: f64,
    pub distinct_values: usize,
    /// The best cell; the lowest index when several share the maximum.
    pub argmax: usize,
    pub argmax_arch_str: String,
}

/// [`ColumnStats`] for every column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsReport {
    pub cells: usize,
    pub iso_classes: usize,
    pub columns: Vec<ColumnStats>,
}

impl fmt::Display for StatsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "NAS-Bench-201: {} cells, {} isomorphism classes; accuracies in %, std over all cells (population)",
            self.cells, self.iso_classes
        )?;
        write!(
            f,
            "{:<27} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}  {:>6}",
            "column", "min", "max", "mean", "median", "std", "distinct", "argmax"
        )?;
        for s in &self.columns {
            write!(
                f,
                "\n{:<27} {:>10.6} {:>10.6} {:>10.6} {:>10.6} {:>10.6} {:>8}  {:>6}",
                s.column.name(),
                s.min,
                s.max,
                s.mean,
                s.median,
                s.std,
                s.distinct_values,
                s.argmax
            )?;
        }
        writeln!(f, "\n\nbest cells:")?;
        for (i, s) in self.columns.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{:<27} {:>5}  {}", s.column.name(), s.argmax, s.argmax_arch_str)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Nb201Table;
    use super::*;

    fn t() -> &'static Nb201Table {
        Nb201Table::embedded()
    }

    #[test]
    fn query_json_keys_are_the_csv_columns_plus_standing_and_class() {
        let report = t().query("1835").unwrap();
        let json = serde_json::to_value(&report).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want: Vec<String> = ["index", "arch_str", "unique_str"].map(String::from).to_vec();
        want.extend(Column::ALL.map(|c| c.name().to_string()));
        for c in Column::TEST_200EP {
            want.push(format!("rank_{c}"));
            want.push(format!("percentile_{c}"));
        }
        want.extend(["iso_class", "iso_class_size"].map(String::from));
        let (mut keys, mut want) = (keys, want);
        keys.sort_unstable();
        want.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!(json["cifar10_test_200ep"].to_string(), "54.296667");
        assert_eq!(json["arch_str"], t().get(1835).unwrap().arch_str());
        let back: QueryReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn query_report_matches_the_table() {
        for i in [0, 857, 1651, 6111, 15624] {
            let row = t().get(i).unwrap();
            let r = row.report();
            assert_eq!(r.index, i);
            assert_eq!(r.unique_str, row.unique_str());
            for c in Column::ALL {
                assert_eq!(r.value(c), row.value(c));
                assert_eq!(r.standing(c), c.is_200ep().then(|| (row.rank(c), row.percentile(c))));
            }
            assert_eq!(r.iso_class, row.iso_class());
            assert_eq!(r.iso_class_size, t().class_members(r.iso_class).unwrap().len());
        }
    }

    #[test]
    fn query_display_shows_every_column_with_six_decimals() {
        let text = t().query("6111").unwrap().to_string();
        assert!(text.starts_with("NAS-Bench-201 cell 6111\n"), "{text}");
        for c in Column::ALL {
            let line = text.lines().find(|l| l.trim_start().starts_with(c.name())).unwrap();
            assert!(line.contains(&t().get(6111).unwrap().value_text(c)), "{line}");
        }
        let c10 = text.lines().find(|l| l.contains("cifar10_test_200ep")).unwrap();
        assert!(c10.contains(&format!("1/{NUM_CELLS}")) && c10.contains("94.373333"), "{c10}");
    }

    #[test]
    fn top_and_stats_render_their_rows() {
        let top = t().top_report(Column::Cifar100Test200ep, 5).to_string();
        assert_eq!(top.lines().count(), 2 + 5);
        let first = top.lines().nth(2).unwrap();
        assert!(first.contains("9930") && first.contains("73.513333"), "{first}");

        let stats = t().stats();
        assert_eq!((stats.cells, stats.iso_classes, stats.columns.len()), (NUM_CELLS, 6466, 9));
        let text = stats.to_string();
        for s in &stats.columns {
            assert!(text.contains(&format!("{:.6}", s.max)), "{text}");
            assert!(text.contains(&s.argmax_arch_str), "{text}");
        }
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(json["columns"][0]["column"], "cifar10_test_200ep");
        assert_eq!(json["columns"][0]["argmax"], 6111);
    }
}
