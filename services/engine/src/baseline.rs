//! Behavioural baselines per credential, per tenant and per MSP, learned on event time.
//!
//! Every subject keeps, per action class, the count, bytes and objects of the current hour,
//! and an exponentially weighted mean and variance of past hours. Hours in which a subject did
//! nothing count as zeros, so a credential that exports once a week has a mean near zero.
//! Credentials also keep the tenants they touched and when, the addresses they came from, the
//! hours of day they are active, and how many distinct tenants they touch per hour; each MSP
//! keeps the spread of its credentials' hourly figures, so one credential can be compared with
//! its peers.

use mspwatch_event::{ActionClass, ActorType, Event};
use mspwatch_rules::{BaselineCheck, BaselineMeasure, BaselineSubject};
use serde::{Deserialize, Serialize};

use crate::bounded::{BoundedMap, FastMap};
use crate::memory::{buffer_bytes, string_bytes, table_bytes, Footprint, ALLOCATION_BYTES};

const HOUR_MS: i64 = 3_600_000;

/// Zero hours folded one by one before the rest are folded in one step.
///
/// After this many empty hours the mean and variance have decayed to almost nothing, so
/// folding more of them one at a time would only cost time.
const MAX_ZERO_HOURS_FOLDED: i64 = 24 * 28;

/// Most tenants remembered per credential; the least recently touched go first.
const MAX_TENANTS_PER_CREDENTIAL: usize = 4096;

/// Most source addresses remembered per credential.
const MAX_SOURCES_PER_CREDENTIAL: usize = 16;

/// Exponentially weighted mean and variance of an hourly figure.
///
/// The weight of a new hour is `max(alpha, 1 / hours)`, so the first hours give an exact
/// running mean and the series turns into a moving average once it has enough history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Ewma {
    /// Weighted mean.
    pub mean: f64,
    /// Weighted variance.
    pub variance: f64,
    /// Hours observed.
    pub hours: u32,
}

impl Ewma {
    fn observe(&mut self, value: f64, alpha: f64) {
        self.hours = self.hours.saturating_add(1);
        let weight = alpha.max(1.0 / f64::from(self.hours));
        let difference = value - self.mean;
        let increment = weight * difference;
        self.mean += increment;
        self.variance = (1.0 - weight) * (self.variance + difference * increment);
    }

    fn observe_zeros(&mut self, hours: i64, alpha: f64) {
        let folded = hours.clamp(0, MAX_ZERO_HOURS_FOLDED);
        for _ in 0..folded {
            self.observe(0.0, alpha);
        }
        if hours > folded {
            self.hours =
                self.hours.saturating_add(u32::try_from(hours - folded).unwrap_or(u32::MAX));
            self.mean = 0.0;
            self.variance = 0.0;
        }
    }

    /// Standard deviation, never below a Poisson-like floor, so a flat history still judges.
    pub fn stddev(&self) -> f64 {
        self.variance.max(0.0).sqrt().max(self.mean.max(1.0).sqrt())
    }
}

/// Identifies one measured series: a class and a measure, or the hourly tenant fan-out.
fn series_key(class: ActionClass, measure: BaselineMeasure) -> u8 {
    let measure_index = match measure {
        BaselineMeasure::Count => 0,
        BaselineMeasure::Bytes => 1,
        BaselineMeasure::Objects => 2,
        BaselineMeasure::DistinctTenants => return FANOUT_KEY,
    };
    (class.index() * 3 + measure_index) as u8
}

const FANOUT_KEY: u8 = (ActionClass::ALL.len() * 3) as u8;

fn series_name(key: u8) -> String {
    if key == FANOUT_KEY {
        return "distinct tenants per hour".to_owned();
    }
    let class =
        ActionClass::ALL.get(usize::from(key / 3)).map_or("unknown", |class| class.as_str());
    let measure = ["count", "bytes", "objects"].get(usize::from(key % 3)).copied().unwrap_or("?");
    format!("{class} {measure} per hour")
}

/// One measured series of one subject.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Series {
    key: u8,
    current: f64,
    history: Ewma,
}

/// The hourly series of one subject.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hourly {
    hour: i64,
    first_hour: i64,
    series: Vec<Series>,
    /// Where each series key sits in `series`, plus one (0: not noted yet). Rebuilt as series
    /// are looked up, so it is not saved.
    #[serde(skip)]
    positions: [u8; SERIES_KEYS],
}

