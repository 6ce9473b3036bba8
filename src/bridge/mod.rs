//! The N-API surface. JS holds one [`EnvState`] per Node environment (main thread or
//! Worker) and talks to connections by numeric id: `adopt` hands over a socket,
//! `flush` hands over the whole outbox once per tick, `loopTake` (JS-loop connections)
//! and `drain` (io-thread connections) take batches of events. Nothing here parses
//! frames: bridged connections (`bridged.rs`) hand their bytes to the protocol core on
//! the JS thread.

mod accept;
mod bridged;
mod compression;
mod framing;
mod heartbeat;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use tokio::sync::mpsc;
use wsrs_proto::{Config, DeflateParams, Deflater, InflateConfig, Receiver, Role, Sender};

use crate::io::connection::{self, Control, Op, OpBatch, Setup};
use crate::io::events::EventQueue;
use crate::io::js_loop::{self, LoopDriver};
use crate::io::sockopt::SocketOption;
use crate::io::{mode, runtime, IdMap, Mode};
use crate::wire::{self, event, out_records, LOG_CAP};
use bridged::Bridged;

type Wake = ThreadsafeFunction<(), (), (), Status, false, true, 0>;

struct Conn {
    ops: mpsc::UnboundedSender<OpBatch>,
    control: Arc<Control>,
    /// The socket's local address, taken before the io threads got it.
    local: Option<std::net::SocketAddr>,
}

/// Per-environment state, owned by JS through an External and used only on its thread.
pub struct EnvState {
    queue: Arc<EventQueue>,
    wake: Arc<Wake>,
    conns: RefCell<IdMap<Conn>>,
    /// Events of bridged connections, drained synchronously right after each feed.
    bridged_queue: EventQueue,
    bridged: RefCell<IdMap<Bridged>>,
    /// Framed output of bridged connections from the last flush, for JS to write.
    bridged_writes: RefCell<Vec<BridgedWrite>>,
    /// Connections served on this environment's own event loop.
    driver: Box<LoopDriver>,
    /// Connections with `idleTimeout`, whichever driver serves them.
    beats: RefCell<heartbeat::Beats>,
}

impl EnvState {
    fn new_id(&self) -> u32 {
        self.driver.new_id()
    }
}

impl Drop for EnvState {
    fn drop(&mut self) {
        // The environment is going away: its sockets go with it.
        for conn in self.conns.get_mut().values() {
            conn.control.kill();
        }
    }
}

/// Sets up this environment. `wake` is called (with no arguments) whenever io-thread
/// events are waiting; it should call `drain` until it returns null. `on_loop` is
/// called from the event loop when JS-loop connections have events, with the first
/// batch already taken (`loopTake`'s result; 0 to finish what it kept); it calls
/// `loopTake` while the log's header says more wait and returns true, or false if it
/// kept records for its next call. `loop_log` is the Buffer `loopTake` writes records into (a 16-byte
/// header, then `LOG_CAP` records).
#[napi(catch_unwind)]
pub fn init(
    env: Env,
    wake: Function<'_, (), ()>,
    on_loop: Function<'_, u32, bool>,
    loop_log: Buffer,
) -> Result<External<EnvState>> {
    use napi::bindgen_prelude::ToNapiValue;
    // Safe: both values belong to this call.
    let driver = unsafe {
        let log = ToNapiValue::to_napi_value(env.raw(), loop_log)?;
        LoopDriver::new(env.raw(), on_loop.raw(), log)?
    };
    let tsfn: Wake = wake
        .build_threadsafe_function()
        .weak::<true>()
        .callee_handled::<false>()
        .build()?;
    let tsfn = Arc::new(tsfn);
    let caller = tsfn.clone();
    let queue = Arc::new(EventQueue::bounded_per_connection(Box::new(move || {
        caller.call((), ThreadsafeFunctionCallMode::NonBlocking);
    })));
    Ok(External::new(EnvState {
        queue,
        wake: tsfn,
        conns: RefCell::new(IdMap::default()),
        bridged_queue: EventQueue::new(Box::new(|| {})),
        bridged: RefCell::new(IdMap::default()),
        bridged_writes: RefCell::new(Vec::new()),
        beats: RefCell::new(heartbeat::Beats::default()),
        driver,
    }))
}

