//! A raw-deflate compression context: zlib-rs through its zlib-style API
//! (libz-rs-sys). flate2 (used for inflating) cannot set zlib's `memLevel` or
//! `strategy`, which ws users tune through `zlibDeflateOptions`, nor choose where the
//! state lives.
//!
//! Where the state lives matters: zlib-rs zeroes about 300 KiB when it makes a deflate
//! context. From the heap, a context given back leaves a hole the allocator keeps, so
//! a server whose connections took contexts at once stays that big. On unix the state
//! is mapped straight from the kernel instead, and unmapped when the context goes.

#[cfg(unix)]
use std::ffi::c_void;
use std::ffi::{c_int, c_uint};

use libz_rs_sys::{
    deflate, deflateEnd, deflateInit2_, deflateReset, deflateSetDictionary, z_stream, zlibVersion,
    Z_DEFLATED, Z_OK, Z_SYNC_FLUSH,
};

/// One deflate stream. `None` if zlib-rs could not make one (out of memory): such a
/// context produces nothing, and the peer fails the message rather than the process.
pub struct DeflateContext(Option<Box<z_stream>>);

// Safe: the stream and the state it points to are owned by this value alone and have
// no tie to the thread that made them.
unsafe impl Send for DeflateContext {}

impl DeflateContext {
    /// A raw stream (no zlib header) with these zlib parameters, already validated.
    pub fn new(level: i32, window_bits: i32, mem_level: i32, strategy: i32) -> Self {
        // The mapped state first; the default (heap) allocator if mapping fails.
        for mapped in [cfg!(unix), false] {
            let mut strm = Box::new(z_stream::default());
            if mapped {
                set_mapping_allocator(&mut strm);
            }
            // Safe: a fresh stream in a Box (zlib-rs keeps a pointer to it, so it must
            // not move: the Box never gives it up), and this crate's z_stream size.
            let status = unsafe {
                deflateInit2_(
                    &mut *strm,
                    level,
                    Z_DEFLATED,
                    -window_bits,
                    mem_level,
                    strategy,
                    zlibVersion(),
                    std::mem::size_of::<z_stream>() as c_int,
                )
            };
            if status == Z_OK {
                return DeflateContext(Some(strm));
            }
        }
        DeflateContext(None)
    }

    /// Input bytes consumed since the stream was made or reset.
    #[allow(clippy::useless_conversion)] // zlib's counters are 32 bits on Windows
    pub fn total_in(&self) -> u64 {
        self.0.as_ref().map_or(0, |s| u64::from(s.total_in))
    }

    /// Compresses what fits of `input` into `out`'s spare capacity with a sync flush,
    /// growing `out` by what was produced; the caller loops until `input` is consumed.
    pub fn compress_sync(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let Some(strm) = self.0.as_mut() else {
            return;
        };
        let spare = out.spare_capacity_mut();
        strm.next_in = input.as_ptr();
        strm.avail_in = input.len().min(c_uint::MAX as usize) as c_uint;
        strm.next_out = spare.as_mut_ptr().cast();
        strm.avail_out = spare.len().min(c_uint::MAX as usize) as c_uint;
        let before = strm.total_out;
        // Safe: the stream was initialised by deflateInit2_; next_in/avail_in and
        // next_out/avail_out describe live slices (`out`'s spare capacity may be
        // uninitialised, which deflate only writes). Its result is progress or a
        // buffer error; both are read from the counters below.
        unsafe { deflate(&mut **strm, Z_SYNC_FLUSH) };
        #[allow(clippy::useless_conversion)] // as in total_in
        let produced = u64::from(strm.total_out - before) as usize;
        strm.next_in = std::ptr::null();
        strm.avail_in = 0;
        strm.next_out = std::ptr::null_mut();
        strm.avail_out = 0;
        // Safe: deflate wrote `produced` bytes at the start of the spare capacity.
        unsafe { out.set_len(out.len() + produced) };
    }

    /// Starts a new stream, keeping the state's memory.
    pub fn reset(&mut self) {
        if let Some(strm) = self.0.as_mut() {
            // Safe: an initialised stream.
            unsafe { deflateReset(&mut **strm) };
        }
    }

    /// Sets the preset dictionary of a fresh stream.
    pub fn set_dictionary(&mut self, dictionary: &[u8]) {
        if let Some(strm) = self.0.as_mut() {
            // Safe: an initialised stream and a live slice (at most a window long).
            unsafe {
                deflateSetDictionary(
                    &mut **strm,
                    dictionary.as_ptr(),
                    dictionary.len().min(c_uint::MAX as usize) as c_uint,
                )
            };
        }
    }
}

impl Drop for DeflateContext {
    fn drop(&mut self) {
        if let Some(strm) = self.0.as_mut() {
            // Safe: an initialised stream, ended once; its zfree unmaps the state.
            unsafe { deflateEnd(&mut **strm) };
        }
    }
}

#[cfg(unix)]
fn set_mapping_allocator(strm: &mut z_stream) {
    strm.zalloc = Some(map_alloc);
    strm.zfree = Some(map_free);
}

#[cfg(not(unix))]
fn set_mapping_allocator(_strm: &mut z_stream) {}

/// Bytes before each mapping's usable part: its length, padded to keep zlib-rs's
/// alignment (64).
#[cfg(unix)]
const HEADER: usize = 64;

/// zalloc: an anonymous private mapping (zero pages the kernel only backs once
/// touched), its length in the header.
#[cfg(unix)]
unsafe extern "C" fn map_alloc(_opaque: *mut c_void, items: c_uint, size: c_uint) -> *mut c_void {
    let Some(len) = (items as usize)
        .checked_mul(size as usize)
        .and_then(|n| n.checked_add(HEADER))
    else {
        return std::ptr::null_mut();
    };
    // Safe: a fresh anonymous mapping; nothing else refers to that range.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return std::ptr::null_mut();
    }
    // Safe: the mapping is at least HEADER bytes and page aligned.
    unsafe {
        (base as *mut usize).write(len);
        (base as *mut u8).add(HEADER).cast()
    }
}

/// zfree: unmaps what [`map_alloc`] mapped.
#[cfg(unix)]
unsafe extern "C" fn map_free(_opaque: *mut c_void, ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    // Safe: `ptr` came from map_alloc, HEADER bytes into a mapping whose length is
    // stored at its start.
    unsafe {
        let base = (ptr as *mut u8).sub(HEADER);
        let len = (base as *const usize).read();
        libc::munmap(base.cast(), len);
    }
}
