//! SIP over TLS: the rustls side of [`super::sip_transport`] (issue 10, "Encryption").
//!
//! TLS is TCP with a rustls stream around it: the listener here accepts, takes an admission
//! [`Permit`](crate::policy::tcp::Permit) from the same
//! [`TcpAdmission`](crate::policy::tcp::TcpAdmission) as TCP (`sip.tcp_max_connections`,
//! `sip.tcp_max_per_source`), and gives the handshake `sip.tcp_header_timeout` to finish (a
//! client that stalls in the handshake, or sends garbage instead of a ClientHello, is closed and
//! counted: `phonetree_refused_total{what="tls_slow"|"tls_handshake"}`). A finished session goes
//! to the transport's generic connection code (framing, read deadlines, the writer) with
//! `Transport::Tls`; nothing else is specific to TLS.
//!
//! - [`server_config`]: the listener's certificate from `sip.tls.cert`/`sip.tls.key` (PEM), or a
//!   self-signed one made at start with rcgen (logged: peers must not verify it).
//! - [`client_config`]: connections we open (registrar, PBX, outbound proxy) check the server's
//!   certificate with the platform verifier (as `wss://` does), or against `sip.tls.ca`, or not
//!   at all with `sip.tls.verify: false` (warned at start).
//! - [`ServerNames`]: the host name to check a destination's certificate against (the engine
//!   remembers the name it resolved; an address with no name is checked as an IP address).
//!
//! rustls with aws-lc-rs (the provider already linked for reqwest, wss and SRTP).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::log_limit;
use super::rt::lock;
use super::sip_transport::SipTransport;
use crate::config::tls::{Identity, TlsConfig};
use crate::policy::counters::{self, Counters};
use crate::sip::Transport;

/// Host names remembered at most (the oldest are forgotten first: only configured registrars,
/// proxies and dialled hosts are added, so this is never reached in practice).
const MAX_NAMES: usize = 1024;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The TLS halves the transport needs: the listener's acceptor (when `sip.tls` listens) and the
/// connector for connections we open.
#[derive(Clone)]
pub struct TlsSetup {
    pub acceptor: Option<TlsAcceptor>,
    pub connector: Option<TlsConnector>,
    pub names: Arc<ServerNames>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("listens", &self.acceptor.is_some())
            .field("connects", &self.connector.is_some())
            .finish()
    }
}

impl TlsSetup {
    /// From the settings: an error when the certificate files cannot be used (the listener
    /// cannot start). A client side that cannot be built (no platform roots) is logged, and TLS
    /// destinations are then unreachable.
    pub fn new(cfg: &TlsConfig, advertised: &[String]) -> Result<TlsSetup, String> {
        let acceptor = if cfg.listen {
            Some(TlsAcceptor::from(server_config(&cfg.identity, advertised)?))
        } else {
            None
        };
        let connector = match client_config(cfg) {
            Ok(c) => Some(TlsConnector::from(c)),
            Err(e) => {
                tracing::warn!(error = %e, "SIP over TLS: cannot connect to TLS servers");
                None
            }
        };
        Ok(TlsSetup {
            acceptor,
            connector,
            names: Arc::new(ServerNames::default()),
        })
    }
}

/// The listener's configuration: the PEM files, or a self-signed certificate for `names` (the
/// advertised address and `localhost`).
pub fn server_config(identity: &Identity, names: &[String]) -> Result<Arc<ServerConfig>, String> {
    let (chain, key) = match identity {
        Identity::Files { cert, key } => (read_certs(cert)?, read_key(key)?),
        Identity::SelfSigned => {
            let (chain, key) = self_signed(names)?;
            tracing::warn!(
                names = ?names,
                "SIP over TLS with a self-signed certificate made at start (for a demo: peers \
                 must not verify it; set sip.tls.cert and sip.tls.key for real use)"
            );
            (chain, key)
        }
    };
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("sip.tls: the certificate and key do not fit: {e}"))?;
    Ok(Arc::new(config))
}

/// A fresh self-signed certificate (ECDSA P-256) for `names` plus `localhost`.
pub fn self_signed(
    names: &[String],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let mut sans: Vec<String> = names.to_vec();
    if !sans.iter().any(|n| n == "localhost") {
        sans.push("localhost".into());
    }
    let made = rcgen::generate_simple_self_signed(sans)
        .map_err(|e| format!("cannot make a self-signed certificate: {e}"))?;
    let key = PrivatePkcs8KeyDer::from(made.signing_key.serialize_der());
    Ok((vec![made.cert.der().clone()], PrivateKeyDer::Pkcs8(key)))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bad = |e: &dyn std::fmt::Display| format!("sip.tls.cert {}: {e}", path.display());
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    if chain.is_empty() {
        return Err(bad(&"no CERTIFICATE in the file"));
    }
    Ok(chain)
}

/// The key file; its contents are never logged (only the path and what kind of error).
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        let why = match e {
            rustls::pki_types::pem::Error::Io(e) => e.to_string(),
            _ => "no usable PRIVATE KEY in the file".to_string(),
        };
        format!("sip.tls.key {}: {why}", path.display())
    })
}

