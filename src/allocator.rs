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
/// names the symbol `_rjem_malloc_conf`). `dirty_decay_ms:-1` keeps freed pages for reuse
/// instead of returning them to the OS: a replay allocates and frees every epoch's batches,
/// and returning them made the kernel zero the same pages again and again (system time 1.5 vs
/// 0.9 s for the year). The cost: RSS stays at its high-water mark.
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &[u8; 18] = b"dirty_decay_ms:-1\0";
