//! TLS on `tls-port`, beside the plain port: `redis-cli --tls` with a client certificate (mutual TLS,
//! Redis's default `tls-auth-clients yes`), without one once clients need not authenticate, a plain
//! client on the TLS port refused without harm, and certificates reloaded by CONFIG SET. The
//! certificates are made at run time (rcgen): a CA, a server certificate for 127.0.0.1 and a client
//! certificate, both signed by it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{free_port, ok, Server};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

struct Certificates {
    dir: tempfile::TempDir,
}

impl Certificates {
    fn make() -> Certificates {
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Distinct names: a certificate whose issuer is its own subject looks self-signed to OpenSSL.
        ca_params.distinguished_name.push(DnType::CommonName, "strata test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.path().join("ca.crt"), ca.pem()).unwrap();
        for (name, names) in [("server", vec!["127.0.0.1".to_owned(), "localhost".to_owned()]), ("client", vec!["client".to_owned()])] {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            let certificate = params.signed_by(&key, &ca).unwrap();
            std::fs::write(dir.path().join(format!("{name}.crt")), certificate.pem()).unwrap();
            std::fs::write(dir.path().join(format!("{name}.key")), key.serialize_pem()).unwrap();
        }
        Certificates { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_owned()
    }
}

fn start(certificates: &Certificates, tls_port: u16, extra: &[&str]) -> Server {
    let port = tls_port.to_string();
    let (cert, key, ca) = (certificates.arg("server.crt"), certificates.arg("server.key"), certificates.arg("ca.crt"));
    let mut args = vec!["--tls-port", &port, "--tls-cert-file", &cert, "--tls-key-file", &key, "--tls-ca-cert-file", &ca];
    args.extend_from_slice(extra);
    Server::start_with(&args)
}

/// `redis-cli --tls` with the CA and, when given, a client certificate; stdout and stderr.
fn redis_cli_tls(port: u16, ca: &Path, client: Option<(&Path, &Path)>, command: &[&str]) -> String {
    let mut cli = Command::new("redis-cli");
    cli.args(["-p", &port.to_string(), "--tls", "--cacert", ca.to_str().unwrap()]);
    if let Some((cert, key)) = client {
        cli.args(["--cert", cert.to_str().unwrap(), "--key", key.to_str().unwrap()]);
    }
    let output = cli.args(command).output().expect("redis-cli");
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn redis_cli_has_tls() -> bool {
    Command::new("redis-cli").arg("--help").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("--tls"))
}

#[test]
fn redis_cli_speaks_tls_with_client_certificates_beside_the_plain_port() {
    if !redis_cli_has_tls() {
        println!("SKIPPED: this redis-cli has no TLS");
        return;
    }
    let certificates = Certificates::make();
    let tls_port = free_port();
    let mut server = start(&certificates, tls_port, &[]);
    let ca = certificates.path("ca.crt");
    let client = (certificates.path("client.crt"), certificates.path("client.key"));
    let client = Some((client.0.as_path(), client.1.as_path()));
    assert_eq!(redis_cli_tls(tls_port, &ca, client, &["SET", "over", "tls"]), "OK\n");
    let mut plain = server.con();
    assert_eq!(ok(&mut plain, &["GET", "over"]), common::bulk("tls"), "the plain port serves the same data");
    let refused = redis_cli_tls(tls_port, &ca, None, &["PING"]);
    assert!(!refused.contains("PONG"), "tls-auth-clients yes wants a client certificate: {refused}");

    // A plain client on the TLS port gets no answer, and the server goes on.
    let mut stranger = common::RawClient { stream: std::net::TcpStream::connect(("127.0.0.1", tls_port)).unwrap() };
    stranger.stream.set_read_timeout(Some(std::time::Duration::from_secs(15))).unwrap();
    let answer = stranger.send_until_close(b"PING\r\n");
    assert!(!answer.contains("PONG"), "{answer:?}");
    assert_eq!(redis_cli_tls(tls_port, &ca, client, &["PING"]), "PONG\n");

    ok(&mut plain, &["CONFIG", "SET", "tls-auth-clients", "no"]);
    assert_eq!(redis_cli_tls(tls_port, &ca, None, &["PING"]), "PONG\n", "no client certificate needed now");
    server.assert_healthy();
}

#[test]
fn config_set_reloads_certificates_and_refuses_broken_ones() {
    if !redis_cli_has_tls() {
        println!("SKIPPED: this redis-cli has no TLS");
        return;
    }
    let certificates = Certificates::make();
    let tls_port = free_port();
    let server = start(&certificates, tls_port, &["--tls-auth-clients", "no"]);
    let mut plain = server.con();
    let error = common::err(&mut plain, &["CONFIG", "SET", "tls-cert-file", "/nonexistent.crt"]);
    assert!(
        error.starts_with("ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to update TLS configuration."),
        "{error}"
    );
    assert_eq!(
        ok(&mut plain, &["CONFIG", "GET", "tls-cert-file"]),
        redis::Value::Array(vec![common::bulk("tls-cert-file"), common::bulk(&certificates.arg("server.crt"))])
    );
    assert_eq!(redis_cli_tls(tls_port, &certificates.path("ca.crt"), None, &["PING"]), "PONG\n", "the old configuration stays");

    // New certificates from another CA: after CONFIG SET, clients must trust the new CA.
    let renewed = Certificates::make();
    ok(&mut plain, &["CONFIG", "SET", "tls-cert-file", &renewed.arg("server.crt"), "tls-key-file", &renewed.arg("server.key")]);
    assert_eq!(redis_cli_tls(tls_port, &renewed.path("ca.crt"), None, &["PING"]), "PONG\n");
    assert!(!redis_cli_tls(tls_port, &certificates.path("ca.crt"), None, &["PING"]).contains("PONG"));
}

#[test]
fn a_server_without_its_certificate_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.crt");
    let output = Command::new(env!("CARGO_BIN_EXE_strata-server"))
        .args(["--port", "0", "--tls-port", &free_port().to_string(), "--tls-cert-file", missing.to_str().unwrap(), "--tls-key-file", "x"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Failed to configure TLS"), "{}", String::from_utf8_lossy(&output.stderr));
}
