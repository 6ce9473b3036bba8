//! The few libuv calls the JS-loop driver needs: a `uv_poll_t` on the environment's own
//! loop watching one fd (the driver's epoll fd). Node exports libuv's symbols to
//! addons; `uv_handle_size` keeps us independent of the handle's layout, and the only
//! field touched directly is `data`, the first field of every libuv handle.

use std::ffi::{c_int, c_void};

use napi::sys;

#[allow(non_camel_case_types)]
type uv_poll_cb = extern "C" fn(handle: *mut c_void, status: c_int, events: c_int);
#[allow(non_camel_case_types)]
type uv_close_cb = extern "C" fn(handle: *mut c_void);

extern "C" {
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_poll_init(lp: *mut sys::uv_loop_s, handle: *mut c_void, fd: c_int) -> c_int;
    fn uv_poll_start(handle: *mut c_void, events: c_int, cb: uv_poll_cb) -> c_int;
    fn uv_poll_stop(handle: *mut c_void) -> c_int;
    fn uv_close(handle: *mut c_void, cb: uv_close_cb);
    fn uv_ref(handle: *mut c_void);
    fn uv_unref(handle: *mut c_void);
}

/// `UV_POLL` in libuv's `uv_handle_type`.
const UV_POLL: c_int = 8;
/// `UV_READABLE` in libuv's `uv_poll_event`.
const UV_READABLE: c_int = 1;

/// A started poll handle; `data` is handed back to the callback.
pub struct PollHandle {
    handle: *mut c_void,
}

/// The handle's memory: libuv's size, rounded up to whole u64s for alignment.
fn handle_words() -> usize {
    // Safe: a pure function of the handle type.
    let bytes = unsafe { uv_handle_size(UV_POLL) };
    bytes.div_ceil(8)
}

impl PollHandle {
    /// Watches `fd` for readability on `lp`, calling `cb` with `data` in the handle.
    /// The handle starts unref'd: it keeps the loop alive only after [`Self::set_ref`].
    pub fn start(
        lp: *mut sys::uv_loop_s,
        fd: c_int,
        data: *mut c_void,
        cb: uv_poll_cb,
    ) -> Option<PollHandle> {
        let words = handle_words();
        if words == 0 {
            return None;
        }
        let handle = Box::into_raw(vec![0u64; words].into_boxed_slice()) as *mut u64 as *mut c_void;
        // Safe: `handle` is zeroed memory of libuv's size for a poll handle, and
        // `data` is its first field.
        unsafe {
            if uv_poll_init(lp, handle, fd) != 0 {
                free_handle(handle);
                return None;
            }
            *(handle as *mut *mut c_void) = data;
            if uv_poll_start(handle, UV_READABLE, cb) != 0 {
                uv_close(handle, free_handle_cb);
                return None;
            }
            uv_unref(handle);
        }
        Some(PollHandle { handle })
    }

    /// Lets the handle keep the loop (and the process) alive, or not.
    pub fn set_ref(&self, on: bool) {
        // Safe: the handle is open until `close`, which consumes self.
        unsafe {
            if on {
                uv_ref(self.handle)
            } else {
                uv_unref(self.handle)
            }
        }
    }

    /// Stops watching and closes the handle; libuv frees it on its next turn.
    pub fn close(self) {
        // Safe: open handle; its memory is freed by the close callback.
        unsafe {
            uv_poll_stop(self.handle);
            *(self.handle as *mut *mut c_void) = std::ptr::null_mut();
            uv_close(self.handle, free_handle_cb);
        }
    }
}

/// Reads the `data` pointer of a handle libuv passed to a callback.
///
/// # Safety
/// `handle` must be a live libuv handle.
pub unsafe fn handle_data(handle: *mut c_void) -> *mut c_void {
    *(handle as *mut *mut c_void)
}

extern "C" fn free_handle_cb(handle: *mut c_void) {
    // Safe: called once by libuv for a handle we allocated in `start`.
    unsafe { free_handle(handle) }
}

unsafe fn free_handle(handle: *mut c_void) {
    let words = handle_words();
    drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
        handle as *mut u64,
        words,
    )));
}
