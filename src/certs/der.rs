//! Just enough DER to read the subject name of a CA certificate back into rcgen: rcgen
//! cannot parse certificates without its x509-parser feature, and this is all it needs.

use rcgen::{DistinguishedName, DnType, DnValue};

/// Splits one DER element off the front of `input`: (tag, contents, rest).
/// Only what a certificate `Name` uses: single-byte tags, definite lengths.
pub(super) fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(count);
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// Decodes the contents of a DER OBJECT IDENTIFIER into its arcs.
fn der_oid_arcs(contents: &[u8]) -> Option<Vec<u64>> {
    if contents.last()? & 0x80 != 0 {
        return None;
    }
    let mut arcs = Vec::new();
    let mut value: u64 = 0;
    for &byte in contents {
        if value > u64::MAX >> 7 {
            return None;
        }
        value = (value << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            if arcs.is_empty() {
                // X.690 8.19.4: the first subidentifier packs the first two arcs.
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    Some(arcs)
}

/// Rebuilds an rcgen name from the contents of a DER `Name` (the SEQUENCE body).
/// Supports what rcgen itself writes: one attribute per RDN, UTF8String,
/// PrintableString or IA5String values. The caller checks the round trip.
pub(super) fn distinguished_name_from_der(
    mut name: &[u8],
) -> Result<DistinguishedName, &'static str> {
    const SET: u8 = 0x31;
    const SEQUENCE: u8 = 0x30;
    const OID: u8 = 0x06;
    const UTF8_STRING: u8 = 0x0c;
    const PRINTABLE_STRING: u8 = 0x13;
    const IA5_STRING: u8 = 0x16;
    const MALFORMED: &str = "malformed DER";

    let mut dn = DistinguishedName::new();
    while !name.is_empty() {
        let (tag, rdn, rest) = der_tlv(name).ok_or(MALFORMED)?;
        name = rest;
        let (atv_tag, atv, others) = der_tlv(rdn).ok_or(MALFORMED)?;
        if tag != SET || atv_tag != SEQUENCE {
            return Err(MALFORMED);
        }
        if !others.is_empty() {
            return Err("multi-valued RDNs are not supported");
        }
        let (oid_tag, oid, value) = der_tlv(atv).ok_or(MALFORMED)?;
        let (value_tag, value, trailing) = der_tlv(value).ok_or(MALFORMED)?;
        if oid_tag != OID || !trailing.is_empty() {
            return Err(MALFORMED);
        }
        let arcs = der_oid_arcs(oid).ok_or(MALFORMED)?;
        let text = std::str::from_utf8(value)
            .map_err(|_| "attribute value is not text")?
            .to_owned();
        let value = match value_tag {
            UTF8_STRING => DnValue::Utf8String(text),
            PRINTABLE_STRING => DnValue::PrintableString(text.try_into().map_err(|_| MALFORMED)?),
            IA5_STRING => DnValue::Ia5String(text.try_into().map_err(|_| MALFORMED)?),
            _ => return Err("unsupported attribute string type"),
        };
        dn.push(DnType::from_oid(&arcs), value);
    }
    Ok(dn)
}
