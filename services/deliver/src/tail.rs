//! The tail client behind `mspwatch alerts tail`: subscribes, prints each alert as it arrives,
//! and resumes from its last cursor after a dropped connection or a RESOURCE_EXHAUSTED end, so
//! nothing is missed and nothing printed twice.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mspwatch_alert::format::{write_alert, AlertFormat};
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Status};

use crate::auth::Secret;
use crate::convert::alert_from_proto;
use crate::cursor::Cursor;
use crate::error::DeliverError;
use crate::pb;
use crate::pb::alert_service_client::AlertServiceClient;
use crate::pb::subscribe_response::Event;

/// First pause before reconnecting; it doubles up to [`MAX_BACKOFF`] while attempts fail.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What to tail and how to print it.
#[derive(Debug, Clone)]
pub struct TailOptions {
    /// Server address: `http://host:port` (plaintext) or `https://host:port` (TLS).
    pub endpoint: String,
    /// Bearer token.
    pub token: Secret,
    /// PEM CA bundle that signed the server certificate; the system roots when absent.
    pub ca: Option<PathBuf>,
    /// PEM client certificate, for servers that require one.
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// Which alerts to print.
    pub filter: pb::AlertFilter,
    /// Where to start: a cursor printed or saved earlier. From now when absent.
    pub cursor: Option<String>,
    /// File that always holds the latest cursor. Read at start when `cursor` is absent, and
    /// rewritten (atomically) after every message, so a restarted tail resumes where it was.
    pub cursor_file: Option<PathBuf>,
    /// Output format for each alert.
    pub format: AlertFormat,
    /// Stop after this many alerts.
    pub max_alerts: Option<u64>,
}

/// How a tail ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailSummary {
    /// Alerts printed.
    pub alerts: u64,
    /// The cursor after the last message received: resume from here to miss nothing.
    pub cursor: Option<String>,
}

/// Tails alerts into `out` until `max_alerts` are printed or a non-retryable error.
pub async fn run(options: TailOptions, out: impl Write) -> Result<TailSummary, DeliverError> {
    run_until(options, out, std::future::pending()).await
}

/// Like [`run`], and also ends, with the summary, when `stop` completes.
pub async fn run_until(
    options: TailOptions,
    mut out: impl Write,
    stop: impl Future<Output = ()>,
) -> Result<TailSummary, DeliverError> {
    let mut tail = Tail::new(&options)?;
    let channel = channel(&options)?;
    let mut client = AlertServiceClient::new(channel);
    tokio::pin!(stop);
    let mut backoff = FIRST_BACKOFF;
    loop {
        let ended = tokio::select! {
            ended = tail.subscribe_once(&mut client, &options, &mut out) => ended?,
            () = &mut stop => Ended::Done,
        };
        match ended {
            Ended::Done => return Ok(tail.summary()),
            Ended::Retry { reason, progressed } => {
                let cursor = tail.cursor.as_deref().unwrap_or("now");
                let retry_in_ms = backoff.as_millis() as u64;
                if progressed {
                    backoff = FIRST_BACKOFF;
                    tracing::info!(
                        reason = %reason,
                        cursor,
                        retry_in_ms,
                        "subscription ended; resuming from the last cursor"
                    );
                } else {
                    // Nothing came through since the last attempt: say so where it is seen.
                    tracing::warn!(
                        reason = %reason,
                        endpoint = %options.endpoint,
                        cursor,
                        retry_in_ms,
                        "cannot subscribe; retrying"
                    );
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = &mut stop => return Ok(tail.summary()),
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// How one subscription attempt ended.
enum Ended {
    /// Enough alerts printed, or stopped.
    Done,
    /// Resume from the cursor after a pause.
    Retry {
        /// Why the attempt ended.
        reason: String,
        /// True when the attempt received at least one message.
        progressed: bool,
    },
}

struct Tail {
    cursor: Option<String>,
    alerts: u64,
}

impl Tail {
    fn new(options: &TailOptions) -> Result<Tail, DeliverError> {
        let cursor = match (&options.cursor, &options.cursor_file) {
            (Some(cursor), _) => Some(cursor.clone()),
            (None, Some(path)) => read_cursor_file(path)?,
            (None, None) => None,
        };
        if let Some(cursor) = &cursor {
            Cursor::decode(cursor)?;
        }
        Ok(Tail { cursor, alerts: 0 })
    }

    fn summary(&self) -> TailSummary {
        TailSummary { alerts: self.alerts, cursor: self.cursor.clone() }
    }

    async fn subscribe_once(
        &mut self,
        client: &mut AlertServiceClient<Channel>,
        options: &TailOptions,
        out: &mut impl Write,
    ) -> Result<Ended, DeliverError> {
        if self.limit_reached(options) {
            return Ok(Ended::Done);
        }
        let mut request = tonic::Request::new(pb::SubscribeRequest {
            filter: Some(options.filter.clone()),
            cursor: self.cursor.clone().unwrap_or_default(),
        });
        let bearer = MetadataValue::try_from(format!("Bearer {}", options.token.expose()))
            .map_err(|_| DeliverError::Config("the token is not printable ascii".to_owned()))?;
        request.metadata_mut().insert("authorization", bearer);

        let mut stream = match client.subscribe(request).await {
            Ok(response) => response.into_inner(),
            Err(status) => return retry_or_fail(status, false),
        };
        let mut progressed = false;
        loop {
            let message = match stream.message().await {
                Ok(Some(message)) => message,
                Ok(None) => {
                    let reason = "server closed the stream".to_owned();
                    return Ok(Ended::Retry { reason, progressed });
                }
                Err(status) => return retry_or_fail(status, progressed),
            };
            progressed = true;
            if let Some(Event::Alert(alert)) = message.event {
                let alert = alert_from_proto(alert).map_err(|error| DeliverError::Refused {
                    code: Code::Internal,
                    message: error.to_string(),
                })?;
                write_alert(out, &alert, options.format).map_err(DeliverError::Output)?;
                out.flush().map_err(DeliverError::Output)?;
                self.alerts += 1;
            }
            self.cursor = Some(message.cursor);
            if let (Some(path), Some(cursor)) = (&options.cursor_file, &self.cursor) {
                write_cursor_file(path, cursor)?;
            }
            if self.limit_reached(options) {
                return Ok(Ended::Done);
            }
        }
    }

    fn limit_reached(&self, options: &TailOptions) -> bool {
        options.max_alerts.is_some_and(|max| self.alerts >= max)
    }
}

/// Statuses a retry can fix resume from the cursor; the others end the tail.
fn retry_or_fail(status: Status, progressed: bool) -> Result<Ended, DeliverError> {
    match status.code() {
        Code::ResourceExhausted
        | Code::Unavailable
        | Code::Unknown
        | Code::Internal
        | Code::Cancelled
        | Code::Aborted
        | Code::DeadlineExceeded => {
            let reason = format!("{:?}: {}", status.code(), status.message());
            Ok(Ended::Retry { reason, progressed })
        }
        code => Err(DeliverError::Refused { code, message: status.message().to_owned() }),
    }
}

fn channel(options: &TailOptions) -> Result<Channel, DeliverError> {
    if !(options.endpoint.starts_with("http://") || options.endpoint.starts_with("https://")) {
        return Err(DeliverError::Config(format!(
            "invalid endpoint `{}`: expected http://HOST:PORT or https://HOST:PORT",
            options.endpoint
        )));
    }
    let mut endpoint = Endpoint::from_shared(options.endpoint.clone())
        .map_err(|_| DeliverError::Config(format!("invalid endpoint `{}`", options.endpoint)))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true);
    if options.endpoint.starts_with("https://") {
        let mut tls = ClientTlsConfig::new();
        tls = match &options.ca {
            Some(ca) => tls.ca_certificate(Certificate::from_pem(read(ca)?)),
            None => tls.with_native_roots(),
        };
        match (&options.client_cert, &options.client_key) {
            (Some(cert), Some(key)) => {
                tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?))
            }
            (None, None) => {}
            _ => {
                return Err(DeliverError::Config(
                    "client_cert and client_key go together".to_owned(),
                ))
            }
        }
        endpoint = endpoint.tls_config(tls)?;
    }
    Ok(endpoint.connect_lazy())
}

fn read(path: &Path) -> Result<Vec<u8>, DeliverError> {
    std::fs::read(path).map_err(|source| DeliverError::ReadFile { path: path.to_owned(), source })
}

fn read_cursor_file(path: &Path) -> Result<Option<String>, DeliverError> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(text) => Ok(Some(text.trim().to_owned())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DeliverError::ReadFile { path: path.to_owned(), source }),
    }
}

