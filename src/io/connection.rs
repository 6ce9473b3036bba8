//! One adopted socket: a reader task that feeds the protocol core and reports events,
//! and a writer task that frames what JS queued and reports progress. The connection
//! is closed (and reported CLOSED) when both are done.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};
use wsrs_proto::{Receiver, Sender};

use super::events::{EventQueue, Recorder};
use super::sockopt::SocketOption;
use crate::wire::{
    event as kind, heartbeat_spec, Outgoing, HEARTBEAT_PAYLOAD, SYSCALL_READ, SYSCALL_WRITE,
};

/// One outbox operation for this connection; its payload is `data[start..start + len]`
/// of the batch it came in.
#[derive(Clone, Copy)]
pub struct Op {
    pub out: Outgoing,
    pub start: usize,
    pub len: usize,
}

/// What one JS flush queued for one connection.
#[derive(Default)]
pub struct OpBatch {
    pub data: Vec<u8>,
    pub ops: Vec<Op>,
}

/// Out-of-band controls, acted on at once rather than in outbox order.
#[derive(Default)]
pub struct Control {
    /// Bytes read and written so far (`ws._socket.bytesRead` / `bytesWritten`).
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    paused: AtomicBool,
    resumed: Notify,
    killed: AtomicBool,
    kill: Notify,
    /// `ws._socket` has `'data'` listeners: each read is also reported as read.
    tap: AtomicBool,
    /// Bytes `ws._socket.push(...)` gave, fed before the next read; `injected_end`:
    /// `push(null)`, the peer's end.
    injected: std::sync::Mutex<Vec<u8>>,
    injected_end: AtomicBool,
    /// Set by `inject`, so the reader looks at the above only when there is something.
    injected_any: AtomicBool,
    inject: Notify,
    /// Close with a TCP reset (`resetAndDestroy()`) when killed.
    reset: AtomicBool,
    /// The socket's fd while the connection task holds it open: JS sets options on
    /// it under this lock, and the task clears it under the same lock before the fd
    /// can close, so an option never reaches a closed (or reused) descriptor.
    #[cfg(unix)]
    fd: std::sync::Mutex<Option<std::ffi::c_int>>,
}

