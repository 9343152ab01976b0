//! Tests for configuration loading, environment overrides and error positions.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn parse(text: &str, pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new("mspwatch.toml"), env(pairs))
}

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mspwatch.toml")
}

#[test]
fn committed_example_loads_and_sets_every_section() {
    let config = Config::load_with_env(&example_path(), Vec::new()).unwrap();
    assert!(!config.kafka.brokers.is_empty());
    assert!(!config.kafka.audit_topics.is_empty());
    assert_ne!(config.kafka.alerts_topic, config.kafka.dead_letter_topic);
    assert!(config.detector.directory_file.is_some());
    assert!(config.metrics.enabled);
}

#[test]
fn empty_file_gives_the_defaults() {
    let config = parse("", &[]).unwrap();
    assert_eq!(config, Config::default());
    assert_eq!(config.kafka.commit_interval.get(), Duration::from_secs(5));
    assert_eq!(config.kafka.start_from, StartFrom::Earliest);
}

#[test]
fn environment_overrides_the_file() {
    let text = "[kafka]\nbrokers = [\"file:9092\"]\ncommit_interval = \"10s\"\n\
                [grpc]\ntls_cert = \"a.pem\"\ntls_key = \"a.key\"\n";
    let config = parse(
        text,
        &[
            ("MSPWATCH_KAFKA_BROKERS", "one:9092, two:9092"),
            ("MSPWATCH_KAFKA_COMMIT_INTERVAL", "250ms"),
            ("MSPWATCH_GRPC_LISTEN", "0.0.0.0:7000"),
            ("MSPWATCH_GRPC_ALLOW_PLAINTEXT_NON_LOOPBACK", "true"),
            ("MSPWATCH_LOG_FORMAT", "json"),
            ("MSPWATCH_METRICS_ENABLED", "false"),
            ("MSPWATCH_DETECTOR_MAX_TRACKED_KEYS", "42"),
            ("MSPWATCH_KAFKA_SASL_PASSWORD", "hunter2"),
        ],
    )
    .unwrap();
    assert_eq!(config.kafka.brokers, ["one:9092", "two:9092"]);
    assert_eq!(config.kafka.commit_interval.get(), Duration::from_millis(250));
    assert_eq!(config.grpc.listen, "0.0.0.0:7000".parse::<SocketAddr>().unwrap());
    assert!(config.grpc.allow_plaintext_non_loopback);
    assert_eq!(config.log.format, LogFormat::Json);
    assert!(!config.metrics.enabled);
    assert_eq!(config.detector.max_tracked_keys, 42);
    assert_eq!(config.kafka.sasl_password.as_ref().map(Secret::expose), Some("hunter2"));
    assert_eq!(config.grpc.tls_cert.as_deref(), Some(Path::new("a.pem")));
}

#[test]
fn empty_environment_value_unsets_an_optional_field() {
    let text = "[grpc]\ntls_cert = \"a.pem\"\ntls_key = \"a.key\"\n";
    let config =
        parse(text, &[("MSPWATCH_GRPC_TLS_CERT", ""), ("MSPWATCH_GRPC_TLS_KEY", "")]).unwrap();
    assert_eq!(config.grpc.tls_cert, None);
    assert_eq!(config.grpc.tls_key, None);
}

#[test]
fn unknown_key_is_reported_with_file_line_and_key() {
    let text = "[kafka]\nbrokers = [\"b:9092\"]\nbrokerz = \"x\"\n";
    let error = parse(text, &[]).unwrap_err();
    let ConfigError::File { line, key, message, .. } = &error else { panic!("{error}") };
    assert_eq!(*line, 3);
    assert_eq!(key.as_deref(), Some("kafka.brokerz"));
    assert!(message.contains("unknown field `brokerz`"), "{message}");
    assert!(error.to_string().starts_with("mspwatch.toml:3:1: kafka.brokerz: "), "{error}");
}

#[test]
fn unknown_section_is_reported_with_its_line() {
    let error = parse("[log]\nlevel = \"debug\"\n\n[kafak]\nbrokers = []\n", &[]).unwrap_err();
    let ConfigError::File { line, key, .. } = &error else { panic!("{error}") };
    assert_eq!(*line, 4);
    assert_eq!(key.as_deref(), Some("kafak"));
}

