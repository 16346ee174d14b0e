use std::fmt;
use std::str::FromStr;

use super::BenchError;

/// One accuracy column of the table. The order of [`Column::ALL`] is the CSV's column order and
/// the order of the columns in the compact format, so it must never change within a format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Column {
    Cifar10Test200ep,
    Cifar100Test200ep,
    ImageNet16Test200ep,
    Cifar10Valid12ep,
    Cifar10Test12ep,
    Cifar100Valid12ep,
    Cifar100Test12ep,
    ImageNet16Valid12ep,
    ImageNet16Test12ep,
}

impl Column {
    pub const ALL: [Column; 9] = [
        Column::Cifar10Test200ep,
        Column::Cifar100Test200ep,
        Column::ImageNet16Test200ep,
        Column::Cifar10Valid12ep,
        Column::Cifar10Test12ep,
        Column::Cifar100Valid12ep,
        Column::Cifar100Test12ep,
        Column::ImageNet16Valid12ep,
        Column::ImageNet16Test12ep,
    ];

    /// The three final (200-epoch) test accuracies, the numbers papers report.
    pub const TEST_200EP: [Column; 3] =
        [Column::Cifar10Test200ep, Column::Cifar100Test200ep, Column::ImageNet16Test200ep];

    /// The CSV header name.
    pub fn name(self) -> &'static str {
        match self {
            Column::Cifar10Test200ep => "cifar10_test_200ep",
            Column::Cifar100Test200ep => "cifar100_test_200ep",
            Column::ImageNet16Test200ep => "imagenet16_120_test_200ep",
            Column::Cifar10Valid12ep => "cifar10_valid_12ep",
            Column::Cifar10Test12ep => "cifar10_test_12ep",
            Column::Cifar100Valid12ep => "cifar100_valid_12ep",
            Column::Cifar100Test12ep => "cifar100_test_12ep",
            Column::ImageNet16Valid12ep => "imagenet16_120_valid_12ep",
            Column::ImageNet16Test12ep => "imagenet16_120_test_12ep",
        }
    }

    /// True for the 200-epoch columns; the others come from the 12-epoch training schedule.
    pub fn is_200ep(self) -> bool {
        matches!(self, Column::Cifar10Test200ep | Column::Cifar100Test200ep | Column::ImageNet16Test200ep)
    }

    /// Position in [`Column::ALL`].
    pub fn position(self) -> usize {
        self as usize
    }

    /// The full CSV header line (without newline).
    pub fn csv_header() -> String {
        let mut h = String::from("index,arch_str,unique_str");
        for c in Column::ALL {
            h.push(',');
            h.push_str(c.name());
        }
        h
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Column {
    type Err = BenchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Column::ALL.into_iter().find(|c| c.name() == s).ok_or_else(|| BenchError::UnknownColumn { name: s.to_string() })
    }
}

// By name rather than derived, so JSON carries the same strings as the CSV header.
impl serde::Serialize for Column {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Column {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_positions_match_all() {
        for (i, c) in Column::ALL.into_iter().enumerate() {
            assert_eq!(c.position(), i);
            assert_eq!(c.name().parse::<Column>().unwrap(), c);
            assert_eq!(c.to_string(), c.name());
            assert_eq!(c.is_200ep(), c.name().ends_with("_200ep"));
        }
        assert_eq!(Column::ALL.into_iter().filter(|c| c.is_200ep()).collect::<Vec<_>>(), Column::TEST_200EP);
    }

    #[test]
    fn unknown_name_lists_valid_columns() {
        let err = "cifar10".parse::<Column>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`cifar10`"), "{msg}");
        for c in Column::ALL {
            assert!(msg.contains(c.name()), "{msg} lacks {}", c.name());
        }
    }

    #[test]
    fn serde_uses_csv_names() {
        let json = serde_json::to_string(&Column::ImageNet16Valid12ep).unwrap();
        assert_eq!(json, "\"imagenet16_120_valid_12ep\"");
        assert_eq!(serde_json::from_str::<Column>(&json).unwrap(), Column::ImageNet16Valid12ep);
        assert!(serde_json::from_str::<Column>("\"nope\"").is_err());
    }

    #[test]
    fn header_matches_shared_csv_format() {
        assert_eq!(
            Column::csv_header(),
            "index,arch_str,unique_str,cifar10_test_200ep,cifar100_test_200ep,imagenet16_120_test_200ep,\
             cifar10_valid_12ep,cifar10_test_12ep,cifar100_valid_12ep,cifar100_test_12ep,\
             imagenet16_120_valid_12ep,imagenet16_120_test_12ep"
        );
    }
}
