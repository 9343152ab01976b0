//! The loaders never panic, whatever text they are given.

use std::path::PathBuf;

use proptest::prelude::*;

fn shipped_texts() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let mut texts = Vec::new();
    for folder in [dir.clone(), dir.join("tests")] {
        let mut paths: Vec<_> = std::fs::read_dir(folder)
            .expect("the rules folder")
            .map(|entry| entry.expect("a folder entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
            .collect();
        paths.sort();
        texts.extend(paths.iter().map(|path| std::fs::read_to_string(path).expect("a rule file")));
    }
    texts
}

/// Characters that matter to YAML and to the rule language, to make mutations bite.
const SPICE: &[&str] = &[
    "{", "}", "[", "]", ":", "- ", "\n", "  ", "'", "\"", "&a ", "*a", "!!str ", "#", "|", ">",
    "~", "{{", "}}", "{actor}", "0", "-1", "1e400", "\t", "\u{0}", "é", "---\n", "? ",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn loading_arbitrary_text_never_panics(text in "\\PC*") {
        let _ = mspwatch_rules::load_str("fuzz.yaml", &text);
        let _ = mspwatch_rules::load_fixture_str("fuzz.yaml", &text);
    }

    #[test]
    fn loading_mutated_shipped_files_never_panics(
        file in any::<prop::sample::Index>(),
        edits in prop::collection::vec(
            (any::<prop::sample::Index>(), 0..SPICE.len(), 0usize..4),
            1..6,
        ),
    ) {
        let texts = shipped_texts();
        let mut text = texts[file.index(texts.len())].clone();
        for (position, spice, removed) in edits {
            let mut at = position.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + removed).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            text.replace_range(at..end, SPICE[spice]);
        }
        let rules = mspwatch_rules::load_str("fuzz.yaml", &text);
        let fixtures = mspwatch_rules::load_fixture_str("fuzz.yaml", &text);
        if let Err(errors) = rules {
            prop_assert!(!errors.is_empty());
            prop_assert!(errors.iter().all(|error| !error.reason.is_empty()));
        }
        if let Err(errors) = fixtures {
            prop_assert!(!errors.is_empty());
        }
    }
}

#[test]
fn deeply_nested_input_is_refused_without_overflow() {
    for text in [
        format!("rules: {}{}", "[".repeat(10_000), "]".repeat(10_000)),
        format!("rules: {}", "{a: ".repeat(10_000)),
        (0..3000).map(|depth| format!("{}- \n", " ".repeat(depth))).collect::<String>(),
        (0..3000).map(|depth| format!("{}k:\n", " ".repeat(depth))).collect::<String>(),
    ] {
        assert!(mspwatch_rules::load_str("deep.yaml", &text).is_err());
        assert!(mspwatch_rules::load_fixture_str("deep.yaml", &text).is_err());
    }
}
