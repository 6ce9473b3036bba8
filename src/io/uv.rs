//! The few libuv calls the JS-loop driver needs, on the environment's own loop: a
//! `uv_poll_t` per adopted socket, and a `uv_check_t` + `uv_idle_t` pair that runs the
//! driver's JS turn right after libuv's poll phase, timers for its sweeps, and a
//! `uv_async_t` that io threads wake it with when offloaded work is done. Node exports libuv's symbols to
//! addons; `uv_handle_size` keeps us independent of the handles' layouts, and the only
//! field touched directly is `data`, the first field of every libuv handle.

use std::ffi::{c_int, c_void};

use napi::sys;

#[allow(non_camel_case_types)]
pub type uv_poll_cb = extern "C" fn(handle: *mut c_void, status: c_int, events: c_int);
#[allow(non_camel_case_types)]
pub type uv_cb = extern "C" fn(handle: *mut c_void);
#[allow(non_camel_case_types)]
type uv_close_cb = extern "C" fn(handle: *mut c_void);

extern "C" {
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_poll_init(lp: *mut sys::uv_loop_s, handle: *mut c_void, fd: c_int) -> c_int;
    fn uv_poll_start(handle: *mut c_void, events: c_int, cb: uv_poll_cb) -> c_int;
    fn uv_check_init(lp: *mut sys::uv_loop_s, handle: *mut c_void) -> c_int;
    fn uv_check_start(handle: *mut c_void, cb: uv_cb) -> c_int;
    fn uv_check_stop(handle: *mut c_void) -> c_int;
    fn uv_idle_init(lp: *mut sys::uv_loop_s, handle: *mut c_void) -> c_int;
    fn uv_idle_start(handle: *mut c_void, cb: uv_cb) -> c_int;
    fn uv_idle_stop(handle: *mut c_void) -> c_int;
    fn uv_close(handle: *mut c_void, cb: uv_close_cb);
    fn uv_ref(handle: *mut c_void);
    fn uv_unref(handle: *mut c_void);
    fn uv_timer_init(lp: *mut sys::uv_loop_s, handle: *mut c_void) -> c_int;
    fn uv_timer_start(handle: *mut c_void, cb: uv_cb, timeout: u64, repeat: u64) -> c_int;
    fn uv_timer_stop(handle: *mut c_void) -> c_int;
    fn uv_async_init(lp: *mut sys::uv_loop_s, handle: *mut c_void, cb: uv_cb) -> c_int;
    fn uv_async_send(handle: *mut c_void) -> c_int;
    #[cfg(target_os = "linux")]
    fn uv_backend_fd(lp: *const sys::uv_loop_s) -> c_int;
}

// libuv's `uv_handle_type` values.
const UV_ASYNC: c_int = 1;
const UV_CHECK: c_int = 2;
const UV_IDLE: c_int = 6;
const UV_POLL: c_int = 8;
const UV_TIMER: c_int = 13;

/// `uv_poll_event` bits.
pub const READABLE: c_int = 1;
pub const WRITABLE: c_int = 2;
pub const DISCONNECT: c_int = 4;

/// Handle memory: libuv's size in whole u64s (for alignment), then one word of ours
/// (see [`handle_extra`]); freed by the close callback.
fn alloc_handle(kind: c_int) -> Option<*mut c_void> {
    // Safe: a pure function of the handle type.
    let words = unsafe { uv_handle_size(kind) }.div_ceil(8);
    if words == 0 {
        return None;
    }
    let mem = vec![0u64; words + 2].into_boxed_slice();
    let handle = Box::into_raw(mem) as *mut u64;
    // Safe: the slice has `words + 2` elements; the last one records its length.
    unsafe { *handle.add(words + 1) = (words + 2) as u64 };
    Some(handle as *mut c_void)
}

/// The word after libuv's part of a handle from [`alloc_handle`].
fn extra_slot(kind: c_int, handle: *mut c_void) -> *mut u64 {
    // Safe: as in `alloc_handle`.
    let words = unsafe { uv_handle_size(kind) }.div_ceil(8);
    // Safe: inside the allocation made by `alloc_handle`.
    unsafe { (handle as *mut u64).add(words) }
}

extern "C" fn free_poll(handle: *mut c_void) {
    free_handle(UV_POLL, handle)
}

extern "C" fn free_timer(handle: *mut c_void) {
    free_handle(UV_TIMER, handle)
}

extern "C" fn free_check(handle: *mut c_void) {
    free_handle(UV_CHECK, handle)
}

extern "C" fn free_idle(handle: *mut c_void) {
    free_handle(UV_IDLE, handle)
}

extern "C" fn free_async(handle: *mut c_void) {
    free_handle(UV_ASYNC, handle)
}

