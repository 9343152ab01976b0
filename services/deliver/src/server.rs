//! The gRPC server: TLS, authentication, the alert and admin services, health and reflection,
//! and a shutdown that closes streams within a bounded time.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::admin::{AdminApi, AdminBackend};
use crate::alerts::{AlertApi, StreamSettings};
use crate::auth::{AuthInterceptor, TokenStore};
use crate::config::GrpcConfig;
use crate::error::DeliverError;
use crate::log::AlertLog;
use crate::pb;
use crate::pb::admin_service_server::AdminServiceServer;
use crate::pb::alert_service_server::AlertServiceServer;

/// How often an idle connection is pinged, so dead peers free their subscriptions.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);
/// How long a ping may go unanswered before the connection is closed.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a TLS handshake may take.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A gRPC server bound to its address and ready to serve.
///
/// Binding first lets a caller (or a test using port 0) learn the address before serving.
#[derive(Debug)]
pub struct GrpcServer {
    config: GrpcConfig,
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: Option<ServerTlsConfig>,
    healthy: Option<watch::Receiver<bool>>,
}

impl GrpcServer {
    /// Validates the configuration, reads the TLS files and binds the listen address.
    ///
    /// Refuses plaintext on a non-loopback address unless `allow_plaintext_non_loopback`.
    pub async fn bind(config: GrpcConfig) -> Result<GrpcServer, DeliverError> {
        config.validate()?;
        let tls = tls_config(&config)?;
        if let Some(tls) = &tls {
            // Builds the TLS acceptor now, so bad certificates fail here rather than in `serve`.
            Server::builder().tls_config(tls.clone())?;
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| DeliverError::Bind { addr: config.listen, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| DeliverError::Bind { addr: config.listen, source })?;
        Ok(GrpcServer { config, listener, local_addr, tls, healthy: None })
    }

    /// The address the server listens on (with the port picked when the config said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Makes the overall health status (service `""`) follow `healthy`: `SERVING` while it
    /// is true, `NOT_SERVING` while it is false (the detector cannot reach its brokers, say).
    /// The alert and admin services keep their own status: they still answer.
    pub fn follow_health(mut self, healthy: watch::Receiver<bool>) -> GrpcServer {
        self.healthy = Some(healthy);
        self
    }

    /// True when connections are TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves until `shutdown` completes, then ends every subscription with UNAVAILABLE and its
    /// cursor, and waits at most the configured grace period for calls to finish.
    pub async fn serve(
        self,
        log: Arc<AlertLog>,
        admin: Arc<dyn AdminBackend>,
        tokens: TokenStore,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), DeliverError> {
        let (stop_sender, stop_receiver) = watch::channel(false);
        let settings = StreamSettings {
            heartbeat: self.config.heartbeat(),
            stall: self.config.stall(),
            buffer: self.config.subscriber_buffer,
            max_subscribers: self.config.max_subscribers,
        };
        let interceptor = AuthInterceptor::new(tokens.clone());
        let alert_api = AlertApi::new(Arc::clone(&log), settings, stop_receiver.clone());
        let admin_api = AdminApi::new(admin, Arc::clone(&log));

        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        health_reporter.set_serving::<AlertServiceServer<AlertApi>>().await;
        health_reporter.set_serving::<AdminServiceServer<AdminApi>>().await;
        let overall =
            self.healthy.map(|healthy| tokio::spawn(follow(health_reporter.clone(), healthy)));
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };

        let mut builder = Server::builder()
            .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT));
        if let Some(tls) = self.tls {
            builder = builder.tls_config(tls)?;
        }
        let router = builder
            .add_service(health_service)
            .add_service(reflection().build_v1()?)
            .add_service(reflection().build_v1alpha()?)
            .add_service(AlertServiceServer::with_interceptor(alert_api, interceptor.clone()))
            .add_service(AdminServiceServer::with_interceptor(admin_api, interceptor));

        tracing::info!(
            address = %self.local_addr,
            tls = self.config.tls_cert_file.is_some(),
            client_certificates = self.config.tls_client_ca_file.is_some(),
            tokens = tokens.len(),
            "grpc server listening"
        );
        if tokens.is_empty() {
            tracing::warn!(
                "no bearer tokens configured: every alert and admin call will be refused"
            );
        }
        let incoming = TcpIncoming::from(self.listener).with_nodelay(Some(true));
        let mut stopped = stop_receiver.clone();
        let server = router.serve_with_incoming_shutdown(incoming, async move {
            let _ = stopped.wait_for(|stopping| *stopping).await;
        });
        tokio::pin!(server);

        tokio::select! {
            result = &mut server => return result.map_err(DeliverError::from),
            () = shutdown => {}
        }
        tracing::info!("grpc server shutting down");
        if let Some(overall) = overall {
            overall.abort();
        }
        health_reporter.set_not_serving::<AlertServiceServer<AlertApi>>().await;
        health_reporter.set_not_serving::<AdminServiceServer<AdminApi>>().await;
        let _ = stop_sender.send(true);
        match tokio::time::timeout(self.config.shutdown_grace(), server).await {
            Ok(result) => result.map_err(DeliverError::from),
            Err(_) => {
                tracing::warn!(
                    grace_secs = self.config.shutdown_grace_secs,
                    "grpc calls still open after the shutdown grace period; closing them"
                );
                Ok(())
            }
        }
    }
}

/// Binds and serves until `shutdown` completes: [`GrpcServer::bind`] then
/// [`GrpcServer::serve`].
pub async fn serve(
    config: GrpcConfig,
    log: Arc<AlertLog>,
    admin: Arc<dyn AdminBackend>,
    tokens: TokenStore,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DeliverError> {
    GrpcServer::bind(config).await?.serve(log, admin, tokens, shutdown).await
}

/// Sets the overall health status from `healthy`, at once and on every change.
async fn follow(
    reporter: tonic_health::server::HealthReporter,
    mut healthy: watch::Receiver<bool>,
) {
    loop {
        let status = match *healthy.borrow_and_update() {
            true => tonic_health::ServingStatus::Serving,
            false => tonic_health::ServingStatus::NotServing,
        };
        reporter.set_service_status("", status).await;
        if healthy.changed().await.is_err() {
            return;
        }
    }
}

fn tls_config(config: &GrpcConfig) -> Result<Option<ServerTlsConfig>, DeliverError> {
    let (Some(cert_file), Some(key_file)) = (&config.tls_cert_file, &config.tls_key_file) else {
        return Ok(None);
    };
    let identity = Identity::from_pem(read_file(cert_file)?, read_file(key_file)?);
    let mut tls = ServerTlsConfig::new().identity(identity).timeout(TLS_HANDSHAKE_TIMEOUT);
    if let Some(ca_file) = &config.tls_client_ca_file {
        tls = tls
            .client_ca_root(Certificate::from_pem(read_file(ca_file)?))
            .client_auth_optional(config.client_cert_optional);
    }
    Ok(Some(tls))
}

fn read_file(path: &Path) -> Result<Vec<u8>, DeliverError> {
    std::fs::read(path).map_err(|source| DeliverError::ReadFile { path: path.to_owned(), source })
}