impl Control {
    /// Bytes read and written so far.
    pub fn byte_counts(&self) -> (u64, u64) {
        (
            self.bytes_read.load(Ordering::Relaxed),
            self.bytes_written.load(Ordering::Relaxed),
        )
    }

    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Release);
        if !paused {
            self.resumed.notify_waiters();
        }
    }

    /// Reports each read as a DATA event (`on`), or stops.
    pub fn set_tap(&self, on: bool) {
        self.tap.store(on, Ordering::Release);
    }

    /// Feeds `bytes` to the parser before the next read, as if read; `None`: as if
    /// the peer ended its side (`ws._socket.push(...)`).
    pub fn inject(&self, bytes: Option<&[u8]>) {
        match bytes {
            Some(bytes) => self
                .injected
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(bytes),
            None => self.injected_end.store(true, Ordering::Release),
        }
        self.injected_any.store(true, Ordering::Release);
        self.inject.notify_one();
    }

    /// Sets a socket option (`ws._socket.setNoDelay` / `setKeepAlive`); false once the
    /// socket is closed, or where adopted sockets have no fd.
    pub fn set_socket_option(&self, option: SocketOption) -> bool {
        #[cfg(unix)]
        {
            let fd = self.fd.lock().unwrap_or_else(|e| e.into_inner());
            fd.is_some_and(|fd| crate::io::sockopt::apply(fd, option))
        }
        #[cfg(not(unix))]
        {
            let _ = option;
            false
        }
    }

    /// Drops the socket with a TCP reset (`resetAndDestroy()`).
    pub fn reset(&self) {
        self.reset.store(true, Ordering::Release);
        self.kill();
    }

    /// Drops the socket as soon as both tasks notice (ws's `terminate()`).
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill.notify_waiters();
    }

    async fn killed(&self) {
        loop {
            let notified = self.kill.notified();
            if self.killed.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    async fn wait_resumed(&self) {
        loop {
            let notified = self.resumed.notified();
            if !self.paused.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// Everything a connection task needs from the adopter.
pub struct Setup {
    pub id: u32,
    pub stream: std::net::TcpStream,
    /// Bytes already read from the socket by Node (upgrade head, buffered data).
    pub head: Vec<u8>,
    /// Bytes to write before anything else (the server's 101 response).
    pub preamble: Vec<u8>,
    pub receiver: Receiver,
    pub writer: Sender,
    pub queue: Arc<EventQueue>,
    pub control: Arc<Control>,
    pub ops: mpsc::UnboundedReceiver<OpBatch>,
}

/// Runs the connection to the end. Must be spawned on the io runtime.
pub async fn run(setup: Setup) {
    let Setup {
        id,
        stream,
        head,
        preamble,
        receiver,
        writer,
        queue,
        control,
        ops,
    } = setup;
    // Reports CLOSED however this task ends, a panic included, so JS never waits on a
    // connection that is gone (and never keeps the process alive for it).
    let _closed = ClosedOnDrop {
        id,
        queue: &queue,
        control: &control,
    };
    let stream = match stream
        .set_nonblocking(true)
        .and_then(|_| TcpStream::from_std(stream))
    {
        Ok(s) => s,
        Err(_) => return,
    };
    let _ = stream.set_nodelay(true);
    let (r, mut w) = stream.into_split();
    // Declared after the halves, so dropped before them: the fd is withdrawn from
    // JS's reach before it closes, however this task ends.
    #[cfg(unix)]
    let _fd = FdShared::new(&control, std::os::fd::AsRawFd::as_raw_fd(r.as_ref()));
    tokio::join!(
        read_loop(id, &r, head, receiver, &queue, &control),
        write_loop(id, &mut w, preamble, writer, ops, &queue, &control)
    );
    if control.reset.load(Ordering::Acquire) {
        // `resetAndDestroy()`: the peer must see a reset, not the FIN that dropping
        // the write half sends; closing the fd with SO_LINGER 0 sends it.
        let _ = r.as_ref().set_zero_linger();
        w.forget();
    }
}

/// The connection's fd, reachable by [`Control::set_socket_option`] while this lives.
#[cfg(unix)]
struct FdShared<'a>(&'a Control);

#[cfg(unix)]
impl<'a> FdShared<'a> {
    fn new(control: &'a Control, fd: std::ffi::c_int) -> Self {
        *control.fd.lock().unwrap_or_else(|e| e.into_inner()) = Some(fd);
        FdShared(control)
    }
}

#[cfg(unix)]
impl Drop for FdShared<'_> {
    fn drop(&mut self) {
        *self.0.fd.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

struct ClosedOnDrop<'a> {
    id: u32,
    queue: &'a EventQueue,
    control: &'a Control,
}

impl Drop for ClosedOnDrop<'_> {
    fn drop(&mut self) {
        let (read, written) = self.control.byte_counts();
        let totals = crate::wire::byte_totals(read, written);
        self.queue
            .writer(self.id)
            .push_payload(kind::CLOSED, 0, &totals);
    }
}

async fn read_loop(
    id: u32,
    r: &OwnedReadHalf,
    head: Vec<u8>,
    mut receiver: Receiver,
    queue: &EventQueue,
    control: &Control,
) {
    // Bytes read but not yet parsed: the parser stops between slices of a read once
    // this connection is over its bound, and the rest waits here (not in the kernel's
    // buffer, which was already emptied) until JS has delivered what is queued.
    // Reported as read whatever the tap, as on the JS-loop driver.
    if !head.is_empty() {
        queue.writer(id).push_payload(kind::DATA, 0, &head);
        receiver.note_read();
    }
    let mut backlog = head;
    loop {
        if control.injected_any.load(Ordering::Acquire) {
            let before = backlog.len();
            take_injected(id, control, queue, &mut backlog);
            if backlog.len() > before {
                receiver.note_read();
            }
            if backlog.is_empty() && control.injected_end.load(Ordering::Acquire) {
                queue.writer(id).push(kind::EOF, 0, 0);
                return;
            }
        }
        if !backlog.is_empty() && !control.paused.load(Ordering::Acquire) {
            let used = feed_bounded(id, &mut receiver, &mut backlog, queue);
            backlog.drain(..used);
            if backlog.is_empty() {
                backlog = Vec::new();
            }
        }
        if control.paused.load(Ordering::Acquire) || queue.over_high_water_for(id) {
            tokio::select! {
                _ = async { control.wait_resumed().await; queue.wait_for_room(id).await } => {}
                _ = control.killed() => return,
            }
            continue;
        }
        if !backlog.is_empty() {
            continue;
        }
        // Wait for data without holding a buffer: an idle connection owns no read
        // memory. The read itself uses the io thread's buffer and is fed at once.
        let ready = tokio::select! {
            ready = r.readable() => ready,
            _ = control.killed() => return,
            _ = control.inject.notified() => continue,
            _ = idle_timeout(context_idle), if receiver.holds_context() => {
                receiver.release_idle_context();
                continue;
            }
        };
        if ready.is_err() {
            control.kill();
            return;
        }
        if control.paused.load(Ordering::Acquire) {
            // Paused while waiting: leave the data in the kernel.
            continue;
        }
        let read = READ_BUF.with(|buf| {
            let mut buf = buf.borrow_mut();
            let n = r.try_read(&mut buf)?;
            let bytes = buf.get_mut(..n).unwrap_or_default();
            if control.tap.load(Ordering::Acquire) && n > 0 {
                queue.writer(id).push_payload(kind::DATA, 0, bytes);
            }
            if n > 0 {
                receiver.note_read();
            }
            let used = feed_bounded(id, &mut receiver, bytes, queue);
            if let Some(rest) = bytes.get(used..) {
                backlog.extend_from_slice(rest);
            }
            Ok::<usize, std::io::Error>(n)
        });
        match read {
            Ok(0) => {
                queue.writer(id).push(kind::EOF, 0, 0);
                return;
            }
            Ok(n) => {
                control.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => {
                queue.writer(id).push_socket_error(SYSCALL_READ, &e);
                control.kill();
                return;
            }
        }
    }
}

/// Moves what `ws._socket.push(...)` gave into the backlog (reported as read if
/// tapped, as Node's socket emits pushed data).
fn take_injected(id: u32, control: &Control, queue: &EventQueue, backlog: &mut Vec<u8>) {
    let mut injected = control.injected.lock().unwrap_or_else(|e| e.into_inner());
    // Cleared under the lock: bytes injected after this set it again.
    if !control.injected_end.load(Ordering::Acquire) {
        control.injected_any.store(false, Ordering::Release);
    }
    if !injected.is_empty() {
        if control.tap.load(Ordering::Acquire) {
            queue.writer(id).push_payload(kind::DATA, 0, &injected);
        }
        backlog.append(&mut injected);
    }
}

/// Bytes parsed between checks of the connection's undelivered bound. One read can
/// hold ~10,000 empty frames (6 bytes each, masked): parsed at once, a slow handler
/// would owe a second to this connection alone before any other connection's message
/// (`__test__/flood.test.js`). A slice holds at most ~700 of them.
const FEED_SLICE: usize = 4 * 1024;

/// Feeds `bytes` to the parser slice by slice while connection `id` is within its
/// bound; returns how many bytes were used (all of them unless it went over).
fn feed_bounded(id: u32, receiver: &mut Receiver, bytes: &mut [u8], queue: &EventQueue) -> usize {
    let mut used = 0;
    while used < bytes.len() {
        if receiver.is_done() {
            return bytes.len();
        }
        let end = used.saturating_add(FEED_SLICE).min(bytes.len());
        let Some(slice) = bytes.get_mut(used..end) else {
            return bytes.len();
        };
        let mut events = Recorder::new(queue.writer(id));
        if let Err(err) = receiver.feed(slice, &mut events) {
            events.error(err);
        }
        let made = events.records() > 0;
        drop(events);
        used = end;
        // Only a slice that made events can have taken the connection over its
        // bound: the slices of a large message being assembled take no extra lock.
        if made && used < bytes.len() && queue.over_high_water_for(id) {
            return used;
        }
    }
    used
}

thread_local! {
    /// The read buffer of each io thread, shared by all its connections.
    static READ_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; READ_SIZE]);
}

/// Bytes asked of each read.
const READ_SIZE: usize = 64 * 1024;

async fn write_loop(
    id: u32,
    w: &mut OwnedWriteHalf,
    preamble: Vec<u8>,
    mut writer: Sender,
    mut ops: mpsc::UnboundedReceiver<OpBatch>,
    queue: &EventQueue,
    control: &Control,
) {
    let mut out = preamble;
    loop {
        let mut frames = 0u32;
        let mut end = false;
        if out.is_empty() {
            // Biased: frames JS queued before terminate() still get their one
            // attempt, as ws's writes reach the socket before its destroy().
            let batch = tokio::select! {
                biased;
                b = ops.recv() => b,
                _ = control.killed() => return,
                _ = idle_timeout(deflate_context_idle), if writer.holds_context() => {
                    writer.release_idle_context();
                    continue;
                }
            };
            let Some(batch) = batch else { return };
            end |= encode_batch(&mut writer, &batch, &mut out, &mut frames);
        }
        // Coalesce whatever else is already queued into the same write.
        while !end && out.len() < COALESCE_LIMIT {
            match ops.try_recv() {
                Ok(batch) => end |= encode_batch(&mut writer, &batch, &mut out, &mut frames),
                Err(_) => break,
            }
        }
        let written = tokio::select! {
            biased;
            r = w.write_all(&out) => r,
            _ = control.killed() => return,
        };
        if let Err(e) = written {
            queue.writer(id).push_socket_error(SYSCALL_WRITE, &e);
            control.kill();
            return;
        }
        control
            .bytes_written
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        // Idle connections keep no write buffer to speak of.
        if out.capacity() > IDLE_KEEP {
            out = Vec::new();
        } else {
            out.clear();
        }
        if frames > 0 {
            queue.writer(id).push(kind::WRITTEN, 0, frames);
        }
        if end {
            // The read half keeps the fd open until the peer closes its side too.
            let _ = w.shutdown().await;
            return;
        }
    }
}

/// How long a connection's inflating half may go without receiving before it gives
/// its permessage-deflate context back to the io thread's pool, keeping the window of
/// history the peer may still refer to: `WS_RS_DEFLATE_IDLE_MS`, default 5 s (an
/// inflate context is small, and priming it again is a copy of the window).
pub fn context_idle() -> Duration {
    idle_from_env().unwrap_or(Duration::from_secs(5))
}

/// The same for the deflating half, whose context is the big one (zlib-rs zeroes some
/// 300 KiB for it): `WS_RS_DEFLATE_IDLE_MS`, default 250 ms. A deflater resumes from
/// only [`wsrs_proto::DEFLATE_HISTORY`] bytes of what it sent, so priming a fresh
/// context costs about as much as compressing that much; busy connections (a message
/// at least every 250 ms) never pay it, and quiet ones stay small.
pub fn deflate_context_idle() -> Duration {
    idle_from_env().unwrap_or(Duration::from_millis(250))
}

fn idle_from_env() -> Option<Duration> {
    static IDLE: OnceLock<Option<Duration>> = OnceLock::new();
    *IDLE.get_or_init(|| {
        std::env::var("WS_RS_DEFLATE_IDLE_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis)
    })
}

/// Completes after `idle`. Lazy, unlike `sleep(...)`: `select!` builds the futures of
/// disabled branches too, and plain connections should not read the clock.
async fn idle_timeout(idle: fn() -> Duration) {
    tokio::time::sleep(idle()).await
}

/// A write buffer larger than this is released after each write.
const IDLE_KEEP: usize = 16 * 1024;

/// Stop coalescing queued batches into one write past this many bytes.
const COALESCE_LIMIT: usize = 256 * 1024;

/// Frames one batch into `out` with the connection's [`Sender`], counting frames.
/// Returns true if the batch ends the write side (nothing after `END` is sent).
pub fn encode_batch(
    sender: &mut Sender,
    batch: &OpBatch,
    out: &mut Vec<u8>,
    frames: &mut u32,
) -> bool {
    for o in &batch.ops {
        match o.out {
            Outgoing::End => return true,
            Outgoing::Frame(spec) => {
                sender.frame(spec, &batch.data[o.start..o.start + o.len], out);
                *frames += 1;
            }
            Outgoing::Raw => {
                out.extend_from_slice(&batch.data[o.start..o.start + o.len]);
                *frames += 1;
            }
            // Not counted: no callback waits for it.
            Outgoing::Heartbeat(masking) => {
                sender.frame(heartbeat_spec(masking), HEARTBEAT_PAYLOAD, out);
            }
        }
    }
    false
}
