//! Compiling condition maps (`where`, `except`, step conditions) into [`Condition`]s.

use std::collections::HashMap;

use mspwatch_event::ActionClass;

use crate::error::Diagnostics;
use crate::field::Field;
use crate::model::{CompareOp, Condition, Test};
use crate::read;
use crate::yaml::{Node, NodeKind, Scalar};

/// Largest compiled regular expression accepted, in bytes.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The operators a condition mapping may use.
const OPERATORS: [&str; 10] =
    ["equals", "one_of", "in_list", "prefix", "regex", "gt", "gte", "lt", "lte", "exists"];

/// Reusable lists by name.
pub(crate) type Lists = HashMap<String, Vec<String>>;

/// Compiles a mapping of field names to condition values; `what` names it (`where`).
pub(crate) fn compile_map(
    node: &Node,
    what: &str,
    lists: &Lists,
    diag: &mut Diagnostics,
) -> Option<Vec<Condition>> {
    let entries = read::map(node, what, diag)?;
    let before = diag.count();
    let mut conditions = Vec::with_capacity(entries.len());
    for entry in entries {
        let Some(field) = Field::from_name(&entry.key) else {
            let reason =
                format!("unknown field `{}` (valid fields: {})", entry.key, read::field_names());
            diag.error(entry.key_mark, reason);
            continue;
        };
        compile_value(field, &entry.value, lists, &mut conditions, diag);
    }
    (diag.count() == before).then_some(conditions)
}

/// Compiles one field's condition value: a scalar, a list, or a mapping of operators.
fn compile_value(
    field: Field,
    node: &Node,
    lists: &Lists,
    out: &mut Vec<Condition>,
    diag: &mut Diagnostics,
) {
    match &node.kind {
        NodeKind::Scalar(scalar) if scalar.is_null() => diag.error(
            node.mark,
            format!(
                "missing value for `{}`; use `{{exists: false}}` to require an absent field",
                field.name()
            ),
        ),
        NodeKind::Scalar(scalar) => {
            if let Some(test) = equals(field, scalar, node, diag) {
                out.push(Condition { field, test });
            }
        }
        NodeKind::Seq(_) => {
            if let Some(test) = one_of(field, node, diag) {
                out.push(Condition { field, test });
            }
        }
        NodeKind::Map(operators) => {
            if operators.is_empty() {
                diag.error(node.mark, format!("no operator for `{}`", field.name()));
            }
            for operator in operators {
                let test = compile_operator(field, &operator.key, &operator.value, lists, diag);
                if let Some(test) = test {
                    out.push(Condition { field, test });
                } else if !OPERATORS.contains(&operator.key.as_str()) {
                    diag.error(
                        operator.key_mark,
                        format!(
                            "unknown operator `{}` (expected one of: {})",
                            operator.key,
                            OPERATORS.join(", ")
                        ),
                    );
                }
            }
        }
    }
}

/// Compiles one operator; `None` for an unknown operator (reported by the caller) or an
/// error (reported here).
fn compile_operator(
    field: Field,
    operator: &str,
    node: &Node,
    lists: &Lists,
    diag: &mut Diagnostics,
) -> Option<Test> {
    let what = format!("`{operator}`");
    match operator {
        "equals" => {
            let Some(scalar) = node.as_scalar() else {
                diag.error(
                    node.mark,
                    format!("{what} must be a single value, found {}", node.describe()),
                );
                return None;
            };
            equals(field, scalar, node, diag)
        }
        "one_of" => one_of(field, node, diag),
        "in_list" => in_list(field, node, lists, diag),
        "prefix" => read::text(node, &what, diag).map(|prefix| Test::Prefix(prefix.to_string())),
        "regex" => regex(node, diag),
        "gt" | "gte" | "lt" | "lte" => compare(field, operator, node, diag),
        "exists" => read::flag(node, &what, diag).map(Test::Exists),
        _ => None,
    }
}

/// An `equals` test, with the value checked against the field's possible values.
fn equals(field: Field, scalar: &Scalar, node: &Node, diag: &mut Diagnostics) -> Option<Test> {
    let text = normalize(scalar);
    match check_value(field, &text) {
        Ok(()) => Some(Test::Equals(text)),
        Err(reason) => {
            diag.error(node.mark, reason);
            None
        }
    }
}

