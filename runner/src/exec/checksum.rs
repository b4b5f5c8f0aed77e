//! What a revision's recorded checksum covers: its file, and the sha256 of every transform
//! module it runs, in two halves so that a change can be told to be the file's or a module's;
//! and the older combined form, still accepted.

use crate::revision::Revision;

/// The checksum recorded for a revision: its file's sha256 where it runs no transform;
/// otherwise the first half of its file's and the first half of the sha256 over every
/// transform module it runs (`module_sha`, "missing" where it has none), so that a rebuilt
/// module counts as a change too, and a change can be told to be the file's or a module's.
pub fn checksum(revision: &Revision, module_sha: impl Fn(&str) -> Option<String>) -> String {
    let modules = revision.transform_modules();
    if modules.is_empty() {
        return revision.file.checksum.clone();
    }
    format!(
        "{}{}",
        half(&revision.file.checksum),
        half(&modules_checksum(&modules, &module_sha))
    )
}

/// A checksum for a message: its two ends, where a file's change and a module's show.
pub(super) fn short_checksum(checksum: &str) -> String {
    match (
        checksum.get(..8),
        checksum.get(checksum.len().saturating_sub(8)..),
    ) {
        (Some(head), Some(tail)) if checksum.len() > 16 => format!("{head}..{tail}"),
        _ => checksum.to_string(),
    }
}

fn half(sha: &str) -> &str {
    sha.get(..32).unwrap_or(sha)
}

/// `\nmodule:sha` lines, in the order given ("missing" where a module has none).
fn module_lines(modules: &[String], module_sha: &impl Fn(&str) -> Option<String>) -> String {
    let mut text = String::new();
    for module in modules {
        let sha = module_sha(module).unwrap_or_else(|| "missing".into());
        text.push_str(&format!("\n{module}:{sha}"));
    }
    text
}

/// sha256 over the modules' lines.
fn modules_checksum(modules: &[String], module_sha: &impl Fn(&str) -> Option<String>) -> String {
    crate::revision::load::checksum(&module_lines(modules, module_sha))
}

/// The checksum runners before 0.1 recorded for a revision with transforms: one sha256 over
/// its file's and its modules'. Still accepted as a match.
fn combined_checksum(revision: &Revision, module_sha: &impl Fn(&str) -> Option<String>) -> String {
    let modules = revision.transform_modules();
    let text = format!(
        "{}{}",
        revision.file.checksum,
        module_lines(&modules, module_sha)
    );
    crate::revision::load::checksum(&text)
}

/// True if `recorded` is the checksum of `revision` as it is now, in either form.
pub fn checksum_matches(
    recorded: &str,
    revision: &Revision,
    module_sha: impl Fn(&str) -> Option<String>,
) -> bool {
    recorded == checksum(revision, &module_sha)
        || (!revision.transform_modules().is_empty()
            && recorded == combined_checksum(revision, &module_sha))
}

/// What changed in `revision` since `recorded` was its checksum: its file, the modules it
/// runs, or both, in words.
pub fn what_changed(
    recorded: &str,
    revision: &Revision,
    module_sha: impl Fn(&str) -> Option<String>,
) -> String {
    let path = revision.file.path.display();
    let modules = revision.transform_modules();
    if modules.is_empty() {
        return format!("its file {path} changed");
    }
    let named = match modules.as_slice() {
        [one] => format!("transform module '{one}', which it runs,"),
        many => format!("a transform module it runs (one of {})", many.join(", ")),
    };
    let now_modules = modules_checksum(&modules, &module_sha);
    let (Some(file_then), Some(modules_then)) = (recorded.get(..32), recorded.get(32..)) else {
        return format!("its file {path} or a transform module it runs changed");
    };
    match (
        file_then == half(&revision.file.checksum),
        modules_then == half(&now_modules),
    ) {
        (true, false) => format!("{named} changed (it was rebuilt); its file did not"),
        (false, true) => format!("its file {path} changed"),
        // Both, or a checksum recorded in the combined form, which cannot tell.
        _ => format!("its file {path} and {named} changed"),
    }
}
