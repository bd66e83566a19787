//! Tiered compilation: a component that is not in the precompiled cache starts on
//! baseline code and moves to optimized code when that is ready.
//!
//! Cranelift, the optimizing compiler, takes seconds for a runtime of a few MiB (4.5 s
//! for the built-in Python runtime on 2 cores); Winch, wasmtime's single-pass baseline
//! compiler (tier 1 on x86-64, like Cranelift), takes 0.2 s for the same component. A
//! long-lived host ([`Tiering::Background`]) therefore makes an uploaded or hot-loaded
//! version usable on Winch's code at once, compiles it again with Cranelift in the
//! background, at a lower CPU priority so that the calls being served go first, caches
//! that code, and swaps it in: a call runs wholly on the code it started with. A
//! one-shot command ([`Tiering::Off`]) compiles with Cranelift only, as the next
//! command then finds the code in the cache.

/// Which compiler made the code a loaded runtime runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// Winch: compiled in a single pass, for a quick start; slower calls.
    Baseline,
    /// Cranelift: what the precompiled cache holds.
    Optimized,
}

impl Tier {
    /// The name used in logs and in the API (`baseline`, `optimized`).
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Baseline => "baseline",
            Tier::Optimized => "optimized",
        }
    }

    /// The compiler worker's flag that selects this tier, if any.
    pub(crate) fn worker_flag(self) -> Option<&'static str> {
        match self {
            Tier::Baseline => Some(BASELINE_FLAG),
            Tier::Optimized => None,
        }
    }
}

/// The flag of `runplane compile-worker` that asks for baseline code.
pub const BASELINE_FLAG: &str = "--baseline";

/// Whether loads that must compile start on baseline code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tiering {
    /// Compile with Cranelift before the load returns (one-shot commands, tests).
    #[default]
    Off,
    /// Start on Winch's code, tier up in the background (`runplane serve`). Falls back
    /// to [`Tiering::Off`] where Winch does not run (it targets x86-64 only).
    Background,
}

/// The `nice` value of a background (tier-up) compiler worker: the calls being served
/// get the cores first; the compile gets what they leave.
pub(crate) const BACKGROUND_NICENESS: i32 = 10;
