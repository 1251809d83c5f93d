//! The proxy's certificate authority, the leaf certificates it issues per host, and the TLS
//! configuration of upstream connections.
//!
//! The CA is generated once and kept in a directory (`ca.pem`, readable by the application that
//! trusts it through `AWS_CA_BUNDLE`; `ca-key.pem`, mode 0600). Its subject is derived from its
//! key, so the issuer can be rebuilt from the key file alone without parsing the certificate.
//! Leaf certificates live in memory only and are made again by the next process.

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub const CA_CERT_FILE: &str = "ca.pem";
pub const CA_KEY_FILE: &str = "ca-key.pem";

/// Leaf configurations kept at once; past this the cache starts again (hosts are few in practice).
const MAX_CACHED_HOSTS: usize = 512;

pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    pub cert_path: PathBuf,
    /// Server configurations per host name, each with its own leaf certificate.
    leaves: Mutex<HashMap<String, Arc<rustls::ServerConfig>>>,
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn ca_params(key: &KeyPair) -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::default();
    let id: String = params
        .key_identifier(key)
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "policy-miner");
    dn.push(DnType::CommonName, format!("policy-miner proxy CA {id}"));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, 3650);
    Ok(params)
}

/// Sets a certificate's validity to the days around today.
fn validity(params: &mut CertificateParams, days_after: u64) {
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    let at = |d: chrono::NaiveDate| rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8);
    params.not_before = at(today - chrono::Days::new(1));
    params.not_after = at(today + chrono::Days::new(days_after));
}

impl Authority {
    /// Loads the CA from `dir`, or creates it there when neither file exists.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Authority> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let key = match (cert_path.exists(), key_path.exists()) {
            (true, true) => {
                warn_if_readable_by_others(&key_path);
                let pem = std::fs::read_to_string(&key_path)
                    .with_context(|| format!("reading the CA key {}", key_path.display()))?;
                KeyPair::from_pem(&pem).map_err(|e| {
                    anyhow::anyhow!(
                        "{}: not a private key policy-miner can use ({e}); delete {} and {} to \
                         make a new CA (applications must then trust the new {})",
                        key_path.display(),
                        CA_CERT_FILE,
                        CA_KEY_FILE,
                        CA_CERT_FILE
                    )
                })?
            }
            (false, false) => create(dir, &cert_path, &key_path)?,
            (cert, _) => anyhow::bail!(
                "{}: {} is there but {} is not; restore the missing file, or delete the other \
                 to make a new CA",
                dir.display(),
                if cert { CA_CERT_FILE } else { CA_KEY_FILE },
                if cert { CA_KEY_FILE } else { CA_CERT_FILE }
            ),
        };
        let params = ca_params(&key)?;
        Ok(Authority {
            issuer: Issuer::new(params, key),
            cert_path,
            leaves: Mutex::new(HashMap::new()),
        })
    }

    /// The server configuration presenting a certificate for `host` (a name or an IP address).
    pub fn server_config(&self, host: &str) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if let Some(c) = self.leaves.lock().ok().and_then(|m| m.get(&host).cloned()) {
            return Ok(c);
        }
        let key = KeyPair::generate().context("generating a leaf key")?;
        let mut params = CertificateParams::new(vec![host.clone()])
            .with_context(|| format!("{host}: not a host name a certificate can name"))?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host.as_str());
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, 365);
        let cert = params
            .signed_by(&key, &self.issuer)
            .context("signing a leaf certificate")?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key_der)?;
        // The SDKs speak HTTP/1.1 to AWS; offering only that keeps one code path.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        if let Ok(mut m) = self.leaves.lock() {
            if m.len() >= MAX_CACHED_HOSTS {
                m.clear();
            }
            m.insert(host, config.clone());
        }
        Ok(config)
    }
}

fn create(dir: &Path, cert_path: &Path, key_path: &Path) -> anyhow::Result<KeyPair> {
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "creating the CA directory {} (choose another with --ca-dir)",
            dir.display()
        )
    })?;
    let key = KeyPair::generate().context("generating the CA key")?;
    let cert = ca_params(&key)?
        .self_signed(&key)
        .context("signing the CA certificate")?;
    // The key first, created with mode 0600 so it is never readable by others, not even briefly.
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let mut f = open
        .open(key_path)
        .with_context(|| format!("creating {}", key_path.display()))?;
    f.write_all(key.serialize_pem().as_bytes())?;
    f.sync_all()?;
    std::fs::write(cert_path, cert.pem())
        .with_context(|| format!("writing {}", cert_path.display()))?;
    Ok(key)
}

fn warn_if_readable_by_others(key_path: &Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(key_path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "warning: {} can be read by other users; `chmod 600` it",
                key_path.display()
            );
        }
    }
}

/// TLS towards AWS: the Mozilla roots, the system's, and those of `extra` (PEM), e.g. a test
/// server's or a corporate TLS-inspecting proxy's.
pub fn upstream_config(extra: Option<&Path>) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = extra {
        let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(path)
            .with_context(|| format!("--upstream-ca {}: cannot read it", path.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("--upstream-ca {}: not PEM certificates", path.display()))?;
        if certs.is_empty() {
            anyhow::bail!(
                "--upstream-ca {}: no certificate in it (expected PEM `BEGIN CERTIFICATE` blocks)",
                path.display()
            );
        }
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            anyhow::bail!(
                "--upstream-ca {}: none of its certificates could be used",
                path.display()
            );
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_made_once_with_a_private_key_and_issues_verifiable_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Authority::load_or_create(dir.path()).unwrap();
        let pem = std::fs::read(&ca.cert_path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(CA_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let first = ca.server_config("ssm.eu-west-1.amazonaws.com").unwrap();
        let again = ca.server_config("SSM.eu-west-1.amazonaws.com").unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        ca.server_config("127.0.0.1").unwrap();
        drop(ca);
        // Loaded again: same certificate file, and leaves still chain to it.
        let ca = Authority::load_or_create(dir.path()).unwrap();
        assert_eq!(std::fs::read(&ca.cert_path).unwrap(), pem);
        let client = upstream_config(Some(&ca.cert_path)).unwrap();
        let server = ca.server_config("localhost").unwrap();
        handshake(client, server, "localhost");
    }

    /// A TLS handshake in memory: the client must accept the leaf through the CA alone.
    fn handshake(client: rustls::ClientConfig, server: Arc<rustls::ServerConfig>, name: &str) {
        let name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
        let mut c = rustls::ClientConnection::new(Arc::new(client), name).unwrap();
        let mut s = rustls::ServerConnection::new(server).unwrap();
        for _ in 0..10 {
            let mut buf = Vec::new();
            c.write_tls(&mut buf).unwrap();
            s.read_tls(&mut buf.as_slice()).unwrap();
            s.process_new_packets().unwrap();
            let mut buf = Vec::new();
            s.write_tls(&mut buf).unwrap();
            c.read_tls(&mut buf.as_slice()).unwrap();
            c.process_new_packets().expect("the client trusts the leaf");
            if !c.is_handshaking() && !s.is_handshaking() {
                return;
            }
        }
        panic!("the handshake did not finish");
    }

    #[test]
    fn half_a_ca_is_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CA_CERT_FILE), "x").unwrap();
        let err = Authority::load_or_create(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("ca-key.pem is not"), "{err}");
    }
}
