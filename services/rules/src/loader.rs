//! Loading rule files: every file of a directory, all errors of all files, or nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{self, Diagnostics, RuleError};
use crate::model::RuleSet;
use crate::read;
use crate::rule;
use crate::yaml::{self, Mark, Node};

/// Largest rule or fixture file read, in bytes.
pub(crate) const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Keys of a rule file's top-level mapping.
const FILE_KEYS: [&str; 2] = ["lists", "rules"];

/// Loads every `*.yaml` and `*.yml` file directly in `dir` (not its subfolders, such as the
/// `tests/` folder of fixtures), in file-name order.
///
/// The rule set is refused whole when any file has any error; every error of every file is
/// returned, sorted by file, line and column.
pub fn load(dir: &Path) -> Result<RuleSet, Vec<RuleError>> {
    let files = read_yaml_files(dir)?;
    load_sources(files.iter().map(|(path, text)| (path.as_path(), text.as_str())))
}

/// Loads rules from one file's text; `file_name` appears in errors.
pub fn load_str(file_name: &str, text: &str) -> Result<RuleSet, Vec<RuleError>> {
    load_sources([(Path::new(file_name), text)])
}

/// Loads rules from several files' texts, as [`load`] does after reading them. Lists are
/// shared by all files, and rule ids must be unique across them.
pub fn load_sources<'a>(
    sources: impl IntoIterator<Item = (&'a Path, &'a str)>,
) -> Result<RuleSet, Vec<RuleError>> {
    let mut errors = Vec::new();
    let mut files = Vec::new();
    for (path, text) in sources {
        let mut diag = Diagnostics::new(path);
        let parsed = yaml::parse(text);
        diag.problems(parsed.problems);
        let root = parsed.root.and_then(|root| top_level(root, &mut diag));
        files.push((path, root));
        errors.extend(diag.into_errors());
    }

    let lists = collect_lists(&files, &mut errors);
    let mut rule_set = RuleSet {
        rules: Vec::new(),
        lists: lists.iter().map(|(name, (values, _))| (name.clone(), values.clone())).collect(),
    };
    for (path, root) in &files {
        let mut diag = Diagnostics::new(path);
        for node in rule_nodes(root.as_ref(), &mut diag) {
            if let Some(rule) = rule::compile(node, &rule_set.lists, &mut diag) {
                rule_set.rules.push(rule);
            }
        }
        errors.extend(diag.into_errors());
    }
    duplicate_ids(&files, &mut errors);

    if errors.is_empty() {
        return Ok(rule_set);
    }
    error::sort(&mut errors);
    Err(errors)
}

/// Reads the `*.yaml`/`*.yml` files directly in `dir`, sorted by name.
pub(crate) fn read_yaml_files(dir: &Path) -> Result<Vec<(PathBuf, String)>, Vec<RuleError>> {
    let entries = std::fs::read_dir(dir).map_err(|error| {
        vec![RuleError::file(dir, format!("cannot read directory: {}", io_reason(&error)))]
    })?;
    let mut paths = Vec::new();
    let mut errors = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => {
                let path = entry.path();
                let is_yaml = path.extension().is_some_and(|ext| ext == "yaml" || ext == "yml");
                if is_yaml && path.is_file() {
                    paths.push(path);
                }
            }
            Err(error) => errors.push(RuleError::file(
                dir,
                format!("cannot list directory: {}", io_reason(&error)),
            )),
        }
    }
    paths.sort();
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        match read_text(&path) {
            Ok(text) => files.push((path, text)),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(errors)
    }
}

/// Reads one file as UTF-8 text, refusing files over [`MAX_FILE_BYTES`].
fn read_text(path: &Path) -> Result<String, RuleError> {
    let size = std::fs::metadata(path)
        .map_err(|error| RuleError::file(path, format!("cannot read file: {}", io_reason(&error))))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(RuleError::file(path, format!("file larger than {MAX_FILE_BYTES} bytes")));
    }
    let bytes = std::fs::read(path).map_err(|error| {
        RuleError::file(path, format!("cannot read file: {}", io_reason(&error)))
    })?;
    String::from_utf8(bytes).map_err(|_| RuleError::file(path, "file is not valid utf-8"))
}

/// An I/O error's message, lowercase.
pub(crate) fn io_reason(error: &std::io::Error) -> String {
    error.to_string().to_lowercase()
}

/// Checks the top-level mapping; returns it when it is one.
fn top_level(root: Node, diag: &mut Diagnostics) -> Option<Node> {
    if root.is_null() {
        return None;
    }
    let entries = read::map(&root, "a rule file", diag)?;
    read::check_keys(entries, &FILE_KEYS, "a rule file", diag);
    Some(root)
}

