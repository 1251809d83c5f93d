//! The proxy's certificate authority, the leaf certificates it issues per host, and the TLS
//! configuration of upstream connections.
//!
//! The CA is generated once and kept in a directory (`ca.pem`, readable by the application that
//! trusts it through `AWS_CA_BUNDLE`; `ca-key.pem`, mode 0600). Its subject is derived from its
//! key, so the issuer can be rebuilt from the key file alone without parsing the certificate.
//! Leaf certificates live in memory only and are made again by the next process.
//!
//! Whoever can swap the CA can read the traffic of every application trusting it, so the
//! directory must be ours (or root's) and closed to other writers unless sticky, its files must
//! be ours (or root's), links in it are never followed, and files are only ever created new.

use crate::source::setup::Context as _;
use crate::source::setup::SetupError;
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

fn ca_params(key: &KeyPair) -> Result<CertificateParams, SetupError> {
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
    /// Loads the CA from `dir`, or creates it there when neither file exists. The directory and
    /// the files must be beyond other users' reach: whoever can replace the CA can read the
    /// traffic of every application that trusts it.
    pub fn load_or_create(dir: &Path) -> Result<Authority, SetupError> {
        let me = effective_uid();
        // Made closed to other writers whatever the umask (a umask of 002 is common), as
        // `check_dir` wants it.
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o755)
            .create(dir)
            .with_context(|| {
                format!(
                    "creating the CA directory {} (choose another with --ca-dir)",
                    dir.display()
                )
            })?;
        check_dir(dir, me)?;
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let key = match (present(&cert_path)?, present(&key_path)?) {
            (true, true) => {
                check_owner(&cert_path, &std::fs::symlink_metadata(&cert_path)?, me)?;
                load_key(&key_path, me)?
            }
            (false, false) => create(&cert_path, &key_path)?,
            (cert, _) => {
                return Err(SetupError::Failed(format!(
                    "{}: {} is there but {} is not; restore the missing file, or delete the other \
                 to make a new CA",
                    dir.display(),
                    if cert { CA_CERT_FILE } else { CA_KEY_FILE },
                    if cert { CA_KEY_FILE } else { CA_CERT_FILE }
                )))
            }
        };
        let params = ca_params(&key)?;
        Ok(Authority {
            issuer: Issuer::new(params, key),
            cert_path,
            leaves: Mutex::new(HashMap::new()),
        })
    }

    /// The server configuration presenting a certificate for `host` (a name or an IP address).
    pub fn server_config(&self, host: &str) -> Result<Arc<rustls::ServerConfig>, SetupError> {
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

/// The CA directory may hold the CA only if no other user can put files in it or replace them:
/// owned by us or root, and writable by nobody else unless sticky (as `/tmp` is: others may add
/// files there, which [`present`] and [`create_file`] refuse, but never replace ours).
fn check_dir(dir: &Path, me: u32) -> Result<(), SetupError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir)
        .with_context(|| format!("reading the CA directory {}", dir.display()))?;
    if !meta.is_dir() {
        return Err(SetupError::Failed(format!(
            "--ca-dir {}: not a directory; choose a directory for the CA",
            dir.display()
        )));
    }
    if !trusted_owner(meta.uid(), me) {
        return Err(SetupError::Failed(format!(
            "--ca-dir {}: owned by user {}, who could replace the CA in it; choose a directory \
             of your own (user {me})",
            dir.display(),
            meta.uid()
        )));
    }
    let mode = meta.mode();
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(SetupError::Failed(format!(
            "--ca-dir {}: writable by other users (mode {:o}), who could replace the CA in it; \
             `chmod go-w {}` or choose another --ca-dir",
            dir.display(),
            mode & 0o7777,
            dir.display()
        )));
    }
    Ok(())
}

/// Files of the CA count only if we (or root) made them: a CA pair of another user would let
/// them read the traffic.
fn trusted_owner(owner: u32, me: u32) -> bool {
    owner == me || owner == 0
}

