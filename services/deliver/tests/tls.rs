//! TLS with client certificates, generated for the test, and the plaintext rule.

mod common;

use std::path::{Path, PathBuf};

use common::{authed, northwind_alert, Running, GLOBAL};
use mspwatch_deliver::pb::alert_service_client::AlertServiceClient;
use mspwatch_deliver::pb::{self, AlertFilter};
use mspwatch_deliver::tail::{self, TailOptions};
use mspwatch_deliver::{DeliverError, GrpcConfig, GrpcServer, Secret};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

struct Pki {
    directory: tempfile::TempDir,
}

impl Pki {
    /// A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate, all
    /// written as PEM files.
    fn generate() -> Pki {
        let directory = tempfile::tempdir().expect("temporary directory");
        let ca_key = KeyPair::generate().expect("key pair");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("certificate");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "mspwatch test ca");
        let ca_cert = ca_params.self_signed(&ca_key).expect("certificate");
        let issuer = Issuer::from_params(&ca_params, &ca_key);

        let server_key = KeyPair::generate().expect("key pair");
        let server_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("certificate");
        let server_cert = server_params.signed_by(&server_key, &issuer).expect("certificate");

        let client_key = KeyPair::generate().expect("key pair");
        let mut client_params = CertificateParams::new(Vec::<String>::new()).expect("certificate");
        client_params.distinguished_name.push(DnType::CommonName, "soc-workstation");
        let client_cert = client_params.signed_by(&client_key, &issuer).expect("certificate");

        let write = |name: &str, text: String| {
            std::fs::write(directory.path().join(name), text).expect("pem written")
        };
        write("ca.pem", ca_cert.pem());
        write("server.pem", server_cert.pem());
        write("server.key", server_key.serialize_pem());
        write("client.pem", client_cert.pem());
        write("client.key", client_key.serialize_pem());
        Pki { directory }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.directory.path().join(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("pem file")
    }

    fn server_config(&self) -> GrpcConfig {
        GrpcConfig {
            listen: "127.0.0.1:0".parse().expect("address"),
            tls_cert_file: Some(self.path("server.pem")),
            tls_key_file: Some(self.path("server.key")),
            tls_client_ca_file: Some(self.path("ca.pem")),
            heartbeat_secs: 1,
            ..GrpcConfig::default()
        }
    }
}

async fn tls_client(
    addr: std::net::SocketAddr,
    pki: &Pki,
    with_client_cert: bool,
) -> Result<AlertServiceClient<tonic::transport::Channel>, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pki.read("ca.pem")));
    if with_client_cert {
        tls = tls.identity(Identity::from_pem(pki.read("client.pem"), pki.read("client.key")));
    }
    let channel =
        Endpoint::from_shared(format!("https://{addr}"))?.tls_config(tls)?.connect().await?;
    Ok(AlertServiceClient::new(channel))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_client_certificate_serves_alerts() {
    let pki = Pki::generate();
    let server = Running::start(pki.server_config(), 100).await;
    server.log.push(northwind_alert("al-tls"));
    let mut client = tls_client(server.addr, &pki, true).await.unwrap();
    let request = authed(pb::GetAlertRequest { id: "al-tls".to_owned() }, GLOBAL);
    assert_eq!(client.get_alert(request).await.unwrap().into_inner().id, "al-tls");

    let options = TailOptions {
        endpoint: format!("https://{}", server.addr),
        token: Secret::new(GLOBAL),
        ca: Some(pki.path("ca.pem")),
        client_cert: Some(pki.path("client.pem")),
        client_key: Some(pki.path("client.key")),
        filter: AlertFilter::default(),
        cursor: Some(mspwatch_deliver::Cursor::default().encode()),
        cursor_file: None,
        format: mspwatch_alert::format::AlertFormat::Jsonl,
        max_alerts: Some(1),
    };
    let mut out = Vec::new();
    let summary = tail::run(options, &mut out).await.unwrap();
    assert_eq!(summary.alerts, 1);
    assert!(String::from_utf8(out).unwrap().contains("\"id\":\"al-tls\""));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_a_certificate_or_without_tls_are_refused() {
    let pki = Pki::generate();
    let server = Running::start(pki.server_config(), 100).await;
    let refused = async {
        let mut client = tls_client(server.addr, &pki, false).await?;
        let request = authed(pb::GetAlertRequest { id: "x".to_owned() }, GLOBAL);
        Ok::<_, Box<dyn std::error::Error>>(client.get_alert(request).await?)
    };
    assert!(refused.await.is_err(), "a client without a certificate got through");

    let plaintext = async {
        let channel = Endpoint::from_shared(server.endpoint())?.connect().await?;
        let mut client = AlertServiceClient::new(channel);
        let request = authed(pb::GetAlertRequest { id: "x".to_owned() }, GLOBAL);
        Ok::<_, Box<dyn std::error::Error>>(client.get_alert(request).await?)
    };
    assert!(plaintext.await.is_err(), "a plaintext client got through");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_on_a_non_loopback_address_is_refused_at_start() {
    let config = GrpcConfig { listen: "0.0.0.0:0".parse().unwrap(), ..GrpcConfig::default() };
    let error = GrpcServer::bind(config).await.unwrap_err();
    assert!(matches!(error, DeliverError::PlaintextNonLoopback(_)), "{error}");
    assert!(error.to_string().contains("allow_plaintext_non_loopback"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_or_invalid_certificates_fail_at_bind() {
    let pki = Pki::generate();
    let missing = GrpcConfig {
        tls_key_file: Some(Path::new("/nonexistent/key.pem").into()),
        ..pki.server_config()
    };
    assert!(matches!(GrpcServer::bind(missing).await, Err(DeliverError::ReadFile { .. })));
    let swapped = GrpcConfig {
        tls_cert_file: Some(pki.path("server.key")),
        tls_key_file: Some(pki.path("server.pem")),
        ..pki.server_config()
    };
    assert!(GrpcServer::bind(swapped).await.is_err());
}
