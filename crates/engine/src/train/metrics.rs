//! What one epoch of training reports, one JSON line each in `metrics.jsonl`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub lr: f64,
    pub drop_path: f64,
    pub train_loss: f64,
    pub train_acc: f64,
    pub test_loss: f64,
    pub test_acc: f64,
    pub test_top5: f64,
    pub epoch_time_s: f64,
    pub images_per_s: f64,
}

/// Loss, top-1/top-5 accuracy (in %) and the confusion matrix (rows = true class) of one pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    pub loss: f64,
    pub top1: f64,
    pub top5: f64,
    pub count: usize,
    pub confusion: Vec<Vec<u64>>,
}

impl EvalResult {
    /// Accuracy of each true class in %, `None` for classes absent from the data.
    pub fn per_class_accuracy(&self) -> Vec<Option<f64>> {
        self.confusion
            .iter()
            .enumerate()
            .map(|(c, row)| {
                let n: u64 = row.iter().sum();
                (n > 0).then(|| 100.0 * row[c] as f64 / n as f64)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_class_accuracy_from_confusion() {
        let r = EvalResult { loss: 0.0, top1: 0.0, top5: 0.0, count: 5, confusion: vec![vec![3, 1], vec![0, 0]] };
        assert_eq!(r.per_class_accuracy(), vec![Some(75.0), None]);
    }
}
