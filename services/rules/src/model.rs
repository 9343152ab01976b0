//! Compiled rules: what the engine evaluates.
//!
//! The types are the contract with the engine; [`crate::load`] builds them from rule files.
//! Matching lives in `filter.rs`, template rendering in `template.rs`.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use mspwatch_event::ActionClass;
use serde::{Deserialize, Serialize};

use crate::field::Field;

/// A set of rules loaded together, with the reusable lists they refer to.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// The rules, ordered by file name, then position in the file.
    pub rules: Vec<Rule>,
    /// Reusable lists by name.
    pub lists: HashMap<String, Vec<String>>,
}

/// Where a rule was defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLocation {
    /// The rule file.
    pub file: PathBuf,
    /// 1-based line of the rule's first key.
    pub line: u32,
}

/// Alert severity, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Worth a ticket.
    Medium,
    /// Worth a page during the day.
    High,
    /// Worth waking someone.
    Critical,
}

impl Severity {
    /// The name used in rules and alerts.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One compiled detection rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique, stable identifier (`cross-tenant-backup-deletion`).
    pub id: String,
    /// One-line title for alerts.
    pub title: String,
    /// Longer explanation for analysts.
    pub description: Option<String>,
    /// Severity of the alerts the rule raises.
    pub severity: Severity,
    /// MITRE ATT&CK technique ids (`T1490`).
    pub mitre: Vec<String>,
    /// The one-sentence summary, with placeholders for the numbers.
    pub summary: Template,
    /// Which events the rule looks at (`where`, minus `except`).
    pub filter: Filter,
    /// Fields whose values identify one incident (default `[msp_id, actor.id]`).
    pub group_by: Vec<Field>,
    /// What the rule detects.
    pub kind: RuleKind,
    /// Evidence within this long after the alert's latest evidence updates the same alert;
    /// later evidence opens a new one.
    pub incident_gap_ms: i64,
    /// Disabled rules are loaded and checked but not evaluated.
    pub enabled: bool,
    /// Where the rule was defined.
    pub source: SourceLocation,
}

/// The five kinds of rule.
#[derive(Debug, Clone)]
pub enum RuleKind {
    /// One event meeting the filter raises (or updates) the group's alert.
    Match,
    /// An aggregate over a sliding event-time window reaches a threshold.
    Threshold {
        /// Window length in milliseconds.
        window_ms: i64,
        /// What is aggregated.
        aggregate: Aggregate,
        /// The aggregate value that fires the rule.
        at_least: f64,
    },
    /// Steps matched in order by the same group within a time span.
    Sequence {
        /// Longest time from the first step to the last, in milliseconds.
        within_ms: i64,
        /// The steps, in order; the rule's own filter applies to every step.
        steps: Vec<Step>,
    },
    /// A metric of the current hour compared with the subject's learned baseline.
    Baseline(BaselineCheck),
    /// A combination of field values not seen within a horizon.
    FirstSeen {
        /// The fields whose combined values must be new.
        key: Vec<Field>,
        /// How long a combination stays known after it was last seen, in milliseconds.
        horizon_ms: i64,
        /// Event time the detector must have observed before it judges, in milliseconds.
        warmup_ms: i64,
        /// A combination first seen less than this long ago still counts as new, in
        /// milliseconds: a credential that lists a tenant's backups seconds before deleting
        /// them is still new to that tenant.
        new_for_ms: i64,
    },
}

/// The aggregate of a threshold rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Number of matching events.
    Count,
    /// Sum of a numeric field.
    Sum(Field),
    /// Number of distinct values of a field (each value of a multi-valued field counts).
    Distinct(Field),
}

/// One step of a sequence rule.
#[derive(Debug, Clone)]
pub struct Step {
    /// Step name, used in summaries.
    pub name: String,
    /// Events that complete the step; the loader includes the rule's own conditions and
    /// exceptions, so this filter alone decides.
    pub filter: Filter,
}

/// Whose baseline a baseline rule consults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BaselineSubject {
    /// The acting credential.
    Credential,
    /// Each tenant the event touched.
    Tenant,
    /// The credential's MSP.
    Msp,
}

/// What a baseline rule measures, per hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BaselineMeasure {
    /// Number of events of the class.
    Count,
    /// Bytes moved by events of the class.
    Bytes,
    /// Objects affected by events of the class.
    Objects,
    /// Distinct tenants touched by the credential in the hour (credential subject only).
    DistinctTenants,
}

/// The parameters of a baseline rule.
#[derive(Debug, Clone)]
pub struct BaselineCheck {
    /// Whose baseline.
    pub subject: BaselineSubject,
    /// The action class measured (ignored for `DistinctTenants`).
    pub class: Option<ActionClass>,
    /// The measure.
    pub measure: BaselineMeasure,
    /// Fire when (observed - mean) / stddev reaches this.
    pub zscore: Option<f64>,
    /// Fire when observed / mean reaches this.
    pub ratio: Option<f64>,
    /// Never fire below this observed value.
    pub floor: f64,
    /// Hours of history the baseline needs before it judges.
    pub min_history_hours: u32,
    /// Also require the observed value to stand out from the MSP's other credentials.
    pub peers: bool,
}

/// Which events a rule or step looks at.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Every condition must hold.
    pub all: Vec<Condition>,
    /// An event meeting every condition of any one of these sets is excluded.
    pub except: Vec<Vec<Condition>>,
}

/// One condition on one field.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The field tested.
    pub field: Field,
    /// The test; a multi-valued field passes when any value passes.
    pub test: Test,
}

/// The tests a condition can apply.
#[derive(Debug, Clone)]
pub enum Test {
    /// Equal to the text (numbers and flags compare by their text form).
    Equals(String),
    /// Equal to one of the texts (also what an `in_list` reference compiles to).
    OneOf(Vec<String>),
    /// Like `OneOf`, as an ordered set searched in logarithmic time: the loader uses it from
    /// [`Test::ONE_OF_SET_MIN`] values up. Ordered, so its `Debug` text is the same on every
    /// load of the same rule.
    OneOfSet(BTreeSet<String>),
    /// Starts with the text.
    Prefix(String),
    /// Matches the regular expression.
    Regex(regex::Regex),
    /// Compares numerically.
    Compare(CompareOp, f64),
    /// The field is present (true) or absent (false).
    Exists(bool),
}

/// A numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
}

/// A summary template: text with `{placeholder}`s filled in by the engine.
///
/// Build one with [`Template::compile`], which checks the placeholders; a template with
/// `text` but no `parts` (built by hand) is read leniently when rendered.
#[derive(Debug, Clone, Default)]
pub struct Template {
    /// The template text as written.
    pub text: String,
    /// The text split into literal text and placeholders, braces unescaped.
    pub parts: Vec<TemplatePart>,
}

/// One piece of a compiled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    /// Literal text, with `{{` and `}}` already turned into braces.
    Text(String),
    /// A placeholder name, without braces.
    Placeholder(String),
}
