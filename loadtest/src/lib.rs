//! Traffic generation for mspwatch load tests: a seeded world of MSPs, tenants and
//! credentials, their normal daily traffic, labelled attack scenarios with ground truth, and
//! the records in canonical, CloudTrail and OCSF form, in delivery order; load runs against a
//! live detector (`live`) and their report (`report`).

pub mod action;
pub mod activity;
pub mod clock;
pub mod ids;
pub mod live;
mod names;
pub mod output;
pub mod render;
pub mod report;
pub mod scenario;
pub mod stream;
pub mod traffic;
pub mod world;

pub use render::Format;
pub use scenario::{GroundTruth, ScenarioKind, ScenarioRequest};
pub use stream::{AttackPlan, Delivery, FormatChoice, GenerateConfig, TrafficStream};
pub use world::{World, WorldConfig};
