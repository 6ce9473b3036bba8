//! The per-environment queue of events from io tasks to JS, batched so that one JS
//! wake-up delivers many events and one Buffer carries many payloads.
//!
//! A record is four `u32`s: `[conn id, kind | extra << 8, a, b]`. Payloads go into the
//! current chunk's arena (`a` = offset, `b` = length), or, above `BIG_MESSAGE`, into a
//! Buffer of their own (`kind | BIG`, `a` = index into the chunk's `bigs`). A chunk is
//! closed at `ARENA_CAP` bytes or `LOG_CAP` records (`crate::wire`), so a message view kept by JS
//! pins at most one small arena.

use crate::wire::{
    event as kind, ARENA_CAP, BIG_MESSAGE, DIRECT_MIN_VIEW, HEARTBEAT_PAYLOAD, LOG_CAP,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use tokio::sync::Notify;
use wsrs_proto::{inflate_message, Handler, Payload, ProtoError};

/// Readers stop reading while JS has more than this many bytes undelivered.
const HIGH_WATER: usize = 16 * 1024 * 1024;
/// What one record counts towards [`HIGH_WATER`] besides its payload: an empty frame,
/// ping or pong is not free (its record, and the call and Buffer JS makes for it), so
/// a flood of them is bounded by count too (16 MiB / 64: 262,144 records).
const RECORD_COST: usize = 64;

/// A connection's reader also stops while that connection alone has more than this
/// undelivered (same units), so one flooding peer cannot fill the queue ahead of the
/// others' messages: they wait behind at most this much of its events (plus one
/// read): under a flood of empty frames at a 0.1 ms handler the other connections'
/// echoes keep flowing (`__test__/flood.test.js`; 256 KiB was too much there).
const CONN_HIGH_WATER: usize = 64 * 1024;

/// One batch as JS receives it.
#[derive(Default)]
pub struct Chunk {
    pub log: Vec<u32>,
    pub arena: Vec<u8>,
    pub bigs: Vec<Vec<u8>>,
    bytes: usize,
    /// What each connection's records here count towards its undelivered total.
    owners: Vec<(u32, usize)>,
}

impl Chunk {
    fn records(&self) -> usize {
        self.log.len() / 4
    }

    fn count(&mut self, id: u32, cost: usize, per_conn: bool) {
        self.bytes += cost;
        if !per_conn {
            return;
        }
        match self.owners.last_mut() {
            Some((last, total)) if *last == id => *total += cost,
            _ => self.owners.push((id, cost)),
        }
    }
}

#[derive(Default)]
struct Inner {
    chunks: std::collections::VecDeque<Chunk>,
    /// A wake-up is pending or JS is draining: no need to wake again.
    scheduled: bool,
    /// Undelivered per connection (only those with some).
    per_conn: std::collections::HashMap<u32, usize>,
}

/// The queue. Producers are io tasks; the consumer is the environment's JS thread.
pub struct EventQueue {
    inner: Mutex<Inner>,
    wake: Box<dyn Fn() + Send + Sync>,
    undelivered: AtomicUsize,
    drained: Notify,
    /// Whether undelivered events are also counted per connection (`CONN_HIGH_WATER`).
    per_conn_bound: bool,
}

/// Appends records for one connection while holding the queue lock once.
pub struct Writer<'a> {
    queue: &'a EventQueue,
    inner: std::sync::MutexGuard<'a, Inner>,
    id: u32,
    bytes: usize,
    records: usize,
}

impl EventQueue {
    /// `wake` is called (from any thread) when the queue goes from idle to non-empty.
    pub fn new(wake: Box<dyn Fn() + Send + Sync>) -> Self {
        EventQueue {
            inner: Mutex::new(Inner::default()),
            wake,
            undelivered: AtomicUsize::new(0),
            drained: Notify::new(),
            per_conn_bound: false,
        }
    }