/// The configuration of connections we open.
pub fn client_config(cfg: &TlsConfig) -> Result<Arc<ClientConfig>, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = if !cfg.verify {
        tracing::warn!(
            "sip.tls.verify is false: TLS connections to registrars and PBXs accept any \
             certificate (anyone on the path can read and change the signalling)"
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
            .with_no_client_auth()
    } else if let Some(ca) = &cfg.ca {
        let mut roots = rustls::RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(
            read_certs(ca).map_err(|e| e.replace("sip.tls.cert", "sip.tls.ca"))?,
        );
        if added == 0 {
            return Err(format!(
                "sip.tls.ca {}: no usable certificate",
                ca.display()
            ));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        use rustls_platform_verifier::BuilderVerifierExt;
        builder
            .with_platform_verifier()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// `sip.tls.verify: false`: any certificate is accepted, but the handshake signatures are still
/// checked (so the session is at least with the holder of the certificate's key).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
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
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The host name each TLS destination's certificate must carry.
#[derive(Debug, Default)]
pub struct ServerNames(Mutex<HashMap<SocketAddr, ServerName<'static>>>);

impl ServerNames {
    /// Remembers that `dest` was resolved from `host` (an IP literal is checked as an address).
    pub fn remember(&self, dest: SocketAddr, host: &str) {
        let host = host.trim_matches(['[', ']']);
        let Ok(name) = ServerName::try_from(host.to_string()) else {
            return;
        };
        let mut names = lock(&self.0);
        if names.len() >= MAX_NAMES && !names.contains_key(&dest) {
            names.clear();
        }
        names.insert(dest, name);
    }

    /// The name to check `dest` against: the remembered host, else its IP address.
    pub fn name_for(&self, dest: SocketAddr) -> ServerName<'static> {
        lock(&self.0)
            .get(&dest)
            .cloned()
            .unwrap_or_else(|| ServerName::IpAddress(dest.ip().into()))
    }
}

/// Opens the TLS session on a connected stream to `dest`, within the header timeout.
pub(super) async fn connect(
    t: &SipTransport,
    stream: TcpStream,
    dest: SocketAddr,
) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let Some(tls) = t.tls() else {
        return Err(io::Error::other("no TLS client configuration"));
    };
    let Some(connector) = &tls.connector else {
        return Err(io::Error::other("no TLS client configuration"));
    };
    let name = tls.names.name_for(dest);
    let limit = t.admission().limits().header_timeout;
    match tokio::time::timeout(limit, connector.connect(name, stream)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake timed out",
        )),
    }
}

/// Accepts TLS connections: admission, then the handshake under the header timeout, then the
/// transport's connection code.
pub(super) async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, t: SipTransport) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let Some(permit) = t.admit(peer) else {
                    continue; // dropping the stream closes it
                };
                let acceptor = acceptor.clone();
                let t = t.clone();
                let limit = t.admission().limits().header_timeout;
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    match tokio::time::timeout(limit, acceptor.accept(stream)).await {
                        Ok(Ok(session)) => t.adopt_accepted(session, peer, Transport::Tls, permit),
                        Ok(Err(e)) => refused(peer, false, &e),
                        Err(_) => refused(peer, true, &io::Error::other("handshake too slow")),
                    }
                });
            }
            Err(e) => {
                if let Some(suppressed) = log_limit::global().allow("sip tls accept") {
                    tracing::warn!(error = %e, suppressed, "SIP TLS accept failed");
                }
                tokio::time::sleep(super::sip_transport::ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Counts and logs (per source, rate-limited) a handshake that failed or took too long.
fn refused(peer: SocketAddr, slow: bool, e: &io::Error) {
    let c = counters::global();
    let (counter, what) = if slow {
        (&c.sip_tls_handshake_slow, "sip.tcp_header_timeout")
    } else {
        (&c.sip_tls_handshake_failed, "handshake failed")
    };
    Counters::bump(counter);
    if let Some(suppressed) = log_limit::global().allow_from("sip tls handshake", peer.ip()) {
        tracing::info!(%peer, limit = what, error = %e, suppressed, "closing SIP TLS connection");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_makes_a_server_config() {
        let (chain, _key) = self_signed(&["192.0.2.7".into()]).unwrap();
        assert_eq!(chain.len(), 1);
        assert!(server_config(&Identity::SelfSigned, &["192.0.2.7".into()]).is_ok());
    }

    #[test]
    fn pem_files_are_read_and_bad_ones_named() {
        let dir = tempfile::tempdir().unwrap();
        let made = rcgen::generate_simple_self_signed(vec!["pbx.test".to_string()]).unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        let files = Identity::Files {
            cert: cert.clone(),
            key: key.clone(),
        };
        assert!(server_config(&files, &[]).is_ok());
        // The CA file of a client is the same PEM.
        let cfg = TlsConfig {
            ca: Some(cert.clone()),
            ..TlsConfig::default()
        };
        assert!(client_config(&cfg).is_ok());
        // A key file that holds a certificate: refused, and the message holds no key material.
        let swapped = Identity::Files {
            cert: cert.clone(),
            key: cert.clone(),
        };
        let e = server_config(&swapped, &[]).unwrap_err();
        assert!(
            e.contains("sip.tls.key") && e.contains("no usable PRIVATE KEY"),
            "{e}"
        );
        let missing = Identity::Files {
            cert: dir.path().join("none.pem"),
            key,
        };
        assert!(server_config(&missing, &[])
            .unwrap_err()
            .contains("sip.tls.cert"));
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not pem").unwrap();
        let cfg = TlsConfig {
            ca: Some(garbage),
            ..TlsConfig::default()
        };
        assert!(client_config(&cfg).unwrap_err().contains("sip.tls.ca"));
    }

    #[test]
    fn names_default_to_the_address() {
        let names = ServerNames::default();
        let dest: SocketAddr = "192.0.2.1:5061".parse().unwrap();
        assert_eq!(
            names.name_for(dest),
            ServerName::IpAddress("192.0.2.1".parse::<std::net::IpAddr>().unwrap().into())
        );
        names.remember(dest, "pbx.example.com");
        assert_eq!(
            names.name_for(dest),
            ServerName::try_from("pbx.example.com").unwrap()
        );
        names.remember(dest, "bad name with spaces");
        assert_eq!(
            names.name_for(dest),
            ServerName::try_from("pbx.example.com").unwrap()
        );
    }
}
