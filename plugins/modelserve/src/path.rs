//! Model paths: where a function's model is, and whether the runtime can fetch it.
//!
//! The original fetches a model with its init container's "context refs" (any scheme
//! its builder tool knows) and resolves `store://` references in its model catalog.
//! Runplane fetches what it can without either: `http(s)://` with Python's urllib in
//! the serving image, `s3://` with the AWS CLI, local files on the local target only,
//! and `hf://` models are downloaded by huggingfaceserver itself. Anything else is
//! refused when the spec is validated, with the reason, rather than failing in a pod.

use crate::spec::ModelKind;

/// Where a model comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `http://` or `https://`: downloaded with urllib.
    Http,
    /// `s3://<bucket>/<key>`: copied with the AWS CLI.
    S3,
    /// An absolute path or a `file://` URL: only a local run can read it.
    Local,
    /// `hf://<id>[:<revision>]` or `huggingface://…`: huggingfaceserver downloads it.
    HuggingFace {
        /// The model id (`<owner>/<repo>`).
        id: String,
        /// The revision after `:`, if any (a branch, a tag or a commit).
        revision: Option<String>,
    },
}

/// A function's (or run's) `path`, parsed and checked for its kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelPath {
    /// The path as written.
    pub text: String,
    /// Where it points.
    pub source: Source,
}

impl ModelPath {
    /// Parses `text` as the model path of a function of `kind`: `Err` says why the
    /// runtime cannot serve it (an unknown scheme, a folder HTTP cannot list, a file of
    /// the wrong type for the kind).
    pub fn parse(kind: ModelKind, text: &str) -> Result<ModelPath, String> {
        let source = source(text)?;
        let path = ModelPath {
            text: text.to_string(),
            source,
        };
        path.check(kind)?;
        Ok(path)
    }

    /// The part of the location after the host (or bucket), without query or fragment.
    fn location(&self) -> &str {
        let text = self.text.split(['?', '#']).next().unwrap_or_default();
        match text.split_once("://") {
            Some(("file", rest)) => rest,
            Some((_, rest)) => rest.split_once('/').map_or("", |(_, path)| path),
            None => text,
        }
    }

    /// The last part of the path: the file's name, empty for a folder (`…/`).
    pub fn file_name(&self) -> &str {
        self.location().rsplit('/').next().unwrap_or_default()
    }

    /// Whether the path names a `.zip` archive, which is extracted into the model folder.
    pub fn is_zip(&self) -> bool {
        self.file_name().ends_with(".zip")
    }

    /// Whether the path names a folder (it ends in `/`, as the original's folder paths).
    pub fn is_folder(&self) -> bool {
        self.file_name().is_empty()
    }

    /// The kind's rules on what the path names.
    fn check(&self, kind: ModelKind) -> Result<(), String> {
        let text = &self.text;
        let name = kind.name();
        match (kind, &self.source) {
            (ModelKind::Sklearn | ModelKind::Mlflow, Source::HuggingFace { .. }) => Err(format!(
                "{text:?} is a Hugging Face model: {name} serves a model file or folder \
                 (huggingfaceserve serves hf:// models)"
            )),
            (ModelKind::Sklearn, _) => {
                let file = self.file_name();
                if file.ends_with(".pkl") || file.ends_with(".joblib") {
                    Ok(())
                } else {
                    Err(format!(
                        "{text:?} does not name a .pkl or .joblib file, which sklearnserve \
                         serves"
                    ))
                }
            }
            (_, Source::Local) => Err(format!(
                "{text:?} is a local path: {name} runs on the kubernetes target, whose pods \
                 cannot read this machine's files; give an http(s):// or s3:// URL"
            )),
            (_, Source::Http) if !self.is_zip() => Err(format!(
                "{text:?} is not a .zip: {name} serves a model folder, which HTTP cannot \
                 list; give a .zip of it, or an s3:// folder"
            )),
            (_, Source::S3) if !self.is_zip() && !self.is_folder() => Err(format!(
                "{text:?} is neither a folder (ending in /) nor a .zip, which {name} serves"
            )),
            _ => Ok(()),
        }
    }
}