/// The number of distinct series keys: three measures per class, and the fan-out.
const SERIES_KEYS: usize = FANOUT_KEY as usize + 1;

impl Hourly {
    fn new(hour: i64) -> Self {
        Hourly { hour, first_hour: hour, series: Vec::new(), positions: [0; SERIES_KEYS] }
    }

    /// Where the series of `key` sits, by the noted position or, failing that, by a search
    /// (which notes it).
    fn position(&mut self, key: u8) -> Option<usize> {
        let noted = self.positions.get(usize::from(key)).copied().unwrap_or(0);
        if noted != 0 {
            let position = usize::from(noted - 1);
            if self.series.get(position).is_some_and(|series| series.key == key) {
                return Some(position);
            }
        }
        let position = self.series.iter().position(|series| series.key == key)?;
        self.note(key, position);
        Some(position)
    }

    fn note(&mut self, key: u8, position: usize) {
        if let (Some(slot), Ok(noted)) =
            (self.positions.get_mut(usize::from(key)), u8::try_from(position + 1))
        {
            *slot = noted;
        }
    }

    /// Closes past hours up to `hour`, calling `closed` with each series' last figure.
    fn advance(&mut self, hour: i64, alpha: f64, mut closed: impl FnMut(u8, f64)) {
        if hour <= self.hour {
            return;
        }
        let empty_hours = hour - self.hour - 1;
        for series in &mut self.series {
            closed(series.key, series.current);
            series.history.observe(series.current, alpha);
            series.history.observe_zeros(empty_hours, alpha);
            series.current = 0.0;
        }
        self.hour = hour;
    }

    fn series_mut(&mut self, key: u8) -> &mut Series {
        let position = match self.position(key) {
            Some(position) => position,
            None => {
                let past_hours = u32::try_from(self.hour - self.first_hour).unwrap_or(u32::MAX);
                let history = Ewma { hours: past_hours, ..Ewma::default() };
                self.series.push(Series { key, current: 0.0, history });
                let position = self.series.len() - 1;
                self.note(key, position);
                position
            }
        };
        &mut self.series[position]
    }

    fn add(&mut self, key: u8, amount: f64) {
        self.series_mut(key).current += amount;
    }

    fn add_event(&mut self, event: &Event) {
        let class = event.class;
        self.add(series_key(class, BaselineMeasure::Count), 1.0);
        if let Some(bytes) = event.bytes {
            self.add(series_key(class, BaselineMeasure::Bytes), bytes as f64);
        }
        if let Some(objects) = event.object_count {
            self.add(series_key(class, BaselineMeasure::Objects), objects as f64);
        }
    }

    /// This hour's figure and the history of past hours, for one series.
    fn figure(&self, key: u8) -> (f64, Ewma) {
        let history_hours = u32::try_from(self.hour - self.first_hour).unwrap_or(u32::MAX);
        match self.series.iter().find(|series| series.key == key) {
            Some(series) => (series.current, series.history),
            None => (0.0, Ewma { hours: history_hours, ..Ewma::default() }),
        }
    }

    /// Hours of history before the current one.
    fn history_hours(&self) -> u32 {
        u32::try_from(self.hour - self.first_hour).unwrap_or(u32::MAX)
    }
}

/// When something was first and last seen, and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// Event time first seen, ms.
    pub first_ms: i64,
    /// Event time last seen, ms.
    pub last_ms: i64,
    /// Events seen.
    pub events: u64,
}

impl Seen {
    fn new(now_ms: i64) -> Self {
        Seen { first_ms: now_ms, last_ms: now_ms, events: 0 }
    }

    fn touch(&mut self, now_ms: i64) {
        self.last_ms = self.last_ms.max(now_ms);
        self.events += 1;
    }
}

/// What the detector knows of one credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CredentialBaseline {
    msp_id: Option<Box<str>>,
    name: Option<Box<str>>,
    kind: ActorType,
    seen: Seen,
    hourly: Hourly,
    tenants: FastMap<Box<str>, Seen>,
    sources: Vec<(Box<str>, Seen)>,
    hours_of_day: [u32; 24],
    /// Heap bytes of the tenant and source strings, for the memory budget (not saved).
    #[serde(skip)]
    string_bytes: usize,
    /// Heap bytes of the rest, counted again when stale (not saved).
    #[serde(skip)]
    shape_bytes: usize,
    /// Whether a tenant, source or series was added or the MSP or name set since
    /// `shape_bytes` was counted.
    #[serde(skip)]
    shape_stale: bool,
}

