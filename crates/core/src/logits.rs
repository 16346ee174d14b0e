//! Per-image logits of an evaluation, written so that another framework's outputs can be compared
//! with ours directly: NumPy `.npy` (float32, shape `[images, classes]`, row i = test image i) or
//! CSV (`index,label,logit_0,…`, floats in their shortest exact form).

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum LogitsError {
    #[error("{path}: logits are written as .npy or .csv; give a path with one of those endings")]
    Format { path: String },
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    #[error("writing .npy: {0}")]
    Npy(std::io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogitsFormat {
    Npy,
    Csv,
}

impl LogitsFormat {
    pub fn from_path(path: &Path) -> Result<Self, LogitsError> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("npy") => Ok(LogitsFormat::Npy),
            Some("csv") => Ok(LogitsFormat::Csv),
            _ => Err(LogitsError::Format { path: path.display().to_string() }),
        }
    }
}

/// Row-major logits and the true label of each row.
#[derive(Debug, Clone, PartialEq)]
pub struct Logits {
    pub classes: usize,
    pub values: Vec<f32>,
    /// Empty when read from `.npy`, which holds the logits only.
    pub labels: Vec<i64>,
}

impl Logits {
    pub fn rows(&self) -> usize {
        self.values.len() / self.classes.max(1)
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.classes..(i + 1) * self.classes]
    }

    pub fn to_bytes(&self, format: LogitsFormat) -> Result<Vec<u8>, LogitsError> {
        match format {
            LogitsFormat::Npy => self.npy(),
            LogitsFormat::Csv => Ok(self.csv().into_bytes()),
        }
    }

    fn npy(&self) -> Result<Vec<u8>, LogitsError> {
        use npyz::WriterBuilder;
        let mut out = vec![];
        let shape = [self.rows() as u64, self.classes as u64];
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&shape)
            .writer(&mut out)
            .begin_nd()
            .map_err(LogitsError::Npy)?;
        w.extend(self.values.iter().copied()).map_err(LogitsError::Npy)?;
        w.finish().map_err(LogitsError::Npy)?;
        Ok(out)
    }

    fn csv(&self) -> String {
        let mut s = String::from("index,label");
        for c in 0..self.classes {
            s.push_str(&format!(",logit_{c}"));
        }
        s.push('\n');
        for i in 0..self.rows() {
            s.push_str(&format!("{i},{}", self.labels.get(i).copied().unwrap_or(-1)));
            for v in self.row(i) {
                s.push_str(&format!(",{v}"));
            }
            s.push('\n');
        }
        s
    }

    /// Reads a file written by [`Logits::to_bytes`] (or NumPy's `np.save` of a float32 matrix).
    pub fn read(path: &Path) -> Result<Self, LogitsError> {
        let err = |message: String| LogitsError::Read { path: path.display().to_string(), message };
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        match LogitsFormat::from_path(path)? {
            LogitsFormat::Npy => {
                let file = npyz::NpyFile::new(&bytes[..]).map_err(|e| err(e.to_string()))?;
                let shape = file.shape().to_vec();
                let [_, classes] = shape[..] else { return Err(err(format!("shape {shape:?} is not a matrix"))) };
                let values = file.into_vec::<f32>().map_err(|e| err(e.to_string()))?;
                Ok(Logits { classes: classes as usize, values, labels: vec![] })
            }
            LogitsFormat::Csv => Self::parse_csv(&String::from_utf8_lossy(&bytes)).map_err(err),
        }
    }

    fn parse_csv(text: &str) -> Result<Self, String> {
        let mut lines = text.lines();
        let header = lines.next().ok_or("empty file")?;
        let classes = header.split(',').count().checked_sub(2).filter(|&c| c > 0).ok_or("no logit columns")?;
        let (mut values, mut labels) = (vec![], vec![]);
        for (n, line) in lines.enumerate() {
            let cells: Vec<&str> = line.split(',').collect();
            if cells.len() != classes + 2 {
                return Err(format!("line {}: {} fields, expected {}", n + 2, cells.len(), classes + 2));
            }
            labels.push(cells[1].parse().map_err(|e| format!("line {}: label: {e}", n + 2))?);
            for c in &cells[2..] {
                values.push(c.parse().map_err(|e| format!("line {}: '{c}': {e}", n + 2))?);
            }
        }
        Ok(Logits { classes, values, labels })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_round_trip_exactly() {
        let l = Logits { classes: 3, values: vec![0.1, -2.5, 1e-7, f32::MAX, 0.333_333_34, -0.0], labels: vec![2, 0] };
        let dir = tempfile::tempdir().unwrap();
        for name in ["l.npy", "l.csv"] {
            let p = dir.path().join(name);
            std::fs::write(&p, l.to_bytes(LogitsFormat::from_path(&p).unwrap()).unwrap()).unwrap();
            let back = Logits::read(&p).unwrap();
            assert_eq!((back.rows(), back.classes), (2, 3), "{name}");
            assert_eq!(
                back.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                l.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{name}"
            );
        }
        assert_eq!(Logits::read(&dir.path().join("l.csv")).unwrap().labels, vec![2, 0]);
        // The .npy header is NumPy's: magic, version 1.0, little-endian float32, C order.
        let npy = l.to_bytes(LogitsFormat::Npy).unwrap();
        assert_eq!(&npy[..6], b"\x93NUMPY");
        let header = String::from_utf8_lossy(&npy[10..70]);
        assert!(header.contains("'<f4'") && header.contains("'shape': (2, 3"), "{header}");
        assert!(LogitsFormat::from_path(Path::new("x.txt")).unwrap_err().to_string().contains(".npy or .csv"));
        std::fs::write(dir.path().join("bad.csv"), "index,label,logit_0\n0,1,abc\n").unwrap();
        assert!(Logits::read(&dir.path().join("bad.csv")).unwrap_err().to_string().contains("line 2"));
    }
}
