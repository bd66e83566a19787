//! One module per subcommand; [`dispatch`] maps the parsed arguments to them.

mod plan;
mod plugin;
mod push;
mod run;
mod runs;
mod runtimes;
mod scaffold;
pub(crate) mod serve;
mod triggers;

use std::process::ExitCode;

use crate::cli::{Args, Command, PluginCommand, RuntimesCommand};
use crate::client::Client;
use crate::config::Config;
use crate::host::Setup;

/// The run ended in ERROR (or any state but COMPLETED and STOPPED); its last reason is
/// printed on stderr.
pub(crate) const EXIT_RUN_FAILED: u8 = 1;
/// Bad input or a host failure: nothing ran. 2 is what clap itself exits with on bad
/// arguments, so every "you called it wrong" shares one code.
pub(crate) const EXIT_INVALID: u8 = 2;
/// The run was stopped (by Ctrl-C or SIGTERM), like a shell's 128 + SIGINT.
pub(crate) const EXIT_STOPPED: u8 = 130;

/// Runs the command `args` names, in-process or against the server [`Client::from_args`]
/// finds; `plan` always runs in-process and ignores a configured server.
///
/// # Errors
///
/// Besides the command's own: an invalid client config file fails every command but
/// `serve`, even those that never talk to a server; so does an invalid host config
/// (`--config`).
pub(crate) async fn dispatch(args: Args) -> anyhow::Result<ExitCode> {
    let setup = &Setup::new(args.plugins, Config::load(args.config.as_deref())?);
    let server = match args.command {
        // The server's own command never talks to a server.
        Command::Serve(_) => None,
        _ => Client::from_args(args.server, args.token)?,
    };
    match (args.command, server) {
        (
            Command::Run {
                file,
                target,
                follow,
                context: _,
            },
            Some(client),
        ) => run::execute_remote(&file, target.into(), &client, follow).await,
        (
            Command::Run {
                file,
                target,
                follow,
                context,
            },
            None,
        ) => run::execute(&file, target.into(), setup, context, follow).await,
        (Command::Plan { file, target }, _) => plan::execute(&file, target.into(), setup).await,
        (Command::Runtimes { command }, server) => {
            runtimes::execute(command.unwrap_or(RuntimesCommand::List), server, setup).await
        }
        (Command::Serve(serve), _) => serve::execute(serve, setup).await,
        (Command::Runs(command), server) => runs::execute(command, server, setup).await,
        (Command::Triggers(command), server) => triggers::execute(command, server, setup).await,
        (
            Command::Plugin(PluginCommand::Check {
                component,
                samples,
                json,
            }),
            _,
        ) => plugin::check(&component, samples.as_deref(), json, setup).await,
        (
            Command::Plugin(PluginCommand::Push {
                component,
                reference,
                plain_http,
            }),
            _,
        ) => push::execute(&component, &reference, plain_http).await,
        (
            Command::Plugin(PluginCommand::New {
                name,
                dir,
                sdk,
                lang,
            }),
            _,
        ) => scaffold::write(&name, dir.as_deref(), sdk.as_deref(), lang),
        (Command::CompileWorker { .. }, _) => {
            unreachable!("main runs the compile worker before any host starts")
        }
    }
}