/// `[deflate, inflate]` zlib contexts held by connections of the whole process now
/// (idle ones give theirs back; `__test__/deflate-idle.test.js` checks that).
#[napi(catch_unwind)]
pub fn contexts_held() -> Vec<u32> {
    let (deflate, inflate) = wsrs_proto::contexts_held();
    vec![deflate as u32, inflate as u32]
}

/// Keeps the process alive (true) while this environment has open sockets, or lets it
/// exit (false). JS calls it on the 0 <-> 1 transitions of its socket count.
#[napi(catch_unwind)]
pub fn set_ref(env: Env, state: &External<EnvState>, on: bool) -> Result<()> {
    state.driver.set_ref(on);
    let status = unsafe {
        if on {
            napi::sys::napi_ref_threadsafe_function(env.raw(), state.wake.raw())
        } else {
            napi::sys::napi_unref_threadsafe_function(env.raw(), state.wake.raw())
        }
    };
    if status == napi::sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::from_reason(
            "ref/unref of the wake-up function failed",
        ))
    }
}

/// A permessage-deflate agreement, seen from this side (`lib/permessage-deflate.js`).
#[napi(object)]
pub struct DeflateOptions {
    pub inflate_window_bits: u32,
    pub inflate_no_context_takeover: bool,
    pub deflate_window_bits: u32,
    pub deflate_no_context_takeover: bool,
    /// zlib's level, memLevel and strategy (`zlibDeflateOptions`).
    pub level: u32,
    pub mem_level: u32,
    pub strategy: u32,
}

impl DeflateOptions {
    /// The deflate side of this agreement.
    pub fn deflater(&self) -> Deflater {
        Deflater::with_params(
            self.deflate_window_bits.min(15) as u8,
            self.deflate_no_context_takeover,
            DeflateParams {
                level: self.level,
                mem_level: self.mem_level.min(255) as u8,
                strategy: self.strategy.min(255) as u8,
            },
        )
    }
}

/// Protocol settings for a connection, with ws's option names.
#[napi(object)]
pub struct AdoptOptions {
    pub is_server: bool,
    pub max_payload: f64,
    pub max_fragments: u32,
    /// 0 when absent: no limit.
    pub max_buffered_chunks: Option<u32>,
    #[napi(js_name = "skipUTF8Validation")]
    pub skip_utf8_validation: bool,
    /// Present when permessage-deflate was negotiated.
    pub deflate: Option<DeflateOptions>,
}

impl AdoptOptions {
    fn config(&self) -> Config {
        let mut cfg = Config::new(if self.is_server {
            Role::Server
        } else {
            Role::Client
        });
        // JS passes `maxPayload | 0` as ws does; anything not a positive finite number
        // means "no limit" here too (never a wrapped or saturated bound).
        cfg.max_payload = if self.max_payload.is_finite() && self.max_payload >= 1.0 {
            self.max_payload as u64
        } else {
            0
        };
        cfg.max_fragments = self.max_fragments;
        cfg.max_buffered_chunks = self.max_buffered_chunks.unwrap_or(0);
        cfg.skip_utf8_validation = self.skip_utf8_validation;
        cfg.inflate = self.deflate.as_ref().map(|d| InflateConfig {
            window_bits: d.inflate_window_bits.min(15) as u8,
            no_context_takeover: d.inflate_no_context_takeover,
        });
        cfg
    }

    fn sender(&self) -> Sender {
        Sender::new(self.deflate.as_ref().map(DeflateOptions::deflater))
    }
}

/// Takes over a connected TCP socket: duplicates `fd` (Node closes its own copy right
/// after), writes `preamble`, feeds `head` to the protocol core first, and serves the
/// connection on this environment's event loop (or, with permessage-deflate, on the io
/// threads). Returns the connection id.
/// A socket of our own for Node's socket `fd`: a duplicate (close-on-exec), so that
/// Node can close its handle while we keep the connection.
#[cfg(unix)]
fn socket_of_fd(fd: i32) -> Result<std::net::TcpStream> {
    use std::os::fd::FromRawFd;
    // Safe: fcntl on an fd number; a bad one only makes it fail.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(Error::from_reason(format!(
            "ws-rs: cannot duplicate fd {fd}: {}",
            std::io::Error::last_os_error()
        )));
    }
    // Safe: we own `dup` from here; it is a connected TCP socket Node gave us.
    Ok(unsafe { std::net::TcpStream::from_raw_fd(dup) })
}

