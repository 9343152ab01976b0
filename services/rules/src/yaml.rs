//! A YAML document as a tree of nodes that remember their line and column, so every error
//! about a rule can point at the text that caused it.

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deepest nesting accepted; keeps every recursive walk over the tree shallow.
const MAX_DEPTH: usize = 64;

/// A 1-based position in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Mark {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl Mark {
    fn from_marker(marker: &Marker) -> Mark {
        Mark {
            line: u32::try_from(marker.line()).unwrap_or(u32::MAX),
            column: u32::try_from(marker.col()).unwrap_or(u32::MAX - 1).saturating_add(1),
        }
    }
}

/// One node with the position it starts at (a mapping starts at its first key).
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// What the node holds.
    pub kind: NodeKind,
    /// Where it starts.
    pub mark: Mark,
}

/// The three shapes of YAML node.
#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    /// A scalar.
    Scalar(Scalar),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping with text keys, in file order.
    Map(Vec<Entry>),
}

/// A scalar's text, and whether it was written plain (so `5`, `true` and `~` are not text).
#[derive(Debug, Clone)]
pub(crate) struct Scalar {
    /// The text as parsed (quotes and escapes resolved).
    pub text: String,
    /// Written without quotes or block style and without a `!!str` tag.
    pub plain: bool,
}

/// One key and value of a mapping.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The key text.
    pub key: String,
    /// Where the key starts.
    pub key_mark: Mark,
    /// The value.
    pub value: Node,
}

/// A problem found while reading the YAML itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Where.
    pub mark: Mark,
    /// What, lowercase.
    pub reason: String,
}

/// The result of parsing one file: the root node (none for an empty document) and problems.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// The document's root node.
    pub root: Option<Node>,
    /// Every problem; a syntax error stops parsing, other problems do not.
    pub problems: Vec<Problem>,
}

impl Node {
    /// The entries, when the node is a mapping.
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items, when the node is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The scalar, when the node is one and is not null.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(scalar) if !scalar.is_null() => Some(scalar),
            _ => None,
        }
    }

    /// Whether the node is a null scalar (`~`, `null` or nothing).
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar(scalar) if scalar.is_null())
    }

    /// How an error message names the node's shape.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar(scalar) if scalar.is_null() => "nothing",
            NodeKind::Scalar(_) => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// The node as JSON, resolving plain scalars with the YAML 1.2 core schema.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.kind {
            NodeKind::Scalar(scalar) => scalar.to_json(),
            NodeKind::Seq(items) => items.iter().map(Node::to_json).collect(),
            NodeKind::Map(entries) => serde_json::Value::Object(
                entries.iter().map(|entry| (entry.key.clone(), entry.value.to_json())).collect(),
            ),
        }
    }
}

impl Scalar {
    /// Whether the scalar is null in the YAML 1.2 core schema.
    pub fn is_null(&self) -> bool {
        self.plain && matches!(self.text.as_str(), "" | "~" | "null" | "Null" | "NULL")
    }

    /// The scalar as a flag, when it is one (plain or quoted `true`/`false`).
    pub fn as_bool(&self) -> Option<bool> {
        match self.text.as_str() {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => None,
        }
    }

    /// The scalar as a finite number, when it is one.
    pub fn as_number(&self) -> Option<f64> {
        let text = self.text.trim();
        if !text.bytes().any(|byte| byte.is_ascii_digit()) {
            return None;
        }
        if !text.bytes().all(|byte| byte.is_ascii_digit() || b"+-.eE_".contains(&byte)) {
            return None;
        }
        text.replace('_', "").parse::<f64>().ok().filter(|value| value.is_finite())
    }

    fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;

        if !self.plain {
            return Value::String(self.text.clone());
        }
        if self.is_null() {
            return Value::Null;
        }
        if let Some(flag) = self.as_bool() {
            return Value::Bool(flag);
        }
        if let Some(number) = core_schema_number(&self.text) {
            return number;
        }
        Value::String(self.text.clone())
    }
}

