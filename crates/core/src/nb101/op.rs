//! The three ops of an intermediate vertex.

use std::fmt;
use std::str::FromStr;

/// An intermediate vertex's op. The discriminant is the benchmark's label in its op list
/// (`available_ops`), which the module hash uses; it must never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Nb101Op {
    Conv3x3 = 0,
    Conv1x1 = 1,
    MaxPool3x3 = 2,
}

/// The names the official API uses for the first and last vertex.
pub const INPUT: &str = "input";
pub const OUTPUT: &str = "output";

/// Kept in sync with [`Nb101Op::ALL`] by a test; a literal so that error messages need no allocation.
pub(crate) const OP_LIST: &str = "conv3x3-bn-relu, conv1x1-bn-relu, maxpool3x3";

impl Nb101Op {
    /// In the benchmark's label order.
    pub const ALL: [Nb101Op; 3] = [Nb101Op::Conv3x3, Nb101Op::Conv1x1, Nb101Op::MaxPool3x3];

    /// The official API's name.
    pub fn name(self) -> &'static str {
        match self {
            Nb101Op::Conv3x3 => "conv3x3-bn-relu",
            Nb101Op::Conv1x1 => "conv1x1-bn-relu",
            Nb101Op::MaxPool3x3 => "maxpool3x3",
        }
    }

    /// The one-character name of oxnas's short cell form.
    pub fn letter(self) -> char {
        match self {
            Nb101Op::Conv3x3 => '3',
            Nb101Op::Conv1x1 => '1',
            Nb101Op::MaxPool3x3 => 'm',
        }
    }

    pub fn from_letter(c: char) -> Option<Nb101Op> {
        Nb101Op::ALL.into_iter().find(|o| o.letter() == c)
    }

    /// The benchmark's integer label (position in its op list).
    pub fn label(self) -> i32 {
        self as i32
    }

    pub fn from_label(label: u8) -> Option<Nb101Op> {
        Nb101Op::ALL.get(label as usize).copied()
    }

    pub fn is_conv(self) -> bool {
        self != Nb101Op::MaxPool3x3
    }
}

impl FromStr for Nb101Op {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Nb101Op::ALL
            .into_iter()
            .find(|o| o.name() == s)
            .ok_or_else(|| format!("unknown NAS-Bench-101 op '{s}'; expected one of {OP_LIST}"))
    }
}

impl fmt::Display for Nb101Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_letters_and_labels_round_trip() {
        let names: Vec<&str> = Nb101Op::ALL.iter().map(|o| o.name()).collect();
        assert_eq!(names.join(", "), OP_LIST);
        for (i, op) in Nb101Op::ALL.into_iter().enumerate() {
            assert_eq!(op.name().parse::<Nb101Op>().unwrap(), op);
            assert_eq!(Nb101Op::from_letter(op.letter()), Some(op));
            assert_eq!(op.label(), i as i32);
            assert_eq!(Nb101Op::from_label(i as u8), Some(op));
        }
        assert!("conv5x5".parse::<Nb101Op>().unwrap_err().contains("expected one of conv3x3-bn-relu"));
        assert_eq!(Nb101Op::from_label(3), None);
    }
}
