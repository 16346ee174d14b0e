//! Reduced weight sharing (few-shot supernets, Zhao et al. 2021, as the ranking study's capacity
//! experiment uses it): the space is split into groups by the choices made on a few slots, and each
//! group gets a supernet of its own. NB201 split on edge 1<-0 gives K = 5 groups, on two edges 25.

use crate::oneshot::{ArchError, RankSpace};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error("the {space} space has no per-slot choices to split by; few-shot supernets need a space with slots")]
    NoSlots { space: &'static str },
    #[error("slot {given} does not exist: the {space} space has slots 0..{} ({names})", count - 1)]
    BadSlot { given: usize, space: &'static str, count: usize, names: String },
    #[error("slot {0} is named twice")]
    Repeated(usize),
    #[error(transparent)]
    Arch(#[from] ArchError),
}

/// The group key of an architecture: its choices on `slots`, as `slot=op` joined by commas.
pub fn group_key(space: &dyn RankSpace, arch: &str, slots: &[usize]) -> Result<String, ArchError> {
    let names = space.slots();
    let choices = space.choices(arch)?;
    Ok(slots.iter().map(|&s| format!("{}={}", names[s], choices[s])).collect::<Vec<_>>().join(","))
}

/// Splits `archs` into groups by their choices on `slots` (indices into [`RankSpace::slots`]).
/// Every architecture lands in exactly one group; groups keep the order of `archs`.
pub fn split_by_slots(
    archs: &[String],
    space: &dyn RankSpace,
    slots: &[usize],
) -> Result<BTreeMap<String, Vec<String>>, SplitError> {
    let names = space.slots();
    if names.is_empty() {
        return Err(SplitError::NoSlots { space: space.name() });
    }
    for (i, &s) in slots.iter().enumerate() {
        if s >= names.len() {
            return Err(SplitError::BadSlot {
                given: s,
                space: space.name(),
                count: names.len(),
                names: names.join(", "),
            });
        }
        if slots[..i].contains(&s) {
            return Err(SplitError::Repeated(s));
        }
    }
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in archs {
        groups.entry(group_key(space, a, slots)?).or_default().push(a.clone());
    }
    Ok(groups)
}
