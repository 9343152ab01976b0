//! Normal traffic: the daily rhythm of administrators, nightly automation and the retention
//! robot, with the few harmful-class actions a healthy MSP performs.

use std::collections::HashSet;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::action::Action;
use crate::activity::{Activity, GIB};
use crate::clock::{is_local_weekend, local_hour, DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS};
use crate::world::World;

/// Share of the daily volume produced by nightly backup automation.
const AUTOMATION_SHARE: f64 = 0.40;
/// Share of the daily volume produced by administrators.
const HUMAN_SHARE: f64 = 0.55;
/// Mean number of events in an administrator's session, login included.
const MEAN_SESSION_EVENTS: f64 = 11.0;
/// Share of ordinary calls that fail.
const FAILURE_RATE: f64 = 0.015;
/// Chance per MSP and day that one administrator deletes one old backup.
const HUMAN_DELETE_CHANCE: f64 = 0.6;
/// Chance per MSP and day that one administrator exports a few GiB.
const HUMAN_EXPORT_CHANCE: f64 = 0.35;
/// Chance per MSP and day that one administrator rotates one tenant's key.
const KEY_ROTATION_CHANCE: f64 = 0.08;
/// Largest legitimate export, well under the detector's 10 GiB baseline floor.
const LARGEST_NORMAL_EXPORT: u64 = 8 * GIB;

/// Relative activity of administrators per local hour on a working day.
const WORKDAY_RHYTHM: [f64; 24] = [
    0.01, 0.01, 0.01, 0.01, 0.01, 0.02, 0.06, 0.30, 0.85, 1.00, 1.00, 0.95, 0.55, 0.90, 1.00, 0.95,
    0.85, 0.55, 0.25, 0.10, 0.06, 0.04, 0.03, 0.02,
];
/// How much of the working-day activity happens on a weekend.
const WEEKEND_FACTOR: f64 = 0.2;

/// Which (credential, tenant) pairs administrators have already worked on, day by day.
#[derive(Debug, Clone, Default)]
pub struct TouchLog {
    before_today: HashSet<(usize, usize)>,
    today: HashSet<(usize, usize)>,
}

impl TouchLog {
    /// Whether the credential worked on the tenant on an earlier day.
    pub fn touched_before_today(&self, actor: usize, tenant: usize) -> bool {
        self.before_today.contains(&(actor, tenant))
    }

    fn touch(&mut self, actor: usize, tenant: usize) {
        self.today.insert((actor, tenant));
    }

    /// Closes the day: what was touched today counts as known from tomorrow on.
    pub fn end_day(&mut self) {
        self.before_today.extend(self.today.drain());
    }
}

/// A window in which one MSP's nightly robot run is replaced by a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RobotSuppression {
    /// The MSP.
    pub msp: usize,
    /// Start of the window (inclusive), ms.
    pub from_ms: i64,
    /// End of the window (exclusive), ms.
    pub to_ms: i64,
}

/// The inputs of one day of normal traffic.
pub struct DayPlan<'a> {
    /// The world.
    pub world: &'a World,
    /// Approximate events per day across the world.
    pub events_per_day: u64,
    /// Start of the day window, ms (24 hours long).
    pub start_ms: i64,
    /// Zero-based day number; no administrator does anything harmful on day 0.
    pub index: u64,
    /// Robot runs replaced by scenarios.
    pub suppressed_robot_runs: &'a [RobotSuppression],
}

/// A planned administrator session.
struct Session {
    actor: usize,
    tenant: usize,
    start_ms: i64,
    end_ms: i64,
}

/// Generates one day of normal traffic, unordered.
pub fn normal_day(
    plan: &DayPlan<'_>,
    touches: &mut TouchLog,
    rng: &mut ChaCha8Rng,
) -> Vec<Activity> {
    let mut events = Vec::with_capacity(usize::try_from(plan.events_per_day).unwrap_or(0) + 64);
    for msp in 0..plan.world.msps.len() {
        nightly_backups(plan, msp, &mut events, rng);
        robot_run(plan, msp, &mut events, rng);
        let sessions = human_sessions(plan, msp, touches, &mut events, rng);
        if plan.index > 0 {
            harmful_chores(&sessions, touches, &mut events, rng);
        }
    }
    events
}

/// The UTC time within the day window at which the MSP's clock shows `local_minute`.
fn at_local_minute(plan: &DayPlan<'_>, offset_minutes: i32, local_minute: f64) -> i64 {
    let local_ms = (local_minute * MINUTE_MS as f64) as i64;
    let wanted = (local_ms - i64::from(offset_minutes) * MINUTE_MS).rem_euclid(DAY_MS);
    let day_phase = plan.start_ms.rem_euclid(DAY_MS);
    plan.start_ms + (wanted - day_phase).rem_euclid(DAY_MS)
}

