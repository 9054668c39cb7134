//! `apply_patch`: examples of each rule, then properties against a diff
//! generator.

use minicode_server::scof::{PatchError, apply_patch};
use proptest::prelude::*;

use crate::support::unified_diff;

#[test]
fn applies_several_hunks_with_headers() {
    let original = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";
    let diff = "--- a/f.txt\n+++ b/f.txt\n@@ -1,3 +1,3 @@\n 1\n-2\n+two\n 3\n@@ -8,3 +8,4 @@\n 8\n 9\n+9.5\n 10\n";
    assert_eq!(
        apply_patch(original, diff).unwrap(),
        "1\ntwo\n3\n4\n5\n6\n7\n8\n9\n9.5\n10\n"
    );
}

#[test]
fn headers_are_optional_and_counts_are_ignored() {
    // The counts say 9 lines; the body has 3.
    let diff = "@@ -1,9 +1,9 @@\n a\n-b\n+B\n";
    assert_eq!(apply_patch("a\nb\nc\n", diff).unwrap(), "a\nB\nc\n");
}

#[test]
fn a_hunk_at_the_wrong_line_is_found_nearby() {
    let original = "x\nx\nfn a() {\n  1\n}\nx\n";
    let diff = "@@ -40,3 +40,3 @@\n fn a() {\n-  1\n+  2\n }\n";
    assert_eq!(
        apply_patch(original, diff).unwrap(),
        "x\nx\nfn a() {\n  2\n}\nx\n"
    );
}

#[test]
fn the_nearest_match_wins() {
    let original = "a\nb\na\nb\na\nb\n";
    // Stated at line 3: the second "a b" pair, not the first.
    let diff = "@@ -3,2 +3,2 @@\n a\n-b\n+B\n";
    assert_eq!(apply_patch(original, diff).unwrap(), "a\nb\na\nB\na\nb\n");
    // On a tie, the earlier position.
    assert_eq!(
        apply_patch("k\nx\nk\n", "@@ -2 +2 @@\n-k\n+K\n").unwrap(),
        "K\nx\nk\n"
    );
}

#[test]
fn later_hunks_are_expected_where_earlier_hunks_were_found() {
    // Hunk 1 says line 1 but is at line 6: hunk 2 is then expected 5 lines
    // after its stated line 11, and the `k` at line 17 is nearer to that
    // than the one at line 13.
    let original = "p\np\np\np\np\none\nq\nq\nq\nq\nq\nq\nk\nr\nr\nr\nk\ns\n";
    let diff = "@@ -1 +1 @@\n-one\n+ONE\n@@ -11 +11 @@\n-k\n+K\n";
    assert_eq!(
        apply_patch(original, diff).unwrap(),
        "p\np\np\np\np\nONE\nq\nq\nq\nq\nq\nq\nk\nr\nr\nr\nK\ns\n"
    );
}

#[test]
fn no_newline_at_end_of_file() {
    let no_newline = "\\ No newline at end of file\n";
    // Adding the final newline.
    let diff = format!("@@ -1,2 +1,2 @@\n a\n-b\n{no_newline}+b\n");
    assert_eq!(apply_patch("a\nb", &diff).unwrap(), "a\nb\n");
    // Removing it.
    let diff = format!("@@ -1,2 +1,2 @@\n a\n-b\n+b\n{no_newline}");
    assert_eq!(apply_patch("a\nb\n", &diff).unwrap(), "a\nb");
    // A context line without newline.
    let diff = format!("@@ -1,2 +1,3 @@\n+0\n a\n b\n{no_newline}");
    assert_eq!(apply_patch("a\nb", &diff).unwrap(), "0\na\nb");
    // The last line must match with or without its newline exactly.
    let diff = "@@ -1,2 +1,2 @@\n a\n-b\n+c\n";
    assert!(apply_patch("a\nb", diff).is_err());
}

#[test]
fn creates_content_from_an_empty_file() {
    let diff = "--- /dev/null\n+++ b/new.ts\n@@ -0,0 +1,2 @@\n+one\n+two\n";
    assert_eq!(apply_patch("", diff).unwrap(), "one\ntwo\n");
}

