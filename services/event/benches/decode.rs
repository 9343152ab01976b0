//! Decoding cost per record: canonical and CloudTrail records alone, and JSON lines framed
//! and decoded together as a replay reads them.
//!
//! Run with `cargo bench -p mspwatch-event --bench decode`; criterion reports the time per
//! record (one iteration is one record) and records per second for the batches.
//! Time is the benchmark thread's CPU time (from `/proc/thread-self/schedstat`, else wall
//! time), so that other work on a shared machine does not inflate the figures.
//! The kernel updates that counter every scheduler tick (a few milliseconds), so every sample
//! runs for about 200 ms of CPU time.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use mspwatch_event::decode::{decode_record, split_line, split_records};

/// CPU time of the measuring thread, in nanoseconds.
struct ThreadCpuTime;

impl ThreadCpuTime {
    /// Nanoseconds the thread has run, or wall nanoseconds since the first call if the kernel
    /// does not say.
    fn now() -> u64 {
        let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").ok();
        let cpu = schedstat.and_then(|text| text.split(' ').next()?.parse().ok());
        cpu.unwrap_or_else(|| {
            static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
            let elapsed = START.get_or_init(Instant::now).elapsed().as_nanos();
            u64::try_from(elapsed).unwrap_or(u64::MAX)
        })
    }
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        ThreadCpuTime::now()
    }

    fn end(&self, start: u64) -> u64 {
        ThreadCpuTime::now().saturating_sub(start)
    }

    fn add(&self, first: &u64, second: &u64) -> u64 {
        first + second
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &NanosFormatter
    }
}

/// Shows CPU nanoseconds as `ns` and throughput as elements per second.
struct NanosFormatter;

impl ValueFormatter for NanosFormatter {
    fn scale_values(&self, _typical: f64, _values: &mut [f64]) -> &'static str {
        "ns"
    }

    fn scale_throughputs(
        &self,
        _typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let per_iteration = match throughput {
            Throughput::Elements(count) | Throughput::Bytes(count) => *count as f64,
            Throughput::BytesDecimal(count) => *count as f64,
        };
        for value in values.iter_mut() {
            *value = per_iteration * 1e9 / *value;
        }
        match throughput {
            Throughput::Elements(_) => "elem/s",
            _ => "B/s",
        }
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

/// A typical canonical record, about 300 bytes.
const CANONICAL: &str = concat!(
    r#"{"event_id":"ev-0001","time":"2026-11-02T09:00:00Z","msp_id":"msp-northwind","#,
    r#""tenant_id":"tn-acme","actor":{"id":"cred-ops-17","type":"user","#,
    r#""name":"ops17@northwind.example"},"action":"backup.delete","#,
    r#""resource":{"type":"recovery_point","id":"rp-9921"},"outcome":"success","#,
    r#""object_count":40,"source_ip":"203.0.113.77"}"#
);

/// A canonical record touching three tenants, with an epoch-millisecond time.
const CANONICAL_MULTI_TENANT: &str = concat!(
    r#"{"event_id":"ev-0006","time":1793610300000,"msp_id":"msp-northwind","#,
    r#""tenant_ids":["tn-acme","tn-globex","tn-initech"],"#,
    r#""actor":{"id":"cred-api-3","type":"api_key"},"action":"encryption.key_change","#,
    r#""resource":{"type":"key","id":"key-ext-5"},"outcome":"success"}"#
);

/// A CloudTrail AWS Backup deletion by an MSP role session, about 1.2 KB.
const CLOUDTRAIL: &str = concat!(
    r#"{"eventVersion":"1.09","eventTime":"2026-11-02T10:15:02Z","#,
    r#""eventSource":"backup.amazonaws.com","eventName":"DeleteRecoveryPoint","#,
    r#""awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.77","userAgent":"aws-cli/2.15.0","#,
    r#""userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLEMSPADMIN:ops17","#,
    r#""arn":"arn:aws:sts::210987654321:assumed-role/NorthwindMSPAdmin/ops17","#,
    r#""accountId":"210987654321","accessKeyId":"ASIAEXAMPLE0001","sessionContext":{"#,
    r#""sourceIdentity":"ops17@northwind.example","sessionIssuer":{"type":"Role","#,
    r#""principalId":"AROAEXAMPLEMSPADMIN","#,
    r#""arn":"arn:aws:iam::210987654321:role/NorthwindMSPAdmin","accountId":"210987654321","#,
    r#""userName":"NorthwindMSPAdmin"},"attributes":{"creationDate":"2026-11-02T10:00:00Z","#,
    r#""mfaAuthenticated":"false"}}},"requestParameters":{"backupVaultName":"acme-prod-vault","#,
    r#""recoveryPointArn":"arn:aws:backup:eu-west-1:210987654321:recovery-point:11111111-aaaa"},"#,
    r#""responseElements":null,"eventID":"5f0c0e2a-0000-4000-8000-000000000001","#,
    r#""readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"#,
    r#""recipientAccountId":"210987654321","eventCategory":"Management","#,
    r#""tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","#,
    r#""clientProvidedHostHeader":"backup.eu-west-1.amazonaws.com"}}"#
);

/// A CloudTrail snapshot share to another account, which reads its request parameters.
const CLOUDTRAIL_SHARE: &str = concat!(
    r#"{"eventVersion":"1.09","eventTime":"2026-11-02T11:00:07Z","#,
    r#""eventSource":"ec2.amazonaws.com","eventName":"ModifySnapshotAttribute","#,
    r#""awsRegion":"us-east-1","sourceIPAddress":"192.0.2.10","userAgent":"Boto3/1.34.0","#,
    r#""userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEUSER0001","#,
    r#""arn":"arn:aws:iam::567890123456:user/backup-operator","accountId":"567890123456","#,
    r#""accessKeyId":"AKIAEXAMPLE0001","userName":"backup-operator"},"#,
    r#""requestParameters":{"snapshotId":"snap-0abc","attributeType":"CREATE_VOLUME_PERMISSION","#,
    r#""createVolumePermission":{"add":{"items":[{"userId":"999988887777"}]}}},"#,
    r#""responseElements":{"_return":true},"eventID":"7a1d0000-0000-4000-8000-000000000011","#,
    r#""readOnly":false,"eventType":"AwsApiCall","recipientAccountId":"567890123456"}"#
);

fn decode_one(criterion: &mut Criterion<ThreadCpuTime>, name: &str, record: &str) {
    let mut group = criterion.benchmark_group("decode_record");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("{name} ({} bytes)", record.len()), |bencher| {
        bencher.iter(|| decode_record(black_box(record.as_bytes())))
    });
    group.finish();
}

