//! Labelled scenarios injected into normal traffic, and the ground truth that records them.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::activity::{Activity, GIB};
use crate::clock::{rfc3339_seconds, DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS};
use crate::ids::{stream_rng, Stream};
use crate::traffic::{robot_pass, RobotSuppression, ROBOT_PASS_MS};
use crate::world::{Role, World};

/// The scenarios the generator can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScenarioKind {
    /// One stolen credential deletes recovery points in 8 or more tenants within 10 minutes.
    FastDelete,
    /// Deletions in 6 tenants, one per hour over 6 hours.
    SlowDelete,
    /// Key deletion or disabling in 4 or more tenants within 30 minutes.
    EncryptionTamper,
    /// One credential exports 500 GiB or more within an hour.
    MassExport,
    /// A protection removed, then backups deleted within 30 minutes by the same credential.
    WeakenThenDelete,
    /// A burst of failed deletes across 5 or more tenants within 10 minutes.
    Probing,
    /// A credential never seen before exporting and deleting on 5 or more tenants.
    NewIntermediary,
    /// A snapshot shared with an account outside the MSP.
    ExternalShare,
    /// Benign: the known retention robot doing bulk deletes at its usual hour.
    RetentionCleanup,
    /// Benign: the sanctioned migration credential moving a lot of data.
    SanctionedMigration,
}

impl ScenarioKind {
    /// Every scenario, in the order of the default plan.
    pub const ALL: [ScenarioKind; 10] = [
        ScenarioKind::FastDelete,
        ScenarioKind::SlowDelete,
        ScenarioKind::EncryptionTamper,
        ScenarioKind::MassExport,
        ScenarioKind::WeakenThenDelete,
        ScenarioKind::Probing,
        ScenarioKind::NewIntermediary,
        ScenarioKind::ExternalShare,
        ScenarioKind::RetentionCleanup,
        ScenarioKind::SanctionedMigration,
    ];

    /// The scenario's name on the command line and in the ground truth.
    pub fn as_str(self) -> &'static str {
        match self {
            ScenarioKind::FastDelete => "fast-delete",
            ScenarioKind::SlowDelete => "slow-delete",
            ScenarioKind::EncryptionTamper => "encryption-tamper",
            ScenarioKind::MassExport => "mass-export",
            ScenarioKind::WeakenThenDelete => "weaken-then-delete",
            ScenarioKind::Probing => "probing",
            ScenarioKind::NewIntermediary => "new-intermediary",
            ScenarioKind::ExternalShare => "external-share",
            ScenarioKind::RetentionCleanup => "retention-cleanup",
            ScenarioKind::SanctionedMigration => "sanctioned-migration",
        }
    }

    /// Whether the scenario is an attack (true) or a benign look-alike (false).
    pub fn malicious(self) -> bool {
        !matches!(self, ScenarioKind::RetentionCleanup | ScenarioKind::SanctionedMigration)
    }
}

impl fmt::Display for ScenarioKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Why a scenario could not be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    /// The scenario name is not known.
    #[error("unknown scenario {0:?} (expected one of: {names})", names = scenario_names())]
    UnknownScenario(String),
    /// `SCENARIO@TIME` was malformed.
    #[error("attack {0:?} is not SCENARIO@TIME with an RFC 3339 time")]
    BadRequest(String),
    /// The scenario does not fit in the generated period.
    #[error("{scenario} at {at} does not fit in the generated period {start} to {end}")]
    OutOfPeriod {
        /// The scenario.
        scenario: ScenarioKind,
        /// Its requested time.
        at: String,
        /// Start of the period.
        start: String,
        /// End of the period.
        end: String,
    },
    /// The period is too short for the default plan.
    #[error("the default attack plan needs at least 12 hours; pass --attack or --no-attacks")]
    PeriodTooShort,
    /// The world has no credential the scenario could use.
    #[error("no unused credential of the world can play {0}")]
    NoCredential(ScenarioKind),
}

fn scenario_names() -> String {
    ScenarioKind::ALL.iter().map(|kind| kind.as_str()).collect::<Vec<_>>().join(", ")
}

impl FromStr for ScenarioKind {
    type Err = ScenarioError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ScenarioKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| ScenarioError::UnknownScenario(text.to_string()))
    }
}

