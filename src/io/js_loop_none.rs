//! The JS-loop driver where there is none: platforms without unix fds (Windows).
//!
//! Node exposes no socket descriptor there (`socket._handle.fd` is -1), so
//! `lib/native.js` never adopts a socket and every connection runs bridged: its bytes
//! stay in Node's socket and go through the same protocol core on the JS thread. This
//! driver has the real one's interface so that the bridge compiles unchanged; it never
//! holds a connection, and `adopt` says why.

// The interface mirrors the unix driver's, so some of it goes unused here.
#![allow(dead_code)]

use std::cell::Cell;

use napi::sys;
use wsrs_proto::{Receiver, Sender};

use crate::io::SocketName;
use crate::wire::Outgoing;

use super::sockopt::SocketOption;

/// Flags in `take`'s result, as in the unix driver.
pub const TAKE_NEW_ARENA: u32 = 1 << 30;
pub const TAKE_BIGS: u32 = 1 << 29;
pub const TAKE_NEW_READ_ARENA: u32 = 1 << 28;
pub const TAKE_COUNT_MASK: u32 = TAKE_NEW_READ_ARENA - 1;

/// No poll handles here.
pub type Poll = std::convert::Infallible;

/// What `pendingAccept` takes over; never made here (nothing is accepted natively).
pub struct Accepted {
    pub stream: std::net::TcpStream,
    pub poll: Option<std::convert::Infallible>,
    pub early: Vec<u8>,
}

/// A driver with no connections.
pub struct LoopDriver {
    env: sys::napi_env,
    referenced: Cell<bool>,
    next_id: Cell<u32>,
}

impl LoopDriver {
    /// # Safety
    /// `env` must be the environment of the current call.
    pub unsafe fn new(
        env: sys::napi_env,
        _on_loop: sys::napi_value,
        _log: sys::napi_value,
    ) -> napi::Result<Box<LoopDriver>> {
        Ok(Box::new(LoopDriver {
            env,
            referenced: Cell::new(false),
            next_id: Cell::new(1),
        }))
    }

    /// Nothing to keep alive: bridged sockets keep Node's loop alive themselves.
    pub fn set_ref(&self, on: bool) {
        self.referenced.set(on);
    }

    pub fn has(&self, _id: u32) -> bool {
        false
    }

    /// A new connection id (never 0).
    pub fn new_id(&self) -> u32 {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1).max(1));
        id
    }

    /// Node keeps accepting here.
    pub fn listen(
        &self,
        _fd: i32,
        _max_head: usize,
        _headers_timeout: Option<std::time::Duration>,
    ) -> std::io::Result<u32> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "native accept is Linux-only",
        ))
    }

    pub fn unlisten(&self, _id: u32) {}

    pub fn set_to_node(&self, _id: u32, _on: bool) {}

    pub fn pending_from_fd(&self, _listener: u32, _fd: i32) -> bool {
        false
    }

    pub fn pending_release(&self, _id: u32) -> Option<(i32, Vec<u8>)> {
        None
    }

    pub fn pending_take(&self, _id: u32) -> Option<Accepted> {
        None
    }

    pub fn pending_write(&self, _id: u32, _data: &[u8]) -> bool {
        false
    }

    pub fn pending_close(&self, _id: u32, _end: bool) {}

    pub fn socket_name(&self, _id: u32) -> Option<SocketName> {
        None
    }

    pub fn closed_early(&self, _id: u32) {}

    pub fn adopt(
        &self,
        _id: u32,
        _socket: (std::net::TcpStream, Option<std::convert::Infallible>),
        _head: &mut [u8],
        _preamble: &[u8],
        _codec: (Receiver, Sender),
    ) -> std::io::Result<()> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "sockets are not adopted on this platform (no fds); connections run bridged",
        ))
    }

    pub fn batch(&self, _bigs: Vec<sys::napi_value>) -> LoopBatch<'_> {
        LoopBatch { _driver: self }
    }

    pub fn pause(&self, _id: u32, _paused: bool) {}

    pub fn set_socket_option(&self, _id: u32, _option: SocketOption) -> bool {
        false
    }

    pub fn terminate(&self, _id: u32) {}

    pub fn set_tap(&self, _id: u32, _on: bool) -> bool {
        false
    }

    pub fn inject(&self, _id: u32, _bytes: Option<&mut [u8]>) -> bool {
        false
    }

    pub fn reset(&self, _id: u32) -> bool {
        false
    }

    pub fn byte_counts(&self, _id: u32) -> Option<(u64, u64)> {
        None
    }

    /// No connection ever stages events.
    pub fn take(&self) -> napi::Result<u32> {
        Ok(0)
    }

    /// `null`: JS only asks after a `take` that returned records.
    pub fn arena(&self) -> sys::napi_value {
        self.null()
    }

    pub fn read_arena(&self) -> sys::napi_value {
        self.null()
    }

    pub fn take_bigs(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }

    fn null(&self) -> sys::napi_value {
        let mut value = std::ptr::null_mut();
        // Safe: `env` is the environment this driver was made in, used on its thread.
        unsafe { sys::napi_get_null(self.env, &mut value) };
        value
    }
}

/// The outbox records of one `flush` for this driver: never any.
pub struct LoopBatch<'d> {
    _driver: &'d LoopDriver,
}

impl LoopBatch<'_> {
    pub fn has(&self, _id: u32) -> bool {
        false
    }

    pub fn queue(&mut self, _id: u32, _out: Outgoing, _payload: &[u8], _big: Option<u32>) {}

    pub fn finish(self, _written: &mut [u8]) -> u32 {
        0
    }
}