/// Where `text` points, or why it points nowhere the runtime can fetch from.
fn source(text: &str) -> Result<Source, String> {
    if text.trim().is_empty() {
        return Err("is empty: give the model's location (an http(s):// or s3:// URL)".into());
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{text:?} contains a control character"));
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return if text.starts_with('/') {
            Ok(Source::Local)
        } else {
            Err(format!(
                "{text:?} is neither a URL (http://, https://, s3://) nor an absolute path"
            ))
        };
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    match scheme {
        "http" | "https" if !host.is_empty() => Ok(Source::Http),
        "s3" if !host.is_empty() && !path.is_empty() => Ok(Source::S3),
        "http" | "https" | "s3" => Err(format!(
            "{text:?} has no {}",
            if scheme == "s3" {
                "bucket and key (s3://<bucket>/<key>)"
            } else {
                "host"
            }
        )),
        "file" if rest.starts_with('/') || rest.starts_with("localhost/") => Ok(Source::Local),
        "file" => Err(format!(
            "{text:?} is not an absolute file:// URL (file:///<path>)"
        )),
        "hf" | "huggingface" => hugging_face(rest).ok_or_else(|| {
            format!("{text:?} is not a Hugging Face model (hf://<owner>/<repo>[:<revision>])")
        }),
        "store" => Err(format!(
            "{text:?} is a reference into the original platform's model catalog, which \
             Runplane does not have: give the model's URL"
        )),
        _ => Err(format!(
            "{text:?} has a scheme the runtime cannot fetch ({scheme}://): give an \
             http(s):// or s3:// URL"
        )),
    }
}

/// The model id and revision of `hf://<id>[:<revision>]`: the id is `<owner>/<repo>` or
/// a bare `<repo>`, of letters, digits, `_`, `-` and `.`, as the Hub names them.
fn hugging_face(rest: &str) -> Option<Source> {
    let (id, revision) = match rest.split_once(':') {
        Some((id, revision)) => (id, Some(revision)),
        None => (rest, None),
    };
    let part = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    let parts: Vec<&str> = id.split('/').collect();
    let id_ok = parts.len() <= 2 && parts.iter().all(|p| part(p));
    let revision_ok = revision.is_none_or(|r| !r.is_empty() && !r.contains(char::is_whitespace));
    (id_ok && revision_ok).then(|| Source::HuggingFace {
        id: id.to_string(),
        revision: revision.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(kind: ModelKind, text: &str) -> Result<Source, String> {
        ModelPath::parse(kind, text).map(|path| path.source)
    }

    #[test]
    fn sklearn_paths_name_a_pickle_file_anywhere_the_runtime_fetches() {
        for (text, source) in [
            ("https://example.com/models/iris.pkl?raw=1", Source::Http),
            ("s3://models/iris/model.joblib", Source::S3),
            ("/home/me/model.joblib", Source::Local),
            ("file:///home/me/model.pkl", Source::Local),
        ] {
            assert_eq!(parse(ModelKind::Sklearn, text), Ok(source), "{text}");
        }
        let path = ModelPath::parse(ModelKind::Sklearn, "https://h/m/iris.pkl?raw=1#x").unwrap();
        assert_eq!(path.file_name(), "iris.pkl");
        for text in [
            "https://example.com/model.onnx",
            "store://demo/model/sklearn/iris:1",
            "gs://bucket/model.pkl",
            "models/iris.pkl",
            "s3://bucket-only.pkl",
            "hf://owner/repo",
            "",
        ] {
            assert!(parse(ModelKind::Sklearn, text).is_err(), "{text}");
        }
    }

    #[test]
    fn folders_come_from_s3_and_archives_from_anywhere() {
        assert_eq!(
            parse(ModelKind::Mlflow, "s3://models/wine/"),
            Ok(Source::S3)
        );
        assert_eq!(
            parse(ModelKind::Mlflow, "https://h/wine.zip"),
            Ok(Source::Http)
        );
        let refused = parse(ModelKind::Mlflow, "https://h/wine/").unwrap_err();
        assert!(refused.contains("HTTP cannot list"), "{refused}");
        assert!(parse(ModelKind::Mlflow, "s3://models/wine/MLmodel").is_err());
        assert!(parse(ModelKind::Mlflow, "/data/wine/").is_err());
        assert!(parse(ModelKind::Huggingface, "file:///data/bert.zip").is_err());
    }

    #[test]
    fn hugging_face_ids_carry_an_optional_revision() {
        assert_eq!(
            parse(
                ModelKind::Huggingface,
                "hf://distilbert/distilbert-base-uncased:v1.0"
            ),
            Ok(Source::HuggingFace {
                id: "distilbert/distilbert-base-uncased".into(),
                revision: Some("v1.0".into())
            })
        );
        assert_eq!(
            parse(ModelKind::Huggingface, "huggingface://gpt2"),
            Ok(Source::HuggingFace {
                id: "gpt2".into(),
                revision: None
            })
        );
        for text in [
            "hf://",
            "hf://a/b/c",
            "hf://owner/repo:",
            "hf://own er/repo",
        ] {
            assert!(parse(ModelKind::Huggingface, text).is_err(), "{text}");
        }
    }
}
