//! Parquet's run-length / bit-packed hybrid encoding, decoded straight
//! into fathom's buffers: definition levels into validity bits, dictionary
//! indices into `u32` codes.
//!
//! A stream is a sequence of runs, each starting with a ULEB128 header:
//! an even header `2n` is a run of `n` copies of one value (stored in
//! `ceil(bit_width / 8)` little-endian bytes), an odd header `2g + 1` is
//! `g` groups of eight values packed `bit_width` bits each, least
//! significant bit first.

/// Why a stream could not be decoded. Callers treat any of these as "this
/// chunk is not for the fast path" and decode it the general way, which
/// reports the problem in its own words if the data is really corrupt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StreamError(pub(super) &'static str);

/// One run of the stream, cut to the values still wanted.
enum Run<'a> {
    /// `count` copies of `value`.
    Repeat { value: u32, count: usize },
    /// Bit-packed values: `bytes` holds whole groups of eight, of which the
    /// first `count` values are wanted.
    Packed { bytes: &'a [u8], count: usize },
}

/// A cursor over one hybrid-encoded stream.
pub(super) struct Hybrid<'a> {
    data: &'a [u8],
    pos: usize,
    bit_width: usize,
}

impl<'a> Hybrid<'a> {
    /// A stream of `bit_width`-bit values (at most 32) in `data`.
    pub(super) fn new(data: &'a [u8], bit_width: u8) -> Result<Self, StreamError> {
        if bit_width > 32 {
            return Err(StreamError("bit width above 32"));
        }
        Ok(Hybrid {
            data,
            pos: 0,
            bit_width: usize::from(bit_width),
        })
    }

    fn uleb128(&mut self) -> Result<u64, StreamError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .data
                .get(self.pos)
                .ok_or(StreamError("run header past the end of the page"))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(StreamError("run header longer than 64 bits"))
    }

    /// The next run, holding at most `wanted` values.
    fn next_run(&mut self, wanted: usize) -> Result<Run<'a>, StreamError> {
        let header = self.uleb128()?;
        if header & 1 == 0 {
            let count = usize::try_from(header >> 1).unwrap_or(usize::MAX);
            if count == 0 {
                return Err(StreamError("empty run"));
            }
            let width = self.bit_width.div_ceil(8);
            let bytes = self
                .data
                .get(self.pos..self.pos + width)
                .ok_or(StreamError("run value past the end of the page"))?;
            self.pos += width;
            let mut value = 0u32;
            for (i, b) in bytes.iter().enumerate() {
                value |= u32::from(*b) << (8 * i);
            }
            Ok(Run::Repeat {
                value,
                count: count.min(wanted),
            })
        } else {
            let groups = usize::try_from(header >> 1).unwrap_or(usize::MAX);
            if groups == 0 {
                return Err(StreamError("empty bit-packed run"));
            }
            let len = groups
                .checked_mul(self.bit_width)
                .ok_or(StreamError("bit-packed run too long"))?;
            let bytes = self
                .data
                .get(self.pos..self.pos.saturating_add(len))
                .ok_or(StreamError("bit-packed run past the end of the page"))?;
            self.pos += len;
            Ok(Run::Packed {
                bytes,
                count: groups.saturating_mul(8).min(wanted),
            })
        }
    }

    /// Decodes `n` levels of bit width 1 (the definition levels of a flat
    /// optional column) as validity bits appended to `bits`. Returns how
    /// many are set.
    pub(super) fn read_bits(
        &mut self,
        n: usize,
        bits: &mut PageBits,
    ) -> Result<usize, StreamError> {
        if self.bit_width != 1 {
            return Err(StreamError("definition levels wider than one bit"));
        }
        let mut left = n;
        let mut set = 0;
        while left > 0 {
            match self.next_run(left)? {
                Run::Repeat { value, count } => {
                    if value > 1 {
                        return Err(StreamError("definition level above the maximum"));
                    }
                    bits.push_constant(value == 1, count);
                    set += if value == 1 { count } else { 0 };
                    left -= count;
                }
                Run::Packed { bytes, count } => {
                    set += bits.push_bytes(bytes, count);
                    left -= count;
                }
            }
        }
        Ok(set)
    }

    /// Decodes `out.len()` values into `out`. Returns the largest value
    /// decoded (0 for an empty `out`).
    pub(super) fn read_u32(&mut self, out: &mut [u32]) -> Result<u32, StreamError> {
        let mut at = 0;
        let mut max = 0u32;
        while at < out.len() {
            match self.next_run(out.len() - at)? {
                Run::Repeat { value, count } => {
                    out[at..at + count].fill(value);
                    max = max.max(value);
                    at += count;
                }
                Run::Packed { bytes, count } => {
                    let dst = &mut out[at..at + count];
                    unpack(bytes, self.bit_width, dst);
                    max = max.max(dst.iter().copied().max().unwrap_or(0));
                    at += count;
                }
            }
        }
        Ok(max)
    }
}

