//! Typed reads from YAML nodes that record a precise error when the node has the wrong shape.

use crate::error::Diagnostics;
use crate::field::Field;
use crate::units;
use crate::yaml::{Entry, Node};

/// The entry with this key.
pub(crate) fn get<'n>(entries: &'n [Entry], key: &str) -> Option<&'n Entry> {
    entries.iter().find(|entry| entry.key == key)
}

/// The entries of a mapping; `what` names the node in the error (`a rule`).
pub(crate) fn map<'n>(node: &'n Node, what: &str, diag: &mut Diagnostics) -> Option<&'n [Entry]> {
    let entries = node.as_map();
    if entries.is_none() {
        diag.error(node.mark, format!("{what} must be a mapping, found {}", node.describe()));
    }
    entries
}

/// The items of a sequence.
pub(crate) fn seq<'n>(node: &'n Node, what: &str, diag: &mut Diagnostics) -> Option<&'n [Node]> {
    let items = node.as_seq();
    if items.is_none() {
        diag.error(node.mark, format!("{what} must be a list, found {}", node.describe()));
    }
    items
}

/// The text of a non-null scalar.
pub(crate) fn text<'n>(node: &'n Node, what: &str, diag: &mut Diagnostics) -> Option<&'n str> {
    let scalar = node.as_scalar();
    if scalar.is_none() {
        diag.error(node.mark, format!("{what} must be text, found {}", node.describe()));
    }
    scalar.map(|scalar| scalar.text.as_str())
}

/// Non-empty text.
pub(crate) fn non_empty_text<'n>(
    node: &'n Node,
    what: &str,
    diag: &mut Diagnostics,
) -> Option<&'n str> {
    let value = text(node, what, diag)?;
    if value.trim().is_empty() {
        diag.error(node.mark, format!("{what} must not be empty"));
        return None;
    }
    Some(value)
}

/// A `true` or `false`.
pub(crate) fn flag(node: &Node, what: &str, diag: &mut Diagnostics) -> Option<bool> {
    let value = node.as_scalar().and_then(|scalar| scalar.as_bool());
    if value.is_none() {
        diag.error(node.mark, format!("{what} must be true or false"));
    }
    value
}

/// A number, or a byte size such as `10GiB`.
pub(crate) fn number_or_bytes(node: &Node, what: &str, diag: &mut Diagnostics) -> Option<f64> {
    let Some(scalar) = node.as_scalar() else {
        diag.error(node.mark, format!("{what} must be a number, found {}", node.describe()));
        return None;
    };
    if let Some(number) = scalar.as_number() {
        return Some(number);
    }
    if scalar.text.trim_start().starts_with('-') {
        diag.error(node.mark, format!("{what} must be a number, found `{}`", scalar.text));
        return None;
    }
    match units::parse_bytes(&scalar.text) {
        Ok(bytes) => Some(bytes),
        Err(reason) => {
            diag.error(node.mark, format!("{what}: {reason}"));
            None
        }
    }
}

/// A number or byte size above zero.
pub(crate) fn positive(node: &Node, what: &str, diag: &mut Diagnostics) -> Option<f64> {
    let value = number_or_bytes(node, what, diag)?;
    if value <= 0.0 {
        diag.error(node.mark, format!("{what} must be greater than 0"));
        return None;
    }
    Some(value)
}

/// Whether a duration of zero is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Zero {
    /// `0s` is accepted.
    Allowed,
    /// The duration must be above zero.
    Refused,
}

/// A duration such as `90s` or `1h30m`, in milliseconds.
pub(crate) fn duration(node: &Node, what: &str, zero: Zero, diag: &mut Diagnostics) -> Option<i64> {
    let Some(scalar) = node.as_scalar() else {
        diag.error(
            node.mark,
            format!("{what} must be a duration such as 30m, found {}", node.describe()),
        );
        return None;
    };
    match units::parse_duration(&scalar.text) {
        Ok(0) if zero == Zero::Refused => {
            diag.error(node.mark, format!("{what} must be longer than 0"));
            None
        }
        Ok(ms) => Some(ms),
        Err(reason) => {
            diag.error(node.mark, format!("{what}: {reason}"));
            None
        }
    }
}

/// The names of every field, for error messages.
pub(crate) fn field_names() -> String {
    Field::ALL.iter().map(|field| field.name()).collect::<Vec<_>>().join(", ")
}

/// A field name.
pub(crate) fn field(node: &Node, what: &str, diag: &mut Diagnostics) -> Option<Field> {
    let name = text(node, what, diag)?;
    let field = Field::from_name(name);
    if field.is_none() {
        diag.error(node.mark, format!("unknown field `{name}` (valid fields: {})", field_names()));
    }
    field
}

/// A non-empty list of distinct field names.
pub(crate) fn fields(node: &Node, what: &str, diag: &mut Diagnostics) -> Option<Vec<Field>> {
    let items = seq(node, what, diag)?;
    if items.is_empty() {
        diag.error(node.mark, format!("{what} must name at least one field"));
        return None;
    }
    let before = diag.count();
    let mut fields = Vec::with_capacity(items.len());
    for item in items {
        let Some(field) = field(item, "a field name", diag) else { continue };
        if fields.contains(&field) {
            diag.error(item.mark, format!("field `{}` is named twice in {what}", field.name()));
        }
        fields.push(field);
    }
    (diag.count() == before).then_some(fields)
}

/// Reports keys that are not in `allowed`; `context` names the mapping (`a rule`).
pub(crate) fn check_keys(
    entries: &[Entry],
    allowed: &[&str],
    context: &str,
    diag: &mut Diagnostics,
) {
    for entry in entries {
        if !allowed.contains(&entry.key.as_str()) {
            diag.error(
                entry.key_mark,
                format!(
                    "unknown key `{}` in {context} (expected one of: {})",
                    entry.key,
                    allowed.join(", ")
                ),
            );
        }
    }
}

/// Reports a required key that is missing; returns the entry when present.
pub(crate) fn required<'n>(
    node: &Node,
    entries: &'n [Entry],
    key: &str,
    context: &str,
    diag: &mut Diagnostics,
) -> Option<&'n Entry> {
    let entry = get(entries, key);
    if entry.is_none() {
        diag.error(node.mark, format!("missing required key `{key}` in {context}"));
    }
    entry
}
