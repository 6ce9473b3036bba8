//! The process-wide tokio runtime, started on first use and shared by every Node
//! environment (main thread and workers).

use std::sync::OnceLock;
use tokio::runtime::Runtime;

static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();

/// Worker threads: `WS_RS_THREADS` if set, else `max(1, min(4, cores - 1))`, leaving a
/// core to the JS thread.
fn worker_count() -> usize {
    if let Some(n) = std::env::var("WS_RS_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        return n.max(1);
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    cores.saturating_sub(1).clamp(1, 4)
}

/// The runtime, or `None` if it could not be started (the caller reports an error).
pub fn get() -> Option<&'static Runtime> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(worker_count())
                // Large compressions of JS-loop connections (`js_loop/offload.rs`): as
                // many at a time as io threads, the rest wait their turn in order
                // (ws's zlib work likewise waits for libuv's 4 threads).
                .max_blocking_threads(worker_count())
                .thread_name("ws-rs-io")
                .enable_all()
                .build()
                .ok()
        })
        .as_ref()
}