/// A `one_of` test from a list of scalars.
fn one_of(field: Field, node: &Node, diag: &mut Diagnostics) -> Option<Test> {
    let items = read::seq(node, "`one_of`", diag)?;
    if items.is_empty() {
        diag.error(node.mark, format!("empty list of values for `{}`", field.name()));
        return None;
    }
    let before = diag.count();
    let mut values = Vec::with_capacity(items.len());
    for item in items {
        let Some(scalar) = item.as_scalar() else {
            diag.error(
                item.mark,
                format!("list values must be single values, found {}", item.describe()),
            );
            continue;
        };
        let text = normalize(scalar);
        if let Err(reason) = check_value(field, &text) {
            diag.error(item.mark, reason);
        }
        values.push(text);
    }
    (diag.count() == before).then(|| one_of_test(values))
}

/// An `in_list` reference, compiled to the list's values.
fn in_list(field: Field, node: &Node, lists: &Lists, diag: &mut Diagnostics) -> Option<Test> {
    let name = read::text(node, "`in_list`", diag)?;
    let Some(values) = lists.get(name) else {
        let mut known: Vec<_> = lists.keys().map(String::as_str).collect();
        known.sort_unstable();
        let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
        diag.error(node.mark, format!("unknown list `{name}` (known lists: {known})"));
        return None;
    };
    for value in values {
        if let Err(reason) = check_value(field, value) {
            diag.error(node.mark, format!("list `{name}`: {reason}"));
            return None;
        }
    }
    Some(one_of_test(values.clone()))
}

/// `OneOf`, or `OneOfSet` for long lists.
pub(crate) fn one_of_test(values: Vec<String>) -> Test {
    if values.len() >= Test::ONE_OF_SET_MIN {
        Test::OneOfSet(values.into_iter().collect())
    } else {
        Test::OneOf(values)
    }
}

/// A regular expression, compiled once.
fn regex(node: &Node, diag: &mut Diagnostics) -> Option<Test> {
    let pattern = read::text(node, "`regex`", diag)?;
    match regex::RegexBuilder::new(pattern).size_limit(REGEX_SIZE_LIMIT).build() {
        Ok(regex) => Some(Test::Regex(regex)),
        Err(error) => {
            diag.error(node.mark, format!("invalid regex `{pattern}`: {}", regex_reason(&error)));
            None
        }
    }
}

/// The last line of a regex error (the diagnosis, without the caret drawing), lowercase.
fn regex_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    let line = text.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or("invalid");
    line.trim().trim_start_matches("error: ").to_lowercase()
}

/// A numeric comparison, on numeric fields only.
fn compare(field: Field, operator: &str, node: &Node, diag: &mut Diagnostics) -> Option<Test> {
    let op = match operator {
        "gt" => CompareOp::Gt,
        "gte" => CompareOp::Gte,
        "lt" => CompareOp::Lt,
        _ => CompareOp::Lte,
    };
    if !is_numeric(field) {
        diag.error(
            node.mark,
            format!(
                "`{operator}` applies to numeric fields only (object_count, bytes), not `{}`",
                field.name()
            ),
        );
        return None;
    }
    read::number_or_bytes(node, &format!("`{operator}`"), diag)
        .map(|limit| Test::Compare(op, limit))
}

/// Whether the field holds numbers.
pub(crate) fn is_numeric(field: Field) -> bool {
    matches!(field, Field::ObjectCount | Field::Bytes)
}

/// The text a scalar compares as: flags written plain become `true` or `false`.
fn normalize(scalar: &Scalar) -> String {
    match scalar.as_bool() {
        Some(flag) if scalar.plain => flag.to_string(),
        _ => scalar.text.clone(),
    }
}

/// Checks a value against the values a field can take, so typos fail at load time.
pub(crate) fn check_value(field: Field, value: &str) -> Result<(), String> {
    let valid: &[&str] = match field {
        Field::Class => &ActionClass::ALL.map(ActionClass::as_str),
        Field::Outcome => &["success", "failure"],
        Field::ActorType => &["user", "api_key", "service"],
        Field::Format => &["canonical", "cloudtrail", "ocsf"],
        Field::SupplierTier => &["critical", "high", "standard"],
        Field::TargetExternal => &["true", "false"],
        Field::ObjectCount | Field::Bytes => {
            return match value.parse::<f64>() {
                Ok(_) => Ok(()),
                Err(_) => Err(format!("`{}` is a number; `{value}` never matches", field.name())),
            };
        }
        _ => return Ok(()),
    };
    if valid.contains(&value) {
        return Ok(());
    }
    let kind = if field == Field::Class { "an action class" } else { "a valid value" };
    Err(format!(
        "`{value}` is not {kind} for `{}` (expected one of: {})",
        field.name(),
        valid.join(", ")
    ))
}
