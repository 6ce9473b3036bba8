//! The JS-loop driver: adopted sockets served on the JS thread's own event loop, with
//! no thread hop per message (see `../shared/DESIGN.md`, "Data flow" 3).
//!
//! Each adopted fd has a `uv_poll_t` on the environment's libuv loop, exactly like a
//! Node socket: libuv's own epoll reports it, and [`on_socket`] reads it (straight
//! into the read arena JS sees), feeds the protocol core and stages the events, or
//! writes what is pending. Right after libuv's poll phase, a check handle runs
//! [`LoopDriver::turn`]: one call into JS (`onLoop` in `lib/native.js`) delivers the
//! events of every socket that was ready, and what the handlers send is framed and
//! written by [`LoopDriver::queue`] and [`LoopDriver::write_touched`] before that call
//! returns, straight to the socket; what the kernel does not take waits for writable.
//! Compressed connections are served here too: a large compressed frame is made on
//! the io threads while that connection's later records wait (`offload.rs`), and a
//! timer gives idle connections' zlib contexts back (`idle_contexts.rs`).
//!
//! Fairness: libuv's epoll is level-triggered, so a socket left unread (a read
//! budget of [`READ_BUDGET`] per loop iteration, JS still busy with earlier events, or
//! too much undelivered) is simply reported again on the next iteration, after
//! timers and other I/O. A turn stops calling JS after [`TURN_BUDGET`], and JS stops
//! dispatching after its own budget and keeps the rest for the next turn.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::ffi::{c_int, c_void};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use napi::sys;
use wsrs_proto::{Receiver, Sender};

mod accept;
mod idle_contexts;
mod offload;

pub use super::uv::SocketPoll as Poll;

use super::events::{EventQueue, Recorder};
use super::sockopt::{self, set_sockopt, SocketOption};
use super::uv::{self, handle_data, poll_extra, AfterPoll, SocketPoll};
use super::IdMap;
use crate::wire::{self, event, heartbeat_spec, Outgoing, HEARTBEAT_PAYLOAD};
use offload::{HeldBytes, Offload, OFFLOAD_MIN};

/// Bytes asked of each read.
const READ_SIZE: usize = 64 * 1024;
/// Most events one read should come to: a read of tiny frames makes the next one
/// smaller, so that a peer flooding empty frames (~10,000 in 64 KiB) hands a slow
/// handler about this many at a time, and other sockets' messages are not kept waiting
/// behind a second of its work (`__test__/flood.test.js`). Reads of messages of 128
/// bytes and more stay at [`READ_SIZE`].
const READ_EVENTS: usize = 512;
/// The smallest read [`READ_EVENTS`] makes.
const MIN_READ_CAP: usize = 1024;
/// A frame with at least this much payload still to come is read straight into its
/// message (`Receiver::direct_room`).
const DIRECT_MIN: usize = 64 * 1024;
/// Bytes read from all sockets before the staged events go to JS.
const READ_BUDGET: usize = 1024 * 1024;
/// No new round of reads starts after this long in one callback.
const TURN_BUDGET: Duration = Duration::from_millis(2);
/// A write buffer larger than this is freed once written; smaller ones go back to the
/// driver's pool, so an idle connection holds no write buffer at all.
const IDLE_KEEP: usize = 16 * 1024;
/// Most spare write buffers the pool keeps.
const POOL_MAX: usize = 256;

/// One adopted socket served on the JS loop.
struct LoopConn {
    /// Declared before `stream`, so it is closed before the fd (libuv's rule).
    poll: Option<SocketPoll>,
    stream: TcpStream,
    receiver: Receiver,
    sender: Sender,
    /// Framed bytes not yet taken by the kernel: `out[out_pos..]`.
    out: Vec<u8>,
    out_pos: usize,
    /// Bytes framed and bytes written, since the start.
    queued: u64,
    written: u64,
    /// Bytes read from the socket since adoption (`ws._socket.bytesRead`).
    read: u64,
    /// Where each unacknowledged frame ends (in `queued` bytes), oldest first: a
    /// frame is acknowledged (send callback, `bufferedAmount`) once the kernel took
    /// its last byte, as ws's write callbacks are, not when a whole flush is out.
    acks: VecDeque<u64>,
    /// JS asked to end the write side after what is queued.
    end_requested: bool,
    write_shut: bool,
    read_closed: bool,
    paused: bool,
    /// Touched by the current flush.
    touched: bool,
    /// Most bytes the next read asks for; see [`READ_EVENTS`].
    read_cap: u32,
    /// `ws._socket` has `'data'` listeners: each read is also reported as read.
    tap: bool,
    /// Payloads of this flush written from where JS holds them rather than copied
    /// into `out`; see [`Gap`]. Empty outside a [`LoopBatch`].
    gaps: Vec<Gap>,
    /// The sender is on the io threads framing a large compressed message; later
    /// records wait in [`Offload`].
    offloading: bool,
}

/// A payload that belongs at `out[at]` (right after its frame header) but lies where
/// JS holds it: valid until the [`LoopBatch`] that queued it ends, or for as long as a
/// [`Pinned`] reference keeps its Buffer alive.
struct Gap {
    at: usize,
    ptr: *const u8,
    len: usize,
    hold: Hold,
}

/// What keeps a [`Gap`]'s bytes alive.
#[derive(Clone)]
enum Hold {
    /// The running batch; `Some(i)`: the batch's big payload `i`, a JS Buffer that
    /// can be pinned. `None`: bytes of the outbox, copied if they outlive the batch.
    Batch(Option<u32>),
    /// A reference to the JS Buffer, shared by every connection still writing it.
    Pinned { _buffer: Rc<Pinned> },
}

/// A JS Buffer kept alive while connections still have to write from it: one Buffer
/// sent to many slow readers is held once, as ws holds it, never copied per
/// connection. Dropped on the JS thread (connections live there).
pub struct Pinned {
    env: sys::napi_env,
    reference: sys::napi_ref,
    /// False once the driver is being dropped with its environment: references then
    /// die with the environment and must not be deleted one by one.
    env_alive: Rc<Cell<bool>>,
}

impl Pinned {
    /// # Safety
    /// `value` must be a Buffer of `env`, on the JS thread, inside a napi call.
    unsafe fn new(
        env: sys::napi_env,
        value: sys::napi_value,
        env_alive: &Rc<Cell<bool>>,
    ) -> Option<Rc<Pinned>> {
        let mut reference = std::ptr::null_mut();
        (sys::napi_create_reference(env, value, 1, &mut reference) == sys::Status::napi_ok).then(
            || {
                Rc::new(Pinned {
                    env,
                    reference,
                    env_alive: env_alive.clone(),
                })
            },
        )
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        if self.env_alive.get() {
            // Safe: created on this thread for this environment, deleted once.
            unsafe { sys::napi_delete_reference(self.env, self.reference) };
        }
    }
}

/// Pins a big payload of the running batch by its index (see [`LoopBatch`]).
type Pin<'a> = &'a mut dyn FnMut(u32) -> Option<Rc<Pinned>>;

