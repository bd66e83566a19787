//! The run's private working directory and the files the plan writes into it.

use std::path::{Component, Path};

use runplane_model::LocalFile;

use crate::{Error, Result};

/// Creates `dir` (owner-only) and writes `files` into it, refusing any path that is not
/// a plain relative path inside it: a runtime's plan is not trusted with the host's
/// file system.
pub(crate) async fn prepare(dir: &Path, files: &[LocalFile]) -> Result<()> {
    for file in files {
        let relative = Path::new(&file.path);
        let plain = !file.path.is_empty()
            && relative
                .components()
                .all(|part| matches!(part, Component::Normal(_)));
        if !plain {
            return Err(Error::UnsafePath {
                path: file.path.clone(),
            });
        }
    }
    let io = |source| Error::Workdir {
        dir: dir.to_path_buf(),
        source,
    };
    tokio::fs::create_dir_all(dir).await.map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tokio::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .await
            .map_err(io)?;
    }
    for file in files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        tokio::fs::write(&path, &file.contents).await.map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> LocalFile {
        LocalFile {
            path: path.to_string(),
            contents: b"x".to_vec(),
        }
    }

    #[tokio::test]
    async fn paths_outside_the_directory_are_refused_before_anything_is_written() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("run");
        for path in ["../escape", "/etc/passwd", "a/../../b", "", "./."] {
            let error = prepare(&dir, &[file("ok.txt"), file(path)])
                .await
                .unwrap_err();
            assert!(matches!(error, Error::UnsafePath { .. }), "{path}");
        }
        assert!(!dir.exists());
    }

    #[tokio::test]
    async fn files_land_in_a_private_directory() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("run");
        prepare(&dir, &[file("a.py"), file("sub/b.json")])
            .await
            .unwrap();
        assert_eq!(std::fs::read(dir.join("sub/b.json")).unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
    }
}
