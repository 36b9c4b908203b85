//! How text cells become typed values: null markers, numbers, booleans and
//! timestamps, shared by CSV reading and type inference.

use fathom_core::time::{MICROS_PER_SECOND, parse_timestamp};

/// Whether a cell of a numeric, bool or timestamp column is a null marker.
/// Matches the markers pandas reads as missing.
#[inline(always)]
pub fn is_null_token(cell: &[u8]) -> bool {
    // Fast exit for the common case: a value starting with a digit.
    match cell.first() {
        None => true,
        Some(b) if b.is_ascii_digit() || cell.len() > 4 => false,
        _ => is_null_marker(cell),
    }
}

#[cold]
#[inline(never)]
fn is_null_marker(cell: &[u8]) -> bool {
    matches!(
        cell,
        b"" | b"NA"
            | b"N/A"
            | b"n/a"
            | b"NaN"
            | b"nan"
            | b"NAN"
            | b"-nan"
            | b"-NaN"
            | b"null"
            | b"NULL"
            | b"Null"
            | b"None"
            | b"#N/A"
            | b"<NA>"
    )
}

/// Whether a cell of a categorical column is a null marker. `NA` is not:
/// it is a real level too often (Namibia's country code).
#[inline]
pub fn is_null_category(cell: &[u8]) -> bool {
    matches!(
        cell,
        b"" | b"N/A"
            | b"n/a"
            | b"NaN"
            | b"nan"
            | b"null"
            | b"NULL"
            | b"Null"
            | b"None"
            | b"#N/A"
            | b"<NA>"
    )
}

const POW10: [f64; 19] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// The common case of a plain decimal (`-123.45`): exact when the digits fit
/// in 53 bits, because dividing two exactly representable numbers rounds
/// correctly.
#[inline(always)]
fn parse_plain_decimal(cell: &[u8]) -> Option<f64> {
    let (neg, digits) = match cell.first()? {
        b'-' => (true, &cell[1..]),
        b'+' => (false, &cell[1..]),
        _ => (false, cell),
    };
    let n = digits.len();
    if n == 0 || n > 18 {
        return None;
    }
    // At most 18 digits: the mantissa cannot overflow.
    let mut mantissa: u64 = 0;
    let mut i = 0;
    while i < n {
        let d = digits[i].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        mantissa = mantissa * 10 + u64::from(d);
        i += 1;
    }
    let mut frac = 0;
    if i < n {
        if digits[i] != b'.' {
            return None;
        }
        let start = i + 1;
        for &b in &digits[start..] {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            mantissa = mantissa * 10 + u64::from(d);
        }
        frac = n - start;
        if n == 1 {
            // A lone ".".
            return None;
        }
    }
    if mantissa > (1u64 << 53) {
        return None;
    }
    let v = if frac == 0 {
        mantissa as f64
    } else {
        mantissa as f64 / POW10[frac]
    };
    Some(if neg { -v } else { v })
}

const ONES: u64 = 0x0101_0101_0101_0101;
const ASCII_ZEROS: u64 = 0x3030_3030_3030_3030;
const HIGH_NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;

/// `0x80` in every byte of `x` that is zero, `0` in every other byte.
#[inline(always)]
pub(crate) fn zero_bytes(x: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
}

/// The cell `buf[start..end]` as one little-endian word when it is at
/// most eight bytes long and eight bytes can be read from `start` (bytes
/// past the cell are masked off later); `None` otherwise.
#[inline(always)]
pub(crate) fn cell_word(buf: &[u8], start: usize, end: usize) -> Option<(u64, usize)> {
    let n = end.wrapping_sub(start);
    if n > 8 {
        return None;
    }
    word_at(buf, start).map(|w| (w, n))
}

