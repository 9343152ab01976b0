//! `AlertService`: subscriptions with resumable cursors, and look-ups of the latest versions.
//!
//! Each subscription has its own task that reads the shared log from its own cursor into a
//! bounded channel, so the log never waits for a subscriber and a subscriber holds at most its
//! channel's worth of messages. When the channel is full the task waits for room: the alerts
//! stay in the log, so a burst larger than the channel, or a client slower than the stream, only
//! makes the subscription fall behind, and it catches up from the log at its client's pace. A
//! client that reads nothing for the stall timeout is ended with RESOURCE_EXHAUSTED and the cursor
//! of the last message it was given, from which it resumes without missing anything; one that
//! falls behind the oldest alert the log holds is ended with OUT_OF_RANGE.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::auth::principal;
use crate::convert::alert_to_proto;
use crate::cursor::Cursor;
use crate::filter::AlertMatcher;
use crate::log::{AlertLog, ListKey, ReadBatch, SubscriberGuard, TimeRange};
use crate::pb;
use crate::pb::subscribe_response::Event;
use crate::status;

/// Most alerts one read of the log hands to a subscription.
const READ_MATCHES: usize = 256;
/// Most log entries one read examines, bounding the time the log's lock is held.
const READ_SCAN: usize = 4096;
/// Page size when a request names none.
const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page served.
const MAX_PAGE_SIZE: usize = 1000;
/// Longest alert id accepted.
const MAX_ID_LEN: usize = 512;
/// How long a subscription "from now" waits for the alerts topic's partitions to be known
/// after a start, before it is refused with UNAVAILABLE.
const PARTITIONS_WAIT: Duration = Duration::from_secs(5);

/// Subscription settings taken from the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamSettings {
    pub(crate) heartbeat: Duration,
    pub(crate) stall: Duration,
    pub(crate) buffer: usize,
    pub(crate) max_subscribers: usize,
}

/// The alert service over a shared log.
pub(crate) struct AlertApi {
    log: Arc<AlertLog>,
    settings: StreamSettings,
    stopping: watch::Receiver<bool>,
}

impl AlertApi {
    pub(crate) fn new(
        log: Arc<AlertLog>,
        settings: StreamSettings,
        stopping: watch::Receiver<bool>,
    ) -> AlertApi {
        AlertApi { log, settings, stopping }
    }
}

#[tonic::async_trait]
impl pb::alert_service_server::AlertService for AlertApi {
    type SubscribeStream = SubscriptionStream;

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<SubscriptionStream>, Status> {
        let principal = principal(&request)?.clone();
        let message = request.get_ref();
        let matcher = AlertMatcher::new(message.filter.as_ref(), &principal.scope)
            .map_err(status::filter_status)?;
        let start = if message.cursor.is_empty() {
            // "Now" is the end of the topic, which is unknown until the reader has found it.
            if !self.log.wait_partitions_known(PARTITIONS_WAIT).await {
                return Err(Status::unavailable("the alerts topic is not being read yet; retry"));
            }
            self.log.end_cursor()
        } else {
            let cursor = Cursor::decode(&message.cursor).map_err(status::cursor_status)?;
            // Where each partition ends must be known to tell a cursor from the future.
            if self.log.wait_partitions_known(PARTITIONS_WAIT).await {
                self.log
                    .check_not_ahead(&cursor)
                    .map_err(|error| status::ahead_of_topic_status(&error))?;
            }
            cursor
        };
        self.log.check_retained(&start).map_err(|error| status::out_of_range_status(&error))?;
        let guard = self
            .log
            .try_add_subscriber(self.settings.max_subscribers)
            .ok_or_else(|| Status::resource_exhausted("too many subscribers; retry later"))?;

        let (sender, receiver) = mpsc::channel(self.settings.buffer);
        let (end_sender, end_receiver) = oneshot::channel();
        let subscription = Subscription {
            log: Arc::clone(&self.log),
            matcher,
            heartbeat: self.settings.heartbeat,
            stall: self.settings.stall,
            sender,
            end: Some(end_sender),
            stopping: self.stopping.clone(),
            guard,
            last_delivered: start.clone(),
        };
        tracing::debug!(token = %principal.name, cursor = %start, "subscription started");
        tokio::spawn(subscription.run(start));
        Ok(Response::new(SubscriptionStream { messages: receiver, end: Some(end_receiver) }))
    }

