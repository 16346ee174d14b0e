//! Stopping at a safe point when asked to: SIGTERM (Slurm's preemption, scancel, a time limit, `kill`),
//! SIGUSR1 (Slurm's `--signal` warning before the time limit) and SIGINT (Ctrl-C).
//!
//! The first such signal only sets a flag. The long loops poll it where their state is on disk (after an
//! epoch's checkpoint, after a chunk of scored cells) through `Progress::interrupted`, stop there, and the
//! process exits with 128 + the signal's number and a message saying how to continue. A second signal
//! ends the process at once: every file is written atomically, so even that loses only the epoch or
//! chunk in progress, which the next run does again.

use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
use signal_hook::flag;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

struct Flags {
    stop: Arc<AtomicBool>,
    which: Arc<AtomicUsize>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// Installs the handlers (once per process).
pub fn install() -> std::io::Result<()> {
    if FLAGS.get().is_some() {
        return Ok(());
    }
    let flags = Flags { stop: Arc::new(AtomicBool::new(false)), which: Arc::new(AtomicUsize::new(0)) };
    for sig in [SIGTERM, SIGUSR1, SIGINT] {
        // Registration order is execution order: the shutdown check sees the flag as the previous
        // signal left it, so only a second signal ends the process.
        flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&flags.stop))?;
        flag::register_usize(sig, Arc::clone(&flags.which), sig as usize)?;
        flag::register(sig, Arc::clone(&flags.stop))?;
    }
    let _ = FLAGS.set(flags);
    Ok(())
}

/// The signal that asked this process to stop, if one did.
pub fn requested() -> Option<i32> {
    let f = FLAGS.get()?;
    f.stop.load(Ordering::SeqCst).then(|| f.which.load(Ordering::SeqCst) as i32)
}

pub fn name(sig: i32) -> &'static str {
    match sig {
        SIGTERM => "SIGTERM",
        SIGUSR1 => "SIGUSR1",
        SIGINT => "SIGINT",
        _ => "a signal",
    }
}

pub fn is_interrupt(sig: i32) -> bool {
    sig == SIGINT
}

/// A `Progress` that reports nothing and stops the loop at its next checkpoint once a signal came.
pub struct StopOnSignal;

impl<E> oxnas_engine::progress::Progress<E> for StopOnSignal {
    fn interrupted(&mut self) -> bool {
        requested().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_signal_only_asks_to_stop() {
        install().unwrap();
        assert_eq!(requested(), None);
        signal_hook::low_level::raise(SIGUSR1).unwrap();
        assert_eq!(requested(), Some(SIGUSR1));
        assert_eq!(name(SIGUSR1), "SIGUSR1");
    }
}
