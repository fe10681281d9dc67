//! Decoding and checking matcher values: `application/x-www-form-urlencoded` pairs kept as
//! bytes, and the draft's constraints on a value (length, UTF-8, no control or format
//! characters).

use super::{MatcherError, MatcherLimits};

/// The first character a topic or matcher value must not contain (draft: "Terminology"): a C0
/// or C1 control, U+007F, or a format (Cf) character. Publication can use it for topics too.
pub fn forbidden_char(value: &str) -> Option<char> {
    value.chars().find(|&c| c.is_control() || is_format_char(c))
}

/// Applies the length limit and the draft's value constraints.
pub(super) fn checked_value(
    parameter: &str,
    value: Vec<u8>,
    limits: &MatcherLimits,
) -> Result<String, MatcherError> {
    let invalid = |reason: String| MatcherError::InvalidValue {
        parameter: parameter.to_owned(),
        reason,
    };
    if value.len() > limits.max_pattern_len {
        return Err(MatcherError::TooLong {
            parameter: parameter.to_owned(),
            len: value.len(),
            limit: limits.max_pattern_len,
        });
    }
    if value.is_empty() {
        return Err(invalid("it is empty".to_owned()));
    }
    let value = String::from_utf8(value).map_err(|_| invalid("it is not UTF-8".to_owned()))?;
    if let Some(c) = forbidden_char(&value) {
        return Err(invalid(format!(
            "it contains U+{:04X}, a control or format character",
            u32::from(c)
        )));
    }
    Ok(value)
}

/// Splits `application/x-www-form-urlencoded` text into percent-decoded name/value byte
/// strings, as the WHATWG URL standard's parser does but without its lossy UTF-8 decoding,
/// so that invalid UTF-8 can be refused rather than silently replaced.
pub(crate) fn form_pairs(input: &str) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    input
        .split('&')
        .filter(|sequence| !sequence.is_empty())
        .map(|sequence| {
            let (name, value) = sequence.split_once('=').unwrap_or((sequence, ""));
            (percent_decode_form(name), percent_decode_form(value))
        })
}

/// `+` becomes a space, `%XX` its byte; a `%` not followed by two hex digits stays as is.
fn percent_decode_form(input: &str) -> Vec<u8> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() && hex_pair(bytes[i + 1], bytes[i + 2]).is_some() => {
                out.extend(hex_pair(bytes[i + 1], bytes[i + 2]));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The byte two hex digits spell.
fn hex_pair(high: u8, low: u8) -> Option<u8> {
    let digit = |b: u8| char::from(b).to_digit(16);
    // Both digits are below 16, so the value fits a byte.
    u8::try_from(digit(high)? * 16 + digit(low)?).ok()
}

/// Whether `c` is in Unicode general category Cf (format), per Unicode 16.
fn is_format_char(c: char) -> bool {
    const CF: &[(u32, u32)] = &[
        (0x00AD, 0x00AD),
        (0x0600, 0x0605),
        (0x061C, 0x061C),
        (0x06DD, 0x06DD),
        (0x070F, 0x070F),
        (0x0890, 0x0891),
        (0x08E2, 0x08E2),
        (0x180E, 0x180E),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x2064),
        (0x2066, 0x206F),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
    ];
    let c = u32::from(c);
    CF.iter().any(|&(low, high)| (low..=high).contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_follows_the_url_standard() {
        assert_eq!(percent_decode_form("a+b%20c"), b"a b c");
        assert_eq!(percent_decode_form("%41%4a%4A"), b"AJJ");
        assert_eq!(percent_decode_form("%"), b"%");
        assert_eq!(percent_decode_form("%4"), b"%4");
        assert_eq!(percent_decode_form("%g1"), b"%g1");
        assert_eq!(percent_decode_form("%FF"), [0xFF]);
    }

    #[test]
    fn pairs_split_on_the_first_equals_sign() {
        let pairs: Vec<_> = form_pairs("a=b=c&d&=e").collect();
        assert_eq!(
            pairs,
            vec![
                (b"a".to_vec(), b"b=c".to_vec()),
                (b"d".to_vec(), Vec::new()),
                (Vec::new(), b"e".to_vec()),
            ]
        );
    }
}