/// A scenario to inject at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScenarioRequest {
    /// What to inject.
    pub kind: ScenarioKind,
    /// When it starts, ms.
    pub at_ms: i64,
    /// Move the start to the nearest usual hour of the MSP's robot (retention cleanup only).
    pub at_usual_hour: bool,
}

impl FromStr for ScenarioRequest {
    type Err = ScenarioError;

    /// Reads `SCENARIO@TIME`, e.g. `fast-delete@2026-11-05T03:10:00Z`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, time) =
            text.split_once('@').ok_or_else(|| ScenarioError::BadRequest(text.to_string()))?;
        let kind = name.trim().parse()?;
        let at = chrono::DateTime::parse_from_rfc3339(time.trim())
            .map_err(|_| ScenarioError::BadRequest(text.to_string()))?;
        Ok(ScenarioRequest { kind, at_ms: at.timestamp_millis(), at_usual_hour: false })
    }
}

/// One line of `ground-truth.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// Scenario name (`fast-delete`, ...).
    pub scenario: String,
    /// Whether it is an attack the detector should alert on.
    pub malicious: bool,
    /// The MSP whose credential acted.
    pub msp_id: String,
    /// The credential that acted.
    pub actor_id: String,
    /// The tenants it acted on, in order of first action.
    pub tenants: Vec<String>,
    /// Time of its first event (RFC 3339, rounded down to the second).
    pub start: String,
    /// Time of its last event (RFC 3339, rounded up to the second).
    pub end: String,
    /// Number of events it injected.
    pub events: usize,
}

/// A scenario with its events, ready to merge into the traffic.
#[derive(Debug, Clone)]
pub struct InjectedScenario {
    /// What was injected.
    pub kind: ScenarioKind,
    /// The MSP (index into `World::msps`).
    pub msp: usize,
    /// The credential (index into `World::actors`).
    pub actor: usize,
    /// Its events, in time order.
    pub activities: Vec<Activity>,
    /// Its ground truth.
    pub truth: GroundTruth,
    /// The robot run it replaces, for retention cleanups.
    pub suppression: Option<RobotSuppression>,
}

/// The default plan: one of every scenario, spread over the period after a day of warm-up.
pub fn default_plan(start_ms: i64, end_ms: i64) -> Result<Vec<ScenarioRequest>, ScenarioError> {
    let period = end_ms.saturating_sub(start_ms);
    if period < 12 * HOUR_MS {
        return Err(ScenarioError::PeriodTooShort);
    }
    let warmup = if period >= 3 * DAY_MS { 26 * HOUR_MS } else { period * 35 / 100 };
    let low = start_ms + warmup;
    let high = end_ms - 7 * HOUR_MS;
    let high = high.max(low + HOUR_MS);
    let count = ScenarioKind::ALL.len() as i64;
    Ok(ScenarioKind::ALL
        .iter()
        .enumerate()
        .map(|(position, &kind)| {
            let offset = (high - low) * (2 * position as i64 + 1) / (2 * count);
            let at_ms = (low + offset) / MINUTE_MS * MINUTE_MS;
            ScenarioRequest { kind, at_ms, at_usual_hour: kind == ScenarioKind::RetentionCleanup }
        })
        .collect())
}

/// Plans and generates every requested scenario; `end_ms` is the end of the period, if any.
pub fn inject(
    world: &World,
    requests: &[ScenarioRequest],
    start_ms: i64,
    end_ms: Option<i64>,
) -> Result<Vec<InjectedScenario>, ScenarioError> {
    let mut plan_rng = stream_rng(world.seed, Stream::Plan, 0);
    let msp_count = world.msps.len().max(1);
    let first_msp = plan_rng.gen_range(0..msp_count);
    let mut used = HashSet::new();
    let mut injected = Vec::with_capacity(requests.len());
    for (position, request) in requests.iter().enumerate() {
        let mut rng = stream_rng(world.seed, Stream::Scenario, position as u64);
        let preferred = (first_msp + position) % msp_count;
        let (msp, actor) = choose_actor(world, request.kind, preferred, &used, &mut plan_rng)
            .ok_or(ScenarioError::NoCredential(request.kind))?;
        if !matches!(
            request.kind,
            ScenarioKind::RetentionCleanup | ScenarioKind::SanctionedMigration
        ) {
            used.insert(actor);
        }
        let at_ms = if request.at_usual_hour {
            usual_robot_start(world, msp, request.at_ms, start_ms, end_ms)
        } else {
            request.at_ms
        };
        let mut scenario = generate(world, request.kind, msp, actor, at_ms, &mut rng);
        for activity in &mut scenario.activities {
            activity.scenario = Some(position);
        }
        let first = scenario.activities.first().map_or(at_ms, |a| a.time_ms);
        let last = scenario.activities.last().map_or(at_ms, |a| a.time_ms);
        if first < start_ms || end_ms.is_some_and(|end| last >= end) {
            return Err(ScenarioError::OutOfPeriod {
                scenario: request.kind,
                at: rfc3339_seconds(request.at_ms),
                start: rfc3339_seconds(start_ms),
                end: end_ms.map_or_else(|| "open end".to_string(), rfc3339_seconds),
            });
        }
        injected.push(scenario);
    }
    Ok(injected)
}