/// No fds here (Windows): `lib/native.js` runs every connection bridged.
#[cfg(not(unix))]
fn socket_of_fd(fd: i32) -> Result<std::net::TcpStream> {
    Err(Error::from_reason(format!(
        "ws-rs: cannot adopt fd {fd}: sockets are only adopted where Node exposes fds"
    )))
}

#[napi(catch_unwind)]
pub fn adopt(
    state: &External<EnvState>,
    fd: i32,
    mut head: BufferSlice,
    preamble: BufferSlice,
    options: AdoptOptions,
) -> Result<u32> {
    let stream = socket_of_fd(fd)?;
    let id = state.new_id();
    serve(state, id, stream, None, &mut head, &preamble, &options)?;
    Ok(id)
}

/// Serves connection `id` on `stream`: on this environment's event loop (with `poll`
/// if the driver already watches the socket), or, with `WS_RS_IO=threads`, on the io
/// threads; on the loop after all when the io runtime cannot start (it needs
/// descriptors of its own, and a process may have none left). Writes `preamble`, feeds
/// `head` first.
fn serve(
    state: &EnvState,
    id: u32,
    stream: std::net::TcpStream,
    poll: Option<js_loop::Poll>,
    head: &mut [u8],
    preamble: &[u8],
    options: &AdoptOptions,
) -> Result<()> {
    let cfg = options.config();
    let threads = if mode() == Mode::Threads {
        runtime::get()
    } else {
        None
    };
    let Some(rt) = threads else {
        return state
            .driver
            .adopt(
                id,
                (stream, poll),
                head,
                preamble,
                (Receiver::new(cfg), options.sender()),
            )
            .map_err(|e| Error::from_reason(format!("ws-rs: cannot adopt the socket: {e}")));
    };
    // The io threads watch the socket with their own reactor. (Without fds the poll
    // type is uninhabited, hence the allow.)
    #[allow(dropping_copy_types)]
    drop(poll);
    let (tx, rx) = mpsc::unbounded_channel();
    let control = Arc::new(Control::default());
    state.conns.borrow_mut().insert(
        id,
        Conn {
            ops: tx,
            control: control.clone(),
            local: stream.local_addr().ok(),
        },
    );
    rt.spawn(connection::run(Setup {
        id,
        stream,
        head: head.to_vec(),
        preamble: preamble.to_vec(),
        receiver: Receiver::new(cfg),
        writer: options.sender(),
        queue: state.queue.clone(),
        control,
        ops: rx,
    }));
    Ok(())
}

/// Bytes for JS to write to a bridged connection's socket.
#[napi(object)]
pub struct BridgedWrite {
    pub id: u32,
    pub data: Buffer,
    /// Frames in `data` (for the send callbacks once the socket has written it).
    pub frames: u32,
    /// The write side ends after `data`.
    pub end: bool,
}

/// Set in `flush`'s result when bridged connections have framed output to write.
const FLUSH_BRIDGED: u32 = 1 << 31;

