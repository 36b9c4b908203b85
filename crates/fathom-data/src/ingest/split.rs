//! Field splitting of quote-free CSV lines: the offsets of every
//! delimiter and newline of a region, found sixteen bytes at a time with
//! vector comparisons (eight at a time with word-wide integer operations
//! where SSE2 is not available) instead of a branch per byte.

#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
use super::tokens::zero_bytes;

#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
const ONES: u64 = 0x0101_0101_0101_0101;

/// The high bits of the eight bytes of `x` as an 8-bit mask (bit `i` from
/// byte `i`): the byte flags, moved to bit 0 of each byte, are gathered
/// into the top byte by one multiplication whose partial products never
/// overlap.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline(always)]
fn movemask(x: u64) -> u64 {
    ((x >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// Where the 64-byte `chunk` holds `a` and where `b`: bit `i` of the
/// first mask is set when byte `i` is `a`, of the second when it is `b`.
/// Sixteen bytes per comparison with SSE2, which every x86-64 processor
/// has.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn pair_masks(chunk: &[u8], a: u8, b: u8) -> (u64, u64) {
    use safe_arch::{
        cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i, set_splat_i8_m128i,
    };
    let (va, vb) = (set_splat_i8_m128i(a as i8), set_splat_i8_m128i(b as i8));
    let (mut ma, mut mb) = (0u64, 0u64);
    for (k, lane) in chunk.chunks_exact(16).enumerate() {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(lane);
        let v = load_unaligned_m128i(&bytes);
        ma |= u64::from(move_mask_i8_m128i(cmp_eq_mask_i8_m128i(v, va)) as u16) << (16 * k);
        mb |= u64::from(move_mask_i8_m128i(cmp_eq_mask_i8_m128i(v, vb)) as u16) << (16 * k);
    }
    (ma, mb)
}

/// [`pair_masks`] where SSE2 is not available.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
fn pair_masks(chunk: &[u8], a: u8, b: u8) -> (u64, u64) {
    pair_masks_words(chunk, a, b)
}

/// [`pair_masks`] eight bytes at a time in plain integer operations.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline(always)]
fn pair_masks_words(chunk: &[u8], a: u8, b: u8) -> (u64, u64) {
    let (wa, wb) = (ONES * u64::from(a), ONES * u64::from(b));
    let (mut ma, mut mb) = (0u64, 0u64);
    for (k, bytes) in chunk.chunks_exact(8).enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(bytes);
        let w = u64::from_le_bytes(word);
        ma |= movemask(zero_bytes(w ^ wa)) << (8 * k);
        mb |= movemask(zero_bytes(w ^ wb)) << (8 * k);
    }
    (ma, mb)
}

/// The newlines of a quote-free region, and whether a blank line lies
/// inside it (a newline right after a newline, or after a carriage return
/// that follows a newline), found in one pass.
pub(crate) struct LineStats {
    pub newlines: u64,
    pub blank_inside: bool,
}

/// [`LineStats`] of `bytes`.
pub(crate) fn line_stats(bytes: &[u8]) -> LineStats {
    let (mut newlines, mut blank) = (0u64, 0u64);
    // The previous block's newlines and carriage returns, for the bytes
    // just before this block's first two.
    let (mut prev_nl, mut prev_cr) = (0u64, 0u64);
    let mut block = |chunk: &[u8]| {
        let (nl, cr) = pair_masks(chunk, b'\n', b'\r');
        newlines += u64::from(nl.count_ones());
        let nl_before = (nl << 1) | (prev_nl >> 63);
        let cr_before = (cr << 1) | (prev_cr >> 63);
        let nl_two_before = (nl << 2) | (prev_nl >> 62);
        blank |= nl & (nl_before | (cr_before & nl_two_before));
        (prev_nl, prev_cr) = (nl, cr);
    };
    let mut chunks = bytes.chunks_exact(64);
    for chunk in &mut chunks {
        block(chunk);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // Zeros past the end are neither newlines nor carriage returns.
        let mut last = [0u8; 64];
        last[..rest.len()].copy_from_slice(rest);
        block(&last);
    }
    LineStats {
        newlines,
        blank_inside: blank != 0,
    }
}

/// Offsets (within `bytes`) of every `delimiter` and newline of
/// `bytes[from..to]`, written to `ends[..count]`; returns `count` and how
/// many of them were newlines. `ends` is scratch space reused from call
/// to call: it grows when it must and is never cleared, and what lies
/// past `count` means nothing.
pub(crate) fn field_ends(
    bytes: &[u8],
    from: usize,
    to: usize,
    delimiter: u8,
    ends: &mut Vec<u32>,
) -> (usize, usize) {
    let region = &bytes[from..to];
    // Room for every byte being an end, plus the eight slots that each
    // block writes whether or not it has that many ends.
    if ends.len() < region.len() + 8 {
        ends.resize(region.len() + 8, 0);
    }
    let (mut count, mut newlines) = (0, 0);
    let mut at = from;
    let mut chunks = region.chunks_exact(64);
    for chunk in &mut chunks {
        // One bit per byte of the 64.
        let (delimiters, newline) = pair_masks(chunk, delimiter, b'\n');
        newlines += newline.count_ones() as usize;
        let mut m = delimiters | newline;
        // Ends are written eight at a time without a branch per end
        // (slots past the block's ends are overwritten by the next block):
        // a branch per group of eight, of which a typical block of short
        // fields needs one or two.
        let found = m.count_ones() as usize;
        let mut slot = count;
        loop {
            for end in &mut ends[slot..slot + 8] {
                *end = (at + m.trailing_zeros() as usize) as u32;
                m &= m.wrapping_sub(1);
            }
            slot += 8;
            if m == 0 {
                break;
            }
        }
        count += found;
        at += 64;
    }
    for (i, &c) in chunks.remainder().iter().enumerate() {
        if c == delimiter || c == b'\n' {
            ends[count] = (at + i) as u32;
            count += 1;
            newlines += usize::from(c == b'\n');
        }
    }
    (count, newlines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_and_word_masks_agree() {
        // Every byte value at every position, next to delimiters and newlines.
        let mut chunk = [0u8; 64];
        for delimiter in [b',', b'\t', b';', b'|'] {
            for v in 0..=255u8 {
                for (i, c) in chunk.iter_mut().enumerate() {
                    *c = match i % 5 {
                        0 => v,
                        1 => delimiter,
                        2 => b'\n',
                        3 => v.wrapping_add(i as u8),
                        _ => v ^ 0x80,
                    };
                }
                let mask_of = |x: u8| {
                    chunk
                        .iter()
                        .enumerate()
                        .filter(|&(_, &c)| c == x)
                        .fold(0u64, |m, (i, _)| m | 1 << i)
                };
                let want = (mask_of(delimiter), mask_of(b'\n'));
                assert_eq!(pair_masks(&chunk, delimiter, b'\n'), want);
                assert_eq!(pair_masks_words(&chunk, delimiter, b'\n'), want);
            }
        }
    }

    #[test]
    fn line_stats_find_newlines_and_blank_lines() {
        // Blank lines at every offset around the 64-byte block edges.
        for len in [0, 1, 2, 3, 63, 64, 65, 127, 128, 130] {
            for at in 0..len {
                for blank in [&b"\n\n"[..], b"\n\r\n", b"\r\n", b"\n\r", b"\n"] {
                    let mut text = vec![b'x'; len];
                    for (k, &c) in blank.iter().enumerate() {
                        if at + k < len {
                            text[at + k] = c;
                        }
                    }
                    let stats = line_stats(&text);
                    let newlines = text.iter().filter(|&&c| c == b'\n').count() as u64;
                    let want = text.windows(2).any(|w| w == b"\n\n")
                        || text.windows(3).any(|w| w == b"\n\r\n");
                    assert_eq!(stats.newlines, newlines, "{:?}", show(&text));
                    assert_eq!(stats.blank_inside, want, "{:?}", show(&text));
                }
            }
        }
    }

    fn show(text: &[u8]) -> String {
        String::from_utf8_lossy(text).into_owned()
    }

    #[test]
    fn finds_every_delimiter_and_newline() {
        let mut text = Vec::new();
        for k in 0..6 {
            text.extend_from_slice(b"ab,c,,\n\xff,\x80\x7f,\n;x\r\n0123456789,\n,");
            text.extend(std::iter::repeat_n(b'x', k * 7));
        }
        let text = &text[..];
        for from in 0..70 {
            for to in from..=text.len() {
                // Scratch left over from a previous call must not matter.
                let mut scratch = vec![7; 3];
                let (count, newlines) = field_ends(text, from, to, b',', &mut scratch);
                let ends = &scratch[..count];
                let want: Vec<u32> = (from..to)
                    .filter(|&i| text[i] == b',' || text[i] == b'\n')
                    .map(|i| i as u32)
                    .collect();
                assert_eq!(ends, want, "{from}..{to}");
                assert_eq!(
                    newlines,
                    text[from..to].iter().filter(|&&c| c == b'\n').count()
                );
            }
        }
    }
}
