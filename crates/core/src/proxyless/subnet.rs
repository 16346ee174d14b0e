//! A subnet: one [`BlockChoice`] per searchable block, written as comma-separated choices in block
//! order (`k3e3,k5e6,zero,...`; the fixed first block is not part of it).

use std::fmt;

use super::backbone::Backbone;
use super::choice::{BlockChoice, CHOICE_LIST};

/// A subnet checked against a [`Backbone`]: the right number of choices, `zero` only where allowed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subnet {
    choices: Vec<BlockChoice>,
}

impl Subnet {
    pub fn choices(&self) -> &[BlockChoice] {
        &self.choices
    }

    /// How many blocks make `choice`.
    pub fn count(&self, choice: BlockChoice) -> usize {
        self.choices.iter().filter(|&&c| c == choice).count()
    }

    /// How many blocks use a k×k depthwise conv.
    pub fn kernel_count(&self, kernel: usize) -> usize {
        self.choices.iter().filter(|c| c.kernel() == Some(kernel)).count()
    }

    /// How many blocks expand by `expand`.
    pub fn expand_count(&self, expand: usize) -> usize {
        self.choices.iter().filter(|c| c.expand() == Some(expand)).count()
    }

    /// Searchable blocks that run (are not skipped).
    pub fn active_blocks(&self) -> usize {
        self.choices.len() - self.count(BlockChoice::Zero)
    }
}

/// The canonical string: short names joined by commas, no blanks.
impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.choices.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(c.name())?;
        }
        Ok(())
    }
}

/// Why a subnet string or choice list is not a subnet of a backbone. Block numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubnetError {
    #[error("a subnet is {expected} comma-separated choices, one per searchable block, but this one has {got}")]
    WrongCount { expected: usize, got: usize },
    #[error(
        "block {index} ({block}): unknown choice '{text}'; expected one of {CHOICE_LIST} \
         (or the reference's names, such as 3x3_MBConv6 and Zero)"
    )]
    UnknownChoice { index: usize, block: String, text: String },
    #[error(
        "block {index} ({block}): zero is not allowed here because the block {reason}; only blocks that keep \
         the shape (stride 1, same width in and out) may be skipped"
    )]
    ZeroNotAllowed { index: usize, block: String, reason: String },
}

impl Backbone {
    /// Parses a subnet string in either spelling (short or reference names, any case, blanks
    /// around choices ignored).
    pub fn parse_subnet(&self, text: &str) -> Result<Subnet, SubnetError> {
        let parts: Vec<&str> = text.split(',').collect();
        if parts.len() != self.blocks.len() {
            return Err(SubnetError::WrongCount { expected: self.blocks.len(), got: parts.len() });
        }
        let mut choices = Vec::with_capacity(parts.len());
        for (i, (part, block)) in parts.iter().zip(&self.blocks).enumerate() {
            let choice = BlockChoice::parse(part).ok_or_else(|| SubnetError::UnknownChoice {
                index: i + 1,
                block: block.name.clone(),
                text: part.trim().to_string(),
            })?;
            choices.push(choice);
        }
        self.subnet(choices)
    }

    /// Checks a choice list against this backbone.
    pub fn subnet(&self, choices: Vec<BlockChoice>) -> Result<Subnet, SubnetError> {
        if choices.len() != self.blocks.len() {
            return Err(SubnetError::WrongCount { expected: self.blocks.len(), got: choices.len() });
        }
        for (i, (choice, block)) in choices.iter().zip(&self.blocks).enumerate() {
            if choice.is_zero() && !block.zero_allowed {
                let reason = if block.stride != 1 {
                    format!("has stride {}", block.stride)
                } else {
                    format!("changes the width from {} to {}", block.in_width, block.out_width)
                };
                return Err(SubnetError::ZeroNotAllowed { index: i + 1, block: block.name.clone(), reason });
            }
        }
        Ok(Subnet { choices })
    }

