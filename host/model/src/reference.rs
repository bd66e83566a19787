//! The original platform's names for things: references a client writes
//! (`python://demo/hello:<version>`, `python+job://demo/<task id>`), run kinds
//! (`python+job:run`) and the keys entities carry (`store://demo/run/python+job:run/<id>`).

use std::fmt;

use crate::catalog::{Executable, FunctionVersion};

/// A function reference, `<kind>://<project>/<name>[:<version>]`; no version means the
/// latest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionRef {
    /// Function kind (`python`).
    pub kind: String,
    /// The project holding the function (`demo`); a run may only name its own.
    pub project: String,
    /// The function's name in that project (`hello`), shared by all its versions.
    pub name: String,
    /// Version id, or `None` for the latest.
    pub version: Option<String>,
}

impl FunctionRef {
    /// Parses a reference; `None` when it is not `<kind>://<project>/<name>[:<version>]`.
    pub fn parse(text: &str) -> Option<FunctionRef> {
        let (kind, rest) = text.split_once("://")?;
        let (project, rest) = rest.split_once('/')?;
        let (name, version) = match rest.split_once(':') {
            Some((name, version)) => (name, Some(version)),
            None => (rest, None),
        };
        let parts_ok =
            [kind, project, name].iter().all(|part| is_slug(part)) && version.is_none_or(is_slug);
        parts_ok.then(|| FunctionRef {
            kind: kind.to_string(),
            project: project.to_string(),
            name: name.to_string(),
            version: version.filter(|v| *v != "latest").map(str::to_string),
        })
    }

    /// The latest version of function `name` of `project`.
    pub fn latest(kind: &str, project: &str, name: &str) -> FunctionRef {
        FunctionRef {
            kind: kind.to_string(),
            project: project.to_string(),
            name: name.to_string(),
            version: None,
        }
    }

    /// The reference pinned to `version`.
    pub fn of(version: &FunctionVersion) -> FunctionRef {
        FunctionRef {
            kind: version.kind.clone(),
            project: version.project.clone(),
            name: version.name.clone(),
            version: Some(version.id.clone()),
        }
    }

    /// The key of the function (or workflow, as `executable` says),
    /// `store://<project>/function/<kind>/<name>:<version>`.
    pub fn key(&self, executable: Executable) -> String {
        format!(
            "store://{}/{}/{}/{}:{}",
            self.project,
            executable.as_str(),
            self.kind,
            self.name,
            self.version.as_deref().unwrap_or("latest")
        )
    }
}

impl fmt::Display for FunctionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}/{}", self.kind, self.project, self.name)?;
        match &self.version {
            Some(version) => write!(f, ":{version}"),
            None => Ok(()),
        }
    }
}

/// A task reference, `<task kind>://<project>/<task id>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskRef {
    /// Task kind (`python+job`).
    pub kind: String,
    /// The project holding the task (`demo`).
    pub project: String,
    /// The id the task got when it was created (tasks have no other name).
    pub id: String,
}

impl TaskRef {
    /// Parses a reference; `None` when it is not `<task kind>://<project>/<id>`.
    pub fn parse(text: &str) -> Option<TaskRef> {
        let (kind, rest) = text.split_once("://")?;
        let (project, id) = rest.split_once('/')?;
        [kind, project, id]
            .iter()
            .all(|part| is_slug(part))
            .then(|| TaskRef {
                kind: kind.to_string(),
                project: project.to_string(),
                id: id.to_string(),
            })
    }
}

impl fmt::Display for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}/{}", self.kind, self.project, self.id)
    }
}

/// The function kind and action a run kind names: `python+job:run` → (`python`,
/// `job`); the older SDK's `python+run` is a job.
pub fn run_kind(kind: &str) -> Option<(String, String)> {
    let (function_kind, action) = match kind.strip_suffix(":run") {
        Some(task_kind) => task_kind.split_once('+')?,
        None => (kind.strip_suffix("+run")?, "job"),
    };
    (is_slug(function_kind) && is_slug(action) && !action.contains('+'))
        .then(|| (function_kind.to_string(), action.to_string()))
}

/// Key of a project.
pub fn project_key(project: &str) -> String {
    format!("store://{project}")
}

/// Key of a task.
pub fn task_key(project: &str, kind: &str, id: &str) -> String {
    format!("store://{project}/task/{kind}/{id}")
}

/// Key of a run.
pub fn run_key(project: &str, kind: &str, id: &str) -> String {
    format!("store://{project}/run/{kind}/{id}")
}

/// Whether `name` is a DNS-1123 label (`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, at most 63
/// characters): project names are Kubernetes namespaces too.
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes.iter().all(|b| edge(b) || *b == b'-')
}

/// The original platform's `SLUG_PATTERN`, `^[a-zA-Z0-9._+-]+$`.
pub fn is_slug(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_references_round_trip() {
        let pinned = FunctionRef::parse("python://demo/hello:0197").unwrap();
        assert_eq!(pinned.version.as_deref(), Some("0197"));
        assert_eq!(pinned.to_string(), "python://demo/hello:0197");
        assert_eq!(
            pinned.key(Executable::Function),
            "store://demo/function/python/hello:0197"
        );
        let latest = FunctionRef::parse("python://demo/hello:latest").unwrap();
        assert_eq!(latest.version, None);
        assert_eq!(latest.to_string(), "python://demo/hello");
        for bad in [
            "hello",
            "python://demo",
            "python://demo/",
            "python://a/b/c",
            "x://d/f:",
        ] {
            assert_eq!(FunctionRef::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn project_names_are_dns_labels() {
        for good in ["demo", "a", "team-1", "0x"] {
            assert!(is_dns_label(good), "{good}");
        }
        for bad in ["", "Demo", "-a", "a-", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }

    #[test]
    fn task_references_parse() {
        let task = TaskRef::parse("python+job://demo/0197a").unwrap();
        assert_eq!(
            (task.kind.as_str(), task.id.as_str()),
            ("python+job", "0197a")
        );
        assert_eq!(TaskRef::parse("python+job"), None);
    }

    #[test]
    fn run_kinds_name_function_kind_and_action() {
        let pair = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
        assert_eq!(run_kind("python+job:run"), pair("python", "job"));
        assert_eq!(run_kind("python+serve:run"), pair("python", "serve"));
        assert_eq!(run_kind("python+run"), pair("python", "job"));
        for bad in [
            "python",
            "python+job",
            "python:run",
            "+job:run",
            "a+b+c:run",
        ] {
            assert_eq!(run_kind(bad), None, "{bad}");
        }
    }
}
