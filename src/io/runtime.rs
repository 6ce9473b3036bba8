//! The process-wide tokio runtime, started on first use and shared by every Node
//! environment (main thread and workers).

use std::sync::{Mutex, OnceLock};
use tokio::runtime::Runtime;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
/// Held while a runtime is being built, so that only one is.
static STARTING: Mutex<()> = Mutex::new(());

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

/// The runtime, or `None` if it could not be started now. A failure is not kept: a
/// runtime needs descriptors of its own (epoll, an eventfd), so one asked for while the
/// process has none left is tried again at the next use.
pub fn get() -> Option<&'static Runtime> {
    if let Some(rt) = RUNTIME.get() {
        return Some(rt);
    }
    let _starting = STARTING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rt) = RUNTIME.get() {
        return Some(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_count())
        // Large compressions of JS-loop connections (`js_loop/offload.rs`): as many at
        // a time as io threads, the rest wait their turn in order (ws's zlib work
        // likewise waits for libuv's 4 threads).
        .max_blocking_threads(worker_count())
        .thread_name("ws-rs-io")
        .enable_all()
        .build()
        .ok()?;
    Some(RUNTIME.get_or_init(|| rt))
}
