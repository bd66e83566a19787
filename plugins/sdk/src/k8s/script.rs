//! The pod of a Python script shipped in a ConfigMap: what the Python and dbt runtimes'
//! Jobs (and Python's Deployments) run.
//!
//! The ConfigMap is mounted read-only at the script's directory; a writable emptyDir
//! is the working directory and `HOME`. Pods run as a non-root user (Pod Security
//! "restricted") on images whose site-packages belong to root, so requirements are
//! installed with pip into `.deps` of the working directory, which is on `PYTHONPATH`;
//! the command runs through `sh` to chain that install before the script, then `exec`s
//! Python, so that Kubernetes' stop signal reaches it rather than a shell.

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar, KeyToPath, PodSpec, Volume,
};

use super::{TaskSettings, mount};

/// Pod volume holding the code (prefixed so that no task volume can clash with it).
const CODE_VOLUME: &str = "runplane-source";
/// Pod volume of the working directory.
const WORK_VOLUME: &str = "runplane-workspace";

/// A Python script in a ConfigMap, and how its pod starts it.
#[derive(Clone, Debug, Default)]
pub struct ScriptPod {
    /// Name of the main container.
    pub container: String,
    /// Its image.
    pub image: String,
    /// The ConfigMap holding the script and its files, and `items` mapping its keys to
    /// paths when some are in folders (ConfigMap keys hold no `/`); all keys as files
    /// without.
    pub config_map: String,
    /// See `config_map`.
    pub items: Option<Vec<KeyToPath>>,
    /// Where the ConfigMap is mounted, read-only.
    pub code_dir: String,
    /// The writable working directory, also `HOME`.
    pub work_dir: String,
    /// The script's file name in `code_dir`.
    pub script: String,
    /// What pip installs before the script starts (`-r <file>`, or specifiers, as
    /// shell words), if anything.
    pub install: Option<String>,
    /// The runtime's variables; `HOME` and `PYTHONPATH` are added, and all of them
    /// sorted by name (the task's `envs` come after, as [`TaskSettings::apply`] adds them).
    pub env: Vec<(String, String)>,
}

impl ScriptPod {
    /// The pod, its one container the main one, with `settings` applied (resources,
    /// envs, secrets, volumes, security).
    pub fn build(self, settings: &TaskSettings) -> PodSpec {
        let start = format!("exec python -u {}/{}", self.code_dir, self.script);
        let command = match &self.install {
            Some(install) => format!(
                "pip install --quiet --no-cache-dir --disable-pip-version-check --target {}/.deps \
                 {install} && {start}",
                self.work_dir
            ),
            None => start,
        };
        let mut env: Vec<EnvVar> = self
            .env
            .into_iter()
            .chain([
                ("HOME".to_string(), self.work_dir.clone()),
                ("PYTHONPATH".to_string(), format!("{}/.deps", self.work_dir)),
            ])
            .map(|(name, value)| EnvVar {
                name,
                value: Some(value),
                value_from: None,
            })
            .collect();
        env.sort_by(|a, b| a.name.cmp(&b.name));
        let mut container = Container {
            name: self.container,
            image: Some(self.image),
            command: Some(vec!["sh".to_string(), "-c".to_string(), command]),
            working_dir: Some(self.work_dir.clone()),
            env: Some(env),
            volume_mounts: Some(vec![
                mount(CODE_VOLUME, &self.code_dir, true),
                mount(WORK_VOLUME, &self.work_dir, false),
            ]),
            ..Container::default()
        };
        let mut pod = PodSpec {
            volumes: Some(vec![
                Volume {
                    name: CODE_VOLUME.to_string(),
                    config_map: Some(ConfigMapVolumeSource {
                        name: self.config_map,
                        items: self.items,
                        ..ConfigMapVolumeSource::default()
                    }),
                    ..Volume::default()
                },
                Volume {
                    name: WORK_VOLUME.to_string(),
                    empty_dir: Some(EmptyDirVolumeSource::default()),
                    ..Volume::default()
                },
            ]),
            ..PodSpec::default()
        };
        settings.apply(&mut pod, &mut container);
        pod.containers = vec![container];
        pod
    }
}
