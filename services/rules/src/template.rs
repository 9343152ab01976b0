//! Summary templates: `{name}` placeholders, `{{` and `}}` for literal braces.

use crate::model::{Template, TemplatePart};

/// Every placeholder a summary may use; the engine fills them when it raises an alert.
pub const PLACEHOLDERS: [&str; 21] = [
    "actor",
    "actor_id",
    "actor_name",
    "msp",
    "tenants",
    "tenant_count",
    "event_count",
    "value",
    "threshold",
    "window",
    "observed",
    "expected",
    "zscore",
    "ratio",
    "action",
    "class",
    "steps",
    "rule",
    "first_seen",
    "last_seen",
    "tier",
];

/// Why a template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct TemplateError {
    /// What is wrong, lowercase.
    pub reason: String,
    /// Character offset in the template text where the problem starts.
    pub offset: usize,
}

impl Template {
    /// Compiles a summary, refusing unbalanced braces and unknown placeholders.
    pub fn compile(text: &str) -> Result<Template, TemplateError> {
        let parts = split(text, true)?;
        Ok(Template { text: text.to_string(), parts })
    }

    /// Fills the placeholders from `lookup`; unknown names are left as written.
    pub fn render(&self, lookup: &dyn Fn(&str) -> Option<String>) -> String {
        if self.parts.is_empty() && !self.text.is_empty() {
            // A template built by hand rather than compiled: read the text leniently.
            let parts = split(&self.text, false).unwrap_or_default();
            return render_parts(&parts, lookup);
        }
        render_parts(&self.parts, lookup)
    }

    /// The placeholder names the template uses, in order.
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            TemplatePart::Placeholder(name) => Some(name.as_str()),
            TemplatePart::Text(_) => None,
        })
    }
}

fn render_parts(parts: &[TemplatePart], lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    for part in parts {
        match part {
            TemplatePart::Text(text) => out.push_str(text),
            TemplatePart::Placeholder(name) => match lookup(name) {
                Some(value) => out.push_str(&value),
                None => {
                    out.push('{');
                    out.push_str(name);
                    out.push('}');
                }
            },
        }
    }
    out
}

/// Splits template text into parts. In strict mode unbalanced braces and unknown names are
/// errors; otherwise they are kept as text.
fn split(text: &str, strict: bool) -> Result<Vec<TemplatePart>, TemplateError> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut chars = text.char_indices().peekable();
    let error = |reason: String, byte_offset: usize| TemplateError {
        reason,
        offset: text.get(..byte_offset).map_or(0, |before| before.chars().count()),
    };

    while let Some((offset, c)) = chars.next() {
        match c {
            '{' if chars.peek().is_some_and(|(_, next)| *next == '{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek().is_some_and(|(_, next)| *next == '}') => {
                chars.next();
                literal.push('}');
            }
            '{' => {
                let start = offset + 1;
                let Some(end) = text.get(start..).and_then(|rest| rest.find(['}', '{'])) else {
                    if strict {
                        return Err(error(
                            "unclosed `{` in summary (write `{{` for a brace)".into(),
                            offset,
                        ));
                    }
                    literal.push('{');
                    continue;
                };
                let name = text.get(start..start + end).unwrap_or_default();
                let closed = text.get(start + end..).is_some_and(|rest| rest.starts_with('}'));
                if !closed || name.is_empty() {
                    if strict {
                        let reason = if closed {
                            "empty placeholder `{}` in summary".to_string()
                        } else {
                            "unclosed `{` in summary (write `{{` for a brace)".to_string()
                        };
                        return Err(error(reason, offset));
                    }
                    literal.push('{');
                    continue;
                }
                if strict && !PLACEHOLDERS.contains(&name) {
                    let reason = format!(
                        "unknown placeholder `{{{name}}}` in summary (known: {})",
                        PLACEHOLDERS.join(", ")
                    );
                    return Err(error(reason, offset));
                }
                if !literal.is_empty() {
                    parts.push(TemplatePart::Text(std::mem::take(&mut literal)));
                }
                parts.push(TemplatePart::Placeholder(name.to_string()));
                // Skip the name and the closing brace.
                while chars.next_if(|(index, _)| *index <= start + end).is_some() {}
            }
            '}' if strict => {
                return Err(error(
                    "unmatched `}` in summary (write `}}` for a brace)".into(),
                    offset,
                ));
            }
            other => literal.push(other),
        }
    }
    if !literal.is_empty() {
        parts.push(TemplatePart::Text(literal));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(name: &str) -> Option<String> {
        match name {
            "actor" => Some("cred-1".to_string()),
            "value" => Some("5".to_string()),
            _ => None,
        }
    }

    #[test]
    fn placeholders_are_filled_from_the_lookup() {
        let template = Template::compile("{actor} deleted in {value} tenants").unwrap();
        assert_eq!(template.render(&fill), "cred-1 deleted in 5 tenants");
        assert_eq!(template.placeholders().collect::<Vec<_>>(), ["actor", "value"]);
    }

    #[test]
    fn double_braces_are_literal_braces() {
        let template = Template::compile("{{literal}} {actor} }} {{").unwrap();
        assert_eq!(template.render(&fill), "{literal} cred-1 } {");
        assert_eq!(template.placeholders().count(), 1);
    }

    #[test]
    fn names_unknown_at_render_time_stay_as_written() {
        let template = Template::compile("{actor} in {msp}").unwrap();
        assert_eq!(template.render(&fill), "cred-1 in {msp}");
    }

    #[test]
    fn unknown_placeholder_is_refused_with_its_offset() {
        let error = Template::compile("ok {actr} here").unwrap_err();
        assert!(error.reason.contains("unknown placeholder `{actr}`"), "{}", error.reason);
        assert!(error.reason.contains("actor_id"));
        assert_eq!(error.offset, 3);
    }

    #[test]
    fn unbalanced_braces_are_refused() {
        assert!(Template::compile("a {actor").unwrap_err().reason.contains("unclosed"));
        assert!(Template::compile("a {act{or}").unwrap_err().reason.contains("unclosed"));
        assert!(Template::compile("a } b").unwrap_err().reason.contains("unmatched `}`"));
        assert!(Template::compile("a {} b").unwrap_err().reason.contains("empty placeholder"));
    }

    #[test]
    fn hand_built_template_renders_leniently() {
        let template = Template { text: "{actor} {bogus} { x".to_string(), parts: Vec::new() };
        assert_eq!(template.render(&fill), "cred-1 {bogus} { x");
    }

    #[test]
    fn text_without_placeholders_renders_as_is() {
        let template = Template::compile("plain text, ünïcode").unwrap();
        assert_eq!(template.render(&fill), "plain text, ünïcode");
        assert_eq!(Template::default().render(&fill), "");
    }
}