fn nonce(rng: &mut ChaCha8Rng) -> u64 {
    rng.gen()
}

fn maybe_fail(activity: Activity, rng: &mut ChaCha8Rng) -> Activity {
    if rng.gen_bool(FAILURE_RATE) {
        let error =
            if activity.action == Action::Login { "FailedAuthentication" } else { "AccessDenied" };
        activity.failed(error)
    } else {
        activity
    }
}

fn nightly_backups(
    plan: &DayPlan<'_>,
    msp: usize,
    events: &mut Vec<Activity>,
    rng: &mut ChaCha8Rng,
) {
    let world = plan.world;
    let Some(profile) = world.msps.get(msp) else { return };
    let budget = plan.events_per_day as f64 * AUTOMATION_SHARE * profile.activity_share;
    let total_weight: f64 =
        profile.tenants.iter().filter_map(|&t| world.tenants.get(t)).map(|t| t.weight).sum();
    for &key in &profile.automation {
        let Some(actor) = world.actors.get(key) else { continue };
        for &tenant in &actor.tenants {
            let weight = world.tenants.get(tenant).map_or(0.0, |t| t.weight);
            let share = weight / total_weight.max(f64::MIN_POSITIVE);
            let runs = fractional_count(budget * share / 1.5, rng).max(1);
            for _ in 0..runs {
                let minute = rng.gen_range(30.0..270.0);
                let time = at_local_minute(plan, profile.utc_offset_minutes, minute);
                let run =
                    Activity::new(time, key, tenant, Action::BackupRun, nonce(rng)).objects(1);
                events.push(maybe_fail(run, rng));
                if rng.gen_bool(0.5) {
                    let later = time + rng.gen_range(20 * SECOND_MS..15 * MINUTE_MS);
                    let read = Activity::new(later, key, tenant, Action::BackupRead, nonce(rng));
                    events.push(maybe_fail(read, rng));
                }
            }
        }
    }
}

/// `value` rounded down, plus one with the probability of its fraction.
fn fractional_count(value: f64, rng: &mut ChaCha8Rng) -> u64 {
    if !value.is_finite() || value <= 0.0 {
        return 0;
    }
    let whole = value.floor();
    let extra = u64::from(rng.gen_bool((value - whole).clamp(0.0, 1.0)));
    (whole as u64).saturating_add(extra)
}

/// The MSP's retention robot lists every tenant and deletes expired recovery points in most,
/// starting at its usual time in the small hours.
fn robot_run(plan: &DayPlan<'_>, msp: usize, events: &mut Vec<Activity>, rng: &mut ChaCha8Rng) {
    let world = plan.world;
    let Some(profile) = world.msps.get(msp) else { return };
    let start = at_local_minute(plan, profile.utc_offset_minutes, f64::from(profile.robot_minute))
        + rng.gen_range(0..90 * SECOND_MS);
    let suppressed = plan
        .suppressed_robot_runs
        .iter()
        .any(|window| window.msp == msp && (window.from_ms..window.to_ms).contains(&start));
    if suppressed {
        return;
    }
    robot_pass(world, msp, start, (2, 40), 0.6, events, rng);
}

/// How long the retention robot takes over one pass: it is throttled, so its tenant fan-out
/// per hour stays close to that of the nightly backup automation.
pub const ROBOT_PASS_MS: i64 = 4 * HOUR_MS + 30 * MINUTE_MS;

/// One pass of a retention robot over every tenant of the MSP, starting at `start` and
/// spread over [`ROBOT_PASS_MS`]; returns the tenants where it deleted.
pub fn robot_pass(
    world: &World,
    msp: usize,
    start: i64,
    objects: (u64, u64),
    delete_share: f64,
    events: &mut Vec<Activity>,
    rng: &mut ChaCha8Rng,
) -> Vec<usize> {
    let Some(profile) = world.msps.get(msp) else { return Vec::new() };
    let robot = profile.robot;
    let mut deleted = Vec::new();
    let step = ROBOT_PASS_MS / profile.tenants.len().max(1) as i64;
    for (position, &tenant) in profile.tenants.iter().enumerate() {
        let time = start + position as i64 * step + rng.gen_range(0..step / 2 + 1);
        events.push(Activity::new(time, robot, tenant, Action::BackupList, nonce(rng)));
        if rng.gen_bool(delete_share.clamp(0.0, 1.0)) {
            let at = time + rng.gen_range(2 * SECOND_MS..10 * SECOND_MS);
            let count = rng.gen_range(objects.0..=objects.1.max(objects.0));
            let delete = Activity::new(at, robot, tenant, Action::RecoveryPointDelete, nonce(rng));
            events.push(delete.objects(count));
            deleted.push(tenant);
        }
    }
    deleted
}