fn check_owner(path: &Path, meta: &std::fs::Metadata, me: u32) -> Result<(), SetupError> {
    use std::os::unix::fs::MetadataExt;
    if trusted_owner(meta.uid(), me) {
        return Ok(());
    }
    Err(SetupError::Failed(format!(
        "{}: owned by user {}, not by you (user {me}) or root: a CA someone else made could \
         read the traffic; delete {CA_CERT_FILE} and {CA_KEY_FILE} there to make a new CA \
         (applications must then trust the new {CA_CERT_FILE}), or choose another --ca-dir",
        path.display(),
        meta.uid()
    )))
}

/// Whether a file of the CA is there. A link, even to a CA file, is refused rather than followed:
/// in a directory others can add to, it is how they would make us write or trust their file.
fn present(path: &Path) -> Result<bool, SetupError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if meta.file_type().is_symlink() {
        return Err(SetupError::Failed(format!(
            "{}: a symbolic link; policy-miner never follows links in the CA directory \
             (another user could point one at a file of theirs): remove it, or put the CA \
             files themselves there",
            path.display()
        )));
    }
    if !meta.is_file() {
        return Err(SetupError::Failed(format!(
            "{}: not a regular file; remove it",
            path.display()
        )));
    }
    Ok(true)
}

/// The CA key, opened without following links and checked on the file actually opened.
fn load_key(key_path: &Path, me: u32) -> Result<KeyPair, SetupError> {
    use std::io::Read as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(key_path)
        .with_context(|| format!("reading the CA key {}", key_path.display()))?;
    let meta = file.metadata()?;
    check_owner(key_path, &meta, me)?;
    if meta.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "warning: {} can be read by other users; `chmod 600` it",
            key_path.display()
        );
    }
    let mut pem = String::new();
    file.read_to_string(&mut pem)
        .with_context(|| format!("reading the CA key {}", key_path.display()))?;
    KeyPair::from_pem(&pem).map_err(|e| {
        SetupError::Failed(format!(
            "{}: not a private key policy-miner can use ({e}); delete {} and {} to make a new CA \
             (applications must then trust the new {})",
            key_path.display(),
            CA_KEY_FILE,
            CA_CERT_FILE,
            CA_CERT_FILE
        ))
    })
}

fn create(cert_path: &Path, key_path: &Path) -> Result<KeyPair, SetupError> {
    let key = KeyPair::generate().context("generating the CA key")?;
    let cert = ca_params(&key)?
        .self_signed(&key)
        .context("signing the CA certificate")?;
    // The key first, created with mode 0600 so it is never readable by others, not even briefly.
    create_file(key_path, 0o600, key.serialize_pem().as_bytes())?;
    if let Err(e) = create_file(cert_path, 0o644, cert.pem().as_bytes()) {
        // Half a CA would stop the next start: the key alone is of no use to anyone.
        let _ = std::fs::remove_file(key_path);
        return Err(e);
    }
    Ok(key)
}

/// Writes a new file, never an existing one nor through a link (`O_EXCL`, `O_NOFOLLOW`): what is
/// already at the path, whoever put it there, is left alone and the creation fails.
fn create_file(path: &Path, mode: u32, contents: &[u8]) -> Result<(), SetupError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| {
            format!(
                "creating {} (never written over, nor through a link)",
                path.display()
            )
        })?;
    f.write_all(contents)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// The one name a tunnel's leaf certificate may carry: its CONNECT target's. `None` when the
/// client hello asks for another: the proxy's CA must never vouch for a host the tunnel does not
/// go to (a certificate for `www.google.com` inside a tunnel to `s3.amazonaws.com`). Clients send
/// no name for an IP address, and then the target names the certificate.
pub fn leaf_name<'a>(target: &'a str, sni: Option<&str>) -> Option<&'a str> {
    let plain = |h: &str| {
        h.trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase()
    };
    match sni {
        Some(asked) if plain(asked) != plain(target) => None,
        _ => Some(target),
    }
}