    async fn list_alerts(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> Result<Response<pb::ListAlertsResponse>, Status> {
        let principal = principal(&request)?;
        let message = request.get_ref();
        let matcher = AlertMatcher::new(message.filter.as_ref(), &principal.scope)
            .map_err(status::filter_status)?;
        let range = TimeRange {
            from_ms: message.from.as_ref().map(timestamp_ms).transpose()?,
            to_ms: message.to.as_ref().map(timestamp_ms).transpose()?,
        };
        let after = decode_page_token(&message.page_token)?;
        let page_size = match message.page_size as usize {
            0 => DEFAULT_PAGE_SIZE,
            size => size.min(MAX_PAGE_SIZE),
        };
        let matches = |alert: &mspwatch_alert::Alert| matcher.matches(alert);
        let (alerts, next) = self.log.list(&matches, range, after.as_ref(), page_size);
        Ok(Response::new(pb::ListAlertsResponse {
            alerts: alerts.iter().map(|alert| alert_to_proto(alert)).collect(),
            next_page_token: next.as_ref().map(encode_page_token).unwrap_or_default(),
        }))
    }

    async fn get_alert(
        &self,
        request: Request<pb::GetAlertRequest>,
    ) -> Result<Response<pb::Alert>, Status> {
        let principal = principal(&request)?;
        let id = &request.get_ref().id;
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return Err(Status::invalid_argument("id must be 1 to 512 bytes"));
        }
        let alert = self.log.get(id).ok_or_else(|| Status::not_found("no such alert"))?;
        if !principal.scope.allows(alert.msp_id.as_deref()) {
            return Err(status::out_of_scope("the alert's msp"));
        }
        Ok(Response::new(alert_to_proto(&alert)))
    }
}

fn timestamp_ms(timestamp: &prost_types::Timestamp) -> Result<i64, Status> {
    let invalid = || Status::invalid_argument("time range bound is not a valid timestamp");
    if !(0..1_000_000_000).contains(&timestamp.nanos) {
        return Err(invalid());
    }
    let millis = timestamp.seconds.checked_mul(1000).ok_or_else(invalid)?;
    millis.checked_add(i64::from(timestamp.nanos / 1_000_000)).ok_or_else(invalid)
}

fn encode_page_token(key: &ListKey) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", key.first_seen_ms, key.id))
}

fn decode_page_token(token: &str) -> Result<Option<ListKey>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || Status::invalid_argument("invalid page_token");
    if token.len() > 4 * MAX_ID_LEN {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (first_seen_ms, id) = text.split_once(':').ok_or_else(invalid)?;
    let first_seen_ms = first_seen_ms.parse().map_err(|_| invalid())?;
    Ok(Some(ListKey { first_seen_ms, id: id.to_owned() }))
}

type Message = Result<pb::SubscribeResponse, Status>;

/// The response stream of one subscription: its buffered messages, then the status that ended
/// it, if any.
pub struct SubscriptionStream {
    messages: mpsc::Receiver<Message>,
    end: Option<oneshot::Receiver<Status>>,
}

impl Stream for SubscriptionStream {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Message>> {
        match self.messages.poll_recv(context) {
            Poll::Ready(None) => {
                let end = self.end.take().and_then(|mut end| end.try_recv().ok());
                Poll::Ready(end.map(Err))
            }
            other => other,
        }
    }
}

/// What the producer task decides after a step.
enum Step {
    Continue,
    Stop,
}

/// What waiting for room in the buffer ended with.
enum Room<'a> {
    Free(mpsc::Permit<'a, Message>),
    Closed,
    Stopping,
    Stalled,
}

/// The producer side of one subscription.
struct Subscription {
    log: Arc<AlertLog>,
    matcher: AlertMatcher,
    heartbeat: Duration,
    stall: Duration,
    sender: mpsc::Sender<Message>,
    end: Option<oneshot::Sender<Status>>,
    stopping: watch::Receiver<bool>,
    guard: SubscriberGuard,
    /// The cursor of the last message handed to the stream.
    last_delivered: Cursor,
}

impl Subscription {
    async fn run(mut self, start: Cursor) {
        let mut changes = self.log.changes();
        changes.borrow_and_update();
        let mut position = start;
        if let Step::Stop = self.offer_heartbeat(&position) {
            return;
        }
        let mut heartbeat =
            tokio::time::interval_at(Instant::now() + self.heartbeat, self.heartbeat);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut stopping = self.stopping.clone();
        let stop_requested = async move {
            let _ = stopping.wait_for(|stopping| *stopping).await;
        };
        tokio::pin!(stop_requested);

        loop {
            match self.catch_up(&mut position).await {
                (Step::Stop, _) => return,
                (Step::Continue, true) => heartbeat.reset(),
                (Step::Continue, false) => {}
            }
            tokio::select! {
                biased;
                () = &mut stop_requested => {
                    let status = status::shutting_down_status(&self.last_delivered);
                    finish(&mut self.end, status);
                    return;
                }
                () = self.sender.closed() => return,
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = heartbeat.tick() => {
                    if let Step::Stop = self.offer_heartbeat(&position) {
                        return;
                    }
                }
            }
        }
    }