fn rhythm(time_ms: i64, offset_minutes: i32) -> f64 {
    let hour = local_hour(time_ms, offset_minutes) as usize;
    let weight = WORKDAY_RHYTHM.get(hour).copied().unwrap_or(0.0);
    if is_local_weekend(time_ms, offset_minutes) {
        weight * WEEKEND_FACTOR
    } else {
        weight
    }
}

fn weekly_mean_daily_rhythm() -> f64 {
    let workday: f64 = WORKDAY_RHYTHM.iter().sum();
    (5.0 * workday + 2.0 * workday * WEEKEND_FACTOR) / 7.0
}

fn pick_weighted<T: Copy>(
    items: &[T],
    weight: impl Fn(T) -> f64,
    rng: &mut ChaCha8Rng,
) -> Option<T> {
    let total: f64 = items.iter().map(|&item| weight(item).max(0.0)).sum();
    if total <= 0.0 {
        return items.first().copied();
    }
    let mut target = rng.gen_range(0.0..total);
    for &item in items {
        let w = weight(item).max(0.0);
        if target < w {
            return Some(item);
        }
        target -= w;
    }
    items.last().copied()
}

fn human_sessions(
    plan: &DayPlan<'_>,
    msp: usize,
    touches: &mut TouchLog,
    events: &mut Vec<Activity>,
    rng: &mut ChaCha8Rng,
) -> Vec<Session> {
    let world = plan.world;
    let Some(profile) = world.msps.get(msp) else { return Vec::new() };
    let daily_events = plan.events_per_day as f64 * HUMAN_SHARE * profile.activity_share;
    let rate = daily_events / MEAN_SESSION_EVENTS / weekly_mean_daily_rhythm();
    let mut sessions = Vec::new();
    for hour in 0..24 {
        let slot_start = plan.start_ms + hour * HOUR_MS;
        let expected = rate * rhythm(slot_start + 30 * MINUTE_MS, profile.utc_offset_minutes);
        for _ in 0..fractional_count(expected, rng) {
            let Some(actor) = pick_weighted(
                &profile.humans,
                |human| world.actors.get(human).map_or(0.0, |a| a.activity),
                rng,
            ) else {
                continue;
            };
            let start = slot_start + rng.gen_range(0..HOUR_MS);
            if let Some(session) = human_session(world, actor, start, touches, events, rng) {
                sessions.push(session);
            }
        }
    }
    sessions
}

/// Normal administrator actions with their relative frequencies.
const HUMAN_MIX: [(Action, f64); 6] = [
    (Action::BackupList, 0.40),
    (Action::BackupRead, 0.36),
    (Action::BackupRun, 0.08),
    (Action::BackupRestore, 0.06),
    (Action::RetentionApply, 0.05),
    (Action::VaultTag, 0.05),
];

fn human_session(
    world: &World,
    actor: usize,
    start: i64,
    touches: &mut TouchLog,
    events: &mut Vec<Activity>,
    rng: &mut ChaCha8Rng,
) -> Option<Session> {
    let profile = world.actors.get(actor)?;
    let weight = |tenant: usize| world.tenants.get(tenant).map_or(0.0, |t| t.weight);
    let mut tenant = pick_weighted(&profile.tenants, weight, rng)?;
    let first_tenant = tenant;
    let mut time = start;
    let login = maybe_fail(Activity::new(time, actor, tenant, Action::Login, nonce(rng)), rng);
    if login.error.is_some() {
        time += rng.gen_range(5 * SECOND_MS..40 * SECOND_MS);
        events.push(login);
        events.push(Activity::new(time, actor, tenant, Action::Login, nonce(rng)));
    } else {
        events.push(login);
    }
    touches.touch(actor, tenant);

    let length = 1 + (-(1.0 - rng.gen::<f64>()).ln() * (MEAN_SESSION_EVENTS - 2.0)) as u64;
    for _ in 0..length.min(80) {
        time += 2 * SECOND_MS + (-(1.0 - rng.gen::<f64>()).ln() * 40_000.0) as i64;
        if rng.gen_bool(0.05) {
            tenant = pick_weighted(&profile.tenants, weight, rng)?;
            touches.touch(actor, tenant);
        }
        let action = pick_weighted(&HUMAN_MIX, |(_, share)| share, rng)
            .map_or(Action::BackupList, |(a, _)| a);
        let mut activity = Activity::new(time, actor, tenant, action, nonce(rng));
        if action == Action::BackupRestore {
            activity = activity.objects(1).bytes(rng.gen_range(GIB / 2..30 * GIB));
        }
        events.push(maybe_fail(activity, rng));
    }
    Some(Session { actor, tenant: first_tenant, start_ms: start, end_ms: time })
}