/// TLS towards AWS: the Mozilla roots, the system's, and those of `extra` (PEM), e.g. a test
/// server's or a corporate TLS-inspecting proxy's.
pub fn upstream_config(extra: Option<&Path>) -> Result<rustls::ClientConfig, SetupError> {
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
            return Err(SetupError::Failed(format!(
                "--upstream-ca {}: no certificate in it (expected PEM `BEGIN CERTIFICATE` blocks)",
                path.display()
            )));
        }
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(SetupError::Failed(format!(
                "--upstream-ca {}: none of its certificates could be used",
                path.display()
            )));
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The user this process acts as, whose files the CA directory may hold.
#[allow(unsafe_code)]
fn effective_uid() -> u32 {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
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

    /// The attacker plants `ca.pem` as a dangling link in a directory anyone may add to (sticky
    /// and world-writable, as /tmp is); the user sees an error naming the link; the link's target
    /// is never created, and no key is left behind.
    #[test]
    fn a_dangling_link_planted_as_ca_pem_is_refused_and_never_written_through() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let target = dir.path().join("attacker-file");
        std::os::unix::fs::symlink(&target, dir.path().join(CA_CERT_FILE)).unwrap();
        let err = format!("{:#}", Authority::load_or_create(dir.path()).err().unwrap());
        assert!(err.contains("symbolic link"), "{err}");
        assert!(!target.exists(), "written through the link");
        assert!(!dir.path().join(CA_KEY_FILE).exists());
        // A link to a real file is refused alike: never followed, whatever it points at.
        std::fs::write(&target, "attacker's certificate").unwrap();
        let err = format!("{:#}", Authority::load_or_create(dir.path()).err().unwrap());
        assert!(err.contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read(&target).unwrap(), b"attacker's certificate");
    }

    /// The attacker could write to the CA directory (group- or world-writable, not sticky); the
    /// user sees an error saying how to fix it; no CA file is made there.
    #[test]
    fn a_ca_dir_other_users_can_write_to_is_refused_with_advice() {
        use std::os::unix::fs::PermissionsExt;
        for mode in [0o777, 0o770] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap();
            let err = format!("{:#}", Authority::load_or_create(dir.path()).err().unwrap());
            assert!(err.contains("writable by other users"), "{err}");
            assert!(err.contains("chmod go-w"), "{err}");
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        }
    }

    /// The attacker left a CA pair of their own where ours would be; the user sees an error
    /// naming its owner instead of applications being told to trust it.
    #[test]
    fn a_ca_pair_owned_by_another_user_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Authority::load_or_create(dir.path()).unwrap());
        let cert = dir.path().join(CA_CERT_FILE);
        let me = super::effective_uid();
        if me == 0 {
            // As root the pair can really be handed to another user.
            for f in [CA_CERT_FILE, CA_KEY_FILE] {
                std::os::unix::fs::chown(dir.path().join(f), Some(65534), Some(65534)).unwrap();
            }
            let err = format!("{:#}", Authority::load_or_create(dir.path()).err().unwrap());
            assert!(err.contains("owned by user 65534"), "{err}");
        } else {
            // Otherwise: the check the loader makes, as seen by another user than the owner.
            let meta = std::fs::symlink_metadata(&cert).unwrap();
            let err = check_owner(&cert, &meta, me + 1).unwrap_err().to_string();
            assert!(err.contains(&format!("owned by user {me}")), "{err}");
            assert!(check_owner(&cert, &meta, me).is_ok());
        }
    }

    #[test]
    fn a_tunnel_leaf_names_its_connect_target_only() {
        let target = "s3.amazonaws.com";
        assert_eq!(leaf_name(target, None), Some(target));
        assert_eq!(leaf_name(target, Some("S3.amazonaws.com.")), Some(target));
        assert_eq!(leaf_name(target, Some("www.google.com")), None);
        assert_eq!(leaf_name("[::1]", Some("::1")), Some("[::1]"));
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
