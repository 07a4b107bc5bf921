//! GS1 check characters.

/// The GS1 mod-10 check digit for `body` (the digits before the check digit).
/// Returns `None` if `body` holds a non-digit.
pub fn gs1_check_digit(body: &[u8]) -> Option<u8> {
    let mut sum = 0u32;
    // Weights alternate 3,1,3,... starting from the rightmost digit of the body.
    for (i, &c) in body.iter().rev().enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = u32::from(c - b'0');
        sum += if i % 2 == 0 { d * 3 } else { d };
    }
    Some(b'0' + ((10 - (sum % 10)) % 10) as u8)
}

/// Checks the final digit of `digits` against the GS1 mod-10 check digit of the rest.
/// On failure returns `(expected, found)` as ASCII digits.
pub fn verify_gs1_check_digit(digits: &[u8]) -> Result<(), (u8, u8)> {
    let (&found, body) = digits.split_last().ok_or((b'?', b'?'))?;
    match gs1_check_digit(body) {
        Some(expected) if expected == found => Ok(()),
        Some(expected) => Err((expected, found)),
        None => Err((b'?', found)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_check_digits() {
        assert_eq!(gs1_check_digit(b"0952123454321"), Some(b'3'));
        assert_eq!(gs1_check_digit(b"10614141123456789"), Some(b'7'));
        assert_eq!(verify_gs1_check_digit(b"09521234543213"), Ok(()));
        assert_eq!(verify_gs1_check_digit(b"09521234543214"), Err((b'3', b'4')));
        assert_eq!(gs1_check_digit(b"12a"), None);
    }
}
