//! The host log. Inside a component, lines go to the host tagged with the runtime and
//! the call; in native tests they go to stderr.

#[cfg(target_arch = "wasm32")]
use crate::bindings::runplane::runtime::log as host;

/// Severity of a log line.
pub use crate::bindings::runplane::runtime::log::Level;

/// Writes one line at `level`.
pub fn write(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// Writes a debug line.
pub fn debug(message: &str) {
    write(Level::Debug, message);
}

/// Writes an info line.
pub fn info(message: &str) {
    write(Level::Info, message);
}

/// Writes a warning.
pub fn warn(message: &str) {
    write(Level::Warn, message);
}
