//! The world clock of a load run: which world time the i-th record carries.
//!
//! A run sends records at a constant rate, while the world's traffic follows a daily rhythm,
//! so world time runs faster through the quiet hours than through the busy ones.
//! The clock is found by planning the world's normal days ahead (without writing a record)
//! and noting the time of every `step`-th event.

use crate::clock::DAY_MS;
use crate::ids::{stream_rng, Stream};
use crate::stream::GenerateConfig;
use crate::traffic::{normal_day, DayPlan, TouchLog};
use crate::world::World;

/// Events between two noted times.
const STEP: u64 = 64;
/// The probe gives up after this many empty days (a world too small to make traffic).
const MAX_EMPTY_DAYS: u64 = 30;

/// World time as a function of the record index.
#[derive(Debug, Clone, PartialEq)]
pub struct WorldClock {
    start_ms: i64,
    /// World time of record `k * STEP`, in order.
    times: Vec<i64>,
    /// Records per event: repeated deliveries add a little to the count.
    records_per_event: f64,
}

impl WorldClock {
    /// Plans enough normal days of `config` to cover `records` records.
    pub fn probe(world: &World, config: &GenerateConfig, records: u64) -> WorldClock {
        let records_per_event = 1.0 + config.duplicate_share.clamp(0.0, 1.0);
        let events = (records as f64 / records_per_event).ceil() as u64 + STEP;
        let mut times = Vec::new();
        let mut touches = TouchLog::default();
        let mut seen = 0_u64;
        let mut empty_days = 0;
        let mut day = 0_u64;
        while seen <= events && empty_days < MAX_EMPTY_DAYS {
            let plan = DayPlan {
                world,
                events_per_day: config.events_per_day,
                start_ms: config.start_ms.saturating_add((day as i64).saturating_mul(DAY_MS)),
                index: day,
                suppressed_robot_runs: &[],
            };
            let mut rng = stream_rng(config.seed, Stream::Day, day);
            let mut day_times: Vec<i64> = normal_day(&plan, &mut touches, &mut rng)
                .iter()
                .map(|activity| activity.time_ms)
                .collect();
            touches.end_day();
            day_times.sort_unstable();
            empty_days = if day_times.is_empty() { empty_days + 1 } else { 0 };
            for time in day_times {
                if seen % STEP == 0 {
                    times.push(time);
                }
                seen += 1;
            }
            day += 1;
        }
        WorldClock { start_ms: config.start_ms, times, records_per_event }
    }

    /// A clock from noted times, for tests: `times[k]` is the time of event `k * 64`.
    pub fn from_times(start_ms: i64, times: Vec<i64>) -> WorldClock {
        WorldClock { start_ms, times, records_per_event: 1.0 }
    }

    /// The world time that record `index` carries, about.
    pub fn time_at(&self, index: u64) -> i64 {
        let event = index as f64 / self.records_per_event;
        let slot = event / STEP as f64;
        let below = slot.floor() as usize;
        let Some(&low) = self.times.get(below) else {
            return self.times.last().copied().unwrap_or(self.start_ms);
        };
        let Some(&high) = self.times.get(below + 1) else { return low };
        low + ((high - low) as f64 * slot.fract()) as i64
    }

    /// The index of the first record at or after world time `time_ms`, about.
    pub fn index_at(&self, time_ms: i64) -> u64 {
        let after = self.times.partition_point(|&time| time < time_ms);
        if after == 0 {
            return 0;
        }
        let (Some(&low), Some(&high)) = (self.times.get(after - 1), self.times.get(after)) else {
            return ((self.times.len() as u64 * STEP) as f64 * self.records_per_event) as u64;
        };
        let fraction = if high > low { (time_ms - low) as f64 / (high - low) as f64 } else { 0.0 };
        let event = ((after - 1) as f64 + fraction) * STEP as f64;
        (event * self.records_per_event).round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::WorldConfig;

    #[test]
    fn time_and_index_invert_each_other_between_noted_times() {
        let clock = WorldClock::from_times(0, vec![0, 6_400, 12_800, 100_000]);
        assert_eq!(clock.time_at(0), 0);
        assert_eq!(clock.time_at(32), 3_200);
        assert_eq!(clock.time_at(160), 56_400);
        assert_eq!(clock.index_at(3_200), 32);
        assert_eq!(clock.index_at(56_400), 160);
        assert_eq!(clock.index_at(-5), 0);
        assert_eq!(clock.time_at(10_000), 100_000);
    }

    #[test]
    fn the_probe_covers_the_records_asked_for_at_the_daily_volume() {
        let config = GenerateConfig { events_per_day: 5_000, ..GenerateConfig::default() };
        let world = World::build(config.seed, &WorldConfig::default());
        let clock = WorldClock::probe(&world, &config, 12_000);
        let end = clock.time_at(12_000);
        let days = (end - config.start_ms) as f64 / DAY_MS as f64;
        // Working days are busier than the weekly average, so 12,000 events of a 5,000 a day
        // week starting on a Monday take a little under 2.4 days.
        assert!((1.7..2.4).contains(&days), "{days}");
        assert!(clock.time_at(6_000) > clock.time_at(3_000));
        assert!(clock.index_at(end).abs_diff(12_000) < 100);
    }
}