fn choose_actor(
    world: &World,
    kind: ScenarioKind,
    preferred: usize,
    used: &HashSet<usize>,
    rng: &mut ChaCha8Rng,
) -> Option<(usize, usize)> {
    let msp_count = world.msps.len();
    for step in 0..msp_count {
        let msp_index = (preferred + step) % msp_count;
        let msp = world.msps.get(msp_index)?;
        let candidates: Vec<usize> = match kind {
            ScenarioKind::RetentionCleanup => vec![msp.robot],
            ScenarioKind::SanctionedMigration => vec![msp.migration],
            ScenarioKind::NewIntermediary => vec![msp.intermediary],
            ScenarioKind::EncryptionTamper | ScenarioKind::Probing => {
                msp.automation.iter().chain(&msp.humans).copied().collect()
            }
            _ => msp.humans.clone(),
        };
        let free: Vec<usize> =
            candidates.into_iter().filter(|actor| !used.contains(actor)).collect();
        if let Some(&actor) = free.choose(rng) {
            return Some((msp_index, actor));
        }
    }
    None
}

/// The robot's usual start time nearest to `at_ms` whose whole pass fits in the period.
fn usual_robot_start(
    world: &World,
    msp: usize,
    at_ms: i64,
    start_ms: i64,
    end_ms: Option<i64>,
) -> i64 {
    let Some(profile) = world.msps.get(msp) else { return at_ms };
    let local_start = i64::from(profile.robot_minute) * MINUTE_MS;
    let offset = i64::from(profile.utc_offset_minutes) * MINUTE_MS;
    let day = (at_ms + offset).div_euclid(DAY_MS);
    let candidates = [day - 1, day, day + 1].map(|d| d * DAY_MS + local_start - offset);
    candidates
        .into_iter()
        .filter(|&time| time >= start_ms)
        .filter(|&time| end_ms.is_none_or(|end| time + ROBOT_PASS_MS + MINUTE_MS < end))
        .min_by_key(|time| (time - at_ms).abs())
        .unwrap_or(at_ms)
}

fn pick_tenants(pool: &[usize], count: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut pool = pool.to_vec();
    pool.shuffle(rng);
    pool.truncate(count);
    pool
}

fn nonce(rng: &mut ChaCha8Rng) -> u64 {
    rng.gen()
}