/// Hands over the outbox: `count` records of four u32 `[id, op | flags << 8, len, big]`
/// in `log`, their payloads back to back in `data`, or for records flagged `BIG`, in
/// `bigs[big]`. JS-loop connections are framed and written now; frames written at once
/// are reported in `written` as `[id, frames]` pairs, and the result is the number of
/// pairs, with `FLUSH_BRIDGED` set when `takeBridgedWrites` has output for JS to write.
/// io-thread connections get their share on their writer task.
#[napi(catch_unwind)]
pub fn flush(
    env: Env,
    state: &External<EnvState>,
    data: BufferSlice,
    log: BufferSlice,
    count: u32,
    bigs: Array,
    mut written: BufferSlice,
) -> u32 {
    let conns = state.conns.borrow();
    let mut bridged = state.bridged.borrow_mut();
    let (big_slices, big_values) = big_payloads(env.raw(), &bigs);
    let mut batches: IdMap<OpBatch> = IdMap::default();
    let mut on_loop = state.driver.batch(big_values);
    for rec in out_records(&data, &log, count, &big_slices) {
        // A publish is one record (one payload) for all its targets, framed here for
        // each of them in its place among that connection's other records.
        for id in rec.recipients() {
            if on_loop.has(id) {
                on_loop.queue(id, rec.op, rec.payload, rec.big);
                continue;
            }
            if !conns.contains_key(&id) && !bridged.contains_key(&id) {
                continue;
            }
            let batch = batches.entry(id).or_default();
            let start = batch.data.len();
            batch.data.extend_from_slice(rec.payload);
            batch.ops.push(Op {
                out: rec.op,
                start,
                len: rec.payload.len(),
            });
        }
    }
    let pairs = on_loop.finish(&mut written);
    let mut writes = state.bridged_writes.borrow_mut();
    for (id, batch) in batches {
        if let Some(conn) = conns.get(&id) {
            let _ = conn.ops.send(batch);
        } else if let Some(b) = bridged.get_mut(&id) {
            writes.push(b.encode(id, &batch));
        }
    }
    if writes.is_empty() {
        pairs
    } else {
        pairs | FLUSH_BRIDGED
    }
}

/// The bytes of each Buffer of `bigs` (empty for anything else) and its value. Read
/// as shared slices: the same Buffer is often there many times (one send to many
/// connections), which `&mut` views such as `BufferSlice` would alias.
fn big_payloads<'a>(env: sys::napi_env, bigs: &'a Array) -> (Vec<&'a [u8]>, Vec<sys::napi_value>) {
    let n = bigs.len();
    let mut slices = Vec::with_capacity(n as usize);
    let mut values = Vec::with_capacity(n as usize);
    for i in 0..n {
        let value = match bigs.get::<Unknown>(i) {
            Ok(Some(v)) => v.raw(),
            _ => std::ptr::null_mut(),
        };
        let mut data = std::ptr::null_mut();
        let mut len = 0usize;
        // Safe: `value` belongs to this call; napi fails for anything not a Buffer.
        let ok = !value.is_null()
            && unsafe { sys::napi_get_buffer_info(env, value, &mut data, &mut len) }
                == sys::Status::napi_ok;
        slices.push(if ok && !data.is_null() && len > 0 {
            // Safe: the Buffer stays alive (an argument) for the whole call.
            unsafe { std::slice::from_raw_parts(data as *const u8, len) }
        } else {
            &[][..]
        });
        values.push(value);
    }
    (slices, values)
}

/// The bridged output of the last `flush`.
#[napi(catch_unwind)]
pub fn take_bridged_writes(state: &External<EnvState>) -> Vec<BridgedWrite> {
    std::mem::take(&mut *state.bridged_writes.borrow_mut())
}

/// Delivers the JS-loop events staged so far, if no turn is running (see
/// `LoopDriver::turn_now`).
#[napi(catch_unwind)]
pub fn loop_turn(state: &External<EnvState>) {
    state.driver.turn_now();
}

/// Moves the next staged batch of JS-loop events into the loop log and the current
/// arena. Returns its record count (0: none), with `loopNewArena` set when JS must
/// fetch the arena again (`loopArena`) and `loopBigs` when it has big payloads
/// (`loopBigs`).
#[napi(catch_unwind)]
pub fn loop_take(state: &External<EnvState>) -> Result<u32> {
    state.driver.take()
}

/// The arena the records of the last `loopTake` point into.
#[napi(catch_unwind)]
pub fn loop_arena<'env>(env: &'env Env, state: &External<EnvState>) -> Unknown<'env> {
    // Safe: a live Buffer value of this call's environment.
    unsafe { Unknown::from_raw_unchecked(env.raw(), state.driver.arena()) }
}

/// The read arena the DIRECT records of the last `loopTake` point into.
#[napi(catch_unwind)]
pub fn loop_read_arena<'env>(env: &'env Env, state: &External<EnvState>) -> Unknown<'env> {
    // Safe: a live Buffer value of this call's environment.
    unsafe { Unknown::from_raw_unchecked(env.raw(), state.driver.read_arena()) }
}

/// The payloads of the last `loopTake`'s BIG records, by index.
#[napi(catch_unwind)]
pub fn loop_bigs(state: &External<EnvState>) -> Vec<Buffer> {
    state
        .driver
        .take_bigs()
        .into_iter()
        .map(Buffer::from)
        .collect()
}

