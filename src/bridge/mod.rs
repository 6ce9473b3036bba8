//! The N-API surface. JS holds one [`EnvState`] per Node environment (main thread or
//! Worker) and talks to connections by numeric id: `adopt` hands over a socket,
//! `flush` hands over the whole outbox once per tick, `drain` takes a batch of events.
//! Nothing here parses frames: bridged connections (`bridged.rs`) hand their bytes to
//! the protocol core on the JS thread.

mod bridged;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::os::fd::FromRawFd;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use tokio::sync::mpsc;
use wsrs_proto::{Config, Deflater, InflateConfig, Receiver, Role};

use crate::io::connection::{self, op, Control, FrameWriter, Op, OpBatch, Setup};
use crate::io::events::{kind, EventQueue, LOG_CAP};
use crate::io::runtime;
use bridged::Bridged;

type Wake = ThreadsafeFunction<(), (), (), Status, false, true, 0>;

struct Conn {
    ops: mpsc::UnboundedSender<OpBatch>,
    control: Arc<Control>,
}

/// Per-environment state, owned by JS through an External and used only on its thread.
pub struct EnvState {
    queue: Arc<EventQueue>,
    wake: Arc<Wake>,
    conns: RefCell<HashMap<u32, Conn>>,
    /// Events of bridged connections, drained synchronously right after each feed.
    bridged_queue: EventQueue,
    bridged: RefCell<HashMap<u32, Bridged>>,
    next_id: Cell<u32>,
}

impl EnvState {
    fn new_id(&self) -> u32 {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1).max(1));
        id
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

/// Sets up this environment. `wake` is called (with no arguments) whenever events are
/// waiting; it should call `drain` until it returns null.
#[napi(catch_unwind)]
pub fn init(wake: Function<'_, (), ()>) -> Result<External<EnvState>> {
    let tsfn: Wake = wake
        .build_threadsafe_function()
        .weak::<true>()
        .callee_handled::<false>()
        .build()?;
    let tsfn = Arc::new(tsfn);
    let caller = tsfn.clone();
    let queue = Arc::new(EventQueue::new(Box::new(move || {
        caller.call((), ThreadsafeFunctionCallMode::NonBlocking);
    })));
    Ok(External::new(EnvState {
        queue,
        wake: tsfn,
        conns: RefCell::new(HashMap::new()),
        bridged_queue: EventQueue::new(Box::new(|| {})),
        bridged: RefCell::new(HashMap::new()),
        next_id: Cell::new(1),
    }))
}

/// Keeps the process alive (true) while this environment has open sockets, or lets it
/// exit (false). JS calls it on the 0 <-> 1 transitions of its socket count.
#[napi(catch_unwind)]
pub fn set_ref(env: Env, state: &External<EnvState>, on: bool) -> Result<()> {
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
    pub level: u32,
}

/// Protocol settings for a connection, with ws's option names.
#[napi(object)]
pub struct AdoptOptions {
    pub is_server: bool,
    pub max_payload: f64,
    pub max_fragments: u32,
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
        cfg.max_payload = if self.max_payload > 0.0 {
            self.max_payload as u64
        } else {
            0
        };
        cfg.max_fragments = self.max_fragments;
        cfg.skip_utf8_validation = self.skip_utf8_validation;
        cfg.inflate = self.deflate.as_ref().map(|d| InflateConfig {
            window_bits: d.inflate_window_bits.min(15) as u8,
            no_context_takeover: d.inflate_no_context_takeover,
        });
        cfg
    }

    fn frame_writer(&self) -> FrameWriter {
        FrameWriter::new(self.deflate.as_ref().map(|d| {
            Deflater::new(
                d.deflate_window_bits.min(15) as u8,
                d.deflate_no_context_takeover,
                d.level,
            )
        }))
    }
}