    /// A queue whose readers also stop at [`CONN_HIGH_WATER`] per connection: for
    /// readers that run ahead on their own threads (the io threads). The JS-loop
    /// driver needs none: it reads a socket only after its events were dispatched.
    pub fn bounded_per_connection(wake: Box<dyn Fn() + Send + Sync>) -> Self {
        EventQueue {
            per_conn_bound: true,
            ..EventQueue::new(wake)
        }
    }

    /// Starts appending events for connection `id`.
    pub fn writer(&self, id: u32) -> Writer<'_> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Writer {
            queue: self,
            inner,
            id,
            bytes: 0,
            records: 0,
        }
    }

    /// Takes the oldest chunk, or `None` (and re-arms the wake-up) when empty.
    pub fn pop(&self) -> Option<Chunk> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match inner.chunks.pop_front() {
            Some(chunk) => {
                let before = self.undelivered.fetch_sub(chunk.bytes, Ordering::AcqRel);
                let mut room = before > HIGH_WATER && before - chunk.bytes <= HIGH_WATER;
                // Empty unless the queue counts per connection.
                for &(id, cost) in &chunk.owners {
                    if let Some(total) = inner.per_conn.get_mut(&id) {
                        room |= *total > CONN_HIGH_WATER && *total - cost <= CONN_HIGH_WATER;
                        *total = total.saturating_sub(cost);
                        if *total == 0 {
                            inner.per_conn.remove(&id);
                        }
                    }
                }
                if room {
                    self.drained.notify_waiters();
                }
                Some(chunk)
            }
            None => {
                inner.scheduled = false;
                None
            }
        }
    }

    /// Whether no chunk is waiting.
    #[cfg_attr(not(unix), allow(dead_code))] // used by the JS-loop driver
    pub fn is_empty(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .chunks
            .is_empty()
    }

    /// Whether JS is behind by more than the high-water mark.
    pub fn over_high_water(&self) -> bool {
        self.undelivered.load(Ordering::Acquire) > HIGH_WATER
    }

    /// Whether JS is behind by more than the high-water mark, or by more than a
    /// connection's share on connection `id`.
    pub fn over_high_water_for(&self, id: u32) -> bool {
        self.over_high_water()
            || self
                .inner
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .per_conn
                .get(&id)
                .is_some_and(|&total| total > CONN_HIGH_WATER)
    }

    /// Waits while [`Self::over_high_water_for`] `id`.
    pub async fn wait_for_room(&self, id: u32) {
        loop {
            let notified = self.drained.notified();
            if !self.over_high_water_for(id) {
                return;
            }
            notified.await;
        }
    }
}

