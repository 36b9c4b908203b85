/// A packed bit vector marking which values of a column are present
/// (`true`) and which are null (`false`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bitmap {
    words: Vec<u64>,
    len: usize,
}

impl Bitmap {
    /// A bitmap of `len` bits, all set to `value`.
    pub fn new(len: usize, value: bool) -> Self {
        let fill = if value { u64::MAX } else { 0 };
        let mut words = vec![fill; len.div_ceil(64)];
        if value
            && !len.is_multiple_of(64)
            && let Some(last) = words.last_mut()
        {
            *last = (1u64 << (len % 64)) - 1;
        }
        Bitmap { words, len }
    }

    /// An empty bitmap with room for `capacity` bits.
    pub fn with_capacity(capacity: usize) -> Self {
        Bitmap {
            words: Vec::with_capacity(capacity.div_ceil(64)),
            len: 0,
        }
    }

    /// Builds a bitmap from booleans.
    pub fn from_bools(bits: &[bool]) -> Self {
        let mut b = Bitmap::with_capacity(bits.len());
        for &bit in bits {
            b.push(bit);
        }
        b
    }

    /// The bits as little-endian words (bits past `len` are zero).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the bitmap holds no bits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bit at `i`. Panics if `i >= len` (a programming error).
    #[inline]
    pub fn get(&self, i: usize) -> bool {
        assert!(
            i < self.len,
            "bit {i} out of range for bitmap of {}",
            self.len
        );
        self.words[i / 64] >> (i % 64) & 1 == 1
    }

    /// Sets the bit at `i`.
    #[inline]
    pub fn set(&mut self, i: usize, value: bool) {
        assert!(
            i < self.len,
            "bit {i} out of range for bitmap of {}",
            self.len
        );
        let mask = 1u64 << (i % 64);
        if value {
            self.words[i / 64] |= mask;
        } else {
            self.words[i / 64] &= !mask;
        }
    }

    /// Appends one bit.
    #[inline]
    pub fn push(&mut self, value: bool) {
        if self.len.is_multiple_of(64) {
            self.words.push(0);
        }
        if value {
            let i = self.len;
            self.words[i / 64] |= 1u64 << (i % 64);
        }
        self.len += 1;
    }

    /// Appends all bits of `other`.
    pub fn extend(&mut self, other: &Bitmap) {
        self.extend_words(&other.words, other.len);
    }

    /// Appends `len` bits given as little-endian 64-bit words (bit `i` is
    /// bit `i % 64` of word `i / 64`); bits past `len` are ignored.
    pub fn extend_words(&mut self, words: &[u64], len: usize) {
        let shift = self.len % 64;
        let full = len / 64;
        let rest = len % 64;
        let take = |k: usize| -> u64 {
            let w = words.get(k).copied().unwrap_or(0);
            if k == full && rest != 0 {
                w & ((1u64 << rest) - 1)
            } else {
                w
            }
        };
        let nwords = len.div_ceil(64);
        if shift == 0 {
            self.words.extend((0..nwords).map(take));
        } else {
            for k in 0..nwords {
                let w = take(k);
                if let Some(last) = self.words.last_mut() {
                    *last |= w << shift;
                }
                self.words.push(w >> (64 - shift));
            }
        }
        self.len += len;
        self.words.truncate(self.len.div_ceil(64));
    }

    /// Appends `len` copies of `value`.
    pub fn extend_constant(&mut self, len: usize, value: bool) {
        let fill = if value { u64::MAX } else { 0 };
        let words = vec![fill; len.div_ceil(64)];
        self.extend_words(&words, len);
    }

    /// Builds a bitmap from little-endian words.
    pub fn from_words(words: &[u64], len: usize) -> Self {
        let mut b = Bitmap::with_capacity(len);
        b.extend_words(words, len);
        b
    }

    /// Number of set bits.
    pub fn count_ones(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Number of cleared bits.
    pub fn count_zeros(&self) -> usize {
        self.len - self.count_ones()
    }

    /// A copy of bits `offset..offset + len`.
    pub fn slice(&self, offset: usize, len: usize) -> Bitmap {
        assert!(
            offset + len <= self.len,
            "slice {offset}+{len} out of range for bitmap of {}",
            self.len
        );
        let (first, shift) = (offset / 64, offset % 64);
        let words: Vec<u64> = (0..len.div_ceil(64))
            .map(|k| {
                let lo = self.words.get(first + k).copied().unwrap_or(0) >> shift;
                let hi = if shift == 0 {
                    0
                } else {
                    self.words.get(first + k + 1).copied().unwrap_or(0) << (64 - shift)
                };
                lo | hi
            })
            .collect();
        Bitmap::from_words(&words, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_push_get_and_count() {
        let mut b = Bitmap::new(70, true);
        assert_eq!(b.count_ones(), 70);
        b.set(3, false);
        b.set(69, false);
        assert_eq!(b.count_zeros(), 2);
        assert!(!b.get(69) && b.get(68));
        b.push(false);
        b.push(true);
        assert_eq!(b.len(), 72);
        assert_eq!(b.count_ones(), 69);
        let s = b.slice(2, 3);
        assert_eq!((s.get(0), s.get(1), s.get(2)), (true, false, true));
        assert_eq!(Bitmap::new(64, true).count_ones(), 64);
        assert_eq!(Bitmap::new(5, false).count_ones(), 0);
    }

    #[test]
    fn word_level_extend_matches_bit_by_bit() {
        let bits: Vec<bool> = (0..300).map(|i| (i * 7 + i / 3) % 5 < 2).collect();
        for head in [0usize, 1, 63, 64, 65, 130] {
            for tail in [0usize, 1, 64, 100, 300] {
                let mut fast = Bitmap::from_bools(&bits[..head]);
                fast.extend(&Bitmap::from_bools(&bits[..tail]));
                fast.extend_constant(head % 70, head % 2 == 0);
                let mut slow = Bitmap::from_bools(&bits[..head]);
                bits[..tail].iter().for_each(|&b| slow.push(b));
                (0..head % 70).for_each(|_| slow.push(head % 2 == 0));
                assert_eq!(fast, slow, "head {head} tail {tail}");
                for (off, n) in [
                    (0, fast.len()),
                    (head % 70, tail / 2),
                    (fast.len() / 3, fast.len() / 3),
                ] {
                    let bit_by_bit = Bitmap::from_bools(
                        &(off..off + n).map(|i| fast.get(i)).collect::<Vec<_>>(),
                    );
                    assert_eq!(fast.slice(off, n), bit_by_bit, "slice {off}+{n}");
                }
            }
        }
    }
}
