//! What one searchable block of the backbone does: an MBConv with a kernel size and an expansion
//! ratio, or nothing (`zero`, the block is skipped and its input passes through).

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The candidate ops of a searchable block, in the reference's candidate order (kernel-major, then
/// expansion), with `zero` last as the reference appends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlockChoice {
    K3E3,
    K3E6,
    K5E3,
    K5E6,
    K7E3,
    K7E6,
    Zero,
}

/// Kept in sync with [`BlockChoice::ALL`] by a test; a literal so that error messages need no allocation.
pub const CHOICE_LIST: &str = "k3e3, k3e6, k5e3, k5e6, k7e3, k7e6, zero";

impl BlockChoice {
    pub const ALL: [BlockChoice; 7] = [
        BlockChoice::K3E3,
        BlockChoice::K3E6,
        BlockChoice::K5E3,
        BlockChoice::K5E6,
        BlockChoice::K7E3,
        BlockChoice::K7E6,
        BlockChoice::Zero,
    ];

    /// The six MBConv choices (every choice but `zero`).
    pub const MBCONV: [BlockChoice; 6] = [
        BlockChoice::K3E3,
        BlockChoice::K3E6,
        BlockChoice::K5E3,
        BlockChoice::K5E6,
        BlockChoice::K7E3,
        BlockChoice::K7E6,
    ];

    /// The canonical (short) name: `k5e6`, `zero`.
    pub fn name(self) -> &'static str {
        match self {
            BlockChoice::K3E3 => "k3e3",
            BlockChoice::K3E6 => "k3e6",
            BlockChoice::K5E3 => "k5e3",
            BlockChoice::K5E6 => "k5e6",
            BlockChoice::K7E3 => "k7e3",
            BlockChoice::K7E6 => "k7e6",
            BlockChoice::Zero => "zero",
        }
    }

    /// The name the reference implementation gives the candidate: `5x5_MBConv6`, `Zero`.
    pub fn reference_name(self) -> &'static str {
        match self {
            BlockChoice::K3E3 => "3x3_MBConv3",
            BlockChoice::K3E6 => "3x3_MBConv6",
            BlockChoice::K5E3 => "5x5_MBConv3",
            BlockChoice::K5E6 => "5x5_MBConv6",
            BlockChoice::K7E3 => "7x7_MBConv3",
            BlockChoice::K7E6 => "7x7_MBConv6",
            BlockChoice::Zero => "Zero",
        }
    }

    /// Either spelling, ignoring ASCII case and surrounding blanks; `None` for anything else.
    pub fn parse(text: &str) -> Option<BlockChoice> {
        let t = text.trim();
        BlockChoice::ALL
            .into_iter()
            .find(|c| t.eq_ignore_ascii_case(c.name()) || t.eq_ignore_ascii_case(c.reference_name()))
    }

    /// Depthwise kernel size; `None` for `zero`.
    pub fn kernel(self) -> Option<usize> {
        match self {
            BlockChoice::K3E3 | BlockChoice::K3E6 => Some(3),
            BlockChoice::K5E3 | BlockChoice::K5E6 => Some(5),
            BlockChoice::K7E3 | BlockChoice::K7E6 => Some(7),
            BlockChoice::Zero => None,
        }
    }

    /// Expansion ratio of the inverted bottleneck; `None` for `zero`.
    pub fn expand(self) -> Option<usize> {
        match self {
            BlockChoice::K3E3 | BlockChoice::K5E3 | BlockChoice::K7E3 => Some(3),
            BlockChoice::K3E6 | BlockChoice::K5E6 | BlockChoice::K7E6 => Some(6),
            BlockChoice::Zero => None,
        }
    }

    pub fn is_zero(self) -> bool {
        self == BlockChoice::Zero
    }
}

/// Configs name a choice as the command line does (`k3e6`, or the reference's `3x3_MBConv6`).
impl<'de> Deserialize<'de> for BlockChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        BlockChoice::parse(&text)
            .ok_or_else(|| de::Error::custom(format!("unknown block choice '{text}' (one of {CHOICE_LIST})")))
    }
}

impl Serialize for BlockChoice {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl fmt::Display for BlockChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_parse_to_the_same_choice() {
        assert_eq!(BlockChoice::ALL.map(|c| c.name()).join(", "), CHOICE_LIST);
        for c in BlockChoice::ALL {
            assert_eq!(BlockChoice::parse(c.name()), Some(c));
            assert_eq!(BlockChoice::parse(c.reference_name()), Some(c));
            assert_eq!(BlockChoice::parse(&format!(" {} ", c.name().to_uppercase())), Some(c));
        }
        assert_eq!(BlockChoice::parse("3x3_MBConv6"), Some(BlockChoice::K3E6));
        assert_eq!(BlockChoice::parse("7x7_MBConv3"), Some(BlockChoice::K7E3));
        // The fixed first block's op is not a searchable choice.
        assert_eq!(BlockChoice::parse("3x3_MBConv1"), None);
        assert_eq!(BlockChoice::parse("k3e1"), None);
        assert_eq!(BlockChoice::parse(""), None);
    }

    #[test]
    fn serde_uses_the_command_line_names() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Holder {
            c: BlockChoice,
        }
        let h: Holder = serde_json::from_str(r#"{"c": "3x3_MBConv6"}"#).unwrap();
        assert_eq!(h.c, BlockChoice::K3E6);
        assert_eq!(serde_json::to_string(&h).unwrap(), r#"{"c":"k3e6"}"#);
        let e = serde_json::from_str::<Holder>(r#"{"c": "k9e6"}"#).unwrap_err().to_string();
        assert!(e.starts_with("unknown block choice 'k9e6' (one of k3e3, k3e6,"), "{e}");
    }

    #[test]
    fn kernel_and_expansion() {
        assert_eq!(BlockChoice::K5E6.kernel(), Some(5));
        assert_eq!(BlockChoice::K5E6.expand(), Some(6));
        assert_eq!(BlockChoice::K7E3.kernel(), Some(7));
        assert_eq!(BlockChoice::K3E3.expand(), Some(3));
        assert_eq!((BlockChoice::Zero.kernel(), BlockChoice::Zero.expand()), (None, None));
        assert!(BlockChoice::MBCONV.iter().all(|c| !c.is_zero()));
    }
}