impl Writer<'_> {
    fn chunk_for(&mut self, payload: usize) -> &mut Chunk {
        let full = match self.inner.chunks.back() {
            Some(c) => {
                c.records() >= LOG_CAP || (payload > 0 && c.arena.len() + payload > ARENA_CAP)
            }
            None => true,
        };
        if full {
            self.inner.chunks.push_back(Chunk::default());
        }
        // Just ensured non-empty.
        let last = self.inner.chunks.len() - 1;
        &mut self.inner.chunks[last]
    }

    /// A record with no payload.
    pub fn push(&mut self, kind: u32, extra: u32, a: u32) {
        let id = self.id;
        let chunk = self.counted(0, true);
        chunk.log.extend_from_slice(&[id, kind | extra << 8, a, 0]);
    }

    /// A record with no payload carrying a 64-bit value in its last two words.
    pub fn push_u64(&mut self, kind: u32, value: u64) {
        let id = self.id;
        let chunk = self.counted(0, true);
        chunk
            .log
            .extend_from_slice(&[id, kind, value as u32, (value >> 32) as u32]);
    }

    /// The chunk for one more record whose payload of `len` bytes goes into the arena
    /// (`in_arena`) or lies elsewhere (the read arena, a Buffer of its own); either
    /// way it counts as undelivered.
    fn counted(&mut self, len: usize, in_arena: bool) -> &mut Chunk {
        self.bytes += RECORD_COST + len;
        self.records += 1;
        let (id, per_conn) = (self.id, self.queue.per_conn_bound);
        let chunk = self.chunk_for(if in_arena { len } else { 0 });
        chunk.count(id, RECORD_COST + len, per_conn);
        chunk
    }

    /// A record whose payload is copied into the arena.
    pub fn push_payload(&mut self, kind: u32, extra: u32, payload: &[u8]) {
        let id = self.id;
        let len = payload.len();
        let chunk = self.counted(len, true);
        let off = chunk.arena.len();
        chunk.arena.extend_from_slice(payload);
        chunk
            .log
            .extend_from_slice(&[id, kind | extra << 8, off as u32, len as u32]);
    }

    /// A failed read or write (`syscall`: `wire::SYSCALL_READ`/`SYSCALL_WRITE`),
    /// reported before the CLOSED that follows; extra = the OS error number, or 0 when
    /// it has none that fits in the record's 24 bits.
    pub fn push_socket_error(&mut self, syscall: u32, err: &std::io::Error) {
        let errno = err
            .raw_os_error()
            .and_then(|e| u32::try_from(e).ok())
            .filter(|&e| e < 1 << 24)
            .unwrap_or(0);
        self.push(kind::SOCKET_ERROR, errno, syscall);
    }

    /// A data message: copied into the arena when small, else given a Buffer of its own.
    pub fn push_message(&mut self, binary: bool, payload: &[u8]) {
        if payload.len() <= BIG_MESSAGE {
            self.push_payload(if binary { kind::BINARY } else { kind::TEXT }, 0, payload);
        } else {
            self.push_big(binary, payload.to_vec());
        }
    }

    /// A data message the caller owns: big ones are moved, not copied.
    pub fn push_owned_message(&mut self, binary: bool, payload: &mut Vec<u8>) {
        if payload.len() <= BIG_MESSAGE {
            self.push_payload(if binary { kind::BINARY } else { kind::TEXT }, 0, payload);
        } else {
            self.push_big(binary, std::mem::take(payload));
        }
    }

    /// A data message left where it was read: `len` bytes at `offset` of the read
    /// arena (see `wire::event::DIRECT`). Counted as undelivered like a copy.
    pub fn push_direct(&mut self, binary: bool, offset: usize, len: usize) {
        let kind = if binary { kind::BINARY } else { kind::TEXT };
        let id = self.id;
        self.counted(len, false).log.extend_from_slice(&[
            id,
            kind | kind::DIRECT,
            offset as u32,
            len as u32,
        ]);
    }

    fn push_big(&mut self, binary: bool, data: Vec<u8>) {
        let kind = if binary { kind::BINARY } else { kind::TEXT };
        let id = self.id;
        let len = data.len();
        let chunk = self.counted(len, false);
        chunk.bigs.push(data);
        let index = chunk.bigs.len() as u32 - 1;
        chunk
            .log
            .extend_from_slice(&[id, kind | kind::BIG, index, len as u32]);
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        self.queue
            .undelivered
            .fetch_add(self.bytes, Ordering::AcqRel);
        if self.bytes > 0 && self.queue.per_conn_bound {
            *self.inner.per_conn.entry(self.id).or_insert(0) += self.bytes;
        }
        if !self.inner.scheduled && !self.inner.chunks.is_empty() {
            self.inner.scheduled = true;
            // Only enqueues a JS callback; it never re-enters the queue.
            (self.queue.wake)();
        }
    }
}

/// Reports what the protocol core parsed for one connection into its queue.
pub struct Recorder<'a> {
    out: Writer<'a>,
    /// Addresses of the read arena the input lies in, if any: messages found there are
    /// recorded by offset instead of copied.
    direct: std::ops::Range<usize>,
}

impl<'a> Recorder<'a> {
    pub fn new(out: Writer<'a>) -> Self {
        Recorder { out, direct: 0..0 }
    }

