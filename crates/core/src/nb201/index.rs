//! The benchmark's index order.
//!
//! NAS-Bench-201 numbered its cells by generating all 15,625 in base-5 order (edge 1<-0 most
//! significant, ops in [`Nb201Op::ALL`](super::Nb201Op::ALL) order) and then shuffling that list once
//! with CPython's `random.seed(88); random.shuffle(...)`. Index `i` is position `i` after the shuffle.
//! There is no arithmetic closed form, but the shuffle is deterministic, so we replay it: a
//! Mersenne Twister seeded exactly as CPython seeds it from an int, and CPython's shuffle loop with its
//! rejection-sampled `randbelow`. The result is checked against every row of the benchmark table in the
//! tests, so a table of 15,625 indices need not be shipped.

use std::sync::OnceLock;

use super::NUM_ARCHS;

/// The seed the benchmark authors fixed before shuffling.
const SHUFFLE_SEED: u32 = 88;

struct Permutation {
    code_of_index: Vec<u16>,
    index_of_code: Vec<u16>,
}

fn permutation() -> &'static Permutation {
    static PERM: OnceLock<Permutation> = OnceLock::new();
    PERM.get_or_init(|| {
        let mut code_of_index: Vec<u16> = (0..NUM_ARCHS as u16).collect();
        python_shuffle(&mut code_of_index, &mut Mt19937::python_seeded(SHUFFLE_SEED));
        let mut index_of_code = vec![0u16; NUM_ARCHS];
        for (index, &code) in code_of_index.iter().enumerate() {
            index_of_code[code as usize] = index as u16;
        }
        Permutation { code_of_index, index_of_code }
    })
}

/// Base-5 code of the cell at benchmark index `index`; `None` if `index >= 15625`.
pub fn code_of_index(index: usize) -> Option<u16> {
    permutation().code_of_index.get(index).copied()
}

/// Benchmark index of the cell with base-5 code `code` (`code < 15625`, as every `Nb201Arch::code` is).
pub fn index_of_code(code: u16) -> usize {
    permutation().index_of_code[code as usize] as usize
}

/// MT19937, the generator behind CPython's `random` module.
pub(crate) struct Mt19937 {
    state: [u32; 624],
    next: usize,
}

impl Mt19937 {
    const N: usize = 624;
    const M: usize = 397;

    fn from_u32(seed: u32) -> Self {
        let mut state = [0u32; Self::N];
        state[0] = seed;
        for i in 1..Self::N {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32.wrapping_mul(prev ^ (prev >> 30)).wrapping_add(i as u32);
        }
        Mt19937 { state, next: Self::N }
    }

    /// What CPython's `random.seed(n)` produces for a non-negative int `n < 2^32`: the int is split into
    /// 32-bit words (here exactly one) and fed to the reference `init_by_array`, not to `init_genrand`.
    pub(crate) fn python_seeded(seed: u32) -> Self {
        let key = [seed];
        let mut mt = Self::from_u32(19_650_218);
        let s = &mut mt.state;
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..Self::N.max(key.len()) {
            let prev = s[i - 1];
            s[i] = (s[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_664_525)).wrapping_add(key[j]).wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= Self::N {
                s[0] = s[Self::N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..Self::N - 1 {
            let prev = s[i - 1];
            s[i] = (s[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= Self::N {
                s[0] = s[Self::N - 1];
                i = 1;
            }
        }
        // Guarantees a non-zero state whatever the key.
        s[0] = 0x8000_0000;
        mt
    }

    fn refill(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        for k in 0..Self::N {
            let y = (self.state[k] & UPPER) | (self.state[(k + 1) % Self::N] & LOWER);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            self.state[k] = self.state[(k + Self::M) % Self::N] ^ (y >> 1) ^ mag;
        }
        self.next = 0;
    }

    pub(crate) fn next_u32(&mut self) -> u32 {
        if self.next >= Self::N {
            self.refill();
        }
        let mut y = self.state[self.next];
        self.next += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// CPython's `getrandbits(k)` for `1 <= k <= 32`: the top `k` bits of one output.
    fn bits(&mut self, k: u32) -> u32 {
        self.next_u32() >> (32 - k)
    }

    /// CPython's `_randbelow(n)` for `n >= 1`: draw `bit_length(n)` bits until the value is below `n`.
    /// Rejection (not modulo) is what the reference used, and the draw count matters for replaying it.
    fn below(&mut self, n: u32) -> u32 {
        let k = 32 - n.leading_zeros();
        loop {
            let r = self.bits(k);
            if r < n {
                return r;
            }
        }
    }
}

/// CPython's `random.shuffle`: Fisher–Yates from the back, swapping item i with `randbelow(i + 1)`.
fn python_shuffle<T>(items: &mut [T], rng: &mut Mt19937) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u32 + 1) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden values from CPython 3: `random.seed(s); [random.getrandbits(32) for _ in range(k)]`.
    #[test]
    fn mersenne_twister_matches_cpython_seeding() {
        let mut rng = Mt19937::python_seeded(88);
        assert_eq!([rng.next_u32(), rng.next_u32(), rng.next_u32()], [1_707_201_716, 4_182_107_318, 813_946_014]);
        let mut rng = Mt19937::python_seeded(0);
        assert_eq!([rng.next_u32(), rng.next_u32()], [3_626_764_237, 1_654_615_998]);
    }

    /// Golden value from CPython 3: `random.seed(88); l = list(range(15625)); random.shuffle(l); l[:5]`.
    #[test]
    fn shuffle_matches_cpython() {
        let expected = [13_931u16, 11_791, 14_874, 13_126, 4_032];
        for (i, code) in expected.into_iter().enumerate() {
            assert_eq!(code_of_index(i), Some(code));
            assert_eq!(index_of_code(code), i);
        }
        assert_eq!(code_of_index(NUM_ARCHS), None);
    }

    #[test]
    fn randbelow_stays_below_and_covers_the_range() {
        let mut rng = Mt19937::python_seeded(1);
        let mut hit = [false; 5];
        for _ in 0..1000 {
            let r = rng.below(5);
            assert!(r < 5);
            hit[r as usize] = true;
        }
        assert!(hit.iter().all(|&h| h));
        assert_eq!(rng.below(1), 0);
    }
}