/// `payload` for later: read in place if `hold` pins it (large JS Buffers), else copied.
fn held_bytes(payload: &[u8], hold: &mut dyn FnMut() -> Option<Rc<Pinned>>) -> HeldBytes {
    if payload.len() >= GATHER_MIN {
        if let Some(pin) = hold() {
            // Safe: the pin keeps the Buffer, and so `payload`, alive and in place.
            return unsafe { HeldBytes::pinned(payload, pin) };
        }
    }
    HeldBytes::Owned(payload.to_vec())
}

/// Payloads from this size on are written from where they lie (`writev`), not copied.
const GATHER_MIN: usize = 2048;
/// Most pieces in one `writev`.
const MAX_IOV: usize = 64;

/// The read cap after a read of `n` bytes that made `events` records
/// ([`READ_EVENTS`]): scaled down in proportion when over, doubled back towards
/// [`READ_SIZE`] when a full read stayed under.
fn next_read_cap(cap: usize, n: usize, events: usize) -> usize {
    if events > READ_EVENTS {
        (n.saturating_mul(READ_EVENTS) / events).clamp(MIN_READ_CAP, READ_SIZE)
    } else if n >= cap {
        cap.saturating_mul(2).min(READ_SIZE)
    } else {
        cap
    }
}

impl LoopConn {
    /// Writes `out[out_pos..]` with the gap payloads in place, by `writev`, as far as
    /// the kernel takes it. What is left stays as it is: framed bytes in `out`, each
    /// payload where it lies (see [`Self::settle_gaps`] for the end of a batch).
    /// Returns whether everything was written.
    fn write_gathered(&mut self) -> std::io::Result<bool> {
        // Each piece: bytes, and the gap they are (None: bytes of `out`).
        let mut pieces: Vec<(&[u8], Option<usize>)> = Vec::with_capacity(self.gaps.len() * 2 + 1);
        let mut from = self.out_pos;
        for (g, gap) in self.gaps.iter().enumerate() {
            pieces.push((&self.out[from..gap.at], None));
            // Safe: the gap's hold keeps its bytes alive (see `Gap`).
            pieces.push((
                unsafe { std::slice::from_raw_parts(gap.ptr, gap.len) },
                Some(g),
            ));
            from = gap.at;
        }
        pieces.push((&self.out[from..], None));
        pieces.retain(|p| !p.0.is_empty());

        let mut first = 0;
        let mut skip = 0;
        let mut result = Ok(());
        while first < pieces.len() {
            let end = (first + MAX_IOV).min(pieces.len());
            let mut iov: Vec<std::io::IoSlice<'_>> = Vec::with_capacity(end - first);
            iov.push(std::io::IoSlice::new(&pieces[first].0[skip..]));
            iov.extend(
                pieces[first + 1..end]
                    .iter()
                    .map(|p| std::io::IoSlice::new(p.0)),
            );
            match self.stream.write_vectored(&iov) {
                Ok(0) => {
                    result = Err(std::io::ErrorKind::WriteZero.into());
                    break;
                }
                Ok(mut n) => {
                    self.written += n as u64;
                    while n > 0 {
                        let left = pieces[first].0.len() - skip;
                        if n >= left {
                            n -= left;
                            first += 1;
                            skip = 0;
                        } else {
                            skip += n;
                            n = 0;
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if first == pieces.len() {
            // All written: `write_out` recycles the buffer.
            drop(pieces);
            self.out.clear();
            self.out_pos = 0;
            self.gaps.clear();
            return result.map(|()| true);
        }
        // The rest: framed bytes into a fresh buffer (headers and small payloads),
        // payloads left where they lie.
        let mut rest = Vec::new();
        let mut gaps = Vec::new();
        for (k, &(bytes, gap)) in pieces[first..].iter().enumerate() {
            let bytes = if k == 0 { &bytes[skip..] } else { bytes };
            match gap {
                None => rest.extend_from_slice(bytes),
                Some(g) => gaps.push(Gap {
                    at: rest.len(),
                    ptr: bytes.as_ptr(),
                    len: bytes.len(),
                    hold: self.gaps[g].hold.clone(),
                }),
            }
        }
        drop(pieces);
        self.out = rest;
        self.out_pos = 0;
        self.gaps = gaps;
        result.map(|()| false)
    }

    /// At the end of a batch, gives every gap still held by it a hold of its own: a
    /// pin on its JS Buffer (`pin(i)` for the batch's big payload `i`, shared by all
    /// connections), or, for outbox bytes or when pinning fails, a copy into `out`.
    fn settle_gaps(&mut self, pin: &mut dyn FnMut(u32) -> Option<Rc<Pinned>>) {
        if self
            .gaps
            .iter()
            .all(|g| matches!(g.hold, Hold::Pinned { .. }))
        {
            return;
        }
        let mut out = Vec::with_capacity(self.out.len() - self.out_pos);
        let mut gaps = Vec::with_capacity(self.gaps.len());
        let mut from = self.out_pos;
        for Gap { at, ptr, len, hold } in std::mem::take(&mut self.gaps) {
            out.extend_from_slice(&self.out[from..at]);
            from = at;
            let hold = match hold {
                Hold::Batch(Some(i)) => pin(i).map(|buffer| Hold::Pinned { _buffer: buffer }),
                Hold::Batch(None) => None,
                pinned @ Hold::Pinned { .. } => Some(pinned),
            };
            match hold {
                Some(hold) => gaps.push(Gap {
                    at: out.len(),
                    ptr,
                    len,
                    hold,
                }),
                // Safe: the batch is still running, so the bytes are alive.
                None => out.extend_from_slice(unsafe { std::slice::from_raw_parts(ptr, len) }),
            }
        }
        out.extend_from_slice(&self.out[from..]);
        self.out = out;
        self.out_pos = 0;
        self.gaps = gaps;
    }

    /// Writes what the kernel takes; returns the frames now fully written, or an error
    /// when the socket is broken. A buffer written out is handed back to `pool`.
    fn write_out(&mut self, pool: &RefCell<Vec<Vec<u8>>>) -> std::io::Result<u32> {
        let blocked = !self.gaps.is_empty() && !self.write_gathered()?;
        while !blocked && self.out_pos < self.out.len() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.out_pos += n;
                    self.written += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.gaps.is_empty() && self.out_pos == self.out.len() {
            self.out_pos = 0;
            let mut buf = std::mem::take(&mut self.out);
            let mut pool = pool.borrow_mut();
            if buf.capacity() > 0 && buf.capacity() <= IDLE_KEEP && pool.len() < POOL_MAX {
                buf.clear();
                pool.push(buf);
            }
        }
        let mut frames = 0u32;
        while self.acks.front().is_some_and(|&end| end <= self.written) {
            self.acks.pop_front();
            frames = frames.saturating_add(1);
        }
        Ok(frames)
    }

    fn all_written(&self) -> bool {
        self.gaps.is_empty() && self.out_pos == self.out.len()
    }

    /// Asks libuv for the events this connection needs now: readable while reading,
    /// writable while bytes wait. False if libuv refused (treat as broken).
    fn update_watch(&mut self) -> bool {
        let mut want = 0;
        if !self.paused && !self.read_closed {
            want |= uv::READABLE | uv::DISCONNECT;
        }
        if !self.all_written() {
            want |= uv::WRITABLE;
        }
        match self.poll.as_mut() {
            Some(poll) => poll.watch(want, on_socket),
            None => false,
        }
    }

    /// Shuts down the write side once JS asked to end and everything is written.
    /// Returns true when the connection is then done both ways (close it).
    fn end_if_written(&mut self) -> bool {
        if !self.end_requested || !self.all_written() || self.write_shut {
            return false;
        }
        self.write_shut = true;
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        self.read_closed
    }
}

/// What JS registered at init, and the arena it currently reads payloads from.
struct JsSide {
    on_loop: sys::napi_ref,
    async_context: sys::napi_async_context,
    /// The shared record log (`LOG_CAP` records of four u32, after a 16-byte header);
    /// the reference keeps it alive for `log_ptr`.
    _log_ref: sys::napi_ref,
    log_ptr: *mut u8,
    log_len: usize,
    /// The arena payloads are copied into, and how far it is used.
    arena_ref: sys::napi_ref,
    arena_ptr: *mut u8,
    arena_len: usize,
    arena_pos: usize,
    /// The read arena: sockets are read straight into it, and messages that arrive
    /// whole in one read reach JS as views of it (DIRECT records), with no copy. Bytes
    /// up to `read_pos` may be seen by JS and are never written again.
    read_ref: sys::napi_ref,
    read_ptr: *mut u8,
    read_len: usize,
    read_pos: usize,
    /// A new read arena JS has not fetched yet.
    read_new: bool,
}

/// Per-environment driver state; lives in `EnvState`, used only on the JS thread.
pub struct LoopDriver {
    env: sys::napi_env,
    uv_loop: *mut sys::uv_loop_s,
    /// Runs [`Self::turn`] after libuv's poll phase when JS has events to take.
    after: RefCell<Option<AfterPoll>>,
    /// Boxed, so the table's empty slots cost a pointer rather than a connection.
    conns: RefCell<IdMap<Box<LoopConn>>>,
    /// Events waiting for JS.
    staging: EventQueue,
    /// Payloads too big for the arena, from the last `take`.
    bigs: RefCell<Vec<Vec<u8>>>,
    js: RefCell<JsSide>,
    /// Inside `turn` (which goes on while events are staged, so no scheduling).
    in_turn: Cell<bool>,
    /// JS kept part of a batch for its next turn.
    js_holding: Cell<bool>,
    /// Bytes read since the last turn (see [`READ_BUDGET`]).
    read_since_turn: Cell<usize>,
    /// Connections touched by the current flush, in order.
    touched: RefCell<Vec<u32>>,
    /// Spare write buffers (see [`IDLE_KEEP`]).
    out_pool: RefCell<Vec<Vec<u8>>>,
    /// Shared with every [`Pinned`] payload; cleared when the driver goes.
    env_alive: Rc<Cell<bool>>,
    /// Connection ids, for every kind of connection of the environment.
    next_id: Cell<u32>,
    /// Listening sockets accepted natively (`accept.rs`), and their accepted sockets
    /// still before the upgrade.
    listeners: RefCell<IdMap<accept::Listener>>,
    next_listener: Cell<u32>,
    pending: RefCell<IdMap<Box<accept::Pending>>>,
    /// Checks pending heads' timeouts while there are listeners.
    sweep: RefCell<Option<uv::Timer>>,
    /// Large compressions sent to the io threads; unset if the async handle could
    /// not be made (they are then done here).
    offload: OnceCell<Offload>,
    /// Compressed connections watched for idleness, and the timer that sweeps them
    /// (`idle_contexts.rs`).
    contexts_seen: RefCell<IdMap<idle_contexts::Seen>>,
    contexts_sweep: RefCell<Option<uv::Timer>>,
}

/// Size of a fresh arena; a payload view kept by JS pins at most one.
const ARENA_SIZE: usize = wire::ARENA_CAP;
/// Size of a fresh read arena; messages above `wire::DIRECT_MIN_VIEW` read whole are
/// views of it.
const READ_ARENA_SIZE: usize = 512 * 1024;
/// A read arena with less room than this is replaced (once JS took its records).
const MIN_READ: usize = 16 * 1024;
/// Flags in `take`'s result, above the record count.
pub const TAKE_NEW_ARENA: u32 = 1 << 30;
pub const TAKE_BIGS: u32 = 1 << 29;
pub const TAKE_NEW_READ_ARENA: u32 = 1 << 28;
pub const TAKE_COUNT_MASK: u32 = TAKE_NEW_READ_ARENA - 1;

fn check(status: sys::napi_status, what: &str) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::from_reason(format!("ws-rs: {what} failed")))
    }
}

impl LoopDriver {
    /// Sets up the driver on `env`'s loop. `on_loop` is the JS function to call with
    /// staged events, `log` the Buffer it reads records from.
    ///
    /// # Safety
    /// `env`, `on_loop` and `log` must be valid handles of the current call.
    pub unsafe fn new(
        env: sys::napi_env,
        on_loop: sys::napi_value,
        log: sys::napi_value,
    ) -> napi::Result<Box<LoopDriver>> {
        let mut on_loop_ref = std::ptr::null_mut();
        check(
            sys::napi_create_reference(env, on_loop, 1, &mut on_loop_ref),
            "reference",
        )?;
        let mut log_ref = std::ptr::null_mut();
        check(
            sys::napi_create_reference(env, log, 1, &mut log_ref),
            "reference",
        )?;
        let mut log_ptr = std::ptr::null_mut();
        let mut log_len = 0usize;
        check(
            sys::napi_get_buffer_info(env, log, &mut log_ptr, &mut log_len),
            "buffer info",
        )?;
        let mut name = std::ptr::null_mut();
        check(
            sys::napi_create_string_utf8(env, c"ws-rs:loop".as_ptr(), 10, &mut name),
            "string",
        )?;
        let mut async_context = std::ptr::null_mut();
        check(
            sys::napi_async_init(env, std::ptr::null_mut(), name, &mut async_context),
            "async context",
        )?;
        let mut uv_loop = std::ptr::null_mut();
        check(sys::napi_get_uv_event_loop(env, &mut uv_loop), "event loop")?;

        let driver = Box::new(LoopDriver {
            env,
            uv_loop,
            after: RefCell::new(None),
            conns: RefCell::new(IdMap::default()),
            staging: EventQueue::new(Box::new(|| {})),
            bigs: RefCell::new(Vec::new()),
            js: RefCell::new(JsSide {
                on_loop: on_loop_ref,
                async_context,
                _log_ref: log_ref,
                log_ptr: log_ptr as *mut u8,
                log_len,
                arena_ref: std::ptr::null_mut(),
                arena_ptr: std::ptr::null_mut(),
                arena_len: 0,
                arena_pos: 0,
                read_ref: std::ptr::null_mut(),
                read_ptr: std::ptr::null_mut(),
                read_len: 0,
                read_pos: 0,
                read_new: false,
            }),
            in_turn: Cell::new(false),
            js_holding: Cell::new(false),
            read_since_turn: Cell::new(0),
            touched: RefCell::new(Vec::new()),
            out_pool: RefCell::new(Vec::new()),
            env_alive: Rc::new(Cell::new(true)),
            next_id: Cell::new(1),
            listeners: RefCell::new(IdMap::default()),
            next_listener: Cell::new(1),
            pending: RefCell::new(IdMap::default()),
            sweep: RefCell::new(None),
            offload: OnceCell::new(),
            contexts_seen: RefCell::new(IdMap::default()),
            contexts_sweep: RefCell::new(None),
        });
        let data = &*driver as *const LoopDriver as *mut c_void;
        if let Some(offload) = Offload::new(uv_loop, data, on_offload_done) {
            let _ = driver.offload.set(offload);
        }
        let after = AfterPoll::new(uv_loop, data, on_after_poll)
            .ok_or_else(|| napi::Error::from_reason("ws-rs: cannot start the loop handles"))?;
        *driver.after.borrow_mut() = Some(after);
        Ok(driver)
    }

    /// Keeps the loop alive (or not) while JS has connections: each socket's own poll
    /// handle does so while it is open, and this covers the events still to deliver
    /// once it closed (the last `close` event must not be lost to the process exit).
    pub fn set_ref(&self, on: bool) {
        if let Some(after) = self.after.borrow().as_ref() {
            after.set_ref(on);
        }
    }

    pub fn has(&self, id: u32) -> bool {
        self.conns.borrow().contains_key(&id)
    }

    /// A new connection id (never 0), for connections of every driver.
    pub fn new_id(&self) -> u32 {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1).max(1));
        id
    }