/// The rare harmful-class actions of healthy administrators: each in one tenant the
/// administrator worked on before today, at most one per administrator per day.
fn harmful_chores(
    sessions: &[Session],
    touches: &TouchLog,
    events: &mut Vec<Activity>,
    rng: &mut ChaCha8Rng,
) {
    let mut busy = HashSet::new();
    let chores = [
        (Action::BackupDelete, HUMAN_DELETE_CHANCE),
        (Action::BackupExport, HUMAN_EXPORT_CHANCE),
        (Action::KeyChange, KEY_ROTATION_CHANCE),
    ];
    for (action, chance) in chores {
        if !rng.gen_bool(chance) {
            continue;
        }
        let eligible: Vec<&Session> = sessions
            .iter()
            .filter(|s| !busy.contains(&s.actor) && touches.touched_before_today(s.actor, s.tenant))
            .filter(|s| s.end_ms - s.start_ms >= 2 * MINUTE_MS)
            .collect();
        if eligible.is_empty() {
            continue;
        }
        let Some(session) = eligible.get(rng.gen_range(0..eligible.len())) else { continue };
        busy.insert(session.actor);
        let time = rng.gen_range(session.start_ms + MINUTE_MS..session.end_ms);
        let activity = Activity::new(time, session.actor, session.tenant, action, nonce(rng));
        let activity = match action {
            Action::BackupDelete => activity.objects(1),
            Action::BackupExport => {
                let action =
                    if rng.gen_bool(0.5) { Action::BackupExport } else { Action::BackupDownload };
                Activity { action, ..activity }
                    .objects(1)
                    .bytes(rng.gen_range(GIB / 4..LARGEST_NORMAL_EXPORT))
            }
            _ => activity,
        };
        events.push(activity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{stream_rng, Stream};
    use crate::world::WorldConfig;

    fn day(world: &World, index: u64, touches: &mut TouchLog) -> Vec<Activity> {
        let plan = DayPlan {
            world,
            events_per_day: 6_000,
            start_ms: 1_793_577_600_000 + index as i64 * DAY_MS,
            index,
            suppressed_robot_runs: &[],
        };
        let mut rng = stream_rng(world.seed, Stream::Day, index);
        let events = normal_day(&plan, touches, &mut rng);
        touches.end_day();
        events
    }

    #[test]
    fn a_week_has_roughly_the_requested_volume() {
        let world = World::build(1, &WorldConfig::default());
        let mut touches = TouchLog::default();
        let total: usize = (0..7).map(|index| day(&world, index, &mut touches).len()).sum();
        let per_day = total as f64 / 7.0;
        assert!((4_500.0..7_500.0).contains(&per_day), "{per_day}");
    }

    #[test]
    fn administrators_act_harmfully_only_in_tenants_they_worked_on_earlier() {
        let world = World::build(2, &WorldConfig::default());
        let mut touches = TouchLog::default();
        let mut harmful = 0;
        for index in 0..7 {
            let known = touches.clone();
            for event in day(&world, index, &mut touches) {
                let human = world.actors[event.actor].role == crate::world::Role::Human;
                if human && event.action.class().is_harmful() {
                    harmful += 1;
                    assert!(index > 0);
                    assert!(known.touched_before_today(event.actor, event.tenant));
                    assert!(world.actors[event.actor].tenants.contains(&event.tenant));
                    assert!(event.bytes.unwrap_or(0) < 10 * GIB);
                }
            }
        }
        assert!(harmful > 0, "normal traffic includes a few harmful-class actions");
    }

    #[test]
    fn administrators_work_mostly_in_business_hours() {
        let world = World::build(3, &WorldConfig::default());
        let mut touches = TouchLog::default();
        let (mut office, mut night) = (0, 0);
        for event in day(&world, 1, &mut touches) {
            let actor = &world.actors[event.actor];
            if actor.role != crate::world::Role::Human {
                continue;
            }
            let offset = world.msps[actor.msp].utc_offset_minutes;
            match local_hour(event.time_ms, offset) {
                8..=17 => office += 1,
                0..=5 => night += 1,
                _ => {}
            }
        }
        assert!(office > 20 * night.max(1), "office {office}, night {night}");
    }
}
