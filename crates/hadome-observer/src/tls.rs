//! TLS to PostgreSQL, as libpq's `sslmode` asks for it (issue 15 point 2): every remote estate
//! needs it, and the driver hadome uses (tokio-postgres) knows only `disable`, `prefer` and
//! `require` and has no TLS of its own. The rules, in MUST language:
//!
//! - [`split`] MUST take `sslmode` and `sslrootcert` out of a conninfo (both libpq forms,
//!   `key=value` and `postgres://…?sslmode=…`) before the driver parses the rest, and MUST refuse
//!   an `sslmode` libpq does not know, naming the ones it does.
//! - `disable`: no TLS. `prefer` (libpq's default, and hadome's): TLS when the server offers it,
//!   without verifying the certificate, as libpq does. `require`: TLS or no connection, the
//!   certificate not verified — unless `sslrootcert` is given, which makes it `verify-ca`, as in
//!   libpq. `verify-ca`: the chain MUST lead to `sslrootcert`. `verify-full`: that, and the
//!   certificate MUST name the host connected to (a DNS name or an IP address SAN).
//! - `verify-ca` and `verify-full` MUST have an `sslrootcert` file; a file that cannot be read,
//!   or holds no certificate, is an error naming the file, never a fallback to no verification.
//!   (`sslrootcert=system` is not supported: hadome ships no root store.)
//! - A certificate is checked by rustls' WebPKI verifier with the `ring` provider; TLS 1.2 and
//!   1.3.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, unverified (libpq's default).
    Prefer,
    /// TLS, unverified.
    Require,
    /// TLS, the chain verified against `sslrootcert`.
    VerifyCa,
    /// TLS, the chain verified and the host name checked.
    VerifyFull,
}

/// Why a conninfo's TLS settings cannot be used; each says the fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// An `sslmode` libpq does not know.
    #[error("sslmode `{0}` is not one libpq knows: give disable, prefer, require, verify-ca or verify-full")]
    UnknownMode(String),
    /// `verify-ca`/`verify-full` without `sslrootcert`.
    #[error(
        "sslmode {0} needs sslrootcert=FILE: the CA certificate (PEM) that signed the server's"
    )]
    NoRootCert(&'static str),
    /// `sslrootcert=system`.
    #[error("sslrootcert=system is not supported: give the CA certificate's file")]
    SystemRoots,
    /// The root certificate file cannot be read, or is not PEM certificates.
    #[error("sslrootcert {} {why}", file.display())]
    RootCert {
        /// The file.
        file: PathBuf,
        /// What is wrong with it ("cannot be read: …", "holds no certificate").
        why: String,
    },
    /// rustls refused the configuration (no protocol version in common: a bug to report).
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

impl Mode {
    fn parse(value: &str) -> Result<Mode, TlsError> {
        Ok(match value {
            "disable" => Mode::Disable,
            // libpq's `allow` tries without TLS first; hadome treats it as `prefer`.
            "allow" | "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            other => return Err(TlsError::UnknownMode(other.to_owned())),
        })
    }

    /// What the driver is told: whether to ask for TLS, and whether to go on without it.
    fn driver(self) -> SslMode {
        match self {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        }
    }
}

/// The TLS a conninfo asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// `sslmode` (default `prefer`).
    pub mode: Mode,
    /// `sslrootcert`.
    pub root_cert: Option<PathBuf>,
}

/// `conninfo` without `sslmode` and `sslrootcert`, and the TLS they ask for. A conninfo this
/// cannot read is returned whole, asking for libpq's default, for the driver to refuse.
pub fn split(conninfo: &str) -> Result<(String, Wanted), TlsError> {
    let mut mode = None;
    let mut root_cert = None;
    let rest = crate::conninfo::filter_parameters(conninfo, |key, value| match key {
        "sslmode" => {
            mode = Some(value.to_owned());
            false
        }
        "sslrootcert" => {
            root_cert = Some(PathBuf::from(value));
            false
        }
        _ => true,
    });
    let Some(rest) = rest else {
        return Ok((
            conninfo.to_owned(),
            Wanted {
                mode: Mode::Prefer,
                root_cert: None,
            },
        ));
    };
    let mut mode = mode.as_deref().map_or(Ok(Mode::Prefer), Mode::parse)?;
    if mode == Mode::Require && root_cert.is_some() {
        // libpq: with a root certificate, `require` verifies the chain.
        mode = Mode::VerifyCa;
    }
    Ok((rest, Wanted { mode, root_cert }))
}

/// The driver's mode for `wanted`.
pub(crate) fn driver_mode(wanted: &Wanted) -> SslMode {
    wanted.mode.driver()
}

/// The TLS connector for `wanted`, its root certificate read now.
pub fn connector(wanted: &Wanted) -> Result<MakeRustls, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match wanted.mode {
        Mode::Disable | Mode::Prefer | Mode::Require => Arc::new(Unverified(Arc::clone(&provider))),
        Mode::VerifyCa | Mode::VerifyFull => {
            let Some(file) = &wanted.root_cert else {
                return Err(TlsError::NoRootCert(if wanted.mode == Mode::VerifyCa {
                    "verify-ca"
                } else {
                    "verify-full"
                }));
            };
            let roots = roots(file)?;
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .build()
                    .map_err(|error| root_cert(file, format!("is not usable: {error}")))?;
            if wanted.mode == Mode::VerifyCa {
                Arc::new(ChainOnly(webpki))
            } else {
                webpki
            }
        }
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustls {
        config: Arc::new(config),
    })
}

