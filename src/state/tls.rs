//! TLS settings (`tls-cert-file`, `tls-key-file`, `tls-ca-cert-file`, `tls-auth-clients`,
//! `tls-protocols`, `tls-ciphersuites`) turned into the rustls configuration new TLS connections
//! use. CONFIG SET of any of them rebuilds it (reading the files again, as Redis reloads its
//! certificates); connections already open keep the one they started with.

use std::sync::Arc;

use parking_lot::RwLock;
use rustls::crypto::ring::ALL_CIPHER_SUITES;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::config::Config;

/// The settings that shape the TLS configuration.
pub const SETTINGS: &[&str] =
    &["tls-cert-file", "tls-key-file", "tls-ca-cert-file", "tls-auth-clients", "tls-protocols", "tls-ciphersuites"];

/// The configuration new TLS connections get, when `tls-port` is set.
#[derive(Default)]
pub struct Tls {
    current: RwLock<Option<Arc<ServerConfig>>>,
}

impl Tls {
    /// What new connections use now.
    pub fn current(&self) -> Option<Arc<ServerConfig>> {
        self.current.read().clone()
    }

    /// Builds the configuration from the settings and puts it in force; an error (a file that can't
    /// be read, a key that doesn't match) leaves the previous one.
    pub fn reload(&self, config: &Config) -> Result<(), String> {
        let built = build(config)?;
        *self.current.write() = Some(Arc::new(built));
        Ok(())
    }
}

fn build(config: &Config) -> Result<ServerConfig, String> {
    let cert_file = config.get("tls-cert-file");
    let key_file = config.get("tls-key-file");
    if cert_file.is_empty() || key_file.is_empty() {
        return Err("tls-cert-file and tls-key-file are required with tls-port".to_owned());
    }
    let certificates = CertificateDer::pem_file_iter(&cert_file)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|error| format!("Failed to load certificate: {cert_file}: {error}"))?;
    let key = PrivateKeyDer::from_pem_file(&key_file).map_err(|error| format!("Failed to load private key: {key_file}: {error}"))?;

    // ring rather than aws-lc-rs, which needs cmake and a C toolchain to build; rustls deprecates it
    // only for lacking post-quantum key exchange.
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    let suites = config.get("tls-ciphersuites");
    if !suites.is_empty() {
        // TLS 1.3 suites by their OpenSSL names (TLS_AES_128_GCM_SHA256), as Redis takes them; the
        // TLS 1.2 ones stay.
        let wanted: Vec<String> = suites.split(':').map(|name| name.replacen("TLS_", "TLS13_", 1)).collect();
        provider.cipher_suites = ALL_CIPHER_SUITES
            .iter()
            .copied()
            .filter(|suite| suite.tls13().is_none() || wanted.iter().any(|name| format!("{:?}", suite.suite()) == *name))
            .collect();
    }
    let mut versions = Vec::new();
    let protocols = config.get("tls-protocols");
    for protocol in protocols.split_whitespace() {
        match protocol.to_ascii_lowercase().as_str() {
            "tlsv1.2" => versions.push(&rustls::version::TLS12),
            "tlsv1.3" => versions.push(&rustls::version::TLS13),
            other => return Err(format!("Invalid tls-protocols specified: {other}")),
        }
    }
    if versions.is_empty() {
        versions = vec![&rustls::version::TLS12, &rustls::version::TLS13];
    }
    let builder = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&versions)
        .map_err(|error| format!("TLS configuration: {error}"))?;
    let auth_clients = config.get("tls-auth-clients");
    let builder = if auth_clients == "no" {
        builder.with_no_client_auth()
    } else {
        let ca_file = config.get("tls-ca-cert-file");
        if ca_file.is_empty() {
            return Err("tls-ca-cert-file is required to authenticate clients (tls-auth-clients yes|optional)".to_owned());
        }
        let mut roots = RootCertStore::empty();
        for certificate in CertificateDer::pem_file_iter(&ca_file).map_err(|error| format!("Failed to load CA: {ca_file}: {error}"))? {
            let certificate = certificate.map_err(|error| format!("Failed to load CA: {ca_file}: {error}"))?;
            roots.add(certificate).map_err(|error| format!("Failed to load CA: {ca_file}: {error}"))?;
        }
        let verifier = WebPkiClientVerifier::builder(Arc::new(roots));
        let verifier = if auth_clients == "optional" { verifier.allow_unauthenticated() } else { verifier };
        builder.with_client_cert_verifier(verifier.build().map_err(|error| format!("TLS client verification: {error}"))?)
    };
    builder.with_single_cert(certificates, key).map_err(|error| format!("TLS certificate and key: {error}"))
}
