//! The text that tells users how to trust the local CA on each platform and in each
//! browser or tool that keeps its own trust store.

use std::path::Path;

/// Multi-line text telling how to trust `ca_cert` on Linux (Debian/Ubuntu
/// update-ca-certificates, Fedora trust anchor), macOS (security add-trusted-cert ...
/// System.keychain), Windows (certutil -addstore -f ROOT), Firefox (Settings > Privacy &
/// Security > Certificates > Import, or enterprise roots policy), and curl (--cacert). Uses the
/// absolute path.
pub fn trust_instructions(ca_cert: &Path) -> String {
    // `absolute` rather than `canonicalize`: the text is useful even before the
    // file exists, and it keeps the symlinked path the user chose.
    let path = std::path::absolute(ca_cert).unwrap_or_else(|_| ca_cert.to_owned());
    let p = path.display();
    format!(
        "\
To make browsers and tools accept ssegate's local certificates, trust this CA once:
  {p}

Linux (Debian, Ubuntu):
  sudo cp \"{p}\" /usr/local/share/ca-certificates/ssegate-local-ca.crt
  sudo update-ca-certificates
Linux (Fedora, RHEL, Arch):
  sudo trust anchor --store \"{p}\"
  (or: sudo cp \"{p}\" /etc/pki/ca-trust/source/anchors/ && sudo update-ca-trust)
Linux (Chrome and Chromium read their own NSS database; needs libnss3-tools):
  certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n \"ssegate local CA\" -i \"{p}\"
macOS:
  sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain \"{p}\"
Windows (from an administrator prompt):
  certutil -addstore -f ROOT \"{p}\"
Firefox (keeps its own trust store):
  Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import,
  choose the file above and tick \"Trust this CA to identify websites\".
  On Windows and macOS, Firefox can use the system store instead: set
  security.enterprise_roots.enabled to true in about:config, or the
  Certificates > ImportEnterpriseRoots enterprise policy; on any platform, the
  Certificates > Install policy can import the file above.
curl:
  curl --cacert \"{p}\" https://localhost:PORT/

Keep the CA key (ca-key.pem next to it) private: anyone holding it can impersonate
any website to the machines that trust this CA.
"
    )
}