/// Stops (true) or restarts (false) reading from one connection: ws's `pause()`.
#[napi(catch_unwind)]
pub fn pause(state: &External<EnvState>, id: u32, paused: bool) {
    state.driver.pause(id, paused);
    if let Some(conn) = state.conns.borrow().get(&id) {
        conn.control.set_paused(paused);
    }
}

/// Drops the connection now, unsent data included: ws's `terminate()`.
#[napi(catch_unwind)]
pub fn terminate(state: &External<EnvState>, id: u32) {
    state.driver.terminate(id);
    if let Some(conn) = state.conns.borrow().get(&id) {
        conn.control.kill();
    }
}

/// Reports (`on`) or stops reporting connection `id`'s reads as DATA events, for
/// `ws._socket`'s `'data'` listeners.
#[napi(catch_unwind)]
pub fn socket_tap(state: &External<EnvState>, id: u32, on: bool) {
    if !state.driver.set_tap(id, on) {
        if let Some(conn) = state.conns.borrow().get(&id) {
            conn.control.set_tap(on);
        }
    }
}

/// Feeds `bytes` to connection `id`'s parser as if read, or (null) acts as if the
/// peer ended its side: `ws._socket.push(...)`. The bytes are copied (the parser
/// unmasks in place).
#[napi(catch_unwind)]
pub fn socket_push(state: &External<EnvState>, id: u32, bytes: Option<Buffer>) {
    let mut copy = bytes.map(|b| b.to_vec());
    if !state.driver.inject(id, copy.as_deref_mut()) {
        if let Some(conn) = state.conns.borrow().get(&id) {
            conn.control.inject(copy.as_deref());
        }
    }
}

/// Drops connection `id` with a TCP reset: `ws._socket.resetAndDestroy()`.
#[napi(catch_unwind)]
pub fn socket_reset(state: &External<EnvState>, id: u32) {
    if !state.driver.reset(id) {
        if let Some(conn) = state.conns.borrow().get(&id) {
            conn.control.reset();
        }
    }
}

/// Sets a socket option (`wire::sockopt`) on connection `id`'s socket, as Node's
/// `setNoDelay(on)` / `setKeepAlive(on, delayMs)` do, whichever driver serves it.
/// False when no adopted socket is open for `id`.
#[napi(catch_unwind)]
pub fn socket_option(
    state: &External<EnvState>,
    id: u32,
    option: u32,
    on: bool,
    delay_ms: f64,
) -> bool {
    let option = match option {
        wire::sockopt::NO_DELAY => SocketOption::NoDelay(on),
        wire::sockopt::KEEP_ALIVE => SocketOption::KeepAlive {
            on,
            // Node takes milliseconds and gives the kernel whole seconds, at least 1.
            idle_secs: if delay_ms.is_finite() && delay_ms >= 1000.0 {
                (delay_ms / 1000.0).min(f64::from(i32::MAX)) as i32
            } else {
                1
            },
        },
        _ => return false,
    };
    state.driver.set_socket_option(id, option)
        || state
            .conns
            .borrow()
            .get(&id)
            .is_some_and(|conn| conn.control.set_socket_option(option))
}

/// Bytes read and written so far by connection `id` (`ws._socket.bytesRead` /
/// `bytesWritten`), or null if it is not served by this environment's drivers.
#[napi(catch_unwind)]
pub fn socket_stats(state: &External<EnvState>, id: u32) -> Option<Vec<f64>> {
    let (read, written) = state.driver.byte_counts(id).or_else(|| {
        state
            .conns
            .borrow()
            .get(&id)
            .map(|c| c.control.byte_counts())
    })?;
    Some(vec![read as f64, written as f64])
}

/// One batch of events for JS.
#[napi(object)]
pub struct Batch {
    /// Records written into the caller's log.
    pub count: u32,
    /// The payloads of small messages, addressed by the records.
    pub arena: Buffer,
    /// Messages too big for the arena, by index.
    pub bigs: Vec<Buffer>,
}

/// Takes the oldest batch of events, writing its records into `log` (room for
/// `LOG_CAP` records of four u32), or returns null when there is none.
#[napi(catch_unwind)]
pub fn drain(state: &External<EnvState>, mut log: BufferSlice) -> Option<Batch> {
    let mut conns = state.conns.borrow_mut();
    take_batch(&state.queue, &mut log, |id| {
        conns.remove(&id);
    })
}

