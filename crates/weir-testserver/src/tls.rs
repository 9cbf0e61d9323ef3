//! HTTPS for the test server: a private CA made on the spot ([`TestPki`]),
//! and the server's side of TLS ([`Tls`]), optionally requiring a client
//! certificate signed by that CA (mutual TLS).

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use tokio_rustls::TlsAcceptor;

/// The server's TLS settings (PEM text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// The server's certificate chain.
    pub cert_pem: String,
    /// The server's private key.
    pub key_pem: String,
    /// If set, clients must present a certificate signed by this CA.
    pub client_ca_pem: Option<String>,
}

/// A CA made for one test, a server certificate for `127.0.0.1` and
/// `localhost`, and a client certificate, all signed by it (PEM text).
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA's certificate: what a client must trust.
    pub ca_pem: String,
    /// The server's certificate.
    pub server_cert_pem: String,
    /// The server's key.
    pub server_key_pem: String,
    /// A client certificate, for mutual TLS.
    pub client_cert_pem: String,
    /// Its key.
    pub client_key_pem: String,
}

impl TestPki {
    /// Makes a fresh CA and its two certificates.
    ///
    /// # Panics
    /// If rcgen cannot make them (it can, for these fixed parameters).
    pub fn generate() -> Self {
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca = CertificateParams::new(Vec::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "weir test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).expect("a CA certificate");
        let issue = |names: Vec<String>| {
            let key = KeyPair::generate().expect("a key");
            let params = CertificateParams::new(names).expect("params");
            let cert = params
                .signed_by(&key, &ca_cert, &ca_key)
                .expect("a signed certificate");
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert_pem, server_key_pem) =
            issue(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]);
        let (client_cert_pem, client_key_pem) = issue(vec!["weir-client".to_owned()]);
        TestPki {
            ca_pem: ca_cert.pem(),
            server_cert_pem,
            server_key_pem,
            client_cert_pem,
            client_key_pem,
        }
    }

    /// The server's TLS settings; with `mutual`, clients must present a
    /// certificate of this CA.
    pub fn server(&self, mutual: bool) -> Tls {
        Tls {
            cert_pem: self.server_cert_pem.clone(),
            key_pem: self.server_key_pem.clone(),
            client_ca_pem: mutual.then(|| self.ca_pem.clone()),
        }
    }
}

/// The acceptor for `tls`.
pub(crate) fn acceptor(tls: &Tls) -> std::io::Result<TlsAcceptor> {
    let invalid = |error: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, error.to_string())
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = CertificateDer::pem_slice_iter(tls.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(&e))?;
    let key = PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes()).map_err(|e| invalid(&e))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(&e))?;
    let builder = match &tls.client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(ca_pem) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
                roots
                    .add(cert.map_err(|e| invalid(&e))?)
                    .map_err(|e| invalid(&e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| invalid(&e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| invalid(&e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
