//! How text cells become typed values: null markers, numbers, booleans and
//! timestamps, shared by CSV reading and type inference.

use fathom_core::time::parse_timestamp;

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
}