    /// Takes over a connected socket: writes `preamble`, feeds `head`, and watches it
    /// with `poll` (a socket accepted here already has one) or a new poll handle.
    /// `codec`: the connection's halves of the protocol core.
    pub fn adopt(
        &self,
        id: u32,
        (stream, poll): (std::net::TcpStream, Option<SocketPoll>),
        head: &mut [u8],
        preamble: &[u8],
        (receiver, sender): (Receiver, Sender),
    ) -> std::io::Result<()> {
        // No syscalls that Node already made: the fd is a dup of a libuv TCP handle's,
        // so it shares its O_NONBLOCK (a file status flag), and JS has applied ws's
        // setNoDelay() through Node, which skips it when already set.
        let data = self as *const LoopDriver as *mut c_void;
        let poll = match poll {
            Some(poll) => poll,
            None => SocketPoll::new(self.uv_loop, stream.as_raw_fd(), data, id as u64)
                .ok_or_else(|| std::io::Error::other("cannot watch the socket"))?,
        };
        let mut conn = LoopConn {
            poll: Some(poll),
            stream,
            receiver,
            sender,
            out: preamble.to_vec(),
            out_pos: 0,
            queued: preamble.len() as u64,
            written: 0,
            read: 0,
            acks: VecDeque::new(),
            end_requested: false,
            write_shut: false,
            read_closed: false,
            paused: false,
            touched: false,
            read_cap: READ_SIZE as u32,
            tap: false,
            gaps: Vec::new(),
            offloading: false,
        };
        // Written before `head` is fed, so a failure leaves nothing staged: the caller
        // then keeps the socket in Node (bridged), which reports the broken pipe as
        // ws does.
        conn.write_out(&self.out_pool)?;
        if !head.is_empty() {
            // Reported as read whatever the tap: `ws._socket`'s 'data' listeners are
            // added once the connection is open, and in ws the head reaches them.
            self.staging.writer(id).push_payload(event::DATA, 0, head);
            self.feed(id, &mut conn, head);
        }
        // Data that arrived before this is reported by libuv's first poll (its epoll
        // is level-triggered).
        let watching = conn.update_watch();
        if conn.sender.compresses() {
            self.watch_contexts(id);
        }
        self.conns.borrow_mut().insert(id, Box::new(conn));
        if !watching {
            // The preamble is out, so the connection is ours: close it the usual way.
            self.close(id);
        }
        self.wake_if_staged();
        Ok(())
    }

