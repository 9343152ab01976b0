//! The traffic stream: normal traffic and injected scenarios, day by day, as records in
//! delivery order with their scheduled delivery times.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::action::Action;
use crate::activity::Activity;
use crate::clock::{DAY_MS, SECOND_MS};
use crate::ids::{stream_rng, Stream};
use crate::render::{can_carry, render, Format, RenderError};
use crate::scenario::{
    default_plan, inject, GroundTruth, InjectedScenario, ScenarioError, ScenarioRequest,
};
use crate::traffic::{normal_day, DayPlan, RobotSuppression, TouchLog};
use crate::world::{World, WorldConfig};

/// Which formats records are written in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FormatChoice {
    /// Every record in one format.
    Single(Format),
    /// Each record in a format drawn with these relative weights.
    Mixed {
        /// Weight of canonical records.
        canonical: f64,
        /// Weight of CloudTrail records.
        cloudtrail: f64,
        /// Weight of OCSF records.
        ocsf: f64,
    },
}

impl FormatChoice {
    /// The default mix: mostly canonical, a quarter CloudTrail, some OCSF.
    pub fn default_mix() -> Self {
        FormatChoice::Mixed { canonical: 0.6, cloudtrail: 0.25, ocsf: 0.15 }
    }
}

/// Which scenarios to inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttackPlan {
    /// None: normal traffic only.
    None,
    /// One of every scenario, spread over the period.
    Default,
    /// These scenarios at these times.
    Explicit(Vec<ScenarioRequest>),
}

/// Everything that decides the generated traffic; the same configuration always yields the
/// same bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateConfig {
    /// The seed of every random choice.
    pub seed: u64,
    /// The size of the world.
    pub world: WorldConfig,
    /// Start of the period, ms since the epoch.
    pub start_ms: i64,
    /// Number of 24-hour days, or `None` for an endless stream.
    pub days: Option<u64>,
    /// Approximate number of events per day.
    pub events_per_day: u64,
    /// Record formats.
    pub formats: FormatChoice,
    /// Scenarios to inject.
    pub attacks: AttackPlan,
    /// Share of canonical and OCSF records written without their MSP, for the directory to
    /// attribute.
    pub omit_msp_share: f64,
    /// Share of records delivered twice.
    pub duplicate_share: f64,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        GenerateConfig {
            seed: 1,
            world: WorldConfig::default(),
            start_ms: 1_793_577_600_000,
            days: Some(7),
            events_per_day: 20_000,
            formats: FormatChoice::default_mix(),
            attacks: AttackPlan::Default,
            omit_msp_share: 0.1,
            duplicate_share: 0.003,
        }
    }
}

/// Longest delay between an event and its delivery: under the detector's 5-minute lateness.
pub const MAX_DELIVERY_DELAY_MS: i64 = 210 * SECOND_MS;

/// One record, ready to send, with when to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// When the pipeline delivers the record, ms; deliveries come in this order.
    pub deliver_at_ms: i64,
    /// The event's own time, ms.
    pub event_time_ms: i64,
    /// The event's sequence number (its position in event-time order).
    pub seq: u64,
    /// The record's format.
    pub format: Format,
    /// Whether this is a second delivery of a record already delivered.
    pub duplicate: bool,
    /// The injected scenario the event belongs to (index into the plan).
    pub scenario: Option<usize>,
    /// The MSP whose credential acted (index into `World::msps`): the record's Kafka key.
    pub msp: usize,
    /// What the event did.
    pub action: Action,
    /// Whether the call failed.
    pub failed: bool,
    /// The record's JSON text, without a line break.
    pub line: Vec<u8>,
}

impl Delivery {
    fn key(&self) -> (i64, u64, bool) {
        (self.deliver_at_ms, self.seq, self.duplicate)
    }
}

