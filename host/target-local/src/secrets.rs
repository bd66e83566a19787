//! The local target's secrets: what a task's `secrets` name becomes on this machine.
//!
//! On Kubernetes a task's `secrets` are Secrets of the run's namespace whose keys reach
//! the pod as environment variables (`envFrom`). Locally the same names are files of a
//! directory the host owns (`$RUNPLANE_HOME/secrets/<name>.env`, `KEY=value` lines in
//! the dotenv format), whose variables the process gets the same way: so one task spec
//! runs on both targets, and a connection's password never sits in a spec, a plan or a
//! run record.
//!
//! The variables are added after the plan passed the local policy: the runtime never
//! sees them (it plans before they are read) and cannot ask for a secret the task does
//! not name.

use std::path::PathBuf;

/// Where the secrets live, and the secrets of a run read from there.
#[derive(Clone, Debug)]
pub struct SecretStore {
    dir: PathBuf,
}

/// Why a secret could not be read; names the secret and its file.
#[derive(Debug, thiserror::Error)]
#[error("secret {name:?}: {reason} ({})", path.display())]
pub struct SecretError {
    /// The secret as the task names it.
    pub name: String,
    /// The file it is read from.
    pub path: PathBuf,
    /// What is wrong: missing, unreadable, malformed.
    pub reason: String,
}

impl SecretStore {
    /// Secrets as files `<name>.env` in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        SecretStore { dir }
    }

    /// The variables of the secrets called `names`, in order (a later secret's
    /// variable wins over an earlier one's, as with `envFrom`).
    pub fn variables(&self, names: &[String]) -> Result<Vec<(String, String)>, SecretError> {
        let mut variables = Vec::new();
        for name in names {
            variables.extend(self.read(name)?);
        }
        Ok(variables)
    }

    fn read(&self, name: &str) -> Result<Vec<(String, String)>, SecretError> {
        let path = self.dir.join(format!("{name}.env"));
        let error = |reason: String| SecretError {
            name: name.to_string(),
            path: path.clone(),
            reason,
        };
        // Names are Kubernetes Secret names (checked with the task): no `/`, so the file
        // is in the directory; checked again since it becomes a path.
        let safe = !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !safe {
            return Err(error("not a valid secret name".to_string()));
        }
        if !path.is_file() {
            return Err(error(
                "not found: write its variables there as KEY=value lines".to_string(),
            ));
        }
        dotenvy::from_path_iter(&path)
            .map_err(|e| error(e.to_string()))?
            .map(|item| item.map_err(|e| error(e.to_string())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_file_gives_its_variables_and_a_missing_one_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("warehouse.env"),
            "# the analytics database\nDB_HOST=db.internal\nDB_PASSWORD='s3cr=t #1'\n",
        )
        .unwrap();
        let store = SecretStore::new(dir.path().to_path_buf());
        assert_eq!(
            store.variables(&["warehouse".to_string()]).unwrap(),
            [
                ("DB_HOST".to_string(), "db.internal".to_string()),
                ("DB_PASSWORD".to_string(), "s3cr=t #1".to_string())
            ]
        );
        let missing = store.variables(&["other".to_string()]).unwrap_err();
        assert_eq!(missing.name, "other");
        assert!(
            missing
                .to_string()
                .starts_with("secret \"other\": not found")
        );
        let escaping = store.variables(&["../warehouse".to_string()]).unwrap_err();
        assert_eq!(escaping.reason, "not a valid secret name");
    }
}