    fn feed(&self, id: u32, conn: &mut LoopConn, bytes: &mut [u8]) {
        if conn.receiver.is_done() {
            return;
        }
        let mut events = Recorder::new(self.staging.writer(id));
        // The head and each push() are a read each, as in ws.
        conn.receiver.note_read();
        if let Err(err) = conn.receiver.feed(bytes, &mut events) {
            events.error(err);
        }
    }

    /// Starts a batch of outbox records; see [`LoopBatch`].
    ///
    /// `bigs`: the JS Buffers of the outbox's big payloads (by index), which stay
    /// alive for the whole `flush` call; one still unwritten when the batch ends is
    /// pinned once, whatever the number of connections writing it.
    pub fn batch<'p>(&self, bigs: Vec<sys::napi_value>) -> LoopBatch<'_, 'p> {
        LoopBatch {
            driver: self,
            payloads: std::marker::PhantomData,
            finished: false,
            pins: vec![None; bigs.len()],
            bigs,
        }
    }

    /// Frames one outbox record for connection `id`. A large payload may be left where
    /// it lies (a [`Gap`]): only a [`LoopBatch`], which writes or copies every gap
    /// before `payload`'s lifetime ends, calls this.
    fn queue(&self, id: u32, out: Outgoing, payload: &[u8], big: Option<u32>, pin: Pin<'_>) {
        let mut conns = self.conns.borrow_mut();
        let Some(conn) = conns.get_mut(&id) else {
            return;
        };
        let mut hold = || big.and_then(&mut *pin);
        self.frame_record(id, conn, out, payload, Some(big), &mut hold);
        if !conn.touched {
            conn.touched = true;
            self.touched.borrow_mut().push(id);
        }
    }

    /// Appends one record to `conn`'s output. `gather`: set when the payload lives as
    /// long as the running batch, so a large one may stay where it lies (see
    /// [`Self::queue`]), with its index among the batch's big payloads. `hold`: a
    /// reference that keeps the payload alive, if it is a JS Buffer's, so that what
    /// waits (a large compressed frame on the io threads, and the records behind it,
    /// [`offload`]) is not copied.
    fn frame_record(
        &self,
        id: u32,
        conn: &mut LoopConn,
        out: Outgoing,
        payload: &[u8],
        gather: Option<Option<u32>>,
        hold: &mut dyn FnMut() -> Option<Rc<Pinned>>,
    ) {
        if conn.offloading {
            if let Some(offload) = self.offload.get() {
                offload.defer(id, out, held_bytes(payload, hold));
            }
            return;
        }
        if conn.end_requested {
            return;
        }
        match out {
            Outgoing::End => conn.end_requested = true,
            Outgoing::Frame(spec) => {
                if spec.compress
                    && payload.len() >= OFFLOAD_MIN
                    && conn.sender.compresses()
                    && self.offload_frame(id, conn, spec, held_bytes(payload, hold))
                {
                    return;
                }
                if conn.out.capacity() == 0 {
                    if let Some(buf) = self.out_pool.borrow_mut().pop() {
                        conn.out = buf;
                    }
                }
                let before = conn.out.len();
                match gather {
                    Some(big)
                        if payload.len() >= GATHER_MIN
                            && conn.sender.header_for_verbatim(
                                spec,
                                payload.len(),
                                &mut conn.out,
                            ) =>
                    {
                        conn.gaps.push(Gap {
                            at: conn.out.len(),
                            ptr: payload.as_ptr(),
                            len: payload.len(),
                            hold: Hold::Batch(big),
                        });
                        conn.queued += (conn.out.len() - before + payload.len()) as u64;
                    }
                    _ => {
                        conn.sender.frame(spec, payload, &mut conn.out);
                        conn.queued += (conn.out.len() - before) as u64;
                    }
                }
                conn.acks.push_back(conn.queued);
            }
            Outgoing::Raw => {
                conn.out.extend_from_slice(payload);
                conn.queued += payload.len() as u64;
                conn.acks.push_back(conn.queued);
            }
            // Written like any frame, acknowledged to no one (no ack position).
            Outgoing::Heartbeat(masking) => {
                let before = conn.out.len();
                conn.sender
                    .frame(heartbeat_spec(masking), HEARTBEAT_PAYLOAD, &mut conn.out);
                conn.queued += (conn.out.len() - before) as u64;
            }
        }
    }

    /// Sends `conn`'s sender to the io threads to frame `payload`; false if it stays
    /// (no offloading here), and the frame is then made at once.
    fn offload_frame(
        &self,
        id: u32,
        conn: &mut LoopConn,
        spec: wsrs_proto::FrameSpec,
        payload: HeldBytes,
    ) -> bool {
        let Some(offload) = self.offload.get() else {
            return false;
        };
        let sender = std::mem::replace(&mut conn.sender, Sender::new(None));
        match offload.start(id, sender, spec, payload) {
            Ok(()) => {
                conn.offloading = true;
                true
            }
            Err(sender) => {
                conn.sender = sender;
                false
            }
        }
    }

    /// Takes back the senders the io threads are done with: each frame made there is
    /// appended, then the records that waited behind it, and the connection is
    /// written.
    fn offload_done(&self) {
        let Some(offload) = self.offload.get() else {
            return;
        };
        let mut broken = Vec::new();
        for done in offload.take_done() {
            let id = done.id;
            let mut conns = self.conns.borrow_mut();
            // Closed meanwhile: `close` already dropped what waited.
            let Some(conn) = conns.get_mut(&id) else {
                continue;
            };
            conn.sender = done.sender;
            conn.offloading = false;
            conn.queued += done.framed.len() as u64;
            if conn.out_pos == conn.out.len() && conn.gaps.is_empty() {
                conn.out = done.framed;
                conn.out_pos = 0;
            } else {
                conn.out.extend_from_slice(&done.framed);
            }
            conn.acks.push_back(conn.queued);
            // In order; one of them may send the sender away again, and the rest
            // then waits once more.
            for (out, payload) in offload.take_deferred(id) {
                let pinned = payload.hold();
                self.frame_record(id, conn, out, payload.as_slice(), None, &mut || {
                    pinned.clone()
                });
            }
            if self.write_reporting(id, conn) {
                broken.push(id);
            }
        }
        for id in broken {
            self.close(id);
        }
        self.wake_if_staged();
    }

    /// Writes every connection the current flush touched. Frames written at once are
    /// reported in `written` as `[id, frames]` u32 pairs (little-endian); returns how
    /// many pairs. The rest is reported later as WRITTEN events.
    fn write_touched(
        &self,
        written: &mut [u8],
        pin: &mut dyn FnMut(u32) -> Option<Rc<Pinned>>,
    ) -> u32 {
        let touched = std::mem::take(&mut *self.touched.borrow_mut());
        let mut pairs = 0u32;
        let mut slots = written.chunks_exact_mut(8);
        let mut broken = Vec::new();
        {
            let mut conns = self.conns.borrow_mut();
            for &id in &touched {
                let Some(conn) = conns.get_mut(&id) else {
                    continue;
                };
                conn.touched = false;
                let frames = match conn.write_out(&self.out_pool) {
                    Ok(n) => n,
                    Err(_) => {
                        broken.push(id);
                        continue;
                    }
                };
                conn.settle_gaps(pin);
                if frames > 0 {
                    match slots.next() {
                        Some(slot) => {
                            slot[..4].copy_from_slice(&id.to_le_bytes());
                            slot[4..].copy_from_slice(&frames.to_le_bytes());
                            pairs += 1;
                        }
                        // No room left in JS's array: report it as an event instead.
                        None => self.staging.writer(id).push(event::WRITTEN, 0, frames),
                    }
                }
                if conn.end_if_written() || !conn.update_watch() {
                    broken.push(id);
                }
            }
        }
        for id in broken {
            self.close(id);
        }
        self.wake_if_staged();
        pairs
    }

    /// Stops (or restarts) reading connection `id`.
    pub fn pause(&self, id: u32, paused: bool) {
        let mut conns = self.conns.borrow_mut();
        let Some(conn) = conns.get_mut(&id) else {
            return;
        };
        conn.paused = paused;
        // Data that arrived while paused is reported again once watched (level).
        if !conn.update_watch() {
            drop(conns);
            self.close(id);
            self.wake_if_staged();
        }
    }

    /// Sets a socket option on connection `id`; false if it is not served here or the
    /// kernel refused.
    pub fn set_socket_option(&self, id: u32, option: SocketOption) -> bool {
        let conns = self.conns.borrow();
        let Some(conn) = conns.get(&id) else {
            return false;
        };
        sockopt::apply(conn.stream.as_raw_fd(), option)
    }

    /// Reports (`on`) or stops reporting each read of connection `id` as a DATA
    /// event, for `ws._socket`'s `'data'` listeners; false if it is not served here.
    pub fn set_tap(&self, id: u32, on: bool) -> bool {
        match self.conns.borrow_mut().get_mut(&id) {
            Some(conn) => {
                conn.tap = on;
                true
            }
            None => false,
        }
    }

    /// Feeds `bytes` to connection `id`'s parser as if they had been read (with a
    /// DATA event if tapped), or, for `None`, acts as if the peer ended its side:
    /// `ws._socket.push(...)`. False if the connection is not served here.
    pub fn inject(&self, id: u32, bytes: Option<&mut [u8]>) -> bool {
        let mut conns = self.conns.borrow_mut();
        let Some(conn) = conns.get_mut(&id) else {
            return false;
        };
        let ok = match bytes {
            Some(bytes) => {
                if conn.tap && !conn.read_closed {
                    self.staging.writer(id).push_payload(event::DATA, 0, bytes);
                }
                if !conn.read_closed {
                    self.feed(id, conn, bytes);
                }
                true
            }
            None if conn.read_closed => true,
            None => {
                conn.read_closed = true;
                self.staging.writer(id).push(event::EOF, 0, 0);
                !conn.write_shut && conn.update_watch()
            }
        };
        drop(conns);
        if !ok {
            self.close(id);
        }
        self.wake_if_staged();
        true
    }

    /// Drops connection `id` with a TCP reset (SO_LINGER 0), as Node's
    /// `socket.resetAndDestroy()`; false if it is not served here.
    pub fn reset(&self, id: u32) -> bool {
        let Some(fd) = self.conns.borrow().get(&id).map(|c| c.stream.as_raw_fd()) else {
            return false;
        };
        // Closing with SO_LINGER on and 0 s sends a reset instead of a FIN.
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        set_sockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, &linger);
        self.terminate(id);
        true
    }

    /// Drops connection `id` now (ws's `terminate()`); JS flushed before calling.
    pub fn terminate(&self, id: u32) {
        self.close(id);
        self.wake_if_staged();
    }

    /// Reports CLOSED for a connection that never started (a pending socket whose
    /// 101 could not be written): JS then sees it close as any broken socket.
    pub fn closed_early(&self, id: u32) {
        self.staging
            .writer(id)
            .push_payload(event::CLOSED, 0, &wire::byte_totals(0, 0));
        self.wake_if_staged();
    }

    /// Closes the socket (its poll handle first) and reports CLOSED.
    fn close(&self, id: u32) {
        let Some(conn) = self.conns.borrow_mut().remove(&id) else {
            return;
        };
        if conn.offloading {
            if let Some(offload) = self.offload.get() {
                offload.forget(id);
            }
        }
        let totals = wire::byte_totals(conn.read, conn.written);
        drop(conn);
        self.staging
            .writer(id)
            .push_payload(event::CLOSED, 0, &totals);
    }

    /// Bytes read and written so far by connection `id`, if it is served here.
    pub fn byte_counts(&self, id: u32) -> Option<(u64, u64)> {
        self.conns.borrow().get(&id).map(|c| (c.read, c.written))
    }

    /// Has `turn` run after this loop iteration's poll phase.
    fn schedule(&self) {
        if let Some(after) = self.after.borrow_mut().as_mut() {
            after.schedule();
        }
    }

    fn wake_if_staged(&self) {
        if !self.in_turn.get() && !self.staging.is_empty() {
            self.schedule();
        }
    }

    /// Moves the oldest staged chunk to JS: records into the shared log (after its
    /// header: count, arena base, whether more chunks wait), payloads into the arena. Returns the record count
    /// with [`TAKE_NEW_ARENA`] / [`TAKE_BIGS`] when JS must fetch those, or 0.
    pub fn take(&self) -> napi::Result<u32> {
        let Some(chunk) = self.staging.pop() else {
            return Ok(0);
        };
        let mut js = self.js.borrow_mut();
        let records = chunk.log.len() / 4;
        let room = js.log_len.saturating_sub(16) / 16;
        // Chunks never exceed LOG_CAP records and the log is sized for that.
        let n = records.min(room);
        let mut flags = 0;
        if js.arena_len - js.arena_pos < chunk.arena.len() || js.arena_ptr.is_null() {
            self.new_arena(&mut js, chunk.arena.len())?;
            flags |= TAKE_NEW_ARENA;
        }
        if js.read_new {
            js.read_new = false;
            flags |= TAKE_NEW_READ_ARENA;
        }
        let base = js.arena_pos;
        // Safe: the log and arena are live Buffers we hold references to, used only on
        // this thread, and the lengths were checked above.
        unsafe {
            let log = std::slice::from_raw_parts_mut(js.log_ptr, js.log_len);
            log[..4].copy_from_slice(&(n as u32).to_le_bytes());
            log[4..8].copy_from_slice(&(base as u32).to_le_bytes());
            // Whether more chunks wait, so JS asks again only then.
            let more = !self.staging.is_empty() as u32;
            log[8..12].copy_from_slice(&more.to_le_bytes());
            for (word, bytes) in chunk.log[..n * 4].iter().zip(log[16..].chunks_exact_mut(4)) {
                bytes.copy_from_slice(&word.to_le_bytes());
            }
            std::ptr::copy_nonoverlapping(
                chunk.arena.as_ptr(),
                js.arena_ptr.add(base),
                chunk.arena.len(),
            );
        }
        js.arena_pos += chunk.arena.len();
        if !chunk.bigs.is_empty() {
            *self.bigs.borrow_mut() = chunk.bigs;
            flags |= TAKE_BIGS;
        }
        Ok(n as u32 | flags)
    }

    fn new_arena(&self, js: &mut JsSide, need: usize) -> napi::Result<()> {
        let len = need.max(ARENA_SIZE);
        let mut data = std::ptr::null_mut();
        let mut value = std::ptr::null_mut();
        // Safe: called from JS (inside `loopTake`), so a context is entered.
        unsafe {
            check(
                sys::napi_create_buffer(self.env, len, &mut data, &mut value),
                "arena",
            )?;
            if !js.arena_ref.is_null() {
                sys::napi_delete_reference(self.env, js.arena_ref);
                js.arena_ref = std::ptr::null_mut();
            }
            check(
                sys::napi_create_reference(self.env, value, 1, &mut js.arena_ref),
                "reference",
            )?;
        }
        js.arena_ptr = data as *mut u8;
        js.arena_len = len;
        js.arena_pos = 0;
        Ok(())
    }

    /// The arena `take` switched to.
    pub fn arena(&self) -> sys::napi_value {
        let js = self.js.borrow();
        let mut value = std::ptr::null_mut();
        // Safe: a live reference; called from JS.
        unsafe { sys::napi_get_reference_value(self.env, js.arena_ref, &mut value) };
        value
    }

    /// The read arena `take` switched to.
    pub fn read_arena(&self) -> sys::napi_value {
        let js = self.js.borrow();
        let mut value = std::ptr::null_mut();
        // Safe: a live reference; called from JS.
        unsafe { sys::napi_get_reference_value(self.env, js.read_ref, &mut value) };
        value
    }

    /// Replaces the read arena. Only when no staged record points into the old one:
    /// JS holds that one through the views it made.
    fn new_read_arena(&self) -> bool {
        let env = self.env;
        let mut js = self.js.borrow_mut();
        // Safe: on the JS thread (a libuv callback), inside a handle scope of our own.
        unsafe {
            let mut scope = std::ptr::null_mut();
            if sys::napi_open_handle_scope(env, &mut scope) != sys::Status::napi_ok {
                return false;
            }
            let mut data = std::ptr::null_mut();
            let mut value = std::ptr::null_mut();
            let mut reference = std::ptr::null_mut();
            let made = sys::napi_create_buffer(env, READ_ARENA_SIZE, &mut data, &mut value)
                == sys::Status::napi_ok
                && sys::napi_create_reference(env, value, 1, &mut reference)
                    == sys::Status::napi_ok;
            if made {
                if !js.read_ref.is_null() {
                    sys::napi_delete_reference(env, js.read_ref);
                }
                js.read_ref = reference;
                js.read_ptr = data as *mut u8;
                js.read_len = READ_ARENA_SIZE;
                js.read_pos = 0;
                js.read_new = true;
            }
            sys::napi_close_handle_scope(env, scope);
            made
        }
    }

    /// Room for the next read: the unused part of the read arena, or None when the
    /// arena must be replaced first and JS still has records pointing into it.
    fn read_room(&self) -> Option<(*mut u8, usize, std::ops::Range<usize>)> {
        let room = {
            let js = self.js.borrow();
            js.read_len - js.read_pos
        };
        if (room < MIN_READ || self.js.borrow().read_ptr.is_null())
            && (!self.staging.is_empty() || !self.new_read_arena())
        {
            return None;
        }
        let js = self.js.borrow();
        let start = js.read_ptr as usize;
        // Safe: read_pos <= read_len, within the live arena.
        let at = unsafe { js.read_ptr.add(js.read_pos) };
        Some((
            at,
            (js.read_len - js.read_pos).min(READ_SIZE),
            start..start + js.read_len,
        ))
    }

    /// The big payloads of the last `take`.
    pub fn take_bigs(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.bigs.borrow_mut())
    }

    /// One socket's readiness, from libuv's poll phase.
    fn socket_ready(&self, id: u32, status: c_int, events: c_int) {
        if self.is_pending(id) {
            self.pending_ready(id, status);
        } else if status < 0 {
            // libuv stopped the handle on a poll error (EPOLLERR): the socket is gone.
            let error = self
                .conns
                .borrow()
                .get(&id)
                .and_then(|c| c.stream.take_error().ok().flatten());
            if let Some(err) = error {
                self.staging
                    .writer(id)
                    .push_socket_error(wire::SYSCALL_READ, &err);
            }
            self.close(id);
        } else {
            if events & uv::WRITABLE != 0 {
                self.write_ready(id);
            }
            if events & (uv::READABLE | uv::DISCONNECT) != 0 {
                self.read_ready(id);
            }
        }
        if !self.staging.is_empty() {
            self.schedule();
        }
    }

    /// Reads what one socket has (one read) into the read arena and feeds the
    /// protocol core. Leaves the socket unread, to be reported again next iteration,
    /// while JS is behind or this iteration's read budget is spent.
    fn read_ready(&self, id: u32) {
        if self.js_holding.get()
            || self.read_since_turn.get() >= READ_BUDGET
            || self.staging.over_high_water()
        {
            // The turn resets the budget, so make sure one runs.
            self.schedule();
            return;
        }
        let mut conns = self.conns.borrow_mut();
        let Some(conn) = conns.get_mut(&id) else {
            return;
        };
        if conn.paused || conn.read_closed {
            let ok = conn.update_watch();
            drop(conns);
            if !ok {
                self.close(id);
            }
            return;
        }
        let direct = if conn.tap {
            None
        } else {
            conn.receiver.direct_room(DIRECT_MIN, READ_BUDGET)
        };
        let broken = if let Some(room) = direct {
            // The rest of a large frame goes straight into its message: no copy out
            // of the read arena, and one read for as much as the kernel has.
            let (ptr, len) = (room.as_mut_ptr().cast::<c_void>(), room.len());
            // Safe: `len` writable bytes of the message's spare capacity.
            let got = unsafe { libc::recv(conn.stream.as_raw_fd(), ptr, len, 0) };
            let result = usize::try_from(got).map_err(|_| std::io::Error::last_os_error());
            self.after_read(id, conn, result, |conn, n, writer| {
                let mut events = Recorder::new(writer);
                conn.receiver.note_read();
                // Safe: the kernel wrote `n` bytes of the room.
                if let Err(err) = unsafe { conn.receiver.commit_direct(n, &mut events) } {
                    events.error(err);
                }
            })
        } else {
            let Some((at, room, arena)) = self.read_room() else {
                // The arena is full and JS has yet to take its records: the turn will.
                drop(conns);
                self.schedule();
                return;
            };
            // Safe: `room` unused bytes of the live read arena, which nothing else
            // references until `read_pos` moves past them.
            let buf = unsafe { std::slice::from_raw_parts_mut(at, room) };
            let cap = room.min(conn.read_cap as usize);
            let result = conn.stream.read(&mut buf[..cap]);
            self.after_read(id, conn, result, |conn, n, mut writer| {
                self.js.borrow_mut().read_pos += n;
                if conn.tap {
                    writer.push_payload(event::DATA, 0, &buf[..n]);
                }
                let mut events = Recorder::reading_in(writer, arena);
                conn.receiver.note_read();
                if let Err(err) = conn.receiver.feed(&mut buf[..n], &mut events) {
                    events.error(err);
                }
                conn.read_cap = next_read_cap(conn.read_cap as usize, n, events.records()) as u32;
            })
        };
        drop(conns);
        if broken {
            self.close(id);
        }
    }

    /// What one read of connection `id` came to: `parse` gets the bytes read (while the
    /// protocol core still takes input); an end of stream is reported as EOF. Returns
    /// whether the connection is broken (close it).
    fn after_read(
        &self,
        id: u32,
        conn: &mut LoopConn,
        result: std::io::Result<usize>,
        parse: impl FnOnce(&mut LoopConn, usize, super::events::Writer<'_>),
    ) -> bool {
        match result {
            Ok(0) => {
                conn.read_closed = true;
                self.staging.writer(id).push(event::EOF, 0, 0);
                conn.write_shut || !conn.update_watch()
            }
            Ok(n) => {
                conn.read += n as u64;
                self.read_since_turn.set(self.read_since_turn.get() + n);
                if !conn.receiver.is_done() {
                    parse(conn, n, self.staging.writer(id));
                }
                false
            }
            Err(e) => match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted => false,
                _ => {
                    self.staging
                        .writer(id)
                        .push_socket_error(wire::SYSCALL_READ, &e);
                    true
                }
            },
        }
    }

    /// Writes what waits for one writable socket.
    fn write_ready(&self, id: u32) {
        let mut conns = self.conns.borrow_mut();
        let Some(conn) = conns.get_mut(&id) else {
            return;
        };
        let broken = self.write_reporting(id, conn);
        drop(conns);
        if broken {
            self.close(id);
        }
    }

    /// Writes what connection `id` has outside a flush, reporting the frames the
    /// kernel took as a WRITTEN event (or the failure). Returns whether the connection
    /// is broken or done (close it).
    fn write_reporting(&self, id: u32, conn: &mut LoopConn) -> bool {
        match conn.write_out(&self.out_pool) {
            Ok(frames) => {
                if frames > 0 {
                    self.staging.writer(id).push(event::WRITTEN, 0, frames);
                }
                conn.end_if_written() || !conn.update_watch()
            }
            Err(e) => {
                self.staging
                    .writer(id)
                    .push_socket_error(wire::SYSCALL_WRITE, &e);
                true
            }
        }
    }

    /// Calls JS's `onLoop` with the first staged chunk already taken (its `take`
    /// result as the argument; 0 when JS is to finish what it kept); false if JS kept
    /// events for a later turn.
    fn call_js(&self) -> bool {
        let env = self.env;
        let holding = self.js_holding.get();
        let (on_loop, async_context) = {
            let js = self.js.borrow();
            (js.on_loop, js.async_context)
        };
        // Safe: on the JS thread, from a libuv callback, with handles opened and
        // closed in this scope.
        unsafe {
            let mut scope = std::ptr::null_mut();
            if sys::napi_open_handle_scope(env, &mut scope) != sys::Status::napi_ok {
                return true;
            }
            let mut func = std::ptr::null_mut();
            let mut global = std::ptr::null_mut();
            let mut result = std::ptr::null_mut();
            let mut arg = std::ptr::null_mut();
            let mut done = true;
            // Taking here saves JS a call into Rust per turn.
            let first = if holding { 0 } else { self.take().unwrap_or(0) };
            if sys::napi_get_reference_value(env, on_loop, &mut func) == sys::Status::napi_ok
                && sys::napi_get_global(env, &mut global) == sys::Status::napi_ok
                && sys::napi_create_uint32(env, first, &mut arg) == sys::Status::napi_ok
            {
                let status =
                    sys::napi_make_callback(env, async_context, global, func, 1, &arg, &mut result);
                if status == sys::Status::napi_ok {
                    let mut finished = true;
                    if sys::napi_get_value_bool(env, result, &mut finished) == sys::Status::napi_ok
                    {
                        done = finished;
                    }
                } else {
                    // An exception escaped (a listener's, rethrown on the next tick as
                    // the callback scope closed), so `onLoop`'s answer is lost: it may
                    // have kept records for the next turn, which a later `take` would
                    // overwrite. Ask again next turn; `onLoop(0)` with nothing kept
                    // just takes what is staged.
                    done = false;
                    // Surface the exception as Node would.
                    let mut err = std::ptr::null_mut();
                    if sys::napi_get_and_clear_last_exception(env, &mut err) == sys::Status::napi_ok
                        && !err.is_null()
                    {
                        sys::napi_fatal_exception(env, err);
                    }
                }
            }
            sys::napi_close_handle_scope(env, scope);
            done
        }
    }

    /// Delivers what is staged now rather than after the next poll phase, unless a
    /// turn is already running (it delivers it). For bytes that came with an upgrade:
    /// ws parses them on the tick after `'open'`, before anything slower (a Blob read,
    /// a timer) can come first.
    pub fn turn_now(&self) {
        if !self.in_turn.get() && (self.js_holding.get() || !self.staging.is_empty()) {
            self.turn();
        }
    }

    /// Delivers what is staged to JS, right after libuv's poll phase; see the module
    /// comment.
    fn turn(&self) {
        if let Some(after) = self.after.borrow_mut().as_mut() {
            after.unschedule();
        }
        self.detach_listeners();
        self.read_since_turn.set(0);
        let start = Instant::now();
        self.in_turn.set(true);
        while self.js_holding.get() || !self.staging.is_empty() {
            let done = self.call_js();
            self.js_holding.set(!done);
            if !done || start.elapsed() >= TURN_BUDGET {
                break;
            }
        }
        self.in_turn.set(false);
        if self.js_holding.get() || !self.staging.is_empty() {
            self.schedule();
        }
    }
}

