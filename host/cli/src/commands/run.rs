//! `runplane run`: validate, plan, execute, follow to the end.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use runplane_control::RunEvent;
use runplane_model::{RunState, Target, Transition};
use runplane_target_kubernetes::KubernetesTarget;
use tokio::sync::{mpsc, watch};

use super::{EXIT_RUN_FAILED, EXIT_STOPPED};
use crate::output::Follower;

pub(crate) async fn execute(
    path: &Path,
    target: Target,
    plugins: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let super::Prepared {
        file,
        control,
        runtime,
        run,
    } = super::prepare(path, target, plugins).await?;
    let cluster = match target {
        Target::Kubernetes => Some(
            KubernetesTarget::connect(None)
                .await
                .with_context(|| format!("{}: cannot reach the cluster", path.display()))?,
        ),
        Target::Local => None,
    };
    let follower = Follower::new(run.id.as_str());
    follower.show(&RunEvent::Transition(Transition {
        from: RunState::Created,
        to: RunState::Created,
        at: time::OffsetDateTime::now_utc(),
        reason: Some(format!(
            "run {} of {} {}",
            run.id, file.task.kind, file.function.name
        )),
    }));
    let (events, mut received) = mpsc::unbounded_channel();
    let (stop, stop_requested) = watch::channel(false);
    tokio::spawn(async move {
        stop_on_signal().await;
        let _ = stop.send(true);
    });
    let execution = {
        let (control, runtime, file) = (control.clone(), runtime.clone(), file.clone());
        tokio::spawn(async move {
            match cluster {
                Some(cluster) => {
                    control
                        .run_kubernetes(&runtime, &file, run, events, stop_requested, &cluster)
                        .await
                }
                None => {
                    control
                        .run_local(&runtime, &file, run, events, stop_requested)
                        .await
                }
            }
        })
    };
    while let Some(event) = received.recv().await {
        follower.show(&event);
    }
    let run = execution.await??;
    follower.finish();
    Ok(match run.state {
        RunState::Completed => ExitCode::SUCCESS,
        RunState::Stopped => ExitCode::from(EXIT_STOPPED),
        _ => {
            let reason = run
                .history
                .last()
                .and_then(|t| t.reason.clone())
                .unwrap_or_default();
            eprintln!("run {} ended {}: {reason}", run.id, run.state);
            ExitCode::from(EXIT_RUN_FAILED)
        }
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stop_on_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}