/// Takes over a connected TCP socket: duplicates `fd` (Node closes its own copy right
/// after), writes `preamble`, feeds `head` to the protocol core first, and runs the
/// connection on the io runtime. Returns the connection id.
#[napi(catch_unwind)]
pub fn adopt(
    state: &External<EnvState>,
    fd: i32,
    head: BufferSlice,
    preamble: BufferSlice,
    options: AdoptOptions,
) -> Result<u32> {
    let rt = runtime::get()
        .ok_or_else(|| Error::from_reason("ws-rs: could not start the io runtime"))?;
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(Error::from_reason(format!(
            "ws-rs: cannot duplicate fd {fd}: {}",
            std::io::Error::last_os_error()
        )));
    }
    // We own `dup` from here: it is a connected TCP socket Node gave us.
    let stream = unsafe { std::net::TcpStream::from_raw_fd(dup) };
    let id = state.new_id();
    let cfg = options.config();
    let (tx, rx) = mpsc::unbounded_channel();
    let control = Arc::new(Control::default());
    state.conns.borrow_mut().insert(
        id,
        Conn {
            ops: tx,
            control: control.clone(),
        },
    );
    rt.spawn(connection::run(Setup {
        id,
        stream,
        head: head.to_vec(),
        preamble: preamble.to_vec(),
        receiver: Receiver::new(cfg),
        writer: options.frame_writer(),
        queue: state.queue.clone(),
        control,
        ops: rx,
    }));
    Ok(id)
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

/// Hands over the outbox: `count` records of four u32 `[id, op | flags << 8, len, big]`
/// in `log`, their payloads back to back in `data`, or for records flagged `BIG`, in
/// `bigs[big]`. Adopted connections get their
/// share on the io threads; bridged ones come back framed, for JS to write.
#[napi(catch_unwind)]
pub fn flush(
    state: &External<EnvState>,
    data: BufferSlice,
    log: BufferSlice,
    count: u32,
    bigs: Vec<BufferSlice>,
) -> Option<Vec<BridgedWrite>> {
    let conns = state.conns.borrow();
    let mut bridged = state.bridged.borrow_mut();
    let mut batches: HashMap<u32, OpBatch> = HashMap::new();
    let mut pos = 0usize;
    for bytes in log.chunks_exact(16).take(count as usize) {
        let word = |i: usize| {
            u32::from_le_bytes([
                bytes[i * 4],
                bytes[i * 4 + 1],
                bytes[i * 4 + 2],
                bytes[i * 4 + 3],
            ])
        };
        let rec = [word(0), word(1), word(2), word(3)];
        let (id, code, flags, len) = (rec[0], rec[1] as u8, (rec[1] >> 8) as u8, rec[2] as usize);
        // A key from the user's `generateMask` precedes the payload in the outbox.
        let key = if flags & op::KEYED != 0 && pos + 4 <= data.len() {
            pos += 4;
            Some([data[pos - 4], data[pos - 3], data[pos - 2], data[pos - 1]])
        } else {
            None
        };
        let payload: &[u8] = if flags & op::BIG != 0 {
            // Large payloads are passed by reference rather than through the outbox.
            bigs.get(rec[3] as usize).map_or(&[], |b| &b[..])
        } else {
            let end = (pos + len).min(data.len());
            let slice = &data[pos..end];
            pos = end;
            slice
        };
        if !conns.contains_key(&id) && !bridged.contains_key(&id) {
            continue;
        }
        let batch = batches.entry(id).or_default();
        let start = batch.data.len();
        batch.data.extend_from_slice(payload);
        batch.ops.push(Op {
            code,
            flags,
            start,
            len: payload.len(),
            key,
        });
    }
    let mut writes = Vec::new();
    for (id, batch) in batches {
        if let Some(conn) = conns.get(&id) {
            let _ = conn.ops.send(batch);
        } else if let Some(b) = bridged.get_mut(&id) {
            writes.push(b.encode(id, &batch));
        }
    }
    (!writes.is_empty()).then_some(writes)
}

/// Stops (true) or restarts (false) reading from one connection: ws's `pause()`.
#[napi(catch_unwind)]
pub fn pause(state: &External<EnvState>, id: u32, paused: bool) {
    if let Some(conn) = state.conns.borrow().get(&id) {
        conn.control.set_paused(paused);
    }
}

/// Drops the connection now, unsent data included: ws's `terminate()`.
#[napi(catch_unwind)]
pub fn terminate(state: &External<EnvState>, id: u32) {
    if let Some(conn) = state.conns.borrow().get(&id) {
        conn.control.kill();
    }
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
        if rec[1] & 0xff == kind::CLOSED {
            on_closed(rec[0]);
        }
    }
    Some(Batch {
        count: n as u32,
        arena: chunk.arena.into(),
        bigs: chunk.bigs.into_iter().map(Buffer::from).collect(),
    })
}

/// The record capacity `drain` needs in its log.
#[napi(catch_unwind)]
pub fn log_capacity() -> u32 {
    LOG_CAP as u32
}