    /// A recorder for input read into the read arena (`direct`: its addresses), whose
    /// messages JS reads in place.
    #[cfg_attr(not(unix), allow(dead_code))] // used by the JS-loop driver
    pub fn reading_in(out: Writer<'a>, direct: std::ops::Range<usize>) -> Self {
        Recorder { out, direct }
    }

    /// How many records were made so far.
    pub fn records(&self) -> usize {
        self.out.records
    }

    /// Where `data` starts in the read arena, if it lies inside it.
    fn direct_offset(&self, data: &[u8]) -> Option<usize> {
        let start = data.as_ptr() as usize;
        (start >= self.direct.start && start + data.len() <= self.direct.end)
            .then(|| start - self.direct.start)
    }

    /// Reports a protocol violation (after which the core reads nothing more).
    pub fn error(&mut self, err: ProtoError) {
        match err {
            // zlib's message travels as the payload; JS uses it as the Error's text.
            ProtoError::Inflate(index) => self.out.push_payload(
                kind::PROTO_ERROR,
                err.kind_id(),
                inflate_message(index).as_bytes(),
            ),
            _ => self.out.push(kind::PROTO_ERROR, err.kind_id(), err.arg()),
        }
    }
}

impl Handler for Recorder<'_> {
    fn message(&mut self, binary: bool, payload: Payload<'_>) {
        match payload {
            Payload::Borrowed(data) => match self.direct_offset(data) {
                Some(offset) if data.len() > DIRECT_MIN_VIEW => {
                    self.out.push_direct(binary, offset, data.len())
                }
                _ => self.out.push_message(binary, data),
            },
            Payload::Owned(vec) => self.out.push_owned_message(binary, vec),
        }
    }
    fn frame_end(&mut self, len: u64) {
        self.out.push_u64(kind::FRAME_END, len);
    }
    fn ping(&mut self, payload: &[u8]) {
        self.out.push_payload(kind::PING, 0, payload);
    }
    fn pong(&mut self, payload: &[u8]) {
        // The answer to ws-rs's own heartbeat ping: the read already counted as life.
        if payload == HEARTBEAT_PAYLOAD {
            return;
        }
        self.out.push_payload(kind::PONG, 0, payload);
    }
    fn close(&mut self, code: u16, reason: &[u8]) {
        self.out
            .push_payload(kind::CLOSE_FRAME, code as u32, reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_without_payload_count_towards_the_high_water_mark() {
        let queue = EventQueue::new(Box::new(|| {}));
        for _ in 0..HIGH_WATER / RECORD_COST {
            queue.writer(1).push(kind::PONG, 0, 0);
        }
        assert!(!queue.over_high_water());
        queue.writer(1).push_payload(kind::PING, 0, b"");
        assert!(queue.over_high_water());
        while queue.pop().is_some() {}
        assert!(!queue.over_high_water());
    }

    #[test]
    fn one_connection_alone_is_bounded_on_the_io_threads_queue() {
        let queue = EventQueue::bounded_per_connection(Box::new(|| {}));
        for _ in 0..CONN_HIGH_WATER / RECORD_COST {
            queue.writer(1).push(kind::PONG, 0, 0);
        }
        queue.writer(2).push(kind::PONG, 0, 0);
        assert!(!queue.over_high_water_for(1));
        queue.writer(1).push(kind::PONG, 0, 0);
        assert!(queue.over_high_water_for(1));
        assert!(!queue.over_high_water_for(2) && !queue.over_high_water());
        while queue.pop().is_some() {}
        assert!(!queue.over_high_water_for(1));
        assert!(queue.inner.lock().unwrap().per_conn.is_empty());
        // The JS-loop driver's queue does not count per connection.
        let unbounded = EventQueue::new(Box::new(|| {}));
        for _ in 0..=CONN_HIGH_WATER / RECORD_COST {
            unbounded.writer(1).push(kind::PONG, 0, 0);
        }
        assert!(!unbounded.over_high_water_for(1));
    }
}