/// What the detector knows of one tenant, or of one MSP as a whole.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubjectBaseline {
    seen: Seen,
    hourly: Hourly,
    /// MSPs only: the spread of the MSP's credentials' hourly figures, per series.
    peers: Vec<(u8, Ewma)>,
}

impl SubjectBaseline {
    /// Events observed for the subject.
    pub(crate) fn events(&self) -> u64 {
        self.seen.events
    }

    fn new(now_ms: i64) -> Self {
        SubjectBaseline {
            seen: Seen::new(now_ms),
            hourly: Hourly::new(hour_of(now_ms)),
            peers: Vec::new(),
        }
    }

    fn observe_peer(&mut self, key: u8, value: f64, alpha: f64) {
        match self.peers.iter_mut().find(|(peer_key, _)| *peer_key == key) {
            Some((_, history)) => history.observe(value, alpha),
            None => {
                let mut history = Ewma::default();
                history.observe(value, alpha);
                self.peers.push((key, history));
            }
        }
    }

    fn peer(&self, key: u8) -> Option<Ewma> {
        self.peers.iter().find(|(peer_key, _)| *peer_key == key).map(|(_, history)| *history)
    }
}

impl Footprint for Hourly {
    fn heap_bytes(&self) -> usize {
        buffer_bytes::<Series>(self.series.capacity())
    }
}

impl Footprint for SubjectBaseline {
    /// Counted on every event of every tenant and MSP, so kept to a few instructions: both
    /// buffers are charged the allocator's share even while empty.
    fn heap_bytes(&self) -> usize {
        self.hourly.series.capacity() * std::mem::size_of::<Series>()
            + self.peers.capacity() * std::mem::size_of::<(u8, Ewma)>()
            + 2 * ALLOCATION_BYTES
    }

    fn has_history(&self, _last_active_ms: i64) -> bool {
        self.seen.events >= 2
    }
}

impl Footprint for CredentialBaseline {
    fn heap_bytes(&self) -> usize {
        self.shape_bytes + self.string_bytes
    }

    fn has_history(&self, _last_active_ms: i64) -> bool {
        self.seen.events >= 2
    }

    fn recount(&mut self) {
        let tenants = self.tenants.keys().map(Footprint::heap_bytes);
        let sources = self.sources.iter().map(|(source, _)| source.heap_bytes());
        self.string_bytes = tenants.chain(sources).sum();
        self.shape_stale = true;
    }

    fn settle(&mut self) {
        if self.shape_stale {
            self.shape_bytes = self.count_shape_bytes();
            self.shape_stale = false;
        }
    }
}

fn hour_of(time_ms: i64) -> i64 {
    time_ms.div_euclid(HOUR_MS)
}

/// A baseline's verdict on one observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// What was measured.
    pub metric: String,
    /// This hour's figure.
    pub observed: f64,
    /// The baseline's mean.
    pub expected: f64,
    /// The baseline's standard deviation (with its floor).
    pub stddev: f64,
    /// (observed - expected) / stddev.
    pub zscore: f64,
    /// observed / expected, infinite when nothing was expected.
    pub ratio: f64,
    /// Hours of history behind the baseline.
    pub history_hours: u32,
    /// The MSP peers' mean, when peers were compared.
    pub peer_expected: Option<f64>,
    /// The subject judged (credential, tenant or MSP id).
    pub subject: String,
}

/// All baselines, bounded in number.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Baselines {
    alpha: f64,
    pub(crate) credentials: BoundedMap<Box<str>, CredentialBaseline>,
    pub(crate) tenants: BoundedMap<Box<str>, SubjectBaseline>,
    pub(crate) msps: BoundedMap<Box<str>, SubjectBaseline>,
}

impl Baselines {
    /// Empty baselines. `half_life_hours` sets how fast old hours fade.
    pub(crate) fn new(max_keys: usize, half_life_hours: f64) -> Self {
        let alpha = 1.0 - 0.5f64.powf(1.0 / half_life_hours.max(1.0));
        Baselines {
            alpha,
            credentials: BoundedMap::new(max_keys),
            tenants: BoundedMap::new(max_keys),
            msps: BoundedMap::new(max_keys.min(100_000)),
        }
    }

