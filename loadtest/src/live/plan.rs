//! Planning a load run: how fast world time runs, where the scenarios go, and the traffic
//! stream that carries them.

use crate::clock::{rfc3339_seconds, DAY_MS, HOUR_MS, MINUTE_MS};
use crate::live::clock::WorldClock;
use crate::live::files::PlannedScenario;
use crate::scenario::{ScenarioError, ScenarioKind, ScenarioRequest};
use crate::stream::{AttackPlan, FormatChoice, GenerateConfig, GenerateError, TrafficStream};
use crate::world::WorldConfig;

/// World time left free at the end of a run for the longest scenario (slow deletion, about
/// five hours) and the robot's pass (four and a half).
const END_RESERVE_MS: i64 = 7 * HOUR_MS;
/// World time before the first scenario of the default plan: the rules that learn need a day.
const WARM_UP_MS: i64 = DAY_MS;
/// Least world time between two scenarios of the default plan, so that one scenario's alerts
/// and time to detect do not run into the next one's.
const SPACING_MS: i64 = HOUR_MS;

/// Which scenarios a run injects.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveAttacks {
    /// One of every scenario, spread evenly after a world day of warm-up.
    Default,
    /// None.
    None,
    /// These scenarios, each starting about this many seconds into the run.
    At(Vec<(ScenarioKind, f64)>),
}

/// What a load run generates.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSettings {
    /// Seed of every random choice.
    pub seed: u64,
    /// The size of the world.
    pub world: WorldConfig,
    /// Record formats.
    pub formats: FormatChoice,
    /// World time of the first record, ms since the epoch.
    pub start_ms: i64,
    /// Records per second.
    pub rate: f64,
    /// Records to send.
    pub records: u64,
    /// Wall-clock milliseconds per world day, on average.
    pub day_length_ms: u64,
    /// Scenarios to inject.
    pub attacks: LiveAttacks,
    /// Share of canonical and OCSF records written without their MSP.
    pub omit_msp_share: f64,
    /// Share of records delivered twice.
    pub duplicate_share: f64,
}

/// Why a run could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The rate, count or day length make no sense.
    #[error("invalid run: {0}")]
    Invalid(String),
    /// The run is too short for the default plan.
    #[error(
        "the run covers {days:.2} world days, too few for the default plan (a day of warm-up, \
         an hour per scenario, then 7 hours for the longest to finish); send more records or \
         shorten --day-length"
    )]
    TooShort {
        /// World days the run covers.
        days: f64,
    },
    /// A scenario would not finish before the last record.
    #[error(
        "{scenario} starting {offset:.1}s into the run would end after the last record; \
         start it earlier"
    )]
    EndsAfterRun {
        /// The scenario.
        scenario: ScenarioKind,
        /// Its start, seconds into the run.
        offset: f64,
    },
    /// The scenarios could not be injected.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The traffic could not be generated.
    #[error(transparent)]
    Generate(#[from] GenerateError),
}

/// A planned run: the traffic to send and what is known of it beforehand.
pub struct RunPlan {
    /// The records, in sending order.
    pub stream: TrafficStream,
    /// World time by record index.
    pub clock: WorldClock,
    /// Events per world day.
    pub events_per_day: u64,
    /// The scenarios, in ground-truth order.
    pub scenarios: Vec<PlannedScenario>,
}

/// Plans the run: the world, its clock, the scenarios and the stream.
pub fn plan_run(settings: &RunSettings) -> Result<RunPlan, PlanError> {
    if !(settings.rate.is_finite() && settings.rate > 0.0) {
        return Err(PlanError::Invalid("the rate must be a positive number".into()));
    }
    if settings.records == 0 {
        return Err(PlanError::Invalid("the run must send at least one record".into()));
    }
    if settings.day_length_ms == 0 {
        return Err(PlanError::Invalid("the day length must be positive".into()));
    }
    let events_per_day =
        ((settings.rate * settings.day_length_ms as f64 / 1_000.0).round() as u64).max(1);
    let mut config = GenerateConfig {
        seed: settings.seed,
        world: settings.world.clone(),
        start_ms: settings.start_ms,
        days: None,
        events_per_day,
        formats: settings.formats,
        attacks: AttackPlan::None,
        omit_msp_share: settings.omit_msp_share,
        duplicate_share: settings.duplicate_share,
    };
    let world_only = TrafficStream::new(config.clone())?;
    let clock = WorldClock::probe(world_only.world(), &config, settings.records);
    let end_ms = clock.time_at(settings.records);

    let requests = requests(settings, &clock, end_ms)?;
    // A period bound lets the scenario planner refuse what would not fit; the records stop
    // earlier, at `records`, which the check below accounts for.
    let days = (end_ms - settings.start_ms).div_euclid(DAY_MS) + 2;
    config.days = Some(u64::try_from(days).unwrap_or(1));
    config.attacks = AttackPlan::Explicit(requests);
    let stream = TrafficStream::new(config)?;

    let mut scenarios = Vec::with_capacity(stream.scenarios().len());
    for injected in stream.scenarios() {
        let first = injected.activities.first().map_or(settings.start_ms, |a| a.time_ms);
        let last = injected.activities.last().map_or(settings.start_ms, |a| a.time_ms);
        let offset = clock.index_at(first) as f64 / settings.rate;
        if last > end_ms - 5 * MINUTE_MS {
            return Err(PlanError::EndsAfterRun { scenario: injected.kind, offset });
        }
        scenarios.push(PlannedScenario {
            scenario: injected.kind.as_str().to_string(),
            malicious: injected.kind.malicious(),
            world_time: rfc3339_seconds(first),
            planned_offset_secs: offset,
        });
    }
    Ok(RunPlan { stream, clock, events_per_day, scenarios })
}