    /// The choices a block may make: the six MBConvs, and `zero` where the block keeps the shape.
    pub fn allowed_choices(&self, block: usize) -> &'static [BlockChoice] {
        if self.blocks[block].zero_allowed {
            &BlockChoice::ALL
        } else {
            &BlockChoice::MBCONV
        }
    }

    /// The same choice on every block, `zero` replaced by `fallback` where it is not allowed.
    pub fn uniform_subnet(&self, choice: BlockChoice, fallback: BlockChoice) -> Subnet {
        let choices =
            self.blocks.iter().map(|b| if choice.is_zero() && !b.zero_allowed { fallback } else { choice }).collect();
        Subnet { choices }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxyless::ProxylessConfig;

    fn reference() -> Backbone {
        ProxylessConfig::default().backbone().unwrap()
    }

    const ALL_K3E3: &str =
        "k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3";

    #[test]
    fn reference_names_and_short_names_give_one_canonical_string() {
        let b = reference();
        let s = b.parse_subnet(ALL_K3E3).unwrap();
        assert_eq!(s.to_string(), ALL_K3E3);
        let mixed = "5x5_MBConv3, k3e3,Zero,ZERO,7x7_MBConv6,k3e6,k5e6,k5e3,k7e3,k7e6,zero,zero,k3e3,k3e3,k3e3,k3e3,\
                     k3e3,k3e3,k3e3,k3e3,K7E6";
        let s = b.parse_subnet(mixed).unwrap();
        let canonical = "k5e3,k3e3,zero,zero,k7e6,k3e6,k5e6,k5e3,k7e3,k7e6,zero,zero,k3e3,k3e3,k3e3,k3e3,\
                         k3e3,k3e3,k3e3,k3e3,k7e6";
        assert_eq!(s.to_string(), canonical);
        assert_eq!(b.parse_subnet(canonical).unwrap(), s);
        assert_eq!((s.count(BlockChoice::Zero), s.count(BlockChoice::K7E6)), (4, 3));
    }

    #[test]
    fn errors_name_the_block_and_the_reason() {
        let b = reference();
        let e = b.parse_subnet("k3e3,k3e3").unwrap_err();
        assert_eq!(e, SubnetError::WrongCount { expected: 21, got: 2 });
        assert!(e.to_string().contains("21 comma-separated choices") && e.to_string().contains("has 2"), "{e}");
        assert_eq!(b.parse_subnet("").unwrap_err(), SubnetError::WrongCount { expected: 21, got: 1 });

        let with = |i: usize, choice: &str| {
            let mut v: Vec<&str> = ALL_K3E3.split(',').collect();
            v[i] = choice;
            v.join(",")
        };
        let e = b.parse_subnet(&with(5, " k9e3")).unwrap_err();
        assert_eq!(e, SubnetError::UnknownChoice { index: 6, block: "s2b2".into(), text: "k9e3".into() });
        assert!(e.to_string().starts_with("block 6 (s2b2): unknown choice 'k9e3'; expected one of k3e3,"), "{e}");

        // Block 1 (s1b1) has stride 2.
        let e = b.parse_subnet(&with(0, "zero")).unwrap_err();
        assert!(e.to_string().starts_with("block 1 (s1b1): zero is not allowed here because the block has stride 2"));
        // Block 13 (s4b1) has stride 1 but widens 80 -> 96.
        let e = b.parse_subnet(&with(12, "Zero")).unwrap_err();
        assert_eq!(
            e,
            SubnetError::ZeroNotAllowed {
                index: 13,
                block: "s4b1".into(),
                reason: "changes the width from 80 to 96".into()
            }
        );
        // The lone 320-wide block (s6b1, stride 1, 192 -> 320) cannot be skipped either.
        let e = b.parse_subnet(&with(20, "zero")).unwrap_err();
        assert!(matches!(e, SubnetError::ZeroNotAllowed { index: 21, .. }), "{e}");
    }

    #[test]
    fn zero_is_allowed_exactly_on_fifteen_blocks() {
        let b = reference();
        let zeros = b.uniform_subnet(BlockChoice::Zero, BlockChoice::K3E3);
        assert_eq!(zeros.count(BlockChoice::Zero), 15);
        assert_eq!(b.subnet(zeros.choices().to_vec()).unwrap(), zeros);
        assert_eq!((0..21).filter(|&i| b.allowed_choices(i).len() == 7).count(), 15);
    }
}