/// One flush's outbox records for loop connections, borrowing their payloads for
/// `'p`: queued frames are written (or copied) by [`LoopBatch::finish`], or on drop,
/// so no payload is referenced once the batch ends.
pub struct LoopBatch<'d, 'p> {
    driver: &'d LoopDriver,
    payloads: std::marker::PhantomData<&'p [u8]>,
    finished: bool,
    /// The big payloads' Buffers, and their pins once made.
    bigs: Vec<sys::napi_value>,
    pins: Vec<Option<Rc<Pinned>>>,
}

impl<'p> LoopBatch<'_, 'p> {
    /// Whether `id` is served by this driver.
    pub fn has(&self, id: u32) -> bool {
        self.driver.has(id)
    }

    /// Queues one outbox record for loop connection `id`; `big`: the index of its
    /// payload's Buffer among the batch's big payloads.
    pub fn queue(&mut self, id: u32, out: Outgoing, payload: &'p [u8], big: Option<u32>) {
        let driver = self.driver;
        driver.queue(id, out, payload, big, &mut |i| self.pin(i));
    }

    /// A pin on the batch's big payload `i`, made once and shared.
    fn pin(&mut self, i: u32) -> Option<Rc<Pinned>> {
        let i = i as usize;
        let value = *self.bigs.get(i)?;
        let slot = self.pins.get_mut(i)?;
        if slot.is_none() && !value.is_null() {
            // Safe: a Buffer argument of the running `flush` call, on its thread.
            *slot = unsafe { Pinned::new(self.driver.env, value, &self.driver.env_alive) };
        }
        slot.clone()
    }

    /// Writes every connection the batch touched; see the `[id, frames]` pairs of
    /// `LoopDriver::write_touched`.
    pub fn finish(mut self, written: &mut [u8]) -> u32 {
        self.finished = true;
        self.write(written)
    }

    fn write(&mut self, written: &mut [u8]) -> u32 {
        let driver = self.driver;
        driver.write_touched(written, &mut |i| self.pin(i))
    }
}

