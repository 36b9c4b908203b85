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
        for i in 0..other.len {
            self.push(other.get(i));
        }
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
        let mut out = Bitmap::with_capacity(len);
        for i in offset..offset + len {
            out.push(self.get(i));
        }
        out
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
}
