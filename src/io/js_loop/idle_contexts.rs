//! Gives back the zlib contexts of JS-loop connections that went quiet, as the io
//! threads do for theirs: the deflating half after [`deflate_context_idle`] without
//! sending (its context is the big one, ~300 KiB), the inflating half after
//! [`context_idle`] without receiving. A timer sweeps the compressed connections and
//! compares their byte counters with the last sweep's, so the per-message path pays
//! nothing for it.

use std::ffi::c_void;
use std::time::Instant;

use super::{with_driver, LoopDriver};
use crate::io::connection::{context_idle, deflate_context_idle};
use crate::io::uv::Timer;

/// One compressed connection's counters at the last sweep.
pub struct Seen {
    written: u64,
    read: u64,
    /// When `read` last moved.
    read_at: Instant,
}

impl LoopDriver {
    /// Starts watching connection `id` (compressed) for idleness.
    pub(super) fn watch_contexts(&self, id: u32) {
        self.contexts_seen.borrow_mut().insert(
            id,
            Seen {
                written: 0,
                read: 0,
                read_at: Instant::now(),
            },
        );
        let mut sweep = self.contexts_sweep.borrow_mut();
        if sweep.is_none() {
            let data = self as *const LoopDriver as *mut c_void;
            let every = deflate_context_idle().as_millis().clamp(10, 60_000) as u64;
            *sweep = Timer::start(self.uv_loop, data, every, on_contexts_sweep);
        }
    }

    /// One sweep: a deflater that sent nothing since the last sweep, and an inflater
    /// that received nothing for the inflate idle time, give their contexts back.
    fn sweep_contexts(&self) {
        let now = Instant::now();
        let inflate_idle = context_idle();
        let mut conns = self.conns.borrow_mut();
        let mut seen = self.contexts_seen.borrow_mut();
        seen.retain(|id, seen| {
            let Some(conn) = conns.get_mut(id) else {
                return false;
            };
            // Away on the io threads: busy, by definition.
            if !conn.offloading {
                if conn.written == seen.written && conn.out_pos == conn.out.len() {
                    conn.sender.release_idle_context();
                }
                if conn.read != seen.read {
                    seen.read_at = now;
                } else if now.duration_since(seen.read_at) >= inflate_idle {
                    conn.receiver.release_idle_context();
                }
            }
            seen.written = conn.written;
            seen.read = conn.read;
            true
        });
        if seen.is_empty() {
            *self.contexts_sweep.borrow_mut() = None;
        }
    }
}

/// The context sweep timer's callback.
extern "C" fn on_contexts_sweep(handle: *mut c_void) {
    // Safe: the driver's timer (see `with_driver`).
    unsafe { with_driver(handle, LoopDriver::sweep_contexts) }
}