fn generate(
    world: &World,
    kind: ScenarioKind,
    msp: usize,
    actor: usize,
    at: i64,
    rng: &mut ChaCha8Rng,
) -> InjectedScenario {
    let all_tenants = world.msps.get(msp).map(|m| m.tenants.clone()).unwrap_or_default();
    let own_tenants = world.actors.get(actor).map(|a| a.tenants.clone()).unwrap_or_default();
    let attacker = if world.attackers.is_empty() {
        None
    } else {
        Some(rng.gen_range(0..world.attackers.len()))
    };
    let mut events = Vec::new();
    let mut suppression = None;
    let event = |time: i64, tenant: usize, action: Action, rng: &mut ChaCha8Rng| Activity {
        attacker,
        ..Activity::new(time, actor, tenant, action, nonce(rng))
    };
    match kind {
        ScenarioKind::FastDelete => {
            let count = rng.gen_range(8..=10);
            let tenants = pick_tenants(&all_tenants, count, rng);
            let slot = 540 * SECOND_MS / tenants.len().max(1) as i64;
            for (position, &tenant) in tenants.iter().enumerate() {
                let mut time = at + position as i64 * slot + rng.gen_range(0..slot / 4 + 1);
                events.push(event(time, tenant, Action::BackupList, rng));
                for _ in 0..rng.gen_range(1..=3) {
                    time += rng.gen_range(5 * SECOND_MS..20 * SECOND_MS);
                    let action = *[Action::RecoveryPointDelete, Action::BackupDelete]
                        .choose(rng)
                        .unwrap_or(&Action::BackupDelete);
                    events.push(event(time, tenant, action, rng).objects(rng.gen_range(5..60)));
                }
            }
        }
        ScenarioKind::SlowDelete => {
            for (position, tenant) in pick_tenants(&all_tenants, 6, rng).into_iter().enumerate() {
                let time = at + position as i64 * HOUR_MS + rng.gen_range(0..10 * MINUTE_MS);
                events.push(
                    event(time, tenant, Action::RecoveryPointDelete, rng)
                        .objects(rng.gen_range(5..30)),
                );
            }
        }
        ScenarioKind::EncryptionTamper => {
            let tenants = pick_tenants(&all_tenants, rng.gen_range(4..=5), rng);
            let slot = 25 * MINUTE_MS / tenants.len().max(1) as i64;
            for (position, &tenant) in tenants.iter().enumerate() {
                let time = at + position as i64 * slot + rng.gen_range(0..slot / 3 + 1);
                if rng.gen_bool(0.5) {
                    events.push(event(time, tenant, Action::KeyDisable, rng));
                    events.push(event(
                        time + rng.gen_range(10 * SECOND_MS..60 * SECOND_MS),
                        tenant,
                        Action::KeyDelete,
                        rng,
                    ));
                } else {
                    events.push(event(time, tenant, Action::KeyDelete, rng));
                }
            }
        }
        ScenarioKind::MassExport => {
            let tenants = pick_tenants(&own_tenants, rng.gen_range(1..=3), rng);
            export_burst(&mut events, &tenants, at, 520 * GIB, rng, |time, tenant, rng| {
                let action =
                    if rng.gen_bool(0.7) { Action::BackupExport } else { Action::BackupDownload };
                event(time, tenant, action, rng)
            });
        }
        ScenarioKind::WeakenThenDelete => {
            if let Some(&tenant) = pick_tenants(&own_tenants, 1, rng).first() {
                events.push(event(at, tenant, Action::ImmutabilityDisable, rng));
                let mut time = at + rng.gen_range(4 * MINUTE_MS..12 * MINUTE_MS);
                for _ in 0..rng.gen_range(2..=3) {
                    events.push(
                        event(time, tenant, Action::BackupDelete, rng)
                            .objects(rng.gen_range(10..50)),
                    );
                    time += rng.gen_range(30 * SECOND_MS..4 * MINUTE_MS);
                }
            }
        }
        ScenarioKind::Probing => {
            let tenants = pick_tenants(&all_tenants, rng.gen_range(5..=7), rng);
            let slot = 540 * SECOND_MS / tenants.len().max(1) as i64;
            for (position, &tenant) in tenants.iter().enumerate() {
                let mut time = at + position as i64 * slot;
                for _ in 0..rng.gen_range(1..=2) {
                    time += rng.gen_range(2 * SECOND_MS..slot / 3 + 3 * SECOND_MS);
                    events.push(
                        event(time, tenant, Action::RecoveryPointDelete, rng)
                            .failed("AccessDenied"),
                    );
                }
            }
        }
        ScenarioKind::NewIntermediary => {
            let tenants = pick_tenants(&all_tenants, rng.gen_range(5..=6), rng);
            let slot = 40 * MINUTE_MS / tenants.len().max(1) as i64;
            for (position, &tenant) in tenants.iter().enumerate() {
                // The harmful call is the credential's first touch of the tenant; it lists
                // afterwards to check the result.
                let time = at + position as i64 * slot + rng.gen_range(0..slot / 4 + 1);
                if position % 2 == 0 {
                    events.push(
                        event(time, tenant, Action::BackupExport, rng)
                            .objects(1)
                            .bytes(rng.gen_range(2 * GIB..15 * GIB)),
                    );
                } else {
                    events.push(
                        event(time, tenant, Action::BackupDelete, rng)
                            .objects(rng.gen_range(3..20)),
                    );
                }
                let later = time + rng.gen_range(20 * SECOND_MS..3 * MINUTE_MS);
                events.push(event(later, tenant, Action::BackupList, rng));
            }
        }
        ScenarioKind::ExternalShare => {
            let accounts: Vec<usize> = own_tenants
                .iter()
                .copied()
                .filter(|&t| world.tenants.get(t).is_some_and(|t| t.is_account))
                .collect();
            let pool = if accounts.is_empty() { &own_tenants } else { &accounts };
            let target = if world.external_accounts.is_empty() {
                None
            } else {
                Some(rng.gen_range(0..world.external_accounts.len()))
            };
            if let Some(&tenant) = pick_tenants(pool, 1, rng).first() {
                let mut time = at;
                for _ in 0..rng.gen_range(1..=2) {
                    let share = event(time, tenant, Action::SnapshotShare, rng);
                    events.push(Activity { target, target_external: true, ..share });
                    time += rng.gen_range(30 * SECOND_MS..5 * MINUTE_MS);
                }
            }
        }
        ScenarioKind::RetentionCleanup => {
            robot_pass(world, msp, at, (40, 250), 0.9, &mut events, rng);
            suppression = Some(RobotSuppression {
                msp,
                from_ms: at - 12 * HOUR_MS,
                to_ms: at + 12 * HOUR_MS,
            });
        }
        ScenarioKind::SanctionedMigration => {
            let tenants = pick_tenants(&all_tenants, rng.gen_range(2..=3), rng);
            for (position, &tenant) in tenants.iter().enumerate() {
                events.push(Activity::new(
                    at + position as i64 * 20 * SECOND_MS,
                    actor,
                    tenant,
                    Action::BackupList,
                    nonce(rng),
                ));
            }
            export_burst(
                &mut events,
                &tenants,
                at + 2 * MINUTE_MS,
                600 * GIB,
                rng,
                |time, tenant, rng| {
                    Activity::new(time, actor, tenant, Action::BackupExport, nonce(rng))
                },
            );
        }
    }
    events.sort_by_key(|activity| activity.time_ms);
    let truth = ground_truth(world, kind, msp, actor, &events);
    InjectedScenario { kind, msp, actor, activities: events, truth, suppression }
}

