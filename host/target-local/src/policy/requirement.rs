//! Requirements as plain PEP 508 specifiers: `name[extras] clauses ; markers`.
//!
//! Each requirement becomes one line of the `requirements.txt` that pip reads, and pip
//! reads more than specifiers there: a word starting with `-` begins options (`-r FILE`,
//! `--find-links DIR`, `--index-url`, `--global-option` after a specifier), ` #` starts a
//! comment, `${VAR}` expands the host's environment, and a URL or a path (`git+https://`,
//! `./pkg`, `name @ file:///…`) installs code from somewhere else than the package
//! index. So the accepted grammar is a strict subset of PEP 508, checked token by token:
//!
//! - a name: letters and digits, with `.`, `_` or `-` inside;
//! - optional extras: `[a, b]`, names again;
//! - optional version clauses separated by commas: an operator (`===`, `==`, `!=`, `~=`,
//!   `<=`, `>=`, `<`, `>`) and a version (letters, digits, `.`, `*`, `+`, `!`, `_`, `-`,
//!   starting with a letter, a digit or `*`);
//! - optional markers after `;`: marker variables, operators, `and`, `or`, `in`, `not`,
//!   parentheses, and quoted values of the version characters.
//!
//! The direct-reference form (`name @ url`) and the parenthesised clauses of old
//! specifiers are refused: a plain specifier says the same without them.

/// Marker variables of PEP 508.
const MARKER_VARIABLES: [&str; 12] = [
    "python_version",
    "python_full_version",
    "os_name",
    "sys_platform",
    "platform_release",
    "platform_system",
    "platform_version",
    "platform_machine",
    "platform_python_implementation",
    "implementation_name",
    "implementation_version",
    "extra",
];
/// Version operators, longest first so that `===` is not read as `==` then `=`.
const OPERATORS: [&str; 8] = ["===", "==", "!=", "~=", "<=", ">=", "<", ">"];

/// `Ok` when `text` is a plain specifier; else the rule it breaks, naming it.
pub(super) fn check(text: &str) -> Result<(), String> {
    if text.split_whitespace().any(|word| word.starts_with('-')) {
        return Err(format!(
            "{text:?} is a pip option: requirements are plain PEP 508 specifiers"
        ));
    }
    let trimmed = text.trim();
    let location = trimmed.contains("://")
        || trimmed.contains(['/', '\\', '@'])
        || trimmed.starts_with(['.', '~'])
        || trimmed.to_ascii_lowercase().starts_with("file:");
    if location {
        return Err(format!(
            "{text:?} names a URL or a path: requirements are plain PEP 508 specifiers, installed from the package index"
        ));
    }
    if plain(trimmed).is_none() {
        return Err(format!(
            "{text:?} is not a plain PEP 508 specifier (name, [extras], version clauses, ; markers)"
        ));
    }
    Ok(())
}

/// `Some` when `text` follows the grammar of the module's doc.
fn plain(text: &str) -> Option<()> {
    let (specifier, markers) = match text.split_once(';') {
        Some((specifier, markers)) => (specifier, Some(markers)),
        None => (text, None),
    };
    let rest = specifier.trim_start();
    let name_end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
    let (name, mut rest) = rest.split_at(name_end);
    if !is_name(name) {
        return None;
    }
    rest = rest.trim_start();
    if let Some(after) = rest.strip_prefix('[') {
        let (extras, after) = after.split_once(']')?;
        if !extras.split(',').all(|extra| is_name(extra.trim())) {
            return None;
        }
        rest = after.trim_start();
    }
    if !rest.trim().is_empty() && !rest.split(',').all(is_clause) {
        return None;
    }
    match markers {
        Some(markers) if !is_markers(markers) => None,
        _ => Some(()),
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// A project or extra name: letters and digits, with `.`, `_` or `-` inside.
fn is_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(is_name_char)
}

fn is_version_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '*' | '+' | '!' | '_' | '-')
}