/// The eight bytes of `buf` from `start` as a little-endian word, if
/// there are eight.
#[inline(always)]
pub(crate) fn word_at(buf: &[u8], start: usize) -> Option<u64> {
    let bytes: [u8; 8] = buf.get(start..start.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// `word` with only its low `n` bytes kept (all eight when `n >= 8`).
#[inline(always)]
pub(crate) fn low_bytes(word: u64, n: usize) -> u64 {
    if n >= 8 {
        word
    } else {
        word & ((1u64 << (8 * n)) - 1)
    }
}

/// A plain decimal of at most eight bytes (`-12.5`, `0.5629`, `4965`)
/// held in the low `n` bytes of `word`, parsed eight digits at a time:
/// the dot is found and squeezed out with word operations, the digits
/// checked and combined with three multiplications. The result is the
/// same as [`parse_number`]'s (the digits fit in 27 bits, so the value
/// and the power of ten are exact and their quotient correctly rounded);
/// `None` for anything else, which the caller then parses the general way.
#[inline(always)]
pub(crate) fn parse_short_decimal(word: u64, n: usize) -> Option<f64> {
    // One or two digits (counts, hours, flags): the commonest cells of
    // all, read without the word-wide steps.
    let (a, b) = (
        (word as u8).wrapping_sub(b'0'),
        ((word >> 8) as u8).wrapping_sub(b'0'),
    );
    match n {
        1 if a <= 9 => return Some(f64::from(a)),
        2 if a <= 9 && b <= 9 => return Some(f64::from(a * 10 + b)),
        0 | 9.. => return None,
        _ => {}
    }
    let mut w = low_bytes(word, n);
    let mut n = n;
    let neg = w & 0xff == u64::from(b'-');
    if neg {
        w >>= 8;
        n -= 1;
    }
    // Bytes past the cell are zero, so they never look like a dot.
    let dots = zero_bytes(w ^ (ONES * u64::from(b'.')));
    let (digits, m, frac) = if dots == 0 {
        (w, n, 0)
    } else {
        if dots & (dots - 1) != 0 {
            return None;
        }
        let p = dots.trailing_zeros() as usize / 8;
        let low = w & ((1u64 << (8 * p)) - 1);
        let high = (w >> (8 * p)) >> 8;
        (low | (high << (8 * p)), n - 1, n - 1 - p)
    };
    if m == 0 {
        return None;
    }
    // Right-align the digits behind ASCII zeros: eight digit characters.
    let padded = if m == 8 {
        digits
    } else {
        (digits << (8 * (8 - m))) | (ASCII_ZEROS >> (8 * m))
    };
    let all_digits = (padded & HIGH_NIBBLES)
        | ((padded.wrapping_add(ONES * 6) & HIGH_NIBBLES) >> 4)
        == 0x3333_3333_3333_3333;
    if !all_digits {
        return None;
    }
    let mut v = padded - ASCII_ZEROS;
    // Pairs, then quadruples, then all eight digits.
    v = v.wrapping_mul(10).wrapping_add(v >> 8);
    v = ((v & 0x0000_00FF_0000_00FF)
        .wrapping_mul(100 + (1_000_000 << 32))
        .wrapping_add(((v >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32))))
        >> 32;
    // At most eight digits: the value fits 32 bits, whose conversion is
    // one instruction (a 64-bit unsigned one takes several), and the sign
    // goes in before the division, which is exact under negation.
    let v = f64::from(v as u32);
    let v = if neg { -v } else { v };
    Some(if frac == 0 { v } else { v / POW10[frac] })
}

/// Parses a number; surrounding spaces are allowed.
#[inline(always)]
pub fn parse_number(cell: &[u8]) -> Option<f64> {
    match parse_plain_decimal(cell) {
        Some(v) => Some(v),
        None => parse_number_general(cell),
    }
}

/// Everything but a plain decimal: exponents, long mantissas, spaces,
/// infinities.
#[cold]
#[inline(never)]
fn parse_number_general(cell: &[u8]) -> Option<f64> {
    let cell = if cell.first().is_some_and(u8::is_ascii_whitespace)
        || cell.last().is_some_and(u8::is_ascii_whitespace)
    {
        cell.trim_ascii()
    } else {
        cell
    };
    if let Ok(v) = lexical_core::parse::<f64>(cell) {
        return Some(v);
    }
    // lexical is strict about the spellings of infinity; accept the common ones.
    match cell {
        b"inf" | b"Inf" | b"INF" | b"+inf" | b"infinity" | b"Infinity" | b"+Infinity" => {
            Some(f64::INFINITY)
        }
        b"-inf" | b"-Inf" | b"-INF" | b"-infinity" | b"-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// Parses a boolean in the strict spellings used for type inference.
#[inline]
pub fn parse_bool_strict(cell: &[u8]) -> Option<bool> {
    match cell {
        b"true" | b"True" | b"TRUE" => Some(true),
        b"false" | b"False" | b"FALSE" => Some(false),
        _ => None,
    }
}

/// Parses a boolean in any common spelling (used when a schema says bool).
#[inline]
pub fn parse_bool(cell: &[u8]) -> Option<bool> {
    parse_bool_strict(cell).or(match cell {
        b"1" | b"t" | b"T" | b"y" | b"Y" | b"yes" | b"Yes" | b"YES" => Some(true),
        b"0" | b"f" | b"F" | b"n" | b"N" | b"no" | b"No" | b"NO" => Some(false),
        _ => None,
    })
}

/// Parses a timestamp (see [`fathom_core::time`]).
#[inline]
pub fn parse_time(cell: &[u8]) -> Option<i64> {
    parse_timestamp(cell)
}

/// The date of the last timestamp parsed by [`parse_time_cached`]: its
/// first ten bytes (`YYYY-MM-DD`) and their value in microseconds.
#[derive(Clone, Copy, Default)]
pub(crate) struct DateCache {
    head: u64,
    tail: u16,
    micros: Option<i64>,
}

/// Two ASCII digits at `s[at..at + 2]` as a number, or `None`.
#[inline(always)]
fn two_digits(s: &[u8], at: usize) -> Option<i64> {
    let (a, b) = (s[at].wrapping_sub(b'0'), s[at + 1].wrapping_sub(b'0'));
    (a <= 9 && b <= 9).then(|| i64::from(a) * 10 + i64::from(b))
}

/// Parses a timestamp like [`parse_time`], with a fast path for the
/// fixed shape `YYYY-MM-DDTHH:MM:SSZ`: the date is parsed only when it
/// differs from the previous cell's (kept in `cache`), the time of day
/// read at fixed offsets. Any other shape goes the general way, so the
/// result is always [`parse_time`]'s.
#[inline]
pub(crate) fn parse_time_cached(cell: &[u8], cache: &mut DateCache) -> Option<i64> {
    let [
        d @ ..,
        b'T' | b' ',
        _,
        _,
        b':',
        _,
        _,
        b':',
        _,
        _,
        b'Z' | b'z',
    ] = cell
    else {
        return parse_time(cell);
    };
    let [d0, d1, d2, d3, d4, d5, d6, d7, d8, d9] = *d else {
        return parse_time(cell);
    };
    let head = u64::from_le_bytes([d0, d1, d2, d3, d4, d5, d6, d7]);
    let tail = u16::from_le_bytes([d8, d9]);
    let date = match cache.micros {
        Some(m) if cache.head == head && cache.tail == tail => m,
        _ => {
            // Bytes 0..10 hold no whitespace here unless the general
            // parser would trim it, so it is asked only about plain dates.
            if d.iter().any(u8::is_ascii_whitespace) {
                return parse_time(cell);
            }
            let m = parse_time(d)?;
            *cache = DateCache {
                head,
                tail,
                micros: Some(m),
            };
            m
        }
    };
    let (hour, minute, second) = (
        two_digits(cell, 11)?,
        two_digits(cell, 14)?,
        two_digits(cell, 17)?,
    );
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(date + (hour * 3600 + minute * 60 + second) * MICROS_PER_SECOND)
}

/// The words of `true` and `false` as read by [`word_at`].
const TRUE_WORD: u64 = u32::from_le_bytes(*b"true") as u64;
const FALSE_WORD: u64 = u64::from_le_bytes(*b"false\0\0\0");

/// `true` and `false` from a cell held in the low `n` bytes of `word`
/// (see [`cell_word`]); `None` for every other cell, which the caller
/// then parses with [`parse_bool`].
#[inline(always)]
pub(crate) fn parse_bool_word(word: u64, n: usize) -> Option<bool> {
    match n {
        4 if word & 0xffff_ffff == TRUE_WORD => Some(true),
        5 if word & 0xff_ffff_ffff == FALSE_WORD => Some(false),
        _ => None,
    }
}

/// A cell shown in a message: lossy UTF-8, at most 40 characters.
pub fn show_cell(cell: &[u8]) -> String {
    let s = String::from_utf8_lossy(cell);
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(parse_number(b" 12.5 "), Some(12.5));
        assert_eq!(parse_number(b"1e3"), Some(1000.0));
        assert_eq!(parse_number(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_number(b"12,5"), None);
        assert_eq!(parse_number(b"abc"), None);
        assert_eq!(parse_number(b"-0.5"), Some(-0.5));
        assert_eq!(parse_number(b"."), None);
        assert_eq!(parse_number(b"1.2.3"), None);
        assert_eq!(parse_number(b"-"), None);
        assert_eq!(parse_number(b"-."), None);
        assert_eq!(parse_number(b"5."), Some(5.0));
        assert_eq!(parse_number(b".5"), Some(0.5));
        assert_eq!(parse_number(b"+7"), Some(7.0));
        assert_eq!(parse_number(b"1e"), None);
        // The fast path agrees with a full parser on awkward decimals.
        for text in [
            "0.1",
            "198.37",
            "123456789012345.6",
            "9007199254740993",
            "0.000000000000000001",
            "17.99999999999999999",
        ] {
            assert_eq!(
                parse_number(text.as_bytes()),
                text.parse::<f64>().ok(),
                "{text}"
            );
        }
        assert!(is_null_token(b"NA") && !is_null_category(b"NA"));
        assert_eq!(parse_bool(b"yes"), Some(true));
        assert_eq!(parse_bool_strict(b"1"), None);
        assert_eq!(show_cell("x".repeat(50).as_bytes()).chars().count(), 41);
    }

    /// The cached timestamp path gives the general parser's answer for
    /// every cell, whatever the previous cell left in the cache.
    #[test]
    fn cached_timestamps_match_the_general_parser() {
        let cells = [
            "2024-01-01T00:00:03Z",
            "2024-01-01T23:59:59Z",
            "2024-01-01 12:30:00z",
            "2024-02-29T10:00:00Z",
            "2023-02-29T10:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T23:60:00Z",
            "2024-01-01T23:59:60Z",
            "2024-01-01T23:59:61Z",
            "2024-01-01T2x:00:00Z",
            "2024-01-01X00:00:00Z",
            "2024-01-01T00:00:00+01:00",
            "2024-01-01T00:00:00.5Z",
            "2024-01-01T00:00:00",
            "2024-01-01",
            " 2024-01-01T00:00:0Z",
            "2024-01-0 T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "0000-03-01T00:00:00Z",
            "abcd-ef-ghT00:00:00Z",
            "",
        ];
        let mut checked = 0;
        for (i, a) in cells.iter().enumerate() {
            for b in &cells[i..] {
                let mut cache = DateCache::default();
                for cell in [a, b, a] {
                    assert_eq!(
                        parse_time_cached(cell.as_bytes(), &mut cache),
                        parse_time(cell.as_bytes()),
                        "{cell:?} after {a:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 500);
        assert_eq!(
            parse_time_cached(b"1970-01-02T00:00:01Z", &mut DateCache::default()),
            Some(86_401_000_000)
        );
    }

    #[test]
    fn bool_words_are_exactly_true_and_false() {
        for cell in [
            &b"true"[..],
            b"false",
            b"True",
            b"tru",
            b"truex",
            b"falsey",
            b"fals",
            b"1",
            b"",
        ] {
            let mut buf = cell.to_vec();
            buf.extend_from_slice(b"e,false\n12345678");
            let (word, n) = cell_word(&buf, 0, cell.len()).unwrap();
            let want = match cell {
                b"true" => Some(true),
                b"false" => Some(false),
                _ => None,
            };
            assert_eq!(parse_bool_word(word, n), want, "{}", show_cell(cell));
        }
    }

    /// Every cell the word-wide path accepts parses to what the general
    /// parser gives, and it accepts exactly the plain decimals.
    #[test]
    fn short_decimals_match_the_general_parser() {
        let mut cells: Vec<Vec<u8>> = Vec::new();
        let alphabet = b"0123456789.-+e /:";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 9) as usize;
            let digits_only = !state.is_multiple_of(3);
            let cell: Vec<u8> = (0..len)
                .map(|i| {
                    let r = (state >> (8 + 6 * i)) as usize;
                    if digits_only {
                        match r % 12 {
                            10 => b'.',
                            11 if i == 0 => b'-',
                            k => b'0' + (k % 10) as u8,
                        }
                    } else {
                        alphabet[r % alphabet.len()]
                    }
                })
                .collect();
            cells.push(cell);
        }
        for c in [
            &b"0"[..],
            b"-0",
            b"5.",
            b".5",
            b"-.5",
            b".",
            b"-",
            b"-.",
            b"1.2.3",
            b"99999999",
            b"-9999999",
            b"0.000001",
            b"12345678",
            b"1234.567",
        ] {
            cells.push(c.to_vec());
        }
        let mut accepted = 0;
        for cell in &cells {
            // The cell followed by other bytes, as inside a line.
            let mut buf = cell.clone();
            buf.extend_from_slice(b"9,7.5\n12345678");
            let (word, n) = cell_word(&buf, 0, cell.len()).unwrap();
            let fast = parse_short_decimal(word, n);
            let plain = std::str::from_utf8(cell).ok().filter(|t| {
                let t = t.strip_prefix('-').unwrap_or(t);
                t.bytes().filter(|&b| b == b'.').count() <= 1
                    && t.bytes().any(|b| b.is_ascii_digit())
                    && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            });
            match plain {
                Some(t) => {
                    accepted += 1;
                    let want = t.parse::<f64>().unwrap();
                    let got = fast.unwrap_or_else(|| panic!("{t:?} not accepted"));
                    assert_eq!(got.to_bits(), want.to_bits(), "{t:?}");
                    assert_eq!(parse_number(cell).map(f64::to_bits), Some(want.to_bits()));
                }
                None => assert_eq!(fast, None, "{:?}", show_cell(cell)),
            }
        }
        assert!(accepted > 100_000);
        // Too long, or too close to the end of the buffer to read a word.
        assert_eq!(cell_word(b"123456789", 0, 9), None);
        assert_eq!(cell_word(b"12", 0, 2), None);
    }
}
