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
/// mark: a year with `--pg` peaked at 2.7 GB instead of 1.8 GB.
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &[u8; 20] = b"dirty_decay_ms:5000\0";
