//! gRPC delivery: streams alerts to SOC subscribers and serves the admin API, with access control.
