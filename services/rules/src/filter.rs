//! Evaluating filters against events: the hot path, so nothing here allocates.

use std::fmt::Write as _;

use mspwatch_event::{ActionClass, Event};

use crate::field::{Field, Value};
use crate::model::{CompareOp, Condition, Filter, Rule, RuleKind, Test};

/// The class mask with every action class set.
pub const ALL_CLASSES: u16 = (1 << ActionClass::ALL.len()) - 1;

/// The bit of `class` in a class mask (bit `class.index()`).
pub fn class_bit(class: ActionClass) -> u16 {
    1 << class.index()
}

impl Filter {
    /// Whether the event passes every condition and no exception.
    pub fn matches(&self, event: &Event) -> bool {
        self.all.iter().all(|condition| condition.matches(event))
            && !self.except.iter().any(|set| set.iter().all(|condition| condition.matches(event)))
    }

    /// The action classes an event can have and still pass, as a mask of [`class_bit`]s; `None`
    /// when the filter does not restrict the class.
    ///
    /// Each `class` condition narrows the mask (whatever its test), and an exception made
    /// only of `class` conditions removes the classes it excludes. The engine can compute
    /// this once per rule and skip the rule for events whose class bit is clear: such events
    /// can never pass [`Filter::matches`].
    pub fn class_mask(&self) -> Option<u16> {
        let mut mask = None;
        for condition in self.all.iter().filter(|condition| condition.field == Field::Class) {
            mask = Some(mask.unwrap_or(ALL_CLASSES) & classes_passing(&[condition]));
        }
        for set in &self.except {
            if set.is_empty() || set.iter().any(|condition| condition.field != Field::Class) {
                continue;
            }
            let excluded = classes_passing(&set.iter().collect::<Vec<_>>());
            mask = Some(mask.unwrap_or(ALL_CLASSES) & !excluded);
        }
        mask
    }
}

/// The classes whose name passes every condition given.
fn classes_passing(conditions: &[&Condition]) -> u16 {
    ActionClass::ALL
        .into_iter()
        .filter(|class| {
            conditions.iter().all(|condition| match &condition.test {
                Test::Exists(present) => *present,
                test => test.passes(Value::Str(class.as_str())),
            })
        })
        .fold(0, |mask, class| mask | class_bit(class))
}

impl Rule {
    /// The action classes an event can have and pass this rule's filters (a sequence rule
    /// passes when any step passes); `None` when any class may. See [`Filter::class_mask`].
    ///
    /// The mask says which events can trigger the rule, not which events its detector must
    /// observe: baselines and first-seen memory learn from every event.
    pub fn class_mask(&self) -> Option<u16> {
        let own = self.filter.class_mask();
        let RuleKind::Sequence { steps, .. } = &self.kind else {
            return own;
        };
        let mut steps_mask = Some(0u16);
        for step in steps {
            steps_mask = match (steps_mask, step.filter.class_mask()) {
                (Some(mask), Some(step_mask)) => Some(mask | step_mask),
                _ => None,
            };
        }
        match (own, steps_mask) {
            (Some(own), Some(steps)) => Some(own & steps),
            (own, None) => own,
            (None, steps) => steps,
        }
    }
}

impl Condition {
    /// Whether the event passes: a multi-valued field passes when any value passes, and
    /// `exists: false` passes when the field has no value.
    pub fn matches(&self, event: &Event) -> bool {
        let values = self.field.values(event);
        match &self.test {
            Test::Exists(present) => values.is_present() == *present,
            test => values.any(|value| test.passes(value)),
        }
    }
}

impl Test {
    /// The size from which the loader compiles a list of values to [`Test::OneOfSet`].
    pub const ONE_OF_SET_MIN: usize = 16;

    /// Whether one value passes. Numbers and flags compare by their text form (`5`, `true`);
    /// `Exists` looks at whole fields and is true here.
    pub fn passes(&self, value: Value<'_>) -> bool {
        match self {
            Test::Equals(expected) => equals(value, expected),
            Test::OneOf(expected) => expected.iter().any(|item| equals(value, item)),
            Test::OneOfSet(expected) => match value {
                Value::Str(text) => expected.contains(text),
                other => expected.iter().any(|item| equals(other, item)),
            },
            Test::Prefix(prefix) => with_text(value, |text| text.starts_with(prefix.as_str())),
            Test::Regex(regex) => with_text(value, |text| regex.is_match(text)),
            Test::Compare(op, limit) => {
                number(value).is_some_and(|number| compare(*op, number, *limit))
            }
            Test::Exists(_) => true,
        }
    }
}

fn equals(value: Value<'_>, expected: &str) -> bool {
    match value {
        Value::Str(text) => text == expected,
        Value::Num(number) => expected.parse::<f64>().is_ok_and(|parsed| parsed == number),
        Value::Bool(flag) => expected == flag_text(flag),
    }
}

fn flag_text(flag: bool) -> &'static str {
    if flag {
        "true"
    } else {
        "false"
    }
}

fn number(value: Value<'_>) -> Option<f64> {
    match value {
        Value::Num(number) => Some(number),
        Value::Str(text) => text.parse::<f64>().ok(),
        Value::Bool(_) => None,
    }
}

fn compare(op: CompareOp, value: f64, limit: f64) -> bool {
    match op {
        CompareOp::Gt => value > limit,
        CompareOp::Gte => value >= limit,
        CompareOp::Lt => value < limit,
        CompareOp::Lte => value <= limit,
    }
}

/// Calls `test` with the value's text form, formatting numbers on the stack.
fn with_text(value: Value<'_>, test: impl FnOnce(&str) -> bool) -> bool {
    match value {
        Value::Str(text) => test(text),
        Value::Bool(flag) => test(flag_text(flag)),
        Value::Num(number) => {
            let mut buffer = StackText::default();
            match write!(buffer, "{number}") {
                Ok(()) => test(buffer.as_str()),
                Err(_) => false,
            }
        }
    }
}

/// A small fixed buffer for formatting a number without allocating.
struct StackText {
    bytes: [u8; 64],
    len: usize,
}

impl Default for StackText {
    fn default() -> Self {
        StackText { bytes: [0; 64], len: 0 }
    }
}

impl StackText {
    fn as_str(&self) -> &str {
        self.bytes.get(..self.len).and_then(|bytes| std::str::from_utf8(bytes).ok()).unwrap_or("")
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let end = self.len.checked_add(text.len()).ok_or(std::fmt::Error)?;
        let slot = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}
