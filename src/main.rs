//! The `caspers` binary: parse the command line, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

/// `mi_option_purge_delay` in mimalloc.h (index 15 in both the v2 and v3 enums); the Rust
/// bindings do not name it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// `mi_option_allow_thp` in the v3 mimalloc.h that libmimalloc-sys builds by default.
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// Exit code when a peer process of a timely cluster is lost.
const EXIT_PEER_LOST: i32 = 3;

fn main() -> ExitCode {
    // Returning freed memory to the OS at once made the kernel zero the same pages again and
    // again (a quarter of a replay's time); a one-second delay keeps RSS the same and cuts
    // system time by half (bench/RESULTS.md).
    // SAFETY: sets a process-wide allocator option; called before any thread is started.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) };
    // With transparent huge pages every first touch of a 2 MiB region zeroed all of it, and
    // the arrangements' merges touch fresh regions all the time: a quarter of a replay's
    // samples were the kernel clearing pages. Off, system time drops ~3 s per year of data
    // (bench/RESULTS.md).
    // SAFETY: as above.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0) };
    disable_thp_for_process();
    install_peer_loss_hook();
    let cli = caspers::cli::Cli::parse();
    match caspers::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed stdout (`caspers demo | head`) is not a failure.
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            eprintln!("caspers: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Turns transparent huge pages off for the whole process, including memory mimalloc reserved
/// before `main`.
///
/// The option above comes too late for mimalloc's first arena (1 GiB, reserved by the runtime's
/// first allocation and `madvise`d for huge pages while the option still said yes). A process
/// that stays under 1 GiB (each of 2 processes × 1 worker on a year of data) lived wholly in
/// huge pages: 21% of its samples were the kernel zeroing them, 3 CPU-s per year of data, and
/// ~2.5 CPU-s for 1 × 2 workers too (bench/RESULTS.md). `PR_SET_THP_DISABLE` applies to every
/// mapping of the process, whatever its `madvise`; `MIMALLOC_ALLOW_THP=0` in the environment
/// does the same.
fn disable_thp_for_process() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with integer arguments only sets a flag of this process; a failure (an old
    // kernel) leaves huge pages on, which costs time, not correctness.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Timely cannot survive a lost peer: its network threads panic and the workers follow. Turn
/// that into one clear line and a prompt exit instead of a page of backtraces, so a supervisor
/// (or `scripts/cluster.sh`) restarts the cluster, which replays the landing directory.
fn install_peer_loss_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if payload.contains("timely communication error") || payload.contains("MergeQueue poisoned")
        {
            eprintln!(
                "caspers: lost the connection to a peer process ({payload}); timely cannot continue \
                 without it. Restart every process: the restart replays the landing directory."
            );
            std::process::exit(EXIT_PEER_LOST);
        }
        default(info);
    }));
}

// The pipeline allocates many small strings and vectors per event; mimalloc is markedly faster
// than glibc malloc for that pattern (see bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