    /// Learns from one event (in event-time order).
    pub(crate) fn observe(&mut self, event: &Event) {
        let now_ms = event.time_ms;
        let hour = hour_of(now_ms);
        let alpha = self.alpha;
        let mut closed_figures: Vec<(u8, f64)> = Vec::new();

        let mut credential =
            self.credentials.touch(event.actor.id.as_str(), now_ms, || CredentialBaseline {
                msp_id: None,
                name: None,
                kind: event.actor.kind,
                seen: Seen::new(now_ms),
                hourly: Hourly::new(hour),
                tenants: FastMap::default(),
                sources: Vec::new(),
                hours_of_day: [0; 24],
                string_bytes: 0,
                shape_bytes: 0,
                shape_stale: true,
            });
        credential.hourly.advance(hour, alpha, |key, figure| {
            if figure > 0.0 {
                closed_figures.push((key, figure));
            }
        });
        credential.observe(event, now_ms, hour);
        // The credential's MSP is needed only when the event does not name one.
        let credential_msp = match event.msp_id {
            Some(_) => None,
            None => credential.msp_id.clone(),
        };

        for tenant_id in &event.tenant_ids {
            let mut tenant =
                self.tenants.touch(tenant_id.as_str(), now_ms, || SubjectBaseline::new(now_ms));
            tenant.hourly.advance(hour, alpha, |_, _| {});
            tenant.seen.touch(now_ms);
            tenant.hourly.add_event(event);
        }

        let msp_id = event.msp_id.as_deref().or(credential_msp.as_deref());
        if let Some(msp_id) = msp_id {
            let mut msp = self.msps.touch(msp_id, now_ms, || SubjectBaseline::new(now_ms));
            msp.hourly.advance(hour, alpha, |_, _| {});
            msp.seen.touch(now_ms);
            msp.hourly.add_event(event);
            for (key, figure) in closed_figures {
                msp.observe_peer(key, figure, alpha);
            }
        }
    }

    /// Judges the event's subject against its baseline; `None` when the baseline may not
    /// judge yet (too little history) or the subject is unknown.
    pub(crate) fn judge(&self, check: &BaselineCheck, event: &Event) -> Option<Judgement> {
        let class = check.class.unwrap_or(event.class);
        let key = series_key(class, check.measure);
        match check.subject {
            BaselineSubject::Credential => {
                let credential = self.credentials.get(event.actor.id.as_str())?;
                let mut judgement = judge_hourly(&credential.hourly, key, check, &event.actor.id)?;
                if check.peers {
                    let msp_id = event.msp_id.as_deref().or(credential.msp_id.as_deref())?;
                    let peers = self.msps.get(msp_id)?.peer(key)?;
                    if peers.hours < check.min_history_hours.max(1) {
                        return None;
                    }
                    let peer_zscore = (judgement.observed - peers.mean) / peers.stddev();
                    if check.zscore.is_some_and(|zscore| peer_zscore < zscore) {
                        return None;
                    }
                    judgement.peer_expected = Some(peers.mean);
                }
                Some(judgement)
            }
            BaselineSubject::Tenant => event.tenant_ids.iter().find_map(|tenant_id| {
                let tenant = self.tenants.get(tenant_id.as_str())?;
                judge_hourly(&tenant.hourly, key, check, tenant_id)
            }),
            BaselineSubject::Msp => {
                let msp_id = event.msp_id.as_deref()?;
                judge_hourly(&self.msps.get(msp_id)?.hourly, key, check, msp_id)
            }
        }
    }

    /// The credential's MSP as its events have named it.
    pub(crate) fn credential(&self, credential_id: &str) -> Option<&CredentialBaseline> {
        self.credentials.get(credential_id)
    }
}