/// Validity bits of one page, as little-endian words (bit `i` is bit
/// `i % 64` of word `i / 64`), the layout of [`fathom_core::Bitmap`].
#[derive(Default)]
pub(super) struct PageBits {
    pub(super) words: Vec<u64>,
    pub(super) len: usize,
}

impl PageBits {
    /// Empties the bits, keeping the allocation.
    pub(super) fn clear(&mut self) {
        self.words.clear();
        self.len = 0;
    }

    /// The bit at `i` (which must be below `len`).
    #[inline]
    pub(super) fn get(&self, i: usize) -> bool {
        self.words[i / 64] >> (i % 64) & 1 == 1
    }

    /// Appends `count` copies of `value`.
    pub(super) fn push_constant(&mut self, value: bool, mut count: usize) {
        let fill = if value { u64::MAX } else { 0 };
        // Top up the last, partly filled word.
        let used = self.len % 64;
        if used != 0 {
            let take = count.min(64 - used);
            if value && let Some(last) = self.words.last_mut() {
                *last |= (u64::MAX >> (64 - take)) << used;
            }
            self.len += take;
            count -= take;
        }
        let whole = count / 64;
        self.words.extend(std::iter::repeat_n(fill, whole));
        self.len += whole * 64;
        let rest = count % 64;
        if rest != 0 {
            self.words.push(fill & (u64::MAX >> (64 - rest)));
            self.len += rest;
        }
    }

    /// Appends the first `count` bits of `bytes` (least significant bit of
    /// each byte first). Returns how many of them are set.
    pub(super) fn push_bytes(&mut self, bytes: &[u8], count: usize) -> usize {
        let mut set = 0;
        let mut left = count;
        for chunk in bytes.chunks(8) {
            if left == 0 {
                break;
            }
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            let take = left.min(64);
            let mut word = u64::from_le_bytes(w);
            if take < 64 {
                word &= (1u64 << take) - 1;
            }
            set += word.count_ones() as usize;
            self.push_word(word, take);
            left -= take;
        }
        set
    }

    /// Appends the low `n` bits of `word` (higher bits must be zero).
    fn push_word(&mut self, word: u64, n: usize) {
        let used = self.len % 64;
        if used == 0 {
            self.words.push(word);
        } else {
            if let Some(last) = self.words.last_mut() {
                *last |= word << used;
            }
            if used + n > 64 {
                self.words.push(word >> (64 - used));
            }
        }
        self.len += n;
    }
}

/// Unpacks the first `out.len()` values of bit-packed groups of eight.
fn unpack(bytes: &[u8], bit_width: usize, out: &mut [u32]) {
    macro_rules! widths {
        ($($w:literal)*) => {
            match bit_width {
                0 => out.fill(0),
                $($w => unpack_width::<$w>(bytes, out),)*
                _ => out.fill(0),
            }
        };
    }
    widths!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32);
}

/// [`unpack`] for one bit width, known at compile time so that the eight
/// shifts of a group unroll to constants.
fn unpack_width<const W: usize>(bytes: &[u8], out: &mut [u32]) {
    let (groups, _) = bytes.as_chunks::<W>();
    let (whole, tail) = out.as_chunks_mut::<8>();
    // Groups followed by at least seven more bytes are read in place (each
    // value one unaligned load); the last few through a padded copy.
    let direct = (bytes.len().saturating_sub(7) / W).min(whole.len());
    for (g, dst) in whole[..direct].iter_mut().enumerate() {
        unpack_group_in_place::<W>(&bytes[g * W..g * W + W + 7], dst);
    }
    for (dst, group) in whole[direct..]
        .iter_mut()
        .zip(&groups[direct.min(groups.len())..])
    {
        unpack_group::<W>(group, dst);
    }
    if !tail.is_empty()
        && let Some(group) = groups.get(whole.len())
    {
        let mut last = [0u32; 8];
        unpack_group::<W>(group, &mut last);
        tail.copy_from_slice(&last[..tail.len()]);
    }
}