/// Every list of every file; a name defined twice is an error at both places.
fn collect_lists(
    files: &[(&Path, Option<Node>)],
    errors: &mut Vec<RuleError>,
) -> HashMap<String, (Vec<String>, (PathBuf, Mark))> {
    let mut lists: HashMap<String, (Vec<String>, (PathBuf, Mark))> = HashMap::new();
    for (path, root) in files {
        let mut diag = Diagnostics::new(path);
        let Some(entry) =
            root.as_ref().and_then(Node::as_map).and_then(|entries| read::get(entries, "lists"))
        else {
            continue;
        };
        let Some(definitions) = (!entry.value.is_null())
            .then(|| read::map(&entry.value, "`lists`", &mut diag))
            .flatten()
        else {
            errors.extend(diag.into_errors());
            continue;
        };
        for definition in definitions {
            let values = list_values(&definition.value, &mut diag);
            if !is_list_name(&definition.key) {
                diag.error(
                    definition.key_mark,
                    format!(
                        "invalid list name `{}`: use lowercase letters, digits, `_` and `-`",
                        definition.key
                    ),
                );
                continue;
            }
            match lists.get(&definition.key) {
                Some((_, (first_file, first_mark))) => {
                    diag.error(
                        definition.key_mark,
                        format!(
                            "duplicate list `{}` (first defined at {})",
                            definition.key,
                            place(first_file, *first_mark)
                        ),
                    );
                    errors.push(RuleError {
                        file: first_file.clone(),
                        line: first_mark.line,
                        column: first_mark.column,
                        reason: format!(
                            "duplicate list `{}` (also defined at {})",
                            definition.key,
                            place(path, definition.key_mark)
                        ),
                    });
                }
                None => {
                    lists.insert(
                        definition.key.clone(),
                        (values, (path.to_path_buf(), definition.key_mark)),
                    );
                }
            }
        }
        errors.extend(diag.into_errors());
    }
    lists
}

/// A list's values: a sequence of single values (possibly empty). Values in error are
/// reported and left out, so references to the list still resolve.
fn list_values(node: &Node, diag: &mut Diagnostics) -> Vec<String> {
    if node.is_null() {
        return Vec::new();
    }
    let Some(items) = read::seq(node, "a list", diag) else { return Vec::new() };
    items
        .iter()
        .filter_map(|item| read::text(item, "a list value", diag).map(str::to_string))
        .collect()
}

fn is_list_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-'
        })
}

/// The rule mappings of a file's `rules:` sequence.
fn rule_nodes<'n>(root: Option<&'n Node>, diag: &mut Diagnostics) -> &'n [Node] {
    let Some(entry) = root.and_then(Node::as_map).and_then(|entries| read::get(entries, "rules"))
    else {
        return &[];
    };
    if entry.value.is_null() {
        return &[];
    }
    read::seq(&entry.value, "`rules`", diag).unwrap_or(&[])
}

/// Reports each rule id defined more than once, at every place but the first and at the first.
fn duplicate_ids(files: &[(&Path, Option<Node>)], errors: &mut Vec<RuleError>) {
    let mut seen: HashMap<&str, (&Path, Mark)> = HashMap::new();
    let mut reported_first: Vec<&str> = Vec::new();
    for (path, root) in files {
        let mut ignored = Diagnostics::new(path);
        for node in rule_nodes(root.as_ref(), &mut ignored) {
            let Some((id, mark)) = rule::rule_id(node) else { continue };
            let Some((first_path, first_mark)) = seen.get(id).copied() else {
                seen.insert(id, (path, mark));
                continue;
            };
            errors.push(RuleError {
                file: path.to_path_buf(),
                line: mark.line,
                column: mark.column,
                reason: format!(
                    "duplicate rule id `{id}` (first defined at {})",
                    place(first_path, first_mark)
                ),
            });
            if !reported_first.contains(&id) {
                reported_first.push(id);
                errors.push(RuleError {
                    file: first_path.to_path_buf(),
                    line: first_mark.line,
                    column: first_mark.column,
                    reason: format!(
                        "duplicate rule id `{id}` (also defined at {})",
                        place(path, mark)
                    ),
                });
            }
        }
    }
}

/// `FILE:LINE:COL` for messages that name another place.
fn place(file: &Path, mark: Mark) -> String {
    format!("{}:{}:{}", file.display(), mark.line, mark.column)
}