impl CredentialBaseline {
    fn observe(&mut self, event: &Event, now_ms: i64, hour: i64) {
        let shape = (self.tenants.len(), self.sources.len(), self.hourly.series.len());
        let mut reshaped = false;
        self.seen.touch(now_ms);
        if let Some(msp_id) = &event.msp_id {
            if self.msp_id.as_deref() != Some(msp_id.as_str()) {
                self.msp_id = Some(msp_id.as_str().into());
                reshaped = true;
            }
        }
        if self.name.is_none() && event.actor.name.is_some() {
            self.name = event.actor.name.as_deref().map(Into::into);
            reshaped = true;
        }
        self.hourly.add_event(event);
        let hour_start_ms = hour.saturating_mul(HOUR_MS);
        for tenant_id in &event.tenant_ids {
            if self.touch_tenant(tenant_id, now_ms) < hour_start_ms {
                // The first time this hour the credential touches this tenant.
                self.hourly.add(FANOUT_KEY, 1.0);
            }
        }
        if let Some(source) = &event.source_ip {
            self.touch_source(source, now_ms);
        }
        let hour_of_day = hour.rem_euclid(24) as usize;
        self.hours_of_day[hour_of_day] = self.hours_of_day[hour_of_day].saturating_add(1);
        if reshaped || shape != (self.tenants.len(), self.sources.len(), self.hourly.series.len()) {
            self.shape_stale = true;
        }
    }

    /// Heap bytes of everything but the tenant and source strings: they change only when a
    /// tenant, source or series is added or the MSP or name is set, so they are counted then.
    fn count_shape_bytes(&self) -> usize {
        let text = |text: &Option<Box<str>>| text.as_ref().map_or(0, Footprint::heap_bytes);
        text(&self.msp_id)
            + text(&self.name)
            + self.hourly.heap_bytes()
            + table_bytes(self.tenants.allocation_size())
            + buffer_bytes::<(Box<str>, Seen)>(self.sources.capacity())
    }

    /// Records a touch of the tenant; returns when it was last touched before (`i64::MIN`
    /// for a tenant new to the credential).
    fn touch_tenant(&mut self, tenant_id: &str, now_ms: i64) -> i64 {
        if let Some(seen) = self.tenants.get_mut(tenant_id) {
            let before = seen.last_ms;
            seen.touch(now_ms);
            return before;
        }
        if self.tenants.len() >= MAX_TENANTS_PER_CREDENTIAL {
            let oldest = self
                .tenants
                .iter()
                .min_by(|a, b| (a.1.last_ms, a.0).cmp(&(b.1.last_ms, b.0)))
                .map(|(tenant, _)| tenant.clone());
            if let Some(oldest) = oldest {
                self.tenants.remove(&oldest);
                self.string_bytes = self.string_bytes.saturating_sub(oldest.heap_bytes());
            }
        }
        let mut seen = Seen::new(now_ms);
        seen.touch(now_ms);
        self.tenants.insert(tenant_id.into(), seen);
        self.string_bytes = self.string_bytes.saturating_add(string_bytes(tenant_id.len()));
        i64::MIN
    }

    fn touch_source(&mut self, source: &str, now_ms: i64) {
        if let Some((_, seen)) = self.sources.iter_mut().find(|(known, _)| &**known == source) {
            seen.touch(now_ms);
            return;
        }
        if self.sources.len() >= MAX_SOURCES_PER_CREDENTIAL {
            let oldest = self
                .sources
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, seen))| seen.last_ms)
                .map(|(index, _)| index);
            if let Some(oldest) = oldest {
                let (gone, _) = self.sources.swap_remove(oldest);
                self.string_bytes = self.string_bytes.saturating_sub(gone.heap_bytes());
            }
        }
        let mut seen = Seen::new(now_ms);
        seen.touch(now_ms);
        self.sources.push((source.into(), seen));
        self.string_bytes = self.string_bytes.saturating_add(string_bytes(source.len()));
    }

    /// The MSP this credential's events named most recently.
    pub(crate) fn msp_id(&self) -> Option<&str> {
        self.msp_id.as_deref()
    }

    /// A readable view for investigators.
    pub(crate) fn view(&self, credential_id: &str) -> serde_json::Value {
        let mut tenants: Vec<(&str, &Seen)> =
            self.tenants.iter().map(|(tenant, seen)| (&**tenant, seen)).collect();
        tenants.sort_by(|a, b| a.0.cmp(b.0));
        let mut sources: Vec<(&str, &Seen)> =
            self.sources.iter().map(|(source, seen)| (&**source, seen)).collect();
        sources.sort_by(|a, b| a.0.cmp(b.0));
        serde_json::json!({
            "credential_id": credential_id,
            "msp_id": self.msp_id,
            "name": self.name,
            "type": self.kind,
            "first_seen": format_time(self.seen.first_ms),
            "last_seen": format_time(self.seen.last_ms),
            "events": self.seen.events,
            "tenants": tenants.iter().map(|(tenant, seen)| serde_json::json!({
                "tenant_id": tenant,
                "first_seen": format_time(seen.first_ms),
                "last_seen": format_time(seen.last_ms),
                "events": seen.events,
            })).collect::<Vec<_>>(),
            "source_addresses": sources.iter().map(|(source, seen)| serde_json::json!({
                "address": source,
                "first_seen": format_time(seen.first_ms),
                "last_seen": format_time(seen.last_ms),
                "events": seen.events,
            })).collect::<Vec<_>>(),
            "active_hours_utc": self.hours_of_day,
            "hourly": hourly_view(&self.hourly),
        })
    }
}

