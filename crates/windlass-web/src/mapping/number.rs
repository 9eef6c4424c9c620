//! Numbers between Cap'n Web values and Cap'n Proto's fixed-width fields: range and
//! integrality checks, and the bit patterns the data section holds.

use super::MapError;
use crate::Value;

/// The largest integer a JavaScript number holds exactly (2^53): a `Number` beyond it may
/// already have been rounded by the client, so 64-bit fields want a bigint there.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_992.0;

/// The schema's name of an integer type, for messages.
pub(super) fn int_name(signed: bool, bits: u8) -> String {
    format!("{}{bits}", if signed { "Int" } else { "UInt" })
}

/// `value` as an integer that fits `bits` bits (signed or not): a `BigInt`, or a `Number`
/// that is an exact integer (within ±2^53 for 64-bit fields).
pub(super) fn integer(value: &Value, signed: bool, bits: u8) -> Result<i128, MapError> {
    let n = match value {
        Value::BigInt(n) => *n,
        Value::Number(f) => {
            if !f.is_finite() || f.fract() != 0.0 {
                return Err(MapError::new(format!(
                    "{f} is not an integer ({})",
                    int_name(signed, bits)
                )));
            }
            if bits == 64 && f.abs() > MAX_SAFE_INTEGER {
                return Err(MapError::new(format!(
                    "{f} is beyond 2^53 and may have lost precision; send a bigint ({})",
                    int_name(signed, bits)
                )));
            }
            // Exact: |f| <= 2^64 here or the range check below rejects it.
            *f as i128
        }
        other => return Err(MapError::expected("a number", other)),
    };
    let (min, max) = if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    };
    if n < min || n > max {
        return Err(MapError::new(format!(
            "{n} is out of range for {}",
            int_name(signed, bits)
        )));
    }
    Ok(n)
}

/// `value` as a float; for `Float32`, finite numbers beyond its range are refused (not turned
/// into infinity).
pub(super) fn float(value: &Value, single: bool) -> Result<f64, MapError> {
    let f = match value {
        Value::Number(f) => *f,
        other => return Err(MapError::expected("a number", other)),
    };
    if single && f.is_finite() && f.abs() > f64::from(f32::MAX) {
        return Err(MapError::new(format!("{f} is out of range for Float32")));
    }
    Ok(f)
}

/// The low `bits` bits of an integer in two's complement: what the data section stores.
pub(super) fn to_bits(n: i128, bits: u8) -> u64 {
    (n as u64) & mask(bits)
}

/// The integer the low `bits` bits stand for.
pub(super) fn from_bits(raw: u64, signed: bool, bits: u8) -> i128 {
    let raw = raw & mask(bits);
    if signed && bits < 64 && raw >> (bits - 1) & 1 == 1 {
        i128::from(raw) - (1i128 << bits)
    } else if signed {
        i128::from(raw as i64)
    } else {
        i128::from(raw)
    }
}

fn mask(bits: u8) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// A decoded integer: `BigInt` for 64-bit types (a JavaScript number would round them),
/// `Number` for the rest.
pub(super) fn int_value(n: i128, bits: u8) -> Value {
    if bits == 64 {
        Value::BigInt(n)
    } else {
        // |n| < 2^32: exact as an f64.
        Value::Number(n as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_check_range_and_integrality() {
        assert_eq!(integer(&Value::Number(255.0), false, 8).ok(), Some(255));
        assert!(integer(&Value::Number(300.0), false, 8).is_err());
        assert!(integer(&Value::Number(-1.0), false, 32).is_err());
        assert!(integer(&Value::Number(3.5), true, 32).is_err());
        assert!(integer(&Value::Number(f64::NAN), true, 32).is_err());
        assert_eq!(integer(&Value::Number(-128.0), true, 8).ok(), Some(-128));
        assert!(integer(&Value::Number(128.0), true, 8).is_err());
        assert!(integer(&Value::String("1".into()), true, 8).is_err());
    }

    #[test]
    fn sixty_four_bits_want_bigints_beyond_two_to_the_53() {
        assert_eq!(
            integer(&Value::Number(MAX_SAFE_INTEGER), true, 64).ok(),
            Some(1 << 53)
        );
        assert!(integer(&Value::Number(MAX_SAFE_INTEGER * 2.0), true, 64).is_err());
        assert_eq!(
            integer(&Value::BigInt(i128::from(u64::MAX)), false, 64).ok(),
            Some(i128::from(u64::MAX))
        );
        assert!(integer(&Value::BigInt(i128::from(u64::MAX) + 1), false, 64).is_err());
        assert!(integer(&Value::BigInt(i128::from(i64::MIN) - 1), true, 64).is_err());
    }

    #[test]
    fn bits_round_trip_at_every_width() {
        for (n, bits) in [(-1i128, 8u8), (-32768, 16), (i128::from(i32::MIN), 32)] {
            assert_eq!(from_bits(to_bits(n, bits), true, bits), n);
        }
        assert_eq!(
            from_bits(to_bits(i128::from(i64::MIN), 64), true, 64),
            i128::from(i64::MIN)
        );
        assert_eq!(from_bits(u64::MAX, false, 64), i128::from(u64::MAX));
        assert_eq!(from_bits(0xff, false, 8), 255);
    }

    #[test]
    fn float32_range() {
        assert!(float(&Value::Number(1e39), true).is_err());
        assert!(float(&Value::Number(1e39), false).is_ok());
        assert!(float(&Value::Number(f64::INFINITY), true).is_ok());
        assert!(float(&Value::Bool(true), true).is_err());
    }
}