#[test]
fn wrongly_typed_value_names_its_key() {
    let error = parse("[kafka]\n\ncommit_interval = 5\n", &[]).unwrap_err();
    let ConfigError::File { line, key, .. } = &error else { panic!("{error}") };
    assert_eq!(*line, 3);
    assert_eq!(key.as_deref(), Some("kafka.commit_interval"));
}

#[test]
fn bad_duration_in_file_says_what_a_duration_looks_like() {
    let error = parse("[kafka]\nstall_timeout = \"soon\"\n", &[]).unwrap_err();
    assert!(error.to_string().contains("kafka.stall_timeout"), "{error}");
    assert!(error.to_string().contains("number and a unit"), "{error}");
}

#[test]
fn bad_environment_value_names_the_variable() {
    let error = parse("", &[("MSPWATCH_GRPC_SUBSCRIBER_BUFFER", "many")]).unwrap_err();
    assert!(error.to_string().starts_with("environment variable MSPWATCH_GRPC_SUBSCRIBER_BUFFER"));
    let error = parse("", &[("MSPWATCH_KAFKA_COMMIT_INTERVAL", "5 parsecs")]).unwrap_err();
    assert!(error.to_string().contains("MSPWATCH_KAFKA_COMMIT_INTERVAL"), "{error}");
}

#[test]
fn misspelt_variable_in_a_section_is_refused_and_unrelated_ones_are_ignored() {
    let error = parse("", &[("MSPWATCH_KAFKA_BROKER", "x:1")]).unwrap_err();
    assert!(error.to_string().contains("MSPWATCH_KAFKA_BROKER"), "{error}");
    let config =
        parse("", &[("MSPWATCH_TANSU", "/bin/tansu"), ("MSPWATCH_BROKERS", "x:1")]).unwrap();
    assert_eq!(config, Config::default());
}

#[test]
fn secret_is_redacted_in_debug_and_serialization() {
    let config = parse("[kafka]\nsasl_password = \"hunter2\"\n", &[]).unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2"));
    assert!(debug.contains("[redacted]"));
    let serialized = toml::to_string(&config).unwrap();
    assert!(!serialized.contains("hunter2"));
}

#[test]
fn every_field_has_an_environment_variable_and_every_variable_a_field() {
    // JSON keeps unset optional fields (as null), so every field of every section shows.
    let value = serde_json::to_value(Config::default()).unwrap();
    let mut fields = Vec::new();
    for (section, body) in value.as_object().unwrap() {
        for field in body.as_object().unwrap().keys() {
            fields.push((section.clone(), field.clone()));
        }
    }
    let mut listed: Vec<(String, String)> =
        ENV_FIELDS.iter().map(|(s, f, _)| ((*s).to_owned(), (*f).to_owned())).collect();
    fields.sort();
    listed.sort();
    assert_eq!(fields, listed);
}

#[test]
fn alerts_topic_that_is_also_an_audit_topic_is_refused() {
    let error = parse("[kafka]\naudit_topics = [\"a\"]\nalerts_topic = \"a\"\n", &[]).unwrap_err();
    assert!(matches!(error, ConfigError::Invalid { key: "kafka.alerts_topic", .. }), "{error}");
}

#[test]
fn tls_key_without_certificate_is_refused() {
    let error = parse("[grpc]\ntls_key = \"k.pem\"\n", &[]).unwrap_err();
    assert!(matches!(error, ConfigError::Invalid { key: "grpc.tls_cert", .. }), "{error}");
}

#[test]
fn durations_parse_in_every_unit_and_refuse_overflow() {
    let cases = [("250ms", 250), ("5s", 5_000), ("2m", 120_000), ("1h", 3_600_000)];
    for (text, millis) in cases {
        assert_eq!(ConfigDuration::parse(text).unwrap().get(), Duration::from_millis(millis));
    }
    assert!(ConfigDuration::parse("1d").is_ok());
    assert!(ConfigDuration::parse("5").is_err());
    assert!(ConfigDuration::parse("s").is_err());
    assert!(ConfigDuration::parse("-1s").is_err());
    assert!(ConfigDuration::parse("99999999999999999999d").is_err());
    assert!(ConfigDuration::parse("9999999999999999d").is_err());
}