/// `>= 2.32`: an operator and a version.
fn is_clause(clause: &str) -> bool {
    let clause = clause.trim();
    let Some(operator) = OPERATORS.iter().find(|op| clause.starts_with(*op)) else {
        return false;
    };
    let version = clause[operator.len()..].trim_start();
    version.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '*')
        && version.chars().all(is_version_char)
}

/// `python_version < "3.11" and sys_platform == 'linux'`: only marker tokens.
fn is_markers(text: &str) -> bool {
    let mut rest = text.trim_start();
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let consumed = if let Some(quote) = rest.chars().next().filter(|c| matches!(c, '"' | '\''))
        {
            let Some(end) = rest[1..].find(quote) else {
                return false;
            };
            // A space is harmless here: a word starting with `-` was refused before.
            if !rest[1..=end]
                .chars()
                .all(|c| c == ' ' || is_version_char(c))
            {
                return false;
            }
            end + 2
        } else if rest.starts_with(['(', ')']) {
            1
        } else if let Some(operator) = OPERATORS.iter().find(|op| rest.starts_with(*op)) {
            operator.len()
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let word = &rest[..end];
            let known =
                MARKER_VARIABLES.contains(&word) || matches!(word, "and" | "or" | "in" | "not");
            if !known {
                return false;
            }
            end
        };
        rest = rest[consumed..].trim_start();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_specifiers_pass() {
        for text in [
            "numpy",
            "numpy==2.1.0",
            "pandas>=2",
            "requests >= 2.32, < 3",
            "tabulate==0.9.0",
            "scikit-learn~=1.5.0",
            "zope.interface===5.0",
            "torch==2.4.0+cpu",
            "pkg==1.*",
            "pkg==1!2.0.post1",
            "uvicorn[standard]>=0.30",
            "uvicorn [ standard , http2 ]",
            "tomli; python_version < \"3.11\"",
            "pywin32 ; sys_platform == 'win32' and (platform_machine != \"arm64\")",
            "backports.zoneinfo; python_version not in '3.8 3.9'",
        ] {
            assert_eq!(check(text), Ok(()), "{text}");
        }
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        let option =
            |t: &str| format!("{t:?} is a pip option: requirements are plain PEP 508 specifiers");
        let location = |t: &str| {
            format!(
                "{t:?} names a URL or a path: requirements are plain PEP 508 specifiers, installed from the package index"
            )
        };
        let malformed = |t: &str| {
            format!(
                "{t:?} is not a plain PEP 508 specifier (name, [extras], version clauses, ; markers)"
            )
        };
        type Rule = fn(&str) -> String;
        let rows: &[(&str, Rule)] = &[
            ("--find-links /etc", option),
            ("-r /etc/hostname", option),
            ("-e .", option),
            ("--index-url=http://evil", option),
            ("numpy --hash=sha256:00", option),
            ("numpy; python_version == \"3 -x\"", option),
            ("git+https://example.com/x.git", location),
            ("pkg @ https://example.com/pkg.whl", location),
            ("pkg@file:///etc", location),
            ("file:pkg", location),
            ("./pkg", location),
            ("~/pkg", location),
            ("/tmp/pkg.whl", location),
            ("pkg.whl/x", location),
            ("", malformed),
            ("numpy #comment", malformed),
            ("numpy==${HOME}", malformed),
            ("numpy (>=1.0)", malformed),
            ("numpy 1.0", malformed),
            ("numpy==", malformed),
            ("numpy[", malformed),
            ("numpy; ", malformed),
            ("numpy; os.system('x')", malformed),
            ("numpy; python_version < \"3.11", malformed),
            ("numpy==1.0\nscipy", malformed),
            ("numpy\u{1b}[2J", malformed),
            ("_numpy", malformed),
        ];
        for (text, rule) in rows {
            assert_eq!(check(text), Err(rule(text)), "{text}");
        }
    }
}
