//! Kafka ingestion: consumes audit topics, tracks offsets, dead-letters rejects, writes alerts.