fn root_cert(file: &std::path::Path, why: String) -> TlsError {
    TlsError::RootCert {
        file: file.to_path_buf(),
        why,
    }
}

fn roots(file: &std::path::Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    if file.as_os_str() == "system" {
        return Err(TlsError::SystemRoots);
    }
    let certificates = CertificateDer::pem_file_iter(file)
        .map_err(|error| root_cert(file, format!("cannot be read: {error}")))?;
    for certificate in certificates {
        let certificate =
            certificate.map_err(|error| root_cert(file, format!("is not PEM: {error}")))?;
        roots
            .add(certificate)
            .map_err(|error| root_cert(file, format!("is not usable: {error}")))?;
    }
    if roots.is_empty() {
        return Err(root_cert(file, "holds no certificate".to_owned()));
    }
    Ok(roots)
}

/// `prefer`/`require`: any certificate, its handshake signatures still checked.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain verified, the name not.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, signature)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// tokio-postgres' TLS connector over rustls.
#[derive(Clone)]
pub struct MakeRustls {
    config: Arc<ClientConfig>,
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, io::Error> {
        // The driver asks for a connector before it knows whether TLS is used, naming no host
        // ("") for a Unix socket. No TLS runs there (`connect_config` disables it, as libpq
        // ignores sslmode on a socket), so the socket must not fail here for want of a name.
        if domain.is_empty() {
            return Ok(RustlsConnect {
                config: Arc::clone(&self.config),
                name: None,
            });
        }
        let name = ServerName::try_from(domain.to_owned()).map_err(|error| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{domain}` is not a host name TLS can check: {error}"),
            )
        })?;
        Ok(RustlsConnect {
            config: Arc::clone(&self.config),
            name: Some(name),
        })
    }
}

/// One connection's TLS handshake.
pub struct RustlsConnect {
    config: Arc<ClientConfig>,
    /// The name the certificate is checked against; `None` for a Unix socket, where no
    /// handshake is ever asked for.
    name: Option<ServerName<'static>>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let Some(name) = self.name else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "TLS needs a host name to check, and a Unix socket has none",
                ));
            };
            let stream = tokio_rustls::TlsConnector::from(self.config)
                .connect(name, stream)
                .await?;
            Ok(RustlsStream(stream))
        })
    }
}

/// A TLS stream to a server.
pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM's channel binding (`-PLUS`) is not offered; plain SCRAM still runs inside TLS.
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(context, buffer)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(context, buffer)
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_of_both_forms() {
        let (rest, wanted) = split(
            "host=db-1 port=5432 sslmode=verify-full sslrootcert='/etc/ca dir/ca.crt' user=hadome",
        )
        .unwrap();
        assert_eq!(rest, "host=db-1 port=5432 user=hadome");
        assert_eq!(wanted.mode, Mode::VerifyFull);
        assert_eq!(wanted.root_cert, Some(PathBuf::from("/etc/ca dir/ca.crt")));

        let (rest, wanted) =
            split("postgresql://hadome@db-1/postgres?sslmode=require&sslrootcert=%2Fetc%2Fca.crt&application_name=x")
                .unwrap();
        assert_eq!(rest, "postgresql://hadome@db-1/postgres?application_name=x");
        assert_eq!(
            wanted.mode,
            Mode::VerifyCa,
            "require with a root certificate verifies the chain"
        );
        assert_eq!(wanted.root_cert, Some(PathBuf::from("/etc/ca.crt")));

        let (rest, wanted) = split("host=db-1").unwrap();
        assert_eq!((rest.as_str(), wanted.mode), ("host=db-1", Mode::Prefer));
    }

    #[test]
    fn a_unix_socket_gets_a_connector_without_a_name() {
        let (_, wanted) = split("host=/var/run/postgresql").unwrap();
        let mut tls = connector(&wanted).unwrap();
        let socket =
            <MakeRustls as MakeTlsConnect<tokio::net::UnixStream>>::make_tls_connect(&mut tls, "")
                .expect("a socket's connector");
        assert!(socket.name.is_none());
    }

    #[test]
    fn a_bad_sslmode_or_a_missing_root_certificate_is_an_error_that_says_the_fix() {
        let bad = split("host=db-1 sslmode=verify_full")
            .unwrap_err()
            .to_string();
        assert!(
            bad.contains("verify_full") && bad.contains("verify-full"),
            "{bad}"
        );
        let (_, wanted) = split("host=db-1 sslmode=verify-full").unwrap();
        let missing = connector(&wanted).err().unwrap().to_string();
        assert!(missing.contains("needs sslrootcert=FILE"), "{missing}");
        let (_, wanted) =
            split("host=db-1 sslmode=verify-ca sslrootcert=/nonexistent/ca.crt").unwrap();
        let unreadable = connector(&wanted).err().unwrap().to_string();
        assert!(unreadable.contains("/nonexistent/ca.crt"), "{unreadable}");
        // Removed when dropped, whether the test passes or not.
        let empty = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(empty.path(), "not a certificate\n").unwrap();
        let (_, wanted) = split(&format!(
            "host=db-1 sslmode=verify-ca sslrootcert={}",
            empty.path().display()
        ))
        .unwrap();
        let nothing = connector(&wanted).err().unwrap().to_string();
        assert!(nothing.contains("holds no certificate"), "{nothing}");
    }
}