fn write_cursor_file(path: &Path, cursor: &str) -> Result<(), DeliverError> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, format!("{cursor}\n")).map_err(DeliverError::Output)?;
    std::fs::rename(&temporary, path).map_err(DeliverError::Output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_codes_resume_and_others_end_the_tail() {
        for code in [Code::ResourceExhausted, Code::Unavailable, Code::Cancelled] {
            assert!(matches!(retry_or_fail(Status::new(code, "x"), true), Ok(Ended::Retry { .. })));
        }
        for code in [Code::Unauthenticated, Code::PermissionDenied, Code::OutOfRange] {
            assert!(matches!(
                retry_or_fail(Status::new(code, "x"), true),
                Err(DeliverError::Refused { code: refused, .. }) if refused == code
            ));
        }
    }

    #[test]
    fn cursor_files_round_trip_and_missing_ones_mean_now() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("cursor");
        assert_eq!(read_cursor_file(&path).unwrap(), None);
        write_cursor_file(&path, "c1.cDA6MQ").unwrap();
        assert_eq!(read_cursor_file(&path).unwrap().as_deref(), Some("c1.cDA6MQ"));
    }

    #[test]
    fn a_bad_starting_cursor_is_refused_before_connecting() {
        let options = TailOptions {
            endpoint: "http://127.0.0.1:1".to_owned(),
            token: Secret::new("t"),
            ca: None,
            client_cert: None,
            client_key: None,
            filter: pb::AlertFilter::default(),
            cursor: Some("garbage".to_owned()),
            cursor_file: None,
            format: AlertFormat::Jsonl,
            max_alerts: None,
        };
        assert!(matches!(Tail::new(&options), Err(DeliverError::Cursor(_))));
    }

    #[test]
    fn an_endpoint_that_is_no_url_is_refused_before_connecting() {
        for endpoint in ["nonsense", "127.0.0.1:50051", "grpc://127.0.0.1:1"] {
            let options = TailOptions {
                endpoint: endpoint.to_owned(),
                token: Secret::new("t"),
                ca: None,
                client_cert: None,
                client_key: None,
                filter: pb::AlertFilter::default(),
                cursor: None,
                cursor_file: None,
                format: AlertFormat::Jsonl,
                max_alerts: None,
            };
            assert!(matches!(channel(&options), Err(DeliverError::Config(_))), "{endpoint}");
        }
    }
}
