//! Kafka client settings derived from the `[kafka]` section, shared by every client mspwatch
//! makes (the group consumer, the alerts producer, replay readers and the alert log reader).

use rdkafka::ClientConfig;

use crate::config::KafkaConfig;

/// How often librdkafka reports statistics (high watermarks, prefetch size, broker states).
const STATISTICS_INTERVAL_MS: u32 = 1000;

/// The first wait before reconnecting to a broker that went away; each further failure
/// doubles it (with jitter) up to [`RECONNECT_BACKOFF_MAX_MS`].
const RECONNECT_BACKOFF_MS: u32 = 100;

/// The longest wait between reconnection attempts: after an outage, the clients are back
/// within about this long of the broker.
const RECONNECT_BACKOFF_MAX_MS: u32 = 5000;

/// Connection and security settings: brokers, client id, TLS and SASL.
pub fn base_client_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", kafka.brokers.join(","))
        .set("client.id", &kafka.client_id)
        .set("security.protocol", &kafka.security_protocol)
        .set("broker.address.family", "any")
        .set("reconnect.backoff.ms", RECONNECT_BACKOFF_MS.to_string())
        .set("reconnect.backoff.max.ms", RECONNECT_BACKOFF_MAX_MS.to_string());
    if let Some(mechanism) = &kafka.sasl_mechanism {
        config.set("sasl.mechanism", mechanism);
    }
    if let Some(username) = &kafka.sasl_username {
        config.set("sasl.username", username);
    }
    if let Some(password) = &kafka.sasl_password {
        config.set("sasl.password", password.expose());
    }
    if let Some(ca) = &kafka.ssl_ca_location {
        config.set("ssl.ca.location", ca.display().to_string());
    }
    config
}

/// The audit consumer: group membership, manual offset commits, bounded prefetch.
pub fn group_consumer_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = base_client_config(kafka);
    config
        .set("group.id", &kafka.consumer_group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", kafka.start_from.as_str())
        .set("session.timeout.ms", kafka.session_timeout.as_millis_i64().to_string())
        .set("statistics.interval.ms", STATISTICS_INTERVAL_MS.to_string());
    set_prefetch_limits(&mut config, kafka);
    config
}

/// A reader with assigned partitions and no group commits (replay, the alert log reader).
pub fn reader_config(kafka: &KafkaConfig, group_id: &str) -> ClientConfig {
    let mut config = base_client_config(kafka);
    config
        .set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest");
    set_prefetch_limits(&mut config, kafka);
    config
}

/// The alerts and dead-letter producer: idempotent, acknowledged by all in-sync replicas.
pub fn producer_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = base_client_config(kafka);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", kafka.delivery_timeout.as_millis_i64().to_string());
    config
}

fn set_prefetch_limits(config: &mut ClientConfig, kafka: &KafkaConfig) {
    config
        .set("queued.max.messages.kbytes", kafka.queued_max_messages_kbytes.to_string())
        .set("queued.min.messages", kafka.queued_min_messages.to_string())
        .set("fetch.max.bytes", kafka.fetch_max_bytes.to_string())
        .set("max.partition.fetch.bytes", kafka.max_partition_fetch_bytes.to_string())
        .set("fetch.wait.max.ms", kafka.fetch_wait.as_millis_i64().to_string())
        // With the prefetch queue full, look again soon rather than after the client's default
        // second: a bare consumer on the local broker reads four times faster so.
        .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS.to_string());
}

/// How long a partition's fetching pauses once its prefetch queue is over its bounds.
const FETCH_QUEUE_BACKOFF_MS: u32 = 10;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn consumer_never_commits_or_stores_offsets_by_itself() {
        let config = group_consumer_config(&KafkaConfig::default());
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
        assert_eq!(config.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(config.get("queued.max.messages.kbytes"), Some("65536"));
    }

    #[test]
    fn consumer_fetches_wait_at_most_the_configured_time() {
        assert_eq!(
            group_consumer_config(&KafkaConfig::default()).get("fetch.wait.max.ms"),
            Some("100")
        );
        let kafka = KafkaConfig {
            fetch_wait: crate::config::ConfigDuration::from_millis(20),
            ..KafkaConfig::default()
        };
        assert_eq!(group_consumer_config(&kafka).get("fetch.wait.max.ms"), Some("20"));
        assert_eq!(group_consumer_config(&kafka).get("fetch.queue.backoff.ms"), Some("10"));
    }

    #[test]
    fn every_client_reconnects_with_a_bounded_backoff() {
        let config = base_client_config(&KafkaConfig::default());
        assert_eq!(config.get("reconnect.backoff.ms"), Some("100"));
        assert_eq!(config.get("reconnect.backoff.max.ms"), Some("5000"));
    }

    #[test]
    fn producer_is_idempotent_and_waits_for_all_replicas() {
        let config = producer_config(&KafkaConfig::default());
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        assert_eq!(config.get("acks"), Some("all"));
    }

    #[test]
    fn sasl_password_reaches_the_client_but_not_its_debug_output() {
        let kafka =
            KafkaConfig { sasl_password: Some(Secret::new("hunter2")), ..KafkaConfig::default() };
        let config = base_client_config(&kafka);
        assert_eq!(config.get("sasl.password"), Some("hunter2"));
        assert!(!format!("{kafka:?}").contains("hunter2"));
    }
}