/// Resolves a plain scalar as a YAML 1.2 core schema integer or float.
fn core_schema_number(text: &str) -> Option<serde_json::Value> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit()) {
        if let Ok(value) = text.parse::<i64>() {
            return Some(value.into());
        }
        if let Ok(value) = text.trim_start_matches('+').parse::<u64>() {
            return Some(value.into());
        }
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).ok().map(Into::into);
    }
    if let Some(octal) = text.strip_prefix("0o") {
        return u64::from_str_radix(octal, 8).ok().map(Into::into);
    }
    let looks_float = digits.bytes().any(|byte| byte.is_ascii_digit())
        && digits.bytes().all(|byte| byte.is_ascii_digit() || b".eE+-".contains(&byte))
        && digits.as_bytes().first().is_some_and(|byte| byte.is_ascii_digit() || *byte == b'.');
    if looks_float {
        let value = text.parse::<f64>().ok()?;
        return serde_json::Number::from_f64(value).map(serde_json::Value::Number);
    }
    None
}

/// A mapping or sequence being built.
enum Frame {
    Seq { mark: Mark, items: Vec<Node> },
    Map { mark: Mark, entries: Vec<Entry>, key: PendingKey },
}

/// The state of a mapping between a key and its value.
enum PendingKey {
    None,
    Key(String, Mark),
    /// The key was not text: its value is read and dropped.
    Invalid,
}

/// Builds the tree from parser events.
#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    documents: u32,
    problems: Vec<Problem>,
}

/// Parses one YAML document.
pub(crate) fn parse(text: &str) -> Parsed {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    loop {
        let (event, marker) = match parser.next_token() {
            Ok(next) => next,
            Err(error) => {
                let reason = format!("invalid yaml: {}", error.info());
                builder.problems.push(Problem { mark: Mark::from_marker(error.marker()), reason });
                return Parsed { root: None, problems: builder.problems };
            }
        };
        if event == Event::StreamEnd {
            break;
        }
        if let Err(problem) = builder.event(event, Mark::from_marker(&marker)) {
            builder.problems.push(problem);
            return Parsed { root: None, problems: builder.problems };
        }
    }
    Parsed { root: builder.root, problems: builder.problems }
}

impl Builder {
    /// Takes one event; an error stops parsing.
    fn event(&mut self, event: Event, mark: Mark) -> Result<(), Problem> {
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Problem {
                        mark,
                        reason: "a file holds one yaml document; remove the `---`".to_string(),
                    });
                }
            }
            Event::Scalar(text, style, _anchor, tag) => {
                let plain = style == TScalarStyle::Plain && !is_str_tag(tag.as_ref());
                self.complete(Node { kind: NodeKind::Scalar(Scalar { text, plain }), mark });
            }
            Event::Alias(_) => {
                self.problems.push(Problem {
                    mark,
                    reason: "aliases (`*name`) are not supported; use lists for shared values"
                        .to_string(),
                });
                let null = Scalar { text: String::new(), plain: true };
                self.complete(Node { kind: NodeKind::Scalar(null), mark });
            }
            Event::SequenceStart(..) => {
                self.push(Frame::Seq { mark, items: Vec::new() }, mark)?;
            }
            Event::MappingStart(..) => {
                let frame = Frame::Map { mark, entries: Vec::new(), key: PendingKey::None };
                self.push(frame, mark)?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(frame) = self.stack.pop() {
                    let node = match frame {
                        Frame::Seq { mark, items } => Node { kind: NodeKind::Seq(items), mark },
                        Frame::Map { mark, entries, .. } => {
                            let mark = entries.first().map_or(mark, |entry| entry.key_mark);
                            Node { kind: NodeKind::Map(entries), mark }
                        }
                    };
                    self.complete(node);
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
        Ok(())
    }

    fn push(&mut self, frame: Frame, mark: Mark) -> Result<(), Problem> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Problem {
                mark,
                reason: format!("nesting deeper than {MAX_DEPTH} levels"),
            });
        }
        self.stack.push(frame);
        Ok(())
    }

    /// Attaches a finished node to its parent, or makes it the root.
    fn complete(&mut self, node: Node) {
        let Some(frame) = self.stack.last_mut() else {
            if self.documents <= 1 {
                self.root = Some(node);
            }
            return;
        };
        match frame {
            Frame::Seq { items, .. } => items.push(node),
            Frame::Map { entries, key, .. } => match std::mem::replace(key, PendingKey::None) {
                PendingKey::None => match node.kind {
                    NodeKind::Scalar(scalar) => *key = PendingKey::Key(scalar.text, node.mark),
                    _ => {
                        self.problems.push(Problem {
                            mark: node.mark,
                            reason: "mapping keys must be text".to_string(),
                        });
                        *key = PendingKey::Invalid;
                    }
                },
                PendingKey::Key(text, key_mark) => {
                    let mut node = node;
                    if matches!(&node.kind, NodeKind::Scalar(s) if s.plain && s.text.is_empty()) {
                        // An implicit null has no text of its own: point at its key.
                        node.mark = key_mark;
                    }
                    if entries.iter().any(|entry| entry.key == text) {
                        self.problems.push(Problem {
                            mark: key_mark,
                            reason: format!("duplicate key `{text}`"),
                        });
                    } else {
                        entries.push(Entry { key: text, key_mark, value: node });
                    }
                }
                PendingKey::Invalid => {}
            },
        }
    }
}