    /// Sends everything matching from `position` to the end of the log; says whether any alert
    /// was sent.
    async fn catch_up(&mut self, position: &mut Cursor) -> (Step, bool) {
        let mut sent_any = false;
        loop {
            let matches = |alert: &mspwatch_alert::Alert| self.matcher.matches(alert);
            let batch = match self.log.read(position, &matches, READ_MATCHES, READ_SCAN) {
                Ok(batch) => batch,
                Err(error) => {
                    finish(&mut self.end, status::out_of_range_status(&error));
                    return (Step::Stop, sent_any);
                }
            };
            sent_any |= !batch.items.is_empty();
            if let Step::Stop = self.send_batch(position, &batch).await {
                return (Step::Stop, sent_any);
            }
            *position = batch.end;
            if !batch.more {
                return (Step::Continue, sent_any);
            }
        }
    }

    async fn send_batch(&mut self, position: &Cursor, batch: &ReadBatch) -> Step {
        let mut running = position.clone();
        for item in &batch.items {
            running.set(item.partition, item.offset.saturating_add(1));
            let message = pb::SubscribeResponse {
                cursor: running.encode(),
                event: Some(Event::Alert(alert_to_proto(&item.alert))),
            };
            if let Step::Stop = self.send_waiting(message, &running).await {
                return Step::Stop;
            }
        }
        Step::Continue
    }

    fn offer_heartbeat(&mut self, position: &Cursor) -> Step {
        let message = pb::SubscribeResponse {
            cursor: position.encode(),
            event: Some(Event::Heartbeat(pb::Heartbeat {
                server_time: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
            })),
        };
        // A heartbeat never waits: when the buffer is full, the client has messages to read.
        match self.sender.try_send(Ok(message)) {
            Ok(()) => {
                self.last_delivered = position.clone();
                Step::Continue
            }
            Err(mpsc::error::TrySendError::Full(_)) => Step::Continue,
            Err(mpsc::error::TrySendError::Closed(_)) => Step::Stop,
        }
    }

    /// Hands one message to the stream, waiting for room at most the stall timeout.
    async fn send_waiting(&mut self, message: pb::SubscribeResponse, cursor: &Cursor) -> Step {
        let stopping = &mut self.stopping;
        let room = tokio::select! {
            biased;
            () = async { let _ = stopping.wait_for(|stopping| *stopping).await; } => Room::Stopping,
            permit = self.sender.reserve() => permit.map_or(Room::Closed, Room::Free),
            () = tokio::time::sleep(self.stall) => Room::Stalled,
        };
        match room {
            Room::Free(permit) => {
                permit.send(Ok(message));
                self.last_delivered = cursor.clone();
                Step::Continue
            }
            Room::Closed => Step::Stop,
            Room::Stopping => {
                finish(&mut self.end, status::shutting_down_status(&self.last_delivered));
                Step::Stop
            }
            Room::Stalled => {
                drop(room);
                self.end_stalled();
                Step::Stop
            }
        }
    }

    /// Ends the subscription with RESOURCE_EXHAUSTED and the cursor of the last message given.
    fn end_stalled(&mut self) {
        let cursor = &self.last_delivered;
        tracing::info!(%cursor, "ended a subscriber that stopped reading");
        self.guard.ended_slow();
        finish(&mut self.end, status::slow_subscriber_status(&self.last_delivered));
    }
}

/// Ends the stream with `status` after the messages already buffered.
fn finish(end: &mut Option<oneshot::Sender<Status>>, status: Status) {
    if let Some(end) = end.take() {
        let _ = end.send(status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_survive_encoding_and_garbage_is_refused() {
        let key = ListKey { first_seen_ms: -5, id: "a:b".to_owned() };
        assert_eq!(decode_page_token(&encode_page_token(&key)).ok(), Some(Some(key)));
        assert_eq!(decode_page_token("").ok(), Some(None));
        assert!(decode_page_token("***").is_err());
        assert!(decode_page_token(&URL_SAFE_NO_PAD.encode("x:y")).is_err());
    }

    #[test]
    fn timestamps_become_milliseconds_without_overflow() {
        let time = prost_types::Timestamp { seconds: 10, nanos: 5_000_000 };
        assert_eq!(timestamp_ms(&time).ok(), Some(10_005));
        assert!(timestamp_ms(&prost_types::Timestamp { seconds: i64::MAX, nanos: 0 }).is_err());
        assert!(timestamp_ms(&prost_types::Timestamp { seconds: 0, nanos: -1 }).is_err());
    }
}
