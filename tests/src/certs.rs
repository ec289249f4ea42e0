//! [`TestCerts`]: a CA and a leaf it signs for `localhost` and `127.0.0.1`, as PEM files, so a
//! relay can be started the way a real deployment is (`--tls-cert`, `--tls-key`: TLS on the
//! HTTP port as well as QUIC) and a client trusts exactly that CA (`--ca`).

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// The PEM files of a test CA and a leaf it signed, in a temporary directory.
pub struct TestCerts {
    dir: tempfile::TempDir,
}

impl TestCerts {
    /// Makes a CA and a leaf for `localhost` and `127.0.0.1`.
    pub fn new() -> TestCerts {
        let dir = tempfile::Builder::new()
            .prefix("chitchat-certs-")
            .tempdir()
            .expect("a temporary directory");
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).expect("the CA certificate");
        let issuer = Issuer::new(ca, &ca_key);
        let leaf_key = KeyPair::generate().expect("a leaf key");
        let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("leaf params")
            .signed_by(&leaf_key, &issuer)
            .expect("the leaf certificate");
        let write = |name: &str, pem: String| {
            std::fs::write(dir.path().join(name), pem).expect("writing a PEM file");
        };
        write("ca.pem", ca_cert.pem());
        write("leaf.pem", leaf.pem());
        write("leaf.key", leaf_key.serialize_pem());
        TestCerts { dir }
    }

    /// The CA certificate clients trust.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The relay's certificate (`--tls-cert`).
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("leaf.pem")
    }

    /// Its private key (`--tls-key`).
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("leaf.key")
    }

    /// The relay flags that serve this certificate.
    pub fn relay_args(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert().display().to_string(),
            "--tls-key".into(),
            self.key().display().to_string(),
        ]
    }
}

impl Default for TestCerts {
    fn default() -> Self {
        TestCerts::new()
    }
}