impl Ord for Delivery {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Delivery {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Why the traffic could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The scenario plan is not possible.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A record could not be written.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The configuration asks for nothing sensible.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
}

/// The generated traffic as an iterator of deliveries, in delivery order.
pub struct TrafficStream {
    world: World,
    config: GenerateConfig,
    scenarios: Vec<InjectedScenario>,
    scenario_days: BTreeMap<u64, Vec<Activity>>,
    suppressions: Vec<RobotSuppression>,
    touches: TouchLog,
    next_day: u64,
    next_seq: u64,
    pending: BinaryHeap<Reverse<Pending>>,
    failed: bool,
}

/// A planned delivery, written out only when its turn comes, so that a day waiting in the
/// queue holds activities rather than records and the writing cost is spread evenly.
#[derive(Debug, Clone, PartialEq)]
struct Pending {
    deliver_at_ms: i64,
    seq: u64,
    duplicate: bool,
    format: Format,
    include_msp: bool,
    activity: Activity,
}

impl Pending {
    fn key(&self) -> (i64, u64, bool) {
        (self.deliver_at_ms, self.seq, self.duplicate)
    }
}

impl Eq for Pending {}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl TrafficStream {
    /// Builds the world and plans the scenarios; traffic is generated lazily, a day at a time.
    pub fn new(config: GenerateConfig) -> Result<Self, GenerateError> {
        if config.world.msps == 0 {
            return Err(GenerateError::Config("at least one MSP is needed"));
        }
        if config.days == Some(0) {
            return Err(GenerateError::Config("at least one day is needed"));
        }
        let mut world_config = config.world.clone();
        if config.formats == FormatChoice::Single(Format::Cloudtrail) {
            world_config.cloud_account_share = 1.0;
        }
        let world = World::build(config.seed, &world_config);
        let end_ms = config
            .days
            .map(|days| config.start_ms.saturating_add((days as i64).saturating_mul(DAY_MS)));
        let requests = match (&config.attacks, end_ms) {
            (AttackPlan::None, _) => Vec::new(),
            (AttackPlan::Explicit(requests), _) => requests.clone(),
            (AttackPlan::Default, Some(end)) => default_plan(config.start_ms, end)?,
            (AttackPlan::Default, None) => Vec::new(),
        };
        let scenarios = inject(&world, &requests, config.start_ms, end_ms)?;
        let mut scenario_days: BTreeMap<u64, Vec<Activity>> = BTreeMap::new();
        for activity in scenarios.iter().flat_map(|scenario| &scenario.activities) {
            let day = (activity.time_ms - config.start_ms).div_euclid(DAY_MS).max(0) as u64;
            scenario_days.entry(day).or_default().push(activity.clone());
        }
        let suppressions = scenarios.iter().filter_map(|scenario| scenario.suppression).collect();
        Ok(TrafficStream {
            world,
            config,
            scenarios,
            scenario_days,
            suppressions,
            touches: TouchLog::default(),
            next_day: 0,
            next_seq: 0,
            pending: BinaryHeap::new(),
            failed: false,
        })
    }

    /// The generated world.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The injected scenarios.
    pub fn scenarios(&self) -> &[InjectedScenario] {
        &self.scenarios
    }

    /// One ground-truth line per injected scenario, in plan order.
    pub fn ground_truth(&self) -> Vec<GroundTruth> {
        self.scenarios.iter().map(|scenario| scenario.truth.clone()).collect()
    }

    fn day_start(&self, day: u64) -> i64 {
        self.config.start_ms.saturating_add((day as i64).saturating_mul(DAY_MS))
    }

    fn more_days(&self) -> bool {
        self.config.days.is_none_or(|days| self.next_day < days)
    }

    fn generate_day(&mut self) {
        let day = self.next_day;
        self.next_day += 1;
        let plan = DayPlan {
            world: &self.world,
            events_per_day: self.config.events_per_day,
            start_ms: self.day_start(day),
            index: day,
            suppressed_robot_runs: &self.suppressions,
        };
        let mut rng = stream_rng(self.config.seed, Stream::Day, day);
        let mut activities = normal_day(&plan, &mut self.touches, &mut rng);
        self.touches.end_day();
        if let Some(injected) = self.scenario_days.remove(&day) {
            activities.extend(injected);
        }
        activities.sort_by_key(|activity| activity.time_ms);

        let mut rng = stream_rng(self.config.seed, Stream::Delivery, day);
        for activity in activities {
            let seq = self.next_seq;
            self.next_seq += 1;
            let delivery = self.plan_delivery(activity, seq, &mut rng);
            if rng.gen_bool(self.config.duplicate_share.clamp(0.0, 1.0)) {
                let time = delivery.activity.time_ms;
                let delay = delivery.deliver_at_ms - time;
                let again = time + rng.gen_range(delay..=MAX_DELIVERY_DELAY_MS);
                let duplicate =
                    Pending { deliver_at_ms: again, duplicate: true, ..delivery.clone() };
                self.pending.push(Reverse(duplicate));
            }
            self.pending.push(Reverse(delivery));
        }
    }