/// Eight values of `W` bits from a group of `W` bytes and the seven
/// bytes after it (so that every value is one unaligned 64-bit load).
#[inline(always)]
fn unpack_group_in_place<const W: usize>(bytes: &[u8], dst: &mut [u32; 8]) {
    let mask = if W == 32 {
        u64::from(u32::MAX)
    } else {
        (1u64 << W) - 1
    };
    for (j, o) in dst.iter_mut().enumerate() {
        let bit = j * W;
        let at = bit / 8;
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        *o = ((u64::from_le_bytes(word) >> (bit % 8)) & mask) as u32;
    }
}

/// [`unpack_group_in_place`] for a group at the end of its data: copied
/// behind zero padding first.
#[inline(always)]
fn unpack_group<const W: usize>(group: &[u8; W], dst: &mut [u32; 8]) {
    let mut buf = [0u8; 40];
    buf[..W].copy_from_slice(group);
    unpack_group_in_place::<W>(&buf[..W + 7], dst);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packs values of `width` bits into groups of eight, the reference
    /// the decoder is checked against.
    fn pack(values: &[u32], width: usize) -> Vec<u8> {
        let groups = values.len().div_ceil(8);
        let mut out = vec![0u8; groups * width];
        for (i, &v) in values.iter().enumerate() {
            for b in 0..width {
                if v >> b & 1 == 1 {
                    let bit = i * width + b;
                    out[bit / 8] |= 1 << (bit % 8);
                }
            }
        }
        out
    }

    fn uleb(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    #[test]
    fn every_bit_width_round_trips_through_packed_runs() {
        // Short runs go through the padded copy only; long ones are read
        // in place but for their last groups.
        for (width, n) in (1..=32usize).flat_map(|w| [(w, 19u64), (w, 1003)]) {
            let values: Vec<u32> = (0..n)
                .map(|i| ((i * 2_654_435_761) & ((1u64 << width) - 1)) as u32)
                .collect();
            let mut data = Vec::new();
            uleb(((values.len().div_ceil(8) as u64) << 1) | 1, &mut data);
            data.extend(pack(&values, width));
            let mut out = vec![0u32; values.len()];
            let max = Hybrid::new(&data, width as u8)
                .unwrap()
                .read_u32(&mut out)
                .unwrap();
            assert_eq!(out, values, "width {width}, {n} values");
            assert_eq!(max, *values.iter().max().unwrap());
        }
    }

    #[test]
    fn repeated_and_packed_runs_mix() {
        // 300 copies of 5, then 8 packed values, width 3.
        let mut data = Vec::new();
        uleb(300 << 1, &mut data);
        data.push(5);
        let packed = [1, 2, 3, 4, 5, 6, 7, 0];
        uleb((1 << 1) | 1, &mut data);
        data.extend(pack(&packed, 3));
        let mut out = vec![9u32; 306];
        Hybrid::new(&data, 3).unwrap().read_u32(&mut out).unwrap();
        assert!(out[..300].iter().all(|&v| v == 5));
        assert_eq!(&out[300..], &packed[..6]);
    }

    #[test]
    fn levels_become_validity_bits() {
        // 70 present, 3 packed bits (1, 0, 1 of a group), 66 absent.
        let mut data = Vec::new();
        uleb(70 << 1, &mut data);
        data.push(1);
        uleb((1 << 1) | 1, &mut data);
        data.push(0b0000_0101);
        uleb(66 << 1, &mut data);
        data.push(0);
        let mut bits = PageBits::default();
        let set = Hybrid::new(&data, 1)
            .unwrap()
            .read_bits(70 + 8 + 66, &mut bits)
            .unwrap();
        assert_eq!(bits.len, 144);
        assert_eq!(set, 72);
        let expect: Vec<bool> = (0..144).map(|i| i <= 70 || i == 72).collect();
        let got: Vec<bool> = (0..144).map(|i| bits.get(i)).collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn truncated_streams_are_errors() {
        let mut data = Vec::new();
        uleb((4 << 1) | 1, &mut data);
        data.extend([0xff; 3]); // four groups of width 2 need 8 bytes
        let mut out = vec![0u32; 32];
        let said = |data: &[u8], out: &mut [u32]| match Hybrid::new(data, 2).unwrap().read_u32(out)
        {
            Err(StreamError(what)) => what,
            Ok(_) => "no error",
        };
        assert_eq!(
            said(&data, &mut out),
            "bit-packed run past the end of the page"
        );
        let mut out = vec![0u32; 4];
        assert_eq!(said(&[], &mut out), "run header past the end of the page");
        assert_eq!(
            said(&[0x80], &mut out),
            "run header past the end of the page"
        );
    }
}