impl SubjectBaseline {
    /// A readable view for investigators.
    pub(crate) fn view(&self, subject_id: &str) -> serde_json::Value {
        let mut peers: Vec<serde_json::Value> = self
            .peers
            .iter()
            .map(|(key, history)| {
                serde_json::json!({
                    "metric": series_name(*key),
                    "mean": history.mean,
                    "stddev": history.variance.max(0.0).sqrt(),
                    "observations": history.hours,
                })
            })
            .collect();
        peers.sort_by(|a, b| a["metric"].as_str().cmp(&b["metric"].as_str()));
        serde_json::json!({
            "id": subject_id,
            "first_seen": format_time(self.seen.first_ms),
            "last_seen": format_time(self.seen.last_ms),
            "events": self.seen.events,
            "hourly": hourly_view(&self.hourly),
            "peer_credentials": peers,
        })
    }
}

fn hourly_view(hourly: &Hourly) -> serde_json::Value {
    let mut series: Vec<&Series> = hourly.series.iter().collect();
    series.sort_by_key(|series| series.key);
    serde_json::json!({
        "history_hours": hourly.history_hours(),
        "current_hour": format_time(hourly.hour * HOUR_MS),
        "series": series.iter().map(|series| serde_json::json!({
            "metric": series_name(series.key),
            "current_hour": series.current,
            "mean": series.history.mean,
            "stddev": series.history.variance.max(0.0).sqrt(),
        })).collect::<Vec<_>>(),
    })
}

/// RFC 3339 UTC with milliseconds, as alerts and views print times.
pub(crate) fn format_time(time_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(time_ms)
        .map(|time| time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| time_ms.to_string())
}

fn judge_hourly(
    hourly: &Hourly,
    key: u8,
    check: &BaselineCheck,
    subject: &str,
) -> Option<Judgement> {
    let history_hours = hourly.history_hours();
    if history_hours < check.min_history_hours {
        return None;
    }
    let (observed, history) = hourly.figure(key);
    if observed < check.floor || observed <= 0.0 {
        return None;
    }
    let stddev = history.stddev();
    let zscore = (observed - history.mean) / stddev;
    let ratio = if history.mean > 0.0 { observed / history.mean } else { f64::INFINITY };
    if check.zscore.is_some_and(|threshold| zscore < threshold) {
        return None;
    }
    if check.ratio.is_some_and(|threshold| ratio < threshold) {
        return None;
    }
    Some(Judgement {
        metric: series_name(key),
        observed,
        expected: history.mean,
        stddev,
        zscore,
        ratio,
        history_hours,
        peer_expected: None,
        subject: subject.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ewma_starts_as_an_exact_mean() {
        let mut history = Ewma::default();
        for value in [2.0, 4.0, 6.0] {
            history.observe(value, 0.01);
        }
        assert!((history.mean - 4.0).abs() < 1e-9);
        assert_eq!(history.hours, 3);
    }

    #[test]
    fn empty_hours_pull_the_mean_towards_zero() {
        let mut history = Ewma::default();
        for _ in 0..100 {
            history.observe(10.0, 0.05);
        }
        let before = history.mean;
        history.observe_zeros(10, 0.05);
        assert!(history.mean < before * 0.61 && history.mean > before * 0.59);
        history.observe_zeros(100_000, 0.05);
        assert!(history.mean.abs() < 1e-6);
        assert_eq!(history.hours, 100 + 10 + 100_000);
    }

    #[test]
    fn stddev_has_a_floor_for_flat_histories() {
        let history = Ewma { mean: 0.0, variance: 0.0, hours: 48 };
        assert_eq!(history.stddev(), 1.0);
    }
}