/// Exports totalling at least `total` bytes over the tenants within 50 minutes.
fn export_burst(
    events: &mut Vec<Activity>,
    tenants: &[usize],
    at: i64,
    total: u64,
    rng: &mut ChaCha8Rng,
    make: impl Fn(i64, usize, &mut ChaCha8Rng) -> Activity,
) {
    if tenants.is_empty() {
        return;
    }
    let pieces = rng.gen_range(14..=20_u64);
    let target = total + rng.gen_range(0..total / 4 + 1);
    let mut times: Vec<i64> = (0..pieces).map(|_| at + rng.gen_range(0..50 * MINUTE_MS)).collect();
    times.sort_unstable();
    let mut remaining = target;
    for (position, time) in times.into_iter().enumerate() {
        let left = pieces - position as u64;
        let bytes =
            if left == 1 { remaining } else { (remaining / left) * rng.gen_range(80..120) / 100 };
        let bytes = bytes.min(remaining);
        remaining -= bytes;
        let tenant = tenants.get(position % tenants.len()).copied().unwrap_or(0);
        events.push(make(time, tenant, rng).objects(1).bytes(bytes));
    }
}

fn ground_truth(
    world: &World,
    kind: ScenarioKind,
    msp: usize,
    actor: usize,
    events: &[Activity],
) -> GroundTruth {
    let mut tenants: Vec<String> = Vec::new();
    let robot = world.actors.get(actor).is_some_and(|a| a.role == Role::RetentionRobot);
    for activity in events {
        let counts = if robot { activity.action.class().is_harmful() } else { true };
        let Some(tenant) = world.tenants.get(activity.tenant) else { continue };
        if counts && !tenants.contains(&tenant.id) {
            tenants.push(tenant.id.clone());
        }
    }
    let first = events.first().map_or(0, |a| a.time_ms);
    let last = events.last().map_or(0, |a| a.time_ms);
    let end = (last + SECOND_MS - 1).div_euclid(SECOND_MS) * SECOND_MS;
    GroundTruth {
        scenario: kind.as_str().to_string(),
        malicious: kind.malicious(),
        msp_id: world.msps.get(msp).map(|m| m.id.clone()).unwrap_or_default(),
        actor_id: world.actors.get(actor).map(|a| a.id.clone()).unwrap_or_default(),
        tenants,
        start: rfc3339_seconds(first),
        end: rfc3339_seconds(end),
        events: events.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::WorldConfig;

    const START: i64 = 1_793_577_600_000;

    fn injected(kind: ScenarioKind) -> (World, InjectedScenario) {
        let world = World::build(21, &WorldConfig::default());
        let request =
            ScenarioRequest { kind, at_ms: START + 3 * DAY_MS + 2 * HOUR_MS, at_usual_hour: false };
        let mut scenarios = inject(&world, &[request], START, Some(START + 7 * DAY_MS)).unwrap();
        (world, scenarios.remove(0))
    }

    fn distinct_tenants(events: &[&Activity]) -> usize {
        events.iter().map(|a| a.tenant).collect::<HashSet<_>>().len()
    }

    fn span(events: &[&Activity]) -> i64 {
        let first = events.iter().map(|a| a.time_ms).min().unwrap();
        let last = events.iter().map(|a| a.time_ms).max().unwrap();
        last - first
    }

    #[test]
    fn requests_read_name_and_time() {
        let request: ScenarioRequest = "fast-delete@2026-11-05T03:10:00Z".parse().unwrap();
        assert_eq!(request.kind, ScenarioKind::FastDelete);
        assert_eq!(rfc3339_seconds(request.at_ms), "2026-11-05T03:10:00Z");
        assert!("fast-delete".parse::<ScenarioRequest>().is_err());
        assert!("teleport@2026-11-05T03:10:00Z".parse::<ScenarioRequest>().is_err());
        assert!("probing@yesterday".parse::<ScenarioRequest>().is_err());
    }

    #[test]
    fn fast_delete_hits_eight_tenants_within_ten_minutes() {
        let (_, scenario) = injected(ScenarioKind::FastDelete);
        let deletes: Vec<&Activity> =
            scenario.activities.iter().filter(|a| a.action.class().is_harmful()).collect();
        assert!(distinct_tenants(&deletes) >= 8);
        assert!(span(&deletes) < 10 * MINUTE_MS);
        assert!(scenario
            .activities
            .iter()
            .all(|a| a.attacker.is_some() && a.actor == scenario.actor));
        assert_eq!(scenario.truth.tenants.len(), distinct_tenants(&deletes));
    }

    #[test]
    fn slow_delete_spreads_six_tenants_over_hours() {
        let (_, scenario) = injected(ScenarioKind::SlowDelete);
        let deletes: Vec<&Activity> = scenario.activities.iter().collect();
        assert_eq!(distinct_tenants(&deletes), 6);
        assert!(span(&deletes) >= 4 * HOUR_MS && span(&deletes) < 6 * HOUR_MS);
        for pair in deletes.windows(2) {
            assert!(pair[1].time_ms - pair[0].time_ms >= 45 * MINUTE_MS);
        }
    }

    #[test]
    fn encryption_tamper_touches_four_tenants_within_half_an_hour() {
        let (_, scenario) = injected(ScenarioKind::EncryptionTamper);
        let events: Vec<&Activity> = scenario.activities.iter().collect();
        assert!(events.iter().all(|a| a.action.class() == mspwatch_event::ActionClass::Encrypt));
        assert!(distinct_tenants(&events) >= 4);
        assert!(span(&events) < 30 * MINUTE_MS);
    }

    #[test]
    fn mass_export_moves_over_five_hundred_gib_within_an_hour() {
        let (world, scenario) = injected(ScenarioKind::MassExport);
        let total: u64 = scenario.activities.iter().filter_map(|a| a.bytes).sum();
        assert!(total >= 500 * GIB, "{total}");
        let events: Vec<&Activity> = scenario.activities.iter().collect();
        assert!(span(&events) < HOUR_MS);
        let own = &world.actors[scenario.actor].tenants;
        assert!(events.iter().all(|a| own.contains(&a.tenant)));
    }

    #[test]
    fn weaken_comes_before_delete_within_half_an_hour() {
        let (_, scenario) = injected(ScenarioKind::WeakenThenDelete);
        let first = &scenario.activities[0];
        assert_eq!(first.action, Action::ImmutabilityDisable);
        let deletes: Vec<&Activity> =
            scenario.activities.iter().filter(|a| a.action == Action::BackupDelete).collect();
        assert!(!deletes.is_empty());
        assert!(deletes
            .iter()
            .all(|d| d.time_ms > first.time_ms && d.time_ms - first.time_ms < 30 * MINUTE_MS));
    }

    #[test]
    fn probing_fails_in_five_tenants_within_ten_minutes() {
        let (_, scenario) = injected(ScenarioKind::Probing);
        let events: Vec<&Activity> = scenario.activities.iter().collect();
        assert!(events
            .iter()
            .all(|a| a.error.is_some() && a.action.class() == mspwatch_event::ActionClass::Delete));
        assert!(distinct_tenants(&events) >= 5);
        assert!(span(&events) < 10 * MINUTE_MS);
    }

    #[test]
    fn new_intermediary_is_a_credential_normal_traffic_never_uses() {
        let (world, scenario) = injected(ScenarioKind::NewIntermediary);
        assert_eq!(world.actors[scenario.actor].role, Role::Intermediary);
        let harmful: Vec<&Activity> =
            scenario.activities.iter().filter(|a| a.action.class().is_harmful()).collect();
        assert!(distinct_tenants(&harmful) >= 5);
    }

    #[test]
    fn external_share_targets_an_account_outside_the_msp() {
        let (world, scenario) = injected(ScenarioKind::ExternalShare);
        for share in &scenario.activities {
            assert!(share.target_external);
            let account = &world.external_accounts[share.target.unwrap()];
            assert!(world.tenants.iter().all(|t| &t.account != account));
        }
    }

    #[test]
    fn benign_scenarios_are_labelled_benign_and_use_their_known_credentials() {
        let (world, cleanup) = injected(ScenarioKind::RetentionCleanup);
        assert!(!cleanup.truth.malicious);
        assert_eq!(cleanup.truth.actor_id, crate::world::RETENTION_ROBOT_ID);
        assert!(cleanup.truth.tenants.len() >= world.msps[cleanup.msp].tenants.len() / 2);
        let (_, migration) = injected(ScenarioKind::SanctionedMigration);
        assert!(!migration.truth.malicious);
        assert_eq!(migration.truth.actor_id, crate::world::MIGRATION_ID);
        let total: u64 = migration.activities.iter().filter_map(|a| a.bytes).sum();
        assert!(total >= 500 * GIB);
    }

    #[test]
    fn default_plan_places_every_scenario_inside_the_period_after_warm_up() {
        let world = World::build(4, &WorldConfig::default());
        let end = START + 7 * DAY_MS;
        let plan = default_plan(START, end).unwrap();
        assert_eq!(plan.len(), ScenarioKind::ALL.len());
        let scenarios = inject(&world, &plan, START, Some(end)).unwrap();
        let actors: HashSet<usize> =
            scenarios.iter().filter(|s| s.kind.malicious()).map(|s| s.actor).collect();
        assert_eq!(actors.len(), scenarios.iter().filter(|s| s.kind.malicious()).count());
        for scenario in &scenarios {
            let first = scenario.activities.first().unwrap().time_ms;
            assert!(first >= START + DAY_MS, "{} starts in warm-up", scenario.kind);
            assert!(scenario.activities.last().unwrap().time_ms < end);
        }
        assert!(default_plan(START, START + HOUR_MS).is_err());
    }

    #[test]
    fn scenarios_outside_the_period_are_refused() {
        let world = World::build(4, &WorldConfig::default());
        let request = ScenarioRequest {
            kind: ScenarioKind::SlowDelete,
            at_ms: START + DAY_MS - HOUR_MS,
            at_usual_hour: false,
        };
        let result = inject(&world, &[request], START, Some(START + DAY_MS));
        assert!(matches!(result, Err(ScenarioError::OutOfPeriod { .. })));
    }
}