fn is_str_tag(tag: Option<&Tag>) -> bool {
    tag.is_some_and(|tag| tag.handle == "tag:yaml.org,2002:" && tag.suffix == "str")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        let parsed = parse(text);
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        parsed.root.expect("a root node")
    }

    #[test]
    fn mapping_starts_at_its_first_key() {
        let node = root("rules:\n  - id: x\n    title: y\n");
        let rules = node.as_map().unwrap();
        assert_eq!(rules[0].key_mark, Mark { line: 1, column: 1 });
        let rule = &rules[0].value.as_seq().unwrap()[0];
        assert_eq!(rule.mark, Mark { line: 2, column: 5 });
        let title = &rule.as_map().unwrap()[1];
        assert_eq!(title.key, "title");
        assert_eq!(title.value.mark, Mark { line: 3, column: 12 });
    }

    #[test]
    fn syntax_error_reports_its_line() {
        let parsed = parse("a: b\n  c: d\n");
        assert!(parsed.root.is_none());
        assert_eq!(parsed.problems.len(), 1);
        assert_eq!(parsed.problems[0].mark.line, 2);
        assert!(parsed.problems[0].reason.starts_with("invalid yaml"));
    }

    #[test]
    fn duplicate_keys_and_aliases_are_problems() {
        let parsed = parse("a: &x 1\nb: *x\na: 2\n");
        let reasons: Vec<_> = parsed.problems.iter().map(|p| (p.mark.line, &p.reason)).collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert_eq!(reasons[0].0, 2);
        assert!(reasons[0].1.contains("aliases"));
        assert_eq!(reasons[1].0, 3);
        assert!(reasons[1].1.contains("duplicate key `a`"));
    }

    #[test]
    fn second_document_is_refused() {
        let parsed = parse("a: 1\n---\nb: 2\n");
        assert_eq!(parsed.problems.len(), 1);
        assert_eq!(parsed.problems[0].mark.line, 2);
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        let text = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let parsed = parse(&text);
        assert!(parsed.root.is_none());
        assert!(!parsed.problems.is_empty());
    }

    #[test]
    fn scalars_resolve_like_the_core_schema() {
        let node = root(
            "a: 5\nb: '5'\nc: true\nd: ~\ne: 1.5\nf: 2026-11-02T10:00:00Z\ng: !!str 7\nh: 0x10\n",
        );
        let json = node.to_json();
        assert_eq!(json["a"], serde_json::json!(5));
        assert_eq!(json["b"], serde_json::json!("5"));
        assert_eq!(json["c"], serde_json::json!(true));
        assert_eq!(json["d"], serde_json::Value::Null);
        assert_eq!(json["e"], serde_json::json!(1.5));
        assert_eq!(json["f"], serde_json::json!("2026-11-02T10:00:00Z"));
        assert_eq!(json["g"], serde_json::json!("7"));
        assert_eq!(json["h"], serde_json::json!(16));
    }

    #[test]
    fn empty_text_has_no_root() {
        let parsed = parse("# only a comment\n");
        assert!(parsed.root.is_none());
        assert!(parsed.problems.is_empty());
    }
}