#[test]
fn reorder_hold_reaches_the_engine_and_may_not_exceed_the_lateness() {
    let config = parse(
        "[detector]\nallowed_lateness = \"5m\"\n",
        &[("MSPWATCH_DETECTOR_REORDER_HOLD", "2s")],
    )
    .unwrap();
    let engine = config.detector.engine_config();
    assert_eq!((engine.allowed_lateness_ms, engine.reorder_hold_ms), (300_000, Some(2_000)));
    assert_eq!(parse("", &[]).unwrap().detector.engine_config().reorder_hold_ms, None);
    let error =
        parse("[detector]\nallowed_lateness = \"1m\"\nreorder_hold = \"2m\"\n", &[]).unwrap_err();
    assert!(matches!(error, ConfigError::Invalid { key: "detector.reorder_hold", .. }), "{error}");
}

#[test]
fn grpc_stream_limits_are_set_by_file_or_environment_and_zero_is_refused() {
    let text = "[grpc]\nstall_timeout = \"10s\"\nlog_capacity = 500\n";
    let config = parse(text, &[("MSPWATCH_GRPC_MAX_SUBSCRIBERS", "7")]).unwrap();
    assert_eq!(config.grpc.stall_timeout.get(), Duration::from_secs(10));
    assert_eq!((config.grpc.log_capacity, config.grpc.max_subscribers), (500, 7));
    assert_eq!(config.grpc.shutdown_grace.get(), Duration::from_secs(10));
    let error = parse("[grpc]\nlog_capacity = 0\n", &[]).unwrap_err();
    assert!(matches!(error, ConfigError::Invalid { key: "grpc.log_capacity", .. }), "{error}");
    let error = parse("[grpc]\nclient_cert_optional = true\n", &[]).unwrap_err();
    assert!(matches!(error, ConfigError::Invalid { key: "grpc.client_cert_optional", .. }));
}

#[test]
fn memory_limit_reads_a_size_from_file_or_environment_and_reaches_the_engine() {
    let config = parse("[detector]\nmemory_limit = \"512MiB\"\n", &[]).unwrap();
    assert_eq!(config.detector.memory_limit, Some(mspwatch_engine::ByteSize(512 << 20)));
    let engine = config.detector.engine_config();
    assert_eq!(engine.memory_limit.map(|limit| limit.bytes()), Some(512 << 20));
    let config = parse("", &[("MSPWATCH_DETECTOR_MEMORY_LIMIT", "2GiB")]).unwrap();
    assert_eq!(config.detector.memory_limit, Some(mspwatch_engine::ByteSize(2 << 30)));
    assert!(parse("", &[]).unwrap().detector.engine_config().memory_limit.is_none());
    let error = parse("[detector]\nmemory_limit = \"1MiB\"\n", &[]).unwrap_err();
    assert!(error.to_string().contains("detector.memory_limit"), "{error}");
    let error = parse("[detector]\nmemory_limit = \"lots\"\n", &[]).unwrap_err();
    assert!(error.to_string().contains("not a size"), "{error}");
}

#[test]
fn a_log_level_that_is_no_level_is_refused_rather_than_silencing_logs() {
    for level in ["warning", "info,debugg", "loud"] {
        let text = format!("[log]\nlevel = \"{level}\"\n");
        let error = parse(&text, &[]).unwrap_err();
        assert!(matches!(error, ConfigError::Invalid { key: "log.level", .. }), "{error}");
    }
    let error = parse("", &[("MSPWATCH_LOG_LEVEL", "verbose")]).unwrap_err();
    assert!(error.to_string().contains("`verbose` is not a level"), "{error}");
    for level in ["warn", "INFO", "info,rdkafka=warn", "mspwatch_ingest=debug", "off"] {
        let text = format!("[log]\nlevel = \"{level}\"\n");
        assert!(parse(&text, &[]).is_ok(), "{level}");
    }
}

#[test]
fn an_environment_error_names_the_variable_at_fault_and_not_the_others() {
    let error =
        parse("", &[("MSPWATCH_KAFKA_BROKERS", "a:1"), ("MSPWATCH_KAFKA_COMMIT_INTERVAL", "5")])
            .unwrap_err();
    match error {
        ConfigError::Environment { variable, .. } => {
            assert_eq!(variable, "MSPWATCH_KAFKA_COMMIT_INTERVAL");
        }
        other => panic!("{other}"),
    }
}