#[test]
fn pure_insertion_after_a_stated_line() {
    let diff = "@@ -2,0 +3,1 @@\n+inserted\n";
    assert_eq!(
        apply_patch("a\nb\nc\n", diff).unwrap(),
        "a\nb\ninserted\nc\n"
    );
    let err = apply_patch("a\n", diff).unwrap_err();
    assert!(
        matches!(err, PatchError::NoPosition { hunk: 1, .. }),
        "{err}"
    );
}

#[test]
fn crlf_lines_match_exactly_or_keep_the_files_line_endings() {
    let diff = "@@ -1,2 +1,2 @@\n a\r\n-b\r\n+B\r\n";
    assert_eq!(apply_patch("a\r\nb\r\n", diff).unwrap(), "a\r\nB\r\n");
    // A `\r` is whitespace: the hunk applies loosely, in the file's endings.
    assert_eq!(apply_patch("a\nb\n", diff).unwrap(), "a\nB\n");
    let diff = "@@ -1,2 +1,3 @@\n a\n-b\n+B\n+\n";
    assert_eq!(
        apply_patch("a\r\nb\r\nc\r\n", diff).unwrap(),
        "a\r\nB\r\n\r\nc\r\n"
    );
}

#[test]
fn a_reindented_hunk_applies_with_the_files_indentation() {
    let original = "function f() {\n    if (x) {\n        a();\n    }\n}\n";
    // The model quotes the lines indented by 2 less, and spaced its own way.
    let diff = "@@ -2,3 +2,4 @@\n   if (x)  {\n-      a();\n+      b();\n+      c();\n   }\n";
    assert_eq!(
        apply_patch(original, diff).unwrap(),
        "function f() {\n    if (x) {\n        b();\n        c();\n    }\n}\n"
    );
    // Indented by more than the file: added lines lose the extra prefix.
    let diff = "@@ -3 +3 @@\n-            a();\n+            b();\n";
    assert_eq!(
        apply_patch(original, diff).unwrap(),
        "function f() {\n    if (x) {\n        b();\n    }\n}\n"
    );
    // Trailing blanks in the file.
    assert_eq!(
        apply_patch("a  \nb\t\n", "@@ -1,2 +1,2 @@\n a\n-b\n+c\n").unwrap(),
        "a  \nc\n"
    );
}

#[test]
fn inconsistent_indentation_leaves_added_lines_as_written() {
    // Tabs in the file, spaces in the diff: matched, added lines unchanged.
    let original = "\tif (x) {\n\t\ta();\n\t}\n";
    let diff = "@@ -1,3 +1,3 @@\n   if (x) {\n-    a();\n+    b();\n   }\n";
    assert_eq!(
        apply_patch(original, diff).unwrap(),
        "\tif (x) {\n    b();\n\t}\n"
    );
}

#[test]
fn an_exact_match_wins_over_a_nearer_loose_one() {
    // Line 1 matches loosely and is where the hunk says; line 4 exactly.
    let original = "  a\nx\ny\na\n";
    let diff = "@@ -1 +1 @@\n-a\n+A\n";
    assert_eq!(apply_patch(original, diff).unwrap(), "  a\nx\ny\nA\n");
}

#[test]
fn only_whitespace_may_differ() {
    // Same letters, different words: still a mismatch, reported as before.
    let err = apply_patch("ab c\n", "@@ -1 +1 @@\n-a bc\n+x\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "hunk 1 (`@@ -1 +1 @@`) does not apply: line 1 should be \"a bc\\n\" but is \"ab c\\n\""
    );
}

#[test]
fn bare_blank_lines_are_context_and_trailing_ones_are_dropped() {
    let diff = "@@ -1,3 +1,3 @@\n a\n\n-b\n+B\n\n\n";
    assert_eq!(apply_patch("a\n\nb\n", diff).unwrap(), "a\n\nB\n");
}

#[test]
fn a_triple_dash_line_inside_a_hunk_is_a_removal() {
    let diff = "--- a/q.sql\n+++ b/q.sql\n@@ -1,2 +1,2 @@\n--- comment\n+-- note\n select 1;\n";
    assert_eq!(
        apply_patch("-- comment\nselect 1;\n", diff).unwrap(),
        "-- note\nselect 1;\n"
    );
}

