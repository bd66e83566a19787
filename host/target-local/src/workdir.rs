//! The run's private working directory and the files the plan writes into it.
//!
//! A resumed run writes its files again into the directory of its earlier attempt, where
//! that attempt's process may have left symbolic links (`a.py -> ~/.bashrc`, `sub ->
//! /etc`). Writing through one would carry the plan's bytes anywhere the host's user
//! may write, so nothing here follows a link: a link where a folder or a planned file
//! belongs is removed and replaced, and files are opened with `O_NOFOLLOW`.

use std::io;
use std::path::{Component, Path};

use runplane_model::LocalFile;

use crate::policy::is_inside;
use crate::{Error, Result};

/// Creates `dir` (owner-only) and writes `files` into it, refusing any path that is not
/// a plain relative path inside it: a runtime's plan is not trusted with the host's
/// file system. The [policy](crate::policy) refuses such plans first; this check stays
/// so that the directory never depends on a caller having asked.
pub(crate) async fn prepare(dir: &Path, files: &[LocalFile]) -> Result<()> {
    if let Some(file) = files.iter().find(|file| !is_inside(&file.path)) {
        return Err(Error::UnsafePath {
            path: file.path.clone(),
        });
    }
    let io = |source| Error::Workdir {
        dir: dir.to_path_buf(),
        source,
    };
    if is_link(dir).await.map_err(io)? {
        tokio::fs::remove_file(dir).await.map_err(io)?;
    }
    tokio::fs::create_dir_all(dir).await.map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tokio::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .await
            .map_err(io)?;
    }
    for file in files {
        write_inside(dir, Path::new(&file.path), &file.contents)
            .await
            .map_err(io)?;
    }
    Ok(())
}

/// Writes `contents` at `relative` (a plain relative path) under `dir`, creating its
/// folders, without following a symbolic link on the way.
async fn write_inside(dir: &Path, relative: &Path, contents: &[u8]) -> io::Result<()> {
    let parts: Vec<Component<'_>> = relative.components().collect();
    let Some((name, folders)) = parts.split_last() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty path"));
    };
    let mut at = dir.to_path_buf();
    for folder in folders {
        at.push(folder);
        if is_link(&at).await? {
            tokio::fs::remove_file(&at).await?;
        }
        match tokio::fs::create_dir(&at).await {
            Err(error) if error.kind() != io::ErrorKind::AlreadyExists => return Err(error),
            _ => {}
        }
    }
    at.push(name);
    if is_link(&at).await? {
        tokio::fs::remove_file(&at).await?;
    }
    let mut options = tokio::fs::OpenOptions::new();
    options
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits());
    let mut file = options.open(&at).await?;
    tokio::io::AsyncWriteExt::write_all(&mut file, contents).await?;
    tokio::io::AsyncWriteExt::flush(&mut file).await
}

/// Whether `path` is a symbolic link itself (a missing path is not).
async fn is_link(path: &Path) -> io::Result<bool> {
    match tokio::fs::symlink_metadata(path).await {
        Ok(metadata) => Ok(metadata.file_type().is_symlink()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error),
    }
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
        for path in ["../escape", "/etc/passwd", "a/../../b", "", "./.", "a\0b"] {
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

    /// A resumed run writes into the folder of its earlier attempt, whose process may
    /// have planted links to files and folders outside: they are replaced, and what
    /// they point to is left alone.
    #[cfg(unix)]
    #[tokio::test]
    async fn links_left_in_the_directory_are_replaced_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let outside = root.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("bashrc"), b"mine").unwrap();
        let dir = root.path().join("run");
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink(outside.join("bashrc"), dir.join("a.py")).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("sub")).unwrap();
        std::os::unix::fs::symlink(outside.join("missing"), dir.join("new.txt")).unwrap();

        prepare(&dir, &[file("a.py"), file("sub/b.json"), file("new.txt")])
            .await
            .unwrap();

        assert_eq!(std::fs::read(outside.join("bashrc")).unwrap(), b"mine");
        assert!(!outside.join("b.json").exists());
        assert!(!outside.join("missing").exists());
        for path in ["a.py", "sub", "sub/b.json", "new.txt"] {
            let metadata = std::fs::symlink_metadata(dir.join(path)).unwrap();
            assert!(!metadata.file_type().is_symlink(), "{path}");
        }
        assert_eq!(std::fs::read(dir.join("sub/b.json")).unwrap(), b"x");
    }

    /// The run's directory itself replaced by a link (to a folder whose mode the host
    /// would otherwise change to 0700) is replaced by a real directory.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_linked_working_directory_is_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let outside = root.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o755)).unwrap();
        let dir = root.path().join("run");
        std::os::unix::fs::symlink(&outside, &dir).unwrap();

        prepare(&dir, &[file("a.py")]).await.unwrap();

        assert!(
            !std::fs::symlink_metadata(&dir)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(!outside.join("a.py").exists());
        let mode = std::fs::metadata(&outside).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755);
    }
}