/// The scenario requests: offsets turned into world times.
fn requests(
    settings: &RunSettings,
    clock: &WorldClock,
    end_ms: i64,
) -> Result<Vec<ScenarioRequest>, PlanError> {
    let request = |kind, at_ms: i64| ScenarioRequest {
        kind,
        at_ms: at_ms.div_euclid(MINUTE_MS) * MINUTE_MS,
        at_usual_hour: false,
    };
    match &settings.attacks {
        LiveAttacks::None => Ok(Vec::new()),
        LiveAttacks::At(list) => list
            .iter()
            .map(|&(kind, offset)| {
                if !(offset.is_finite() && offset >= 0.0) {
                    return Err(PlanError::Invalid(format!("{kind} offset must not be negative")));
                }
                let index = (offset * settings.rate) as u64;
                if index >= settings.records {
                    return Err(PlanError::EndsAfterRun { scenario: kind, offset });
                }
                Ok(request(kind, clock.time_at(index)))
            })
            .collect(),
        LiveAttacks::Default => {
            let first = settings.start_ms + WARM_UP_MS;
            let last = end_ms - END_RESERVE_MS;
            let count = ScenarioKind::ALL.len() as i64;
            if last - first < count * SPACING_MS {
                let days = (end_ms - settings.start_ms) as f64 / DAY_MS as f64;
                return Err(PlanError::TooShort { days });
            }
            let (low, high) = (clock.index_at(first), clock.index_at(last));
            let count = count as u64;
            Ok(ScenarioKind::ALL
                .iter()
                .zip(0_u64..)
                .map(|(&kind, position)| {
                    let index = low + (high - low) * (2 * position + 1) / (2 * count);
                    request(kind, clock.time_at(index))
                })
                .collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(records: u64, attacks: LiveAttacks) -> RunSettings {
        RunSettings {
            seed: 3,
            world: WorldConfig::default(),
            formats: FormatChoice::default_mix(),
            start_ms: 1_793_577_600_000,
            rate: 1_000.0,
            records,
            day_length_ms: 10_000,
            attacks,
            omit_msp_share: 0.1,
            duplicate_share: 0.003,
        }
    }

    #[test]
    fn the_default_plan_puts_every_scenario_after_a_day_and_before_the_end() {
        let plan = plan_run(&settings(40_000, LiveAttacks::Default)).unwrap();
        assert_eq!(plan.scenarios.len(), ScenarioKind::ALL.len());
        let day_offset = plan.clock.index_at(1_793_577_600_000 + DAY_MS) as f64 / 1_000.0;
        for scenario in &plan.scenarios {
            assert!(scenario.planned_offset_secs >= day_offset - 0.5, "{scenario:?}");
            assert!(scenario.planned_offset_secs < 40.0, "{scenario:?}");
        }
        let offsets: Vec<f64> = plan.scenarios.iter().map(|s| s.planned_offset_secs).collect();
        assert!(offsets.windows(2).all(|pair| pair[0] <= pair[1]), "{offsets:?}");
    }

    #[test]
    fn a_run_too_short_to_space_the_scenarios_an_hour_apart_is_refused() {
        // About 1.2 and 1.6 world days: a day of warm-up and 7 hours at the end leave less
        // than the 10 hours ten scenarios need.
        for records in [12_000, 15_000] {
            let result = plan_run(&settings(records, LiveAttacks::Default));
            assert!(matches!(result, Err(PlanError::TooShort { .. })), "{:?}", result.err());
        }
        assert!(plan_run(&settings(20_000, LiveAttacks::Default)).is_ok());
    }

    #[test]
    fn explicit_offsets_land_near_their_second_and_late_ones_are_refused() {
        let attacks = LiveAttacks::At(vec![(ScenarioKind::FastDelete, 12.0)]);
        let plan = plan_run(&settings(30_000, attacks)).unwrap();
        let offset = plan.scenarios[0].planned_offset_secs;
        assert!((11.0..13.5).contains(&offset), "{offset}");

        let late = LiveAttacks::At(vec![(ScenarioKind::SlowDelete, 29.0)]);
        let result = plan_run(&settings(30_000, late));
        assert!(matches!(result, Err(PlanError::EndsAfterRun { .. })), "{:?}", result.err());
    }
}