impl Drop for LoopBatch<'_, '_> {
    fn drop(&mut self) {
        if !self.finished {
            self.write(&mut []);
        }
    }
}

impl Drop for LoopDriver {
    fn drop(&mut self) {
        if let Some(after) = self.after.get_mut().take() {
            after.close();
        }
        // The sockets (and their poll handles) close with the map; references die
        // with the environment, pinned payloads' included.
        self.env_alive.set(false);
    }
}

/// Runs `work` on the driver whose handle libuv called back, unless the handle is
/// closing (its `data` cleared), and never lets a panic unwind into libuv.
///
/// # Safety
/// `handle` must be a live libuv handle whose `data` is null or a live driver: every
/// handle the driver makes is closed, or has its `data` cleared, before it goes.
unsafe fn with_driver(handle: *mut c_void, work: impl FnOnce(&LoopDriver)) {
    let driver = handle_data(handle) as *const LoopDriver;
    if driver.is_null() {
        return;
    }
    let driver = &*driver;
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(driver)));
}

/// A socket's poll callback; the poll's extra word is the connection id.
extern "C" fn on_socket(handle: *mut c_void, status: c_int, events: c_int) {
    // Safe: a poll handle of the driver's (see `with_driver`).
    unsafe {
        let id = poll_extra(handle) as u32;
        with_driver(handle, |driver| driver.socket_ready(id, status, events));
    }
}