fn single_records(criterion: &mut Criterion<ThreadCpuTime>) {
    decode_one(criterion, "canonical", CANONICAL);
    decode_one(criterion, "canonical_multi_tenant", CANONICAL_MULTI_TENANT);
    decode_one(criterion, "cloudtrail", CLOUDTRAIL);
    decode_one(criterion, "cloudtrail_share", CLOUDTRAIL_SHARE);
}

fn json_lines(criterion: &mut Criterion<ThreadCpuTime>) {
    let records = 1000;
    let mut input = String::new();
    for index in 0..records {
        input.push_str(&CANONICAL.replace("ev-0001", &format!("ev-{index:06}")));
        input.push('\n');
    }
    let mut group = criterion.benchmark_group("json_lines");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(records));
    group.bench_function("split_line_and_decode_canonical", |bencher| {
        bencher.iter(|| {
            let mut decoded = 0;
            for (line_no, line) in (1..).zip(input.as_bytes().split(|&byte| byte == b'\n')) {
                for record in split_line(line, line_no).flatten() {
                    decoded += usize::from(decode_record(record.bytes).is_ok());
                }
            }
            decoded
        })
    });
    group.bench_function("split_records_and_decode_canonical", |bencher| {
        bencher.iter(|| {
            split_records(black_box(input.as_bytes()))
                .into_iter()
                .flatten()
                .filter(|record| decode_record(record.bytes).is_ok())
                .count()
        })
    });
    group.finish();
}

fn cpu_time() -> Criterion<ThreadCpuTime> {
    Criterion::default()
        .with_measurement(ThreadCpuTime)
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6))
}

criterion_group! {
    name = benches;
    config = cpu_time();
    targets = single_records, json_lines
}
criterion_main!(benches);
