//! The alert subscriber: one `AlertService.Subscribe` stream for the whole run, resumed from
//! its cursor if it drops, writing every alert version with the moment it arrived.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mspwatch_deliver::convert::alert_from_proto;
use mspwatch_deliver::pb;
use mspwatch_deliver::pb::alert_service_client::AlertServiceClient;
use mspwatch_deliver::pb::subscribe_response::Event;
use tokio::sync::{oneshot, watch};
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status, Streaming};

use crate::live::files::{write_line, ReceivedAlert};
use crate::live::{elapsed_us, RunStatus};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the first message (the starting heartbeat) may take.
const FIRST_MESSAGE_TIMEOUT: Duration = Duration::from_secs(15);
/// Pause before resubscribing; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Longest pause before resubscribing.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Where to subscribe and where to write.
pub(crate) struct SubscribeOptions {
    /// `http://host:port`.
    pub endpoint: String,
    /// Bearer token, if the server wants one.
    pub token: Option<String>,
    /// The run's time zero.
    pub start: Instant,
    /// `alerts.jsonl`.
    pub path: PathBuf,
}

/// How the subscription went.
#[derive(Debug, Clone, Default)]
pub(crate) struct Subscribed {
    /// Alert versions received.
    pub versions: u64,
    /// Times the stream was resumed.
    pub resubscribes: u64,
    /// Alert messages that could not be read, and were skipped.
    pub unreadable: u64,
    /// Why it stopped for good before the end, if it did.
    pub error: Option<String>,
}

/// Subscribes, reports on `ready` once the server answered (or why it did not), then writes
/// alerts until `stop` turns true.
pub(crate) async fn subscribe(
    options: SubscribeOptions,
    status: Arc<RunStatus>,
    ready: oneshot::Sender<Result<(), String>>,
    mut stop: watch::Receiver<bool>,
) -> Subscribed {
    let mut outcome = Subscribed::default();
    let mut ready = Some(ready);
    let mut run = match Subscription::open(&options) {
        Ok(run) => run,
        Err(error) => {
            if let Some(ready) = ready.take() {
                let _ = ready.send(Err(error.clone()));
            }
            outcome.error = Some(error);
            return outcome;
        }
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        let ended = tokio::select! {
            ended = run.stream_once(&options, &status, &mut ready, &mut outcome) => ended,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        match ended {
            Ended::Retry(reason) if ready.is_none() => {
                tracing::info!(reason = %reason, "alert subscription ended; resuming from its cursor");
                outcome.resubscribes += 1;
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = stop.wait_for(|stop| *stop) => break,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Ended::Retry(reason) | Ended::Fail(reason) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Err(reason.clone()));
                }
                tracing::error!(reason = %reason, "alert subscription failed");
                outcome.error = Some(reason);
                break;
            }
        }
    }
    let _ = run.out.flush();
    outcome
}

enum Ended {
    /// A retry may help.
    Retry(String),
    /// A retry cannot help.
    Fail(String),
}

struct Subscription {
    client: AlertServiceClient<Channel>,
    cursor: String,
    out: BufWriter<File>,
}

impl Subscription {
    fn open(options: &SubscribeOptions) -> Result<Subscription, String> {
        let endpoint = Endpoint::from_shared(options.endpoint.clone())
            .map_err(|_| format!("invalid gRPC endpoint {:?}", options.endpoint))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true);
        let out = File::create(&options.path)
            .map(BufWriter::new)
            .map_err(|error| format!("{}: {error}", options.path.display()))?;
        let client = AlertServiceClient::new(endpoint.connect_lazy());
        Ok(Subscription { client, cursor: String::new(), out })
    }

    async fn stream_once(
        &mut self,
        options: &SubscribeOptions,
        status: &RunStatus,
        ready: &mut Option<oneshot::Sender<Result<(), String>>>,
        outcome: &mut Subscribed,
    ) -> Ended {
        let mut request = tonic::Request::new(pb::SubscribeRequest {
            filter: Some(pb::AlertFilter::default()),
            cursor: self.cursor.clone(),
        });
        if let Some(token) = &options.token {
            match MetadataValue::try_from(format!("Bearer {token}")) {
                Ok(value) => {
                    request.metadata_mut().insert("authorization", value);
                }
                Err(_) => return Ended::Fail("the token is not printable ascii".into()),
            }
        }
        let mut stream = match self.client.subscribe(request).await {
            Ok(response) => response.into_inner(),
            Err(status) => return ended(&status),
        };
        if ready.is_some() {
            match tokio::time::timeout(
                FIRST_MESSAGE_TIMEOUT,
                self.next(&mut stream, options, status, outcome),
            )
            .await
            {
                Ok(Ok(())) => {}
                Ok(Err(ended)) => return ended,
                Err(_) => return Ended::Fail("no first message from the alert stream".into()),
            }
            if let Some(ready) = ready.take() {
                let _ = ready.send(Ok(()));
            }
        }
        loop {
            if let Err(ended) = self.next(&mut stream, options, status, outcome).await {
                return ended;
            }
        }
    }

    /// Reads one message: notes its cursor and writes its alert.
    async fn next(
        &mut self,
        stream: &mut Streaming<pb::SubscribeResponse>,
        options: &SubscribeOptions,
        status: &RunStatus,
        outcome: &mut Subscribed,
    ) -> Result<(), Ended> {
        let message = match stream.message().await {
            Ok(Some(message)) => message,
            Ok(None) => return Err(Ended::Retry("the server closed the stream".into())),
            Err(status) => return Err(ended(&status)),
        };
        let received_us = elapsed_us(options.start);
        if let Some(Event::Alert(alert)) = message.event {
            match alert_from_proto(alert) {
                Ok(alert) => {
                    write_line(&mut self.out, &ReceivedAlert { received_us, alert })
                        .and_then(|()| self.out.flush())
                        .map_err(|error| {
                            Ended::Fail(format!("{}: {error}", options.path.display()))
                        })?;
                    outcome.versions += 1;
                    status.alerts.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => {
                    outcome.unreadable += 1;
                    tracing::warn!(error = %error, "skipped an alert that could not be read");
                }
            }
        }
        self.cursor = message.cursor;
        Ok(())
    }
}

/// Statuses a retry can fix resume from the cursor; the others end the subscription.
fn ended(status: &Status) -> Ended {
    let reason = format!("{:?}: {}", status.code(), status.message());
    match status.code() {
        Code::ResourceExhausted
        | Code::Unavailable
        | Code::Unknown
        | Code::Internal
        | Code::Cancelled
        | Code::Aborted
        | Code::DeadlineExceeded => Ended::Retry(reason),
        _ => Ended::Fail(reason),
    }
}