#[test]
fn a_mismatch_names_the_hunk_and_the_first_differing_line() {
    let original = "a\nb\nc\nd\ne\n";
    let diff = "@@ -1,2 +1,2 @@\n a\n-b\n+B\n@@ -3,3 +3,3 @@\n c\n-D\n+X\n e\n";
    let err = apply_patch(original, diff).unwrap_err();
    assert_eq!(
        err,
        PatchError::ContextMismatch {
            hunk: 2,
            header: "@@ -3,3 +3,3 @@".into(),
            line: 4,
            expected: "D\n".into(),
            found: Some("d\n".into()),
        }
    );
    assert_eq!(
        err.to_string(),
        "hunk 2 (`@@ -3,3 +3,3 @@`) does not apply: line 4 should be \"D\\n\" but is \"d\\n\""
    );
}

#[test]
fn a_hunk_past_the_end_of_the_file() {
    let err = apply_patch("a\n", "@@ -1,2 +1,2 @@\n a\n-b\n+c\n").unwrap_err();
    assert!(
        matches!(
            &err,
            PatchError::ContextMismatch {
                line: 2,
                found: None,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn malformed_and_empty_diffs() {
    assert_eq!(apply_patch("a\n", "just prose\n"), Err(PatchError::NoHunks));
    assert_eq!(
        apply_patch("a\n", "@@ -1 +1 @@\n-a\n+b\nnot a diff line\n"),
        Err(PatchError::Malformed {
            line: 4,
            text: "not a diff line".into()
        })
    );
}

#[test]
fn hunks_apply_in_order_without_overlapping() {
    // The second hunk's context exists only before the first hunk.
    let diff = "@@ -3,1 +3,1 @@\n-c\n+C\n@@ -1,1 +1,1 @@\n-a\n+A\n";
    assert!(matches!(
        apply_patch("a\nb\nc\n", diff),
        Err(PatchError::ContextMismatch { hunk: 2, .. })
    ));
}

/// Lines drawn from a small pool so files repeat lines, like real code does.
fn text() -> impl Strategy<Value = String> {
    let line = prop::sample::select(vec![
        "a",
        "b",
        "c",
        "",
        "  indented",
        "}",
        "x\r",
        "ü✓",
        "-- sql",
        "+plus",
        "@@ x",
    ]);
    (prop::collection::vec(line, 0..25), any::<bool>()).prop_map(|(lines, final_newline)| {
        let mut text = lines.join("\n");
        if final_newline && !lines.is_empty() {
            text.push('\n');
        }
        text
    })
}

proptest! {
    #[test]
    fn a_generated_diff_applies(a in text(), b in text(), headers in any::<bool>()) {
        let mut diff = unified_diff(&a, &b);
        if headers {
            diff.insert_str(0, "--- a/f\n+++ b/f\n");
        }
        let result = apply_patch(&a, &diff);
        if a == b {
            prop_assert_eq!(result, Err(PatchError::NoHunks));
        } else {
            prop_assert_eq!(result, Ok(b));
        }
    }

    #[test]
    fn a_corrupted_context_line_is_an_error(
        a in text(),
        b in text(),
        pick in any::<prop::sample::Index>(),
    ) {
        let diff = unified_diff(&a, &b);
        let lines: Vec<&str> = diff.split_terminator('\n').collect();
        // Context and removed lines: the ones that must be in the file.
        let checked: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].starts_with([' ', '-']))
            .collect();
        prop_assume!(!checked.is_empty());
        let target = checked[pick.index(checked.len())];
        let mut corrupted: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        corrupted[target].insert_str(1, "💥corrupted ");
        let corrupted_diff = corrupted.join("\n") + "\n";
        let before = a.clone();
        let hunk = lines[..=target].iter().filter(|l| l.starts_with("@@")).count();
        match apply_patch(&a, &corrupted_diff) {
            Err(PatchError::ContextMismatch { hunk: failed, expected, .. }) => {
                prop_assert_eq!(failed, hunk);
                prop_assert!(expected.contains("💥corrupted"), "{}", expected);
            }
            other => prop_assert!(false, "expected a mismatch, got {:?}", other),
        }
        prop_assert_eq!(a, before);
    }
}