fn free_handle(kind: c_int, handle: *mut c_void) {
    // Safe: called once per handle from `alloc_handle`, after libuv is done with it.
    unsafe {
        let words = uv_handle_size(kind).div_ceil(8);
        let len = *(handle as *mut u64).add(words + 1) as usize;
        drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
            handle as *mut u64,
            len,
        )));
    }
}

/// Reads the `data` pointer of a handle libuv passed to a callback.
///
/// # Safety
/// `handle` must be a live libuv handle.
pub unsafe fn handle_data(handle: *mut c_void) -> *mut c_void {
    *(handle as *mut *mut c_void)
}

/// Reads the word stored with a poll handle ([`SocketPoll::new`]).
///
/// # Safety
/// `handle` must be a live poll handle made by [`SocketPoll::new`].
pub unsafe fn poll_extra(handle: *mut c_void) -> u64 {
    *extra_slot(UV_POLL, handle)
}

/// A `uv_poll_t` watching one socket. Keeps the loop alive while open (like a Node
/// socket); closed when dropped, which must happen before the fd is closed.
pub struct SocketPoll {
    handle: *mut c_void,
    events: c_int,
}

impl SocketPoll {
    /// A poll handle for `fd` whose callbacks get `data` (in `data`) and `extra`
    /// (through [`poll_extra`]). Not started.
    pub fn new(lp: *mut sys::uv_loop_s, fd: c_int, data: *mut c_void, extra: u64) -> Option<Self> {
        let handle = alloc_handle(UV_POLL)?;
        // Safe: fresh zeroed handle memory of libuv's size, `data` its first field.
        unsafe {
            if uv_poll_init(lp, handle, fd) != 0 {
                free_handle(UV_POLL, handle);
                return None;
            }
            *(handle as *mut *mut c_void) = data;
            *extra_slot(UV_POLL, handle) = extra;
        }
        Some(SocketPoll { handle, events: 0 })
    }

    /// Lets the loop exit while this handle is open (for a listening socket whose
    /// Node server handle already decides that, `server.unref()` included).
    pub fn unref(&self) {
        // Safe: an open handle.
        unsafe { uv_unref(self.handle) }
    }

    /// Watches for `events` (0 stops watching); a no-op when they are unchanged, so
    /// callers can say what they want after every step.
    pub fn watch(&mut self, events: c_int, cb: uv_poll_cb) -> bool {
        if events == self.events {
            return true;
        }
        self.events = events;
        // Safe: an open handle (closing consumes self). uv_poll_start with 0 events
        // is libuv's documented way to stop.
        unsafe { uv_poll_start(self.handle, events, cb) == 0 }
    }
}

impl Drop for SocketPoll {
    /// Stops watching and closes the handle (libuv frees it on its next turn). After
    /// this the fd may be closed.
    fn drop(&mut self) {
        // Safe: open handle; uv_close stops it at once; memory freed by the callback.
        unsafe {
            *(self.handle as *mut *mut c_void) = std::ptr::null_mut();
            uv_close(self.handle, free_poll);
        }
    }
}

/// A `uv_check_t` and a `uv_idle_t` started together: the check runs `cb` right after
/// libuv's poll phase; the idle keeps that poll from blocking meanwhile. Unref'd
/// unless [`Self::set_ref`]: they keep the loop alive only while work is scheduled.
pub struct AfterPoll {
    check: *mut c_void,
    idle: *mut c_void,
    cb: uv_cb,
    scheduled: bool,
}

extern "C" fn idle_noop(_handle: *mut c_void) {}

impl AfterPoll {
    pub fn new(lp: *mut sys::uv_loop_s, data: *mut c_void, cb: uv_cb) -> Option<Self> {
        let check = alloc_handle(UV_CHECK)?;
        let Some(idle) = alloc_handle(UV_IDLE) else {
            free_handle(UV_CHECK, check);
            return None;
        };
        // Safe: fresh handle memory of libuv's sizes.
        unsafe {
            if uv_check_init(lp, check) != 0 {
                free_handle(UV_CHECK, check);
                free_handle(UV_IDLE, idle);
                return None;
            }
            if uv_idle_init(lp, idle) != 0 {
                uv_close(check, free_check);
                free_handle(UV_IDLE, idle);
                return None;
            }
            *(check as *mut *mut c_void) = data;
            uv_unref(check);
            uv_unref(idle);
        }
        Some(AfterPoll {
            check,
            idle,
            cb,
            scheduled: false,
        })
    }

    /// Runs the callback after this (or the next) poll phase, without blocking.
    pub fn schedule(&mut self) {
        if self.scheduled {
            return;
        }
        self.scheduled = true;
        // Safe: open handles.
        unsafe {
            uv_check_start(self.check, self.cb);
            uv_idle_start(self.idle, idle_noop);
        }
    }

