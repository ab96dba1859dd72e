//! The README's code is what a reader copies: every Rust block runs as a doc test (see the end of
//! `src/lib.rs`), and none hides a line. A line starting with `#` is left out by rustdoc but shown
//! by every other page that renders the file (GitHub, crates.io), so it must not be there.

/// The Rust blocks of `markdown`: (line of the opening fence, info string, lines).
fn rust_blocks(markdown: &str) -> Vec<(usize, &str, Vec<&str>)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, &str, Vec<&str>)> = None;
    for (number, line) in markdown.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        match (&mut open, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) => open = Some((number, info.trim(), Vec::new())),
            (Some(_), Some(_)) => blocks.extend(open.take()),
            (Some((_, _, lines)), None) => lines.push(line),
            (None, None) => {}
        }
    }
    blocks
        .into_iter()
        .filter(|(_, info, _)| info.is_empty() || info.split(',').any(|w| w.trim() == "rust"))
        .collect()
}

/// Where `markdown` breaks the rule: a Rust block that is not compiled, or a hidden line.
fn violations(markdown: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (fence, info, lines) in rust_blocks(markdown) {
        if info.split(',').any(|w| w.trim() == "ignore") {
            found.push(format!(
                "line {fence}: a Rust block that is not compiled (`{info}`)"
            ));
        }
        for (offset, line) in lines.iter().enumerate() {
            let code = line.trim_start();
            if code == "#" || code.starts_with("# ") {
                found.push(format!(
                    "line {}: hidden line `{}`",
                    fence + 1 + offset,
                    code
                ));
            }
        }
    }
    found
}

#[test]
fn readme_rust_blocks_hide_nothing() {
    let readme = include_str!("../../README.md");
    assert!(
        !rust_blocks(readme).is_empty(),
        "the README has a quick start"
    );
    assert_eq!(violations(readme), Vec::<String>::new());
}

#[test]
fn hidden_lines_and_ignored_blocks_are_found() {
    let markdown = "text\n\n```rust\n# fn main() {\nlet x = 1;\n#[derive(Debug)]\nstruct S;\n# }\n```\n\n```sh\n# a shell comment\n```\n\n```rust,ignore\nfn f() {}\n```\n";
    assert_eq!(
        violations(markdown),
        [
            "line 4: hidden line `# fn main() {`",
            "line 8: hidden line `# }`",
            "line 15: a Rust block that is not compiled (`rust,ignore`)",
        ]
    );
}
