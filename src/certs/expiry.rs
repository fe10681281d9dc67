//! When a certificate expires: its `notAfter`, read from the DER (X.509 `Validity`,
//! RFC 5280 4.1.2.5), for the expiry metric. No parser crate is in the tree (see `der`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::{Date, Month, PrimitiveDateTime, Time};

use super::der::der_tlv;

/// The `notAfter` of a DER certificate, or `None` when it does not parse.
pub fn not_after(cert: &[u8]) -> Option<SystemTime> {
    const SEQUENCE: u8 = 0x30;
    const EXPLICIT_VERSION: u8 = 0xa0;
    let (tag, certificate, _) = der_tlv(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, tbs, _) = der_tlv(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, _, mut rest) = der_tlv(tbs)?;
    if tag == EXPLICIT_VERSION {
        // serialNumber follows the optional version.
        rest = der_tlv(rest)?.2;
    }
    // signature, issuer, then validity.
    let rest = der_tlv(rest)?.2;
    let rest = der_tlv(rest)?.2;
    let (tag, validity, _) = der_tlv(rest)?;
    if tag != SEQUENCE {
        return None;
    }
    let (_, _, rest) = der_tlv(validity)?;
    let (tag, value, _) = der_tlv(rest)?;
    parse_time(tag, std::str::from_utf8(value).ok()?)
}

/// UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn parse_time(tag: u8, text: &str) -> Option<SystemTime> {
    const UTC_TIME: u8 = 0x17;
    const GENERALIZED_TIME: u8 = 0x18;
    let digits = text.strip_suffix('Z')?;
    let (year, rest) = match tag {
        UTC_TIME if digits.len() == 12 => {
            let yy: i32 = digits.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
        }
        GENERALIZED_TIME if digits.len() == 14 => (digits.get(..4)?.parse().ok()?, &digits[4..]),
        _ => return None,
    };
    let field = |i: usize| -> Option<u8> { rest.get(i..i + 2)?.parse().ok() };
    let date = Date::from_calendar_date(year, Month::try_from(field(0)?).ok()?, field(2)?).ok()?;
    let time = Time::from_hms(field(4)?, field(6)?, field(8)?).ok()?;
    let secs = PrimitiveDateTime::new(date, time)
        .assume_utc()
        .unix_timestamp();
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_not_after_of_a_generated_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 7, 9);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let expected = UNIX_EPOCH + Duration::from_secs(1_941_321_600);
        assert_eq!(not_after(cert.der()), Some(expected));
    }

    #[test]
    fn both_time_forms_parse_and_garbage_does_not() {
        let utc = parse_time(0x17, "491231235959Z").unwrap();
        let generalized = parse_time(0x18, "20491231235959Z").unwrap();
        assert_eq!(utc, generalized);
        assert_eq!(
            parse_time(0x17, "991231235959Z"),
            parse_time(0x18, "19991231235959Z")
        );
        assert_eq!(parse_time(0x18, "2049123123595Z"), None);
        assert_eq!(not_after(b"\x30\x03\x02\x01\x00"), None);
    }
}