/// The async handle's callback: offloaded frames are ready.
extern "C" fn on_offload_done(handle: *mut c_void) {
    // Safe: the driver's async handle (see `with_driver`).
    unsafe { with_driver(handle, LoopDriver::offload_done) }
}

/// The check handle's callback: the JS turn.
extern "C" fn on_after_poll(handle: *mut c_void) {
    // Safe: the driver's check handle (see `with_driver`).
    unsafe { with_driver(handle, LoopDriver::turn) }
}

#[cfg(test)]
mod tests {
    /// Idle memory per connection is a goal (at most ws's): a connection's state must
    /// not grow unnoticed. Compression state is boxed, so plain connections stay small.
    #[test]
    fn connection_state_stays_small() {
        // 352: 336, plus the bytesRead counter, plus the receiver's maxBufferedChunks
        // bound and count.
        assert!(std::mem::size_of::<super::LoopConn>() <= 352);
        assert!(std::mem::size_of::<wsrs_proto::Receiver>() <= 160);
        assert!(std::mem::size_of::<wsrs_proto::Sender>() <= 48);
    }

    #[test]
    fn reads_of_tiny_frames_shrink_and_ordinary_ones_grow_back() {
        use super::{next_read_cap, MIN_READ_CAP, READ_EVENTS, READ_SIZE};
        // 64 KiB of empty masked frames: ~10,900 events; the next read is ~3 KiB.
        let cap = next_read_cap(READ_SIZE, READ_SIZE, READ_SIZE / 6);
        assert_eq!(cap, READ_SIZE * READ_EVENTS / (READ_SIZE / 6));
        assert!(cap / 6 <= READ_EVENTS && cap >= MIN_READ_CAP);
        // Never below the floor, whatever the count.
        assert_eq!(next_read_cap(cap, 10, usize::MAX), MIN_READ_CAP);
        // Full reads of ordinary messages double it back, up to READ_SIZE.
        let back = next_read_cap(cap, cap, 8);
        assert_eq!(back, cap * 2);
        assert_eq!(next_read_cap(READ_SIZE, READ_SIZE, 64), READ_SIZE);
        // A short read says nothing about what the socket could give: no change.
        assert_eq!(next_read_cap(cap, cap / 2, 1), cap);
    }
}