/// Pops one chunk into a `Batch`, copying its records into `log`; `on_closed` gets
/// the id of each connection the chunk reports CLOSED.
fn take_batch(queue: &EventQueue, log: &mut [u8], mut on_closed: impl FnMut(u32)) -> Option<Batch> {
    let chunk = queue.pop()?;
    let n = (chunk.log.len() / 4).min(LOG_CAP).min(log.len() / 16);
    for (rec, out) in chunk
        .log
        .chunks_exact(4)
        .zip(log.chunks_exact_mut(16))
        .take(n)
    {
        for (word, bytes) in rec.iter().zip(out.chunks_exact_mut(4)) {
            bytes.copy_from_slice(&word.to_le_bytes());
        }
        if rec[1] & 0xff == event::CLOSED {
            on_closed(rec[0]);
        }
    }
    Some(Batch {
        count: n as u32,
        arena: chunk.arena.into(),
        bigs: chunk.bigs.into_iter().map(Buffer::from).collect(),
    })
}

/// The wire format's constants (`crate::wire`), for `lib/native.js`.
#[napi(catch_unwind)]
pub fn wire_constants() -> HashMap<String, u32> {
    let mut c = HashMap::new();
    let mut put = |name: &str, value: u32| {
        c.insert(name.to_string(), value);
    };
    put("EV_TEXT", event::TEXT);
    put("EV_BINARY", event::BINARY);
    put("EV_PING", event::PING);
    put("EV_PONG", event::PONG);
    put("EV_CLOSE_FRAME", event::CLOSE_FRAME);
    put("EV_PROTOCOL_ERROR", event::PROTO_ERROR);
    put("EV_WRITTEN", event::WRITTEN);
    put("EV_EOF", event::EOF);
    put("EV_CLOSED", event::CLOSED);
    put("EV_HANDSHAKE", event::HANDSHAKE);
    put("EV_FRAME_END", event::FRAME_END);
    put("EV_FALLBACK", event::FALLBACK);
    put("EV_DATA", event::DATA);
    put("EV_SOCKET_ERROR", event::SOCKET_ERROR);
    put("SYSCALL_READ", wire::SYSCALL_READ);
    put("SYSCALL_WRITE", wire::SYSCALL_WRITE);
    put("EV_BIG", event::BIG);
    put("EV_DIRECT", event::DIRECT);
    put("EV_KIND_MASK", event::KIND_MASK);
    put("OP_CONTINUATION", wire::op::CONTINUATION.into());
    put("OP_TEXT", wire::op::TEXT.into());
    put("OP_BINARY", wire::op::BINARY.into());
    put("OP_CLOSE", wire::op::CLOSE.into());
    put("OP_PING", wire::op::PING.into());
    put("OP_PONG", wire::op::PONG.into());
    put("OP_END", wire::op::END.into());
    put("OP_RAW", wire::op::RAW.into());
    put("FLAG_FIN", wire::flag::FIN.into());
    put("FLAG_RSV1", wire::flag::RSV1.into());
    put("FLAG_MASK", wire::flag::MASK.into());
    put("FLAG_BIG", wire::flag::BIG.into());
    put("FLAG_KEYED", wire::flag::KEYED.into());
    put("FLAG_PUBLISH", wire::flag::PUBLISH.into());
    put("LOG_CAP", LOG_CAP as u32);
    put("BIG_SEND", wire::BIG_SEND as u32);
    put("SOCKOPT_NO_DELAY", wire::sockopt::NO_DELAY);
    put("SOCKOPT_KEEP_ALIVE", wire::sockopt::KEEP_ALIVE);
    put("FLUSH_BRIDGED", FLUSH_BRIDGED);
    put("LOOP_NEW_ARENA", js_loop::TAKE_NEW_ARENA);
    put("LOOP_BIGS", js_loop::TAKE_BIGS);
    put("LOOP_NEW_READ_ARENA", js_loop::TAKE_NEW_READ_ARENA);
    put("LOOP_COUNT_MASK", js_loop::TAKE_COUNT_MASK);
    c
}
