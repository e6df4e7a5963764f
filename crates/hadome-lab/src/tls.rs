//! `hadome lab up TOPOLOGY --tls`: the lab's etcd members serve TLS to clients, with client
//! certificates required (issue 13 point 1).
//!
//! At `lab up` the lab makes its own CA, one server certificate (SANs `127.0.0.1` and
//! `localhost`, the names clients reach the members by through the proxy) and one client
//! certificate, with `rcgen`, into `DIR/tls/`: `ca.crt`, `server.crt`, `server.key`,
//! `client.crt`, `client.key` (keys mode 0600). The CA's key is never written: nothing signs
//! after `up`. Each member then listens on two Unix sockets: `client:2379` with TLS
//! (`unixs://`, behind the proxy's `client:NAME` route, so TLS runs end to end from a client to
//! etcd: the proxy passes bytes), and `lab:2378` without (`unix://`), which only the lab's own
//! probe and load use. Peer traffic stays plain.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::state::{EtcdState, LabState};
use crate::LabError;

/// The plain client socket's file name in a member's directory, for the lab's own use.
pub(crate) const LAB_SOCKET: &str = "lab:2378";

/// The files of a lab's TLS: a CA, a server certificate and a client certificate, PEM.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TlsFiles {
    /// The CA's certificate (its key is not kept).
    pub ca_file: PathBuf,
    /// The members' server certificate.
    pub server_cert: PathBuf,
    /// Its key (mode 0600).
    pub server_key: PathBuf,
    /// The client certificate clients present.
    pub client_cert: PathBuf,
    /// Its key (mode 0600).
    pub client_key: PathBuf,
}

impl TlsFiles {
    /// The files in `DIR/tls/` of the lab in `dir`.
    pub fn of_lab(dir: &Path) -> TlsFiles {
        TlsFiles::in_dir(&dir.join("tls"))
    }

    fn in_dir(tls: &Path) -> TlsFiles {
        TlsFiles {
            ca_file: tls.join("ca.crt"),
            server_cert: tls.join("server.crt"),
            server_key: tls.join("server.key"),
            client_cert: tls.join("client.crt"),
            client_key: tls.join("client.key"),
        }
    }
}

/// Makes a new CA and its server and client certificates in `tls` (created, or empty of these
/// files): what `lab up --tls` does in `DIR/tls`. Another call makes another, unrelated CA.
pub fn make_certificates(tls: &Path) -> Result<TlsFiles, LabError> {
    let failed = |what: &'static str| {
        move |error: rcgen::Error| LabError::Certificate {
            what,
            message: error.to_string(),
        }
    };
    std::fs::create_dir_all(tls).map_err(|source| LabError::Io {
        action: "create directory",
        path: tls.to_owned(),
        source,
    })?;
    let files = TlsFiles::in_dir(tls);

    let ca_key = KeyPair::generate().map_err(failed("CA key"))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(failed("CA"))?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "hadome lab etcd CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).map_err(failed("CA certificate"))?;
    let issuer = Issuer::new(ca, ca_key);

    let leaf = |names: Vec<String>, common_name: &str, usages: Vec<ExtendedKeyUsagePurpose>| {
        let key = KeyPair::generate().map_err(failed("certificate key"))?;
        let mut params = CertificateParams::new(names).map_err(failed("certificate"))?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = usages;
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(failed("certificate"))?;
        Ok::<_, LabError>((cert.pem(), key.serialize_pem()))
    };
    // etcd also dials its own listener with the server certificate (its gRPC gateway), so the
    // server certificate is a client certificate too.
    let (server_cert, server_key) = leaf(
        vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
        "hadome lab etcd member",
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    )?;
    let (client_cert, client_key) = leaf(
        Vec::new(),
        "hadome",
        vec![ExtendedKeyUsagePurpose::ClientAuth],
    )?;
    write(&files.ca_file, &ca_cert.pem(), 0o644)?;
    write(&files.server_cert, &server_cert, 0o644)?;
    write(&files.server_key, &server_key, 0o600)?;
    write(&files.client_cert, &client_cert, 0o644)?;
    write(&files.client_key, &client_key, 0o600)?;
    Ok(files)
}

/// Writes `text` to a new file `path` with `mode` (never over an existing file).
fn write(path: &Path, text: &str, mode: u32) -> Result<(), LabError> {
    let io = |source| LabError::Io {
        action: "write",
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)
}

/// The lab's TLS files when its etcd members serve TLS (`lab up --tls`).
pub(crate) fn files_of(state: &LabState) -> Option<TlsFiles> {
    state
        .etcd
        .iter()
        .any(|member| member.tls)
        .then(|| TlsFiles::of_lab(&state.dir))
}

/// etcd's client listener arguments for `member`: `--listen-client-urls`, and with TLS the
/// server certificate, the CA clients' certificates must be signed by, and
/// `--client-cert-auth`.
pub(crate) fn client_args(state: &LabState, member: &EtcdState, socket: &str) -> Vec<String> {
    if !member.tls {
        return vec![format!("--listen-client-urls=unix://{socket}")];
    }
    let files = TlsFiles::of_lab(&state.dir);
    vec![
        format!("--listen-client-urls=unixs://{socket},unix://{LAB_SOCKET}"),
        format!("--cert-file={}", files.server_cert.display()),
        format!("--key-file={}", files.server_key.display()),
        format!("--trusted-ca-file={}", files.ca_file.display()),
        "--client-cert-auth".to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_are_written_with_private_keys_readable_by_the_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let scratch = tempfile::tempdir().unwrap();
        let files = make_certificates(&scratch.path().join("tls")).unwrap();
        for (path, mode) in [
            (&files.ca_file, 0o644),
            (&files.server_cert, 0o644),
            (&files.server_key, 0o600),
            (&files.client_cert, 0o644),
            (&files.client_key, 0o600),
        ] {
            let meta = std::fs::metadata(path).unwrap();
            assert_eq!(
                meta.permissions().mode() & 0o777,
                mode,
                "{}",
                path.display()
            );
            let text = std::fs::read_to_string(path).unwrap();
            assert!(text.starts_with("-----BEGIN "), "{text}");
        }
        // Another CA is another: its certificate differs.
        let other = make_certificates(&scratch.path().join("other")).unwrap();
        assert_ne!(
            std::fs::read(&files.ca_file).unwrap(),
            std::fs::read(&other.ca_file).unwrap()
        );
        // Nothing is written over: a second call into the same directory is refused.
        assert!(make_certificates(&scratch.path().join("tls")).is_err());
    }
}