    /// Draws the record's format, whether it names its MSP, and its delivery delay.
    fn plan_delivery(&self, activity: Activity, seq: u64, rng: &mut ChaCha8Rng) -> Pending {
        let format = match self.config.formats {
            FormatChoice::Single(format) => format,
            FormatChoice::Mixed { canonical, cloudtrail, ocsf } => {
                let total = canonical.max(0.0) + cloudtrail.max(0.0) + ocsf.max(0.0);
                let draw = if total > 0.0 { rng.gen_range(0.0..total) } else { 0.0 };
                if draw < canonical.max(0.0) {
                    Format::Canonical
                } else if draw < canonical.max(0.0) + cloudtrail.max(0.0) {
                    Format::Cloudtrail
                } else {
                    Format::Ocsf
                }
            }
        };
        let format =
            if can_carry(&self.world, &activity, format) { format } else { Format::Canonical };
        let include_msp = !rng.gen_bool(self.config.omit_msp_share.clamp(0.0, 1.0));
        let draw: f64 = rng.gen();
        let delay = if draw < 0.85 {
            rng.gen_range(200..8 * SECOND_MS)
        } else if draw < 0.98 {
            rng.gen_range(8 * SECOND_MS..60 * SECOND_MS)
        } else {
            rng.gen_range(60 * SECOND_MS..180 * SECOND_MS)
        };
        Pending {
            deliver_at_ms: activity.time_ms + delay,
            seq,
            duplicate: false,
            format,
            include_msp,
            activity,
        }
    }

    /// Writes a planned delivery out.
    fn write(&self, pending: Pending) -> Result<Delivery, GenerateError> {
        let Pending { deliver_at_ms, seq, duplicate, format, include_msp, activity } = pending;
        let mut line = Vec::with_capacity(512);
        render(&self.world, &activity, seq, format, include_msp, &mut line)?;
        Ok(Delivery {
            deliver_at_ms,
            event_time_ms: activity.time_ms,
            seq,
            format,
            duplicate,
            scenario: activity.scenario,
            msp: self.world.actors.get(activity.actor).map_or(0, |actor| actor.msp),
            action: activity.action,
            failed: activity.error.is_some(),
            line,
        })
    }
}

impl Iterator for TrafficStream {
    type Item = Result<Delivery, GenerateError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            let horizon = self.day_start(self.next_day);
            let more_days = self.more_days();
            if let Some(Reverse(next)) = self.pending.peek() {
                // Every event of a later day happens, and so is delivered, after `horizon`.
                if !more_days || next.deliver_at_ms < horizon {
                    let Reverse(pending) = self.pending.pop()?;
                    let written = self.write(pending);
                    self.failed = written.is_err();
                    return Some(written);
                }
            }
            if !more_days {
                return None;
            }
            self.generate_day();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(seed: u64) -> GenerateConfig {
        GenerateConfig { seed, days: Some(3), events_per_day: 3_000, ..GenerateConfig::default() }
    }

    #[test]
    fn deliveries_come_in_delivery_order_with_bounded_delay() {
        let mut last = i64::MIN;
        let mut count = 0;
        for delivery in TrafficStream::new(small(8)).unwrap() {
            let delivery = delivery.unwrap();
            assert!(delivery.deliver_at_ms >= last);
            let delay = delivery.deliver_at_ms - delivery.event_time_ms;
            assert!((0..=MAX_DELIVERY_DELAY_MS).contains(&delay));
            last = delivery.deliver_at_ms;
            count += 1;
        }
        assert!(count > 6_000);
    }

    #[test]
    fn the_default_plan_fits_every_period_of_a_day_or_more() {
        for seed in 1..6 {
            for days in 1..=8 {
                let config = GenerateConfig { days: Some(days), ..small(seed) };
                let stream = TrafficStream::new(config);
                assert!(stream.is_ok(), "seed {seed}, {days} days: {:?}", stream.err());
            }
        }
    }

    #[test]
    fn endless_stream_keeps_going_past_any_day() {
        let config = GenerateConfig { days: None, events_per_day: 500, ..small(2) };
        let taken = TrafficStream::new(config).unwrap().take(5_000).count();
        assert_eq!(taken, 5_000);
    }

    #[test]
    fn cloudtrail_only_worlds_use_account_tenants() {
        let config =
            GenerateConfig { formats: FormatChoice::Single(Format::Cloudtrail), ..small(3) };
        let stream = TrafficStream::new(config).unwrap();
        assert!(stream.world().tenants.iter().all(|tenant| tenant.is_account));
        for delivery in stream.take(2_000) {
            assert_eq!(delivery.unwrap().format, Format::Cloudtrail);
        }
    }
}
