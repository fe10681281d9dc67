//! The host names a server certificate is requested for: validation, normalisation, and
//! the forms the certificate (SANs) and the verifier (server names) need.

use std::net::IpAddr;
use std::path::Path;

use rcgen::SanType;
use rustls::pki_types::{DnsName, ServerName};

use super::CertError;

/// One validated host, the form the certificate and the verifier both need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Host {
    Dns(DnsName<'static>),
    Ip(IpAddr),
}

impl Host {
    pub(super) fn to_text(&self) -> String {
        match self {
            Host::Dns(name) => name.as_ref().to_owned(),
            Host::Ip(ip) => ip.to_string(),
        }
    }

    pub(super) fn san(&self, path: &Path) -> Result<SanType, CertError> {
        match self {
            Host::Ip(ip) => Ok(SanType::IpAddress(*ip)),
            Host::Dns(name) => name
                .as_ref()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|source| CertError::Generate {
                    what: "subject alternative name",
                    path: path.to_owned(),
                    source,
                }),
        }
    }

    pub(super) fn server_name(&self) -> ServerName<'static> {
        match self {
            Host::Dns(name) => ServerName::DnsName(name.clone()),
            Host::Ip(ip) => ServerName::IpAddress((*ip).into()),
        }
    }
}

/// Validates, normalises (DNS names are case-insensitive) and de-duplicates the
/// requested hosts, keeping their order because the first becomes the CN.
pub(super) fn parse_hosts(hosts: &[String], server_cert: &Path) -> Result<Vec<Host>, CertError> {
    let invalid = |host: &str, reason| CertError::InvalidHost {
        host: host.to_owned(),
        path: server_cert.to_owned(),
        reason,
    };
    let mut parsed: Vec<Host> = Vec::with_capacity(hosts.len());
    for raw in hosts {
        let host = if raw.is_empty() {
            return Err(invalid(raw, "empty host name"));
        } else if let Ok(ip) = raw.parse::<IpAddr>() {
            Host::Ip(ip)
        } else if raw.contains('*') {
            // The reuse check asks the verifier about concrete names, which
            // cannot prove a wildcard SAN is present; nothing here needs one.
            return Err(invalid(raw, "wildcard names are not supported"));
        } else if let Ok(name) = DnsName::try_from(raw.as_str()) {
            Host::Dns(name.to_lowercase_owned())
        } else {
            return Err(invalid(
                raw,
                "not an IP address or a valid DNS name (letters, digits, '-', '_' and dots)",
            ));
        };
        if !parsed.contains(&host) {
            parsed.push(host);
        }
    }
    if parsed.is_empty() {
        return Err(CertError::NoHosts {
            path: server_cert.to_owned(),
        });
    }
    Ok(parsed)
}