    /// Called first thing by the callback: nothing more is scheduled.
    pub fn unschedule(&mut self) {
        if !self.scheduled {
            return;
        }
        self.scheduled = false;
        // Safe: open handles.
        unsafe {
            uv_check_stop(self.check);
            uv_idle_stop(self.idle);
        }
    }

    /// Whether scheduled work keeps the loop (and the process) alive.
    pub fn set_ref(&self, on: bool) {
        // Safe: open handles.
        unsafe {
            if on {
                uv_ref(self.check);
                uv_ref(self.idle);
            } else {
                uv_unref(self.check);
                uv_unref(self.idle);
            }
        }
    }

    pub fn close(self) {
        // Safe: open handles, freed by their close callbacks.
        unsafe {
            *(self.check as *mut *mut c_void) = std::ptr::null_mut();
            uv_close(self.check, free_check);
            uv_close(self.idle, free_idle);
        }
    }
}

/// A repeating `uv_timer_t` that never keeps the loop alive; stopped and closed when
/// dropped.
pub struct Timer {
    handle: *mut c_void,
}

impl Timer {
    /// Calls `cb` (whose handle's `data` is `data`) every `every_ms`, first after that.
    pub fn start(
        lp: *mut sys::uv_loop_s,
        data: *mut c_void,
        every_ms: u64,
        cb: uv_cb,
    ) -> Option<Self> {
        let handle = alloc_handle(UV_TIMER)?;
        // Safe: fresh zeroed handle memory of libuv's size, `data` its first field.
        unsafe {
            if uv_timer_init(lp, handle) != 0 {
                free_handle(UV_TIMER, handle);
                return None;
            }
            *(handle as *mut *mut c_void) = data;
            uv_unref(handle);
            if uv_timer_start(handle, cb, every_ms, every_ms) != 0 {
                uv_close(handle, free_timer);
                return None;
            }
        }
        Some(Timer { handle })
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // Safe: an open handle, freed by its close callback.
        unsafe {
            *(self.handle as *mut *mut c_void) = std::ptr::null_mut();
            uv_timer_stop(self.handle);
            uv_close(self.handle, free_timer);
        }
    }
}

/// A `uv_async_t`: lets other threads wake the loop, whose callback then runs on it.
/// Does not keep the loop alive unless [`Self::set_ref`] says so; closed when dropped.
pub struct AsyncWake {
    handle: *mut c_void,
}

/// The part of an [`AsyncWake`] other threads may hold. Using it after the
/// [`AsyncWake`] is dropped is undefined: its owner must take every copy back first
/// (see `js_loop/offload.rs`, which keeps it behind a lock it clears before the drop).
pub struct AsyncHandle(*mut c_void);

// Safe: `uv_async_send` is the one libuv call that may come from any thread.
unsafe impl Send for AsyncHandle {}

impl AsyncHandle {
    /// Wakes the loop; several wakes before the callback runs make one call.
    ///
    /// # Safety
    /// The [`AsyncWake`] this came from must not have been dropped.
    pub unsafe fn send(&self) {
        uv_async_send(self.0);
    }
}

impl AsyncWake {
    /// An async handle on `lp` whose callback gets `data` (in `data`).
    pub fn new(lp: *mut sys::uv_loop_s, data: *mut c_void, cb: uv_cb) -> Option<Self> {
        let handle = alloc_handle(UV_ASYNC)?;
        // Safe: fresh zeroed handle memory of libuv's size, `data` its first field.
        unsafe {
            if uv_async_init(lp, handle, cb) != 0 {
                free_handle(UV_ASYNC, handle);
                return None;
            }
            *(handle as *mut *mut c_void) = data;
            uv_unref(handle);
        }
        Some(AsyncWake { handle })
    }

    /// A handle for other threads; see [`AsyncHandle`].
    pub fn remote(&self) -> AsyncHandle {
        AsyncHandle(self.handle)
    }

    /// Whether the handle keeps the loop (and the process) alive.
    pub fn set_ref(&self, on: bool) {
        // Safe: an open handle, on its loop's thread.
        unsafe {
            if on {
                uv_ref(self.handle);
            } else {
                uv_unref(self.handle);
            }
        }
    }
}

impl Drop for AsyncWake {
    fn drop(&mut self) {
        // Safe: an open handle, freed by its close callback.
        unsafe {
            *(self.handle as *mut *mut c_void) = std::ptr::null_mut();
            uv_close(self.handle, free_async);
        }
    }
}

/// The fd of the loop's own epoll set (`uv_backend_fd`).
#[cfg(target_os = "linux")]
///
/// # Safety
/// `lp` must be a live loop.
pub unsafe fn backend_fd(lp: *mut sys::uv_loop_s) -> c_int {
    uv_backend_fd(lp)
}
