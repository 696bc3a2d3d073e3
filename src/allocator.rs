//! The process allocator, here so that the `caspers` binary and the benchmark (which runs the
//! pipeline in process) both get it.
//!
//! The pipeline allocates many small strings and vectors per event, and keeps many of them for
//! the whole run (the views' state). jemalloc against mimalloc, which was used before, on a
//! year of San Francisco at `-w 2`: peak RSS 615-645 vs 700-710 MB at 3.2-3.3 vs 3.3-3.4 s;
//! on the 5 M-event dataset 5.7-5.9 vs 6.3 s at 990 vs 1030 MB. glibc malloc peaked at
//! 560 MB but took 12% more CPU.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read as a C string at its first allocation (the crate's prefixed build
/// names the symbol `_rjem_malloc_conf`). `dirty_decay_ms:5000` keeps freed pages for reuse
/// five seconds (jemalloc's default is ten, purged gradually from the start): a replay
/// allocates and frees every epoch's batches, and returning them at once made the kernel zero
/// the same pages again and again. Never purging (`-1`) was fastest for the year (3.25-3.34 s,
/// 0.9 s system time, vs 3.24-3.54 s and ~1.3 s here) but a long run then keeps its high-water
/// mark: a year with `--pg` peaked at 2.7 GB instead of 1.8 GB (and at 2.06 vs 1.49-1.59 GB
/// again at stop 16).
///
/// `oversize_threshold:0` turns off jemalloc's eager purge of large free extents: a freed
/// extent that, merged with its free neighbours, reaches the threshold (8 MiB by default) goes
/// back to the kernel at once, decay or not. Each bronze file's columns are ~5 MB apiece, so
/// two of them freed side by side were unmapped, and the next file faulted the same pages in
/// again, zeroed: a year of San Francisco at `-w 2` took ~400 K page faults and 2.2-2.6 s of
/// system time; without the eager purge ~97 K and 1.1-1.6 s, at a peak RSS within ~5%
/// (283-299 vs 296-309 MB; with `--pg` 1.49 vs 1.52 GB), and the 5 M-event set went from
/// 3.6-5.7 to 2.1-2.2 s of system time.
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &[u8; 41] = b"dirty_decay_ms:5000,oversize_threshold:0\0";
