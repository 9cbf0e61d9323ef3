//! `tls = { ca_file = "...", client_cert = "...", client_key = "..." }`:
//! private CAs and client certificates for HTTPS, through rustls.

use std::io;

use reqwest::{Certificate, ClientBuilder, Identity};
use serde::Deserialize;

/// The `tls` table of an HTTP connector. Without it, HTTPS trusts the
/// system's root certificates.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsOptions {
    /// PEM file of CA certificates to trust besides the system's.
    pub(crate) ca_file: Option<String>,
    /// PEM file of the client's certificate (chain), for mutual TLS.
    pub(crate) client_cert: Option<String>,
    /// PEM file of the client certificate's private key.
    pub(crate) client_key: Option<String>,
}

/// Why the client could not be set up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// A certificate or key file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A file holds no usable certificate or key.
    #[error("{path} is not a usable PEM {what}: {source}")]
    Pem {
        /// The file.
        path: String,
        /// What it should hold.
        what: &'static str,
        /// Why it is not usable.
        #[source]
        source: reqwest::Error,
    },
    /// reqwest could not build the client.
    #[error("cannot build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

impl TlsOptions {
    /// Checks what a config file can get wrong.
    pub(crate) fn check(&self) -> Result<(), String> {
        match (&self.client_cert, &self.client_key) {
            (Some(_), None) => Err("field `tls`: `client_cert` needs `client_key`".to_owned()),
            (None, Some(_)) => Err("field `tls`: `client_key` needs `client_cert`".to_owned()),
            _ => Ok(()),
        }
    }

    /// Adds the CAs and the client identity to `builder`.
    pub(crate) fn apply(&self, mut builder: ClientBuilder) -> Result<ClientBuilder, ClientError> {
        if let Some(path) = &self.ca_file {
            let pem = read(path)?;
            let certificates =
                Certificate::from_pem_bundle(&pem).map_err(|source| ClientError::Pem {
                    path: path.clone(),
                    what: "CA bundle",
                    source,
                })?;
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            let mut pem = read(cert)?;
            pem.push(b'\n');
            pem.extend(read(key)?);
            let identity = Identity::from_pem(&pem).map_err(|source| ClientError::Pem {
                path: format!("{cert} + {key}"),
                what: "certificate and private key",
                source,
            })?;
            builder = builder.identity(identity);
        }
        Ok(builder)
    }
}

fn read(path: &str) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::Read {
        path: path.to_owned(),
        source,
    })
}
