//! The listener's TLS, from `http.tls_cert_file` and `http.tls_key_file` (PEM), read at start
//! so that a bad file stops journeyd before it serves anything.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::ConfigError;

/// A TLS acceptor for the certificate chain in `cert_file` and the private key in `key_file`.
pub fn acceptor(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, ConfigError> {
    let invalid = |key: &'static str, path: &Path, problem: String| ConfigError::Invalid {
        key,
        problem: format!("{}: {problem}", path.display()),
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .and_then(|certs| certs.collect())
        .map_err(|err| invalid("http.tls_cert_file", cert_file, err.to_string()))?;
    if chain.is_empty() {
        return Err(invalid(
            "http.tls_cert_file",
            cert_file,
            "holds no PEM certificate".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|err| invalid("http.tls_key_file", key_file, err.to_string()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| invalid("http.tls_cert_file", cert_file, err.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|err| {
            invalid(
                "http.tls_key_file",
                key_file,
                format!("does not go with the certificate: {err}"),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
