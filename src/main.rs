//! The `caspers` binary: parse the command line, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

/// Exit code when a peer process of a timely cluster is lost.
const EXIT_PEER_LOST: i32 = 3;

fn main() -> ExitCode {
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

/// Turns transparent huge pages off for the whole process, including memory the allocator
/// mapped before `main`.
///
/// With huge pages every first touch of a 2 MiB region zeroed all of it, and the arrangements'
/// merges touch fresh regions all the time: with the allocator used before (mimalloc), 21% of
/// a process's samples were the kernel zeroing them, ~3 CPU-s per year of data
/// (bench/RESULTS.md). `PR_SET_THP_DISABLE` applies to every mapping of the process, whatever
/// its `madvise`.
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
