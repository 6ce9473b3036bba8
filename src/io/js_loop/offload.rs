//! Large compressions of JS-loop connections, run on the io threads.
//!
//! Compressed connections are served on the JS loop like plain ones (no thread hop per
//! message: a 16 KiB deflate costs about 60 µs, the hop about 20 µs more on one core).
//! A message of [`OFFLOAD_MIN`] bytes or more would stall every other connection of
//! the loop while zlib runs (ws compresses on libuv's threadpool), so its connection's
//! [`Sender`] — the deflate context travels with it — goes to the io runtime to frame
//! it. Until it comes back, every later record of that connection waits here, in
//! order ([`Offload::defer`]); the driver then appends the frame and replays them
//! (`LoopDriver::offload_done`). Inflating needs no such path: the receiver inflates
//! each read as it arrives, so the work per read is bounded by the read size.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ffi::c_void;
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use napi::sys;
use wsrs_proto::{FrameSpec, Sender};

use super::Pinned;
use crate::io::runtime;
use crate::io::uv::{AsyncHandle, AsyncWake};
use crate::io::IdMap;
use crate::wire::Outgoing;

/// Compressed payloads from this size on are framed on the io threads (about 250 µs
/// of zlib at ws's default level).
pub const OFFLOAD_MIN: usize = 64 * 1024;

/// Bytes kept for later: a job's input, or a record waiting behind one.
pub enum HeldBytes {
    /// A copy.
    Owned(Vec<u8>),
    /// A JS Buffer's bytes, read in place: `hold` (a reference to the Buffer, kept on
    /// the JS thread until the job is done) keeps them alive, so a Buffer sent to many
    /// compressed connections is held once.
    Pinned { bytes: RawBytes, hold: Rc<Pinned> },
}

impl HeldBytes {
    /// # Safety
    /// `hold` must keep `bytes` alive and unchanged for as long as it lives.
    pub unsafe fn pinned(bytes: &[u8], hold: Rc<Pinned>) -> Self {
        HeldBytes::Pinned {
            bytes: RawBytes(bytes.as_ptr(), bytes.len()),
            hold,
        }
    }

    /// The bytes (on the JS thread, where the hold lives).
    pub fn as_slice(&self) -> &[u8] {
        match self {
            HeldBytes::Owned(bytes) => bytes,
            // Safe: `hold`, part of `self`, keeps them alive (`pinned`'s contract).
            HeldBytes::Pinned { bytes, .. } => unsafe { bytes.as_slice() },
        }
    }

    /// The reference that keeps the bytes alive, if they are a JS Buffer's.
    pub fn hold(&self) -> Option<Rc<Pinned>> {
        match self {
            HeldBytes::Owned(_) => None,
            HeldBytes::Pinned { hold, .. } => Some(hold.clone()),
        }
    }
}

/// Bytes owned elsewhere, read by a job on another thread; see [`HeldBytes::Pinned`].
pub struct RawBytes(*const u8, usize);

// Safe: only read, and only while the JS thread keeps the owner alive (`holds`).
unsafe impl Send for RawBytes {}

impl RawBytes {
    /// # Safety
    /// The owner must still hold the bytes.
    unsafe fn as_slice(&self) -> &[u8] {
        std::slice::from_raw_parts(self.0, self.1)
    }
}

/// A job's input as it travels to the io threads.
enum Input {
    Owned(Vec<u8>),
    /// Counted in `Inbox::reading_pinned` until dropped (even by a panic).
    Raw(RawBytes, Arc<(Mutex<Inbox>, Condvar)>),
}

impl Drop for Input {
    fn drop(&mut self) {
        if let Input::Raw(_, shared) = self {
            let mut inbox = lock(shared);
            inbox.reading_pinned = inbox.reading_pinned.saturating_sub(1);
            shared.1.notify_all();
        }
    }
}

/// A record kept while its connection's sender is away: what it is, and its payload.
pub type Deferred = (Outgoing, HeldBytes);

/// One finished job: connection `id`'s sender back, and the frame it made.
pub struct Done {
    pub id: u32,
    pub sender: Sender,
    pub framed: Vec<u8>,
}

/// What the io threads hand back, and how they wake the loop. `wake` is cleared
/// before the driver's async handle closes, so no thread signals a closed handle.
struct Inbox {
    done: Vec<Done>,
    wake: Option<AsyncHandle>,
    /// Jobs reading a pinned JS Buffer that have not finished yet.
    reading_pinned: usize,
}

/// The environment's offloaded jobs; owned by the `LoopDriver`, used on the JS thread.
pub struct Offload {
    inbox: Arc<(Mutex<Inbox>, Condvar)>,
    wake: AsyncWake,
    in_flight: Cell<usize>,
    /// The pins of running jobs' payloads, dropped (on this thread) once they are done.
    holds: RefCell<IdMap<Rc<Pinned>>>,
    /// Records of connections whose sender is away, in order.
    deferred: RefCell<IdMap<VecDeque<Deferred>>>,
}

impl Offload {
    /// Sets up the async handle on `lp`; `cb` gets `data` when jobs are done.
    pub fn new(
        lp: *mut sys::uv_loop_s,
        data: *mut c_void,
        cb: crate::io::uv::uv_cb,
    ) -> Option<Self> {
        let wake = AsyncWake::new(lp, data, cb)?;
        let inbox = Arc::new((
            Mutex::new(Inbox {
                done: Vec::new(),
                wake: Some(wake.remote()),
                reading_pinned: 0,
            }),
            Condvar::new(),
        ));
        Some(Offload {
            inbox,
            wake,
            in_flight: Cell::new(0),
            holds: RefCell::new(IdMap::default()),
            deferred: RefCell::new(IdMap::default()),
        })
    }

    /// Frames `payload` with `sender` on the io threads. Gives the sender back when
    /// there is no runtime to run on (the caller then frames it here).
    pub fn start(
        &self,
        id: u32,
        mut sender: Sender,
        spec: FrameSpec,
        payload: HeldBytes,
    ) -> Result<(), Sender> {
        let Some(rt) = runtime::get() else {
            return Err(sender);
        };
        let input = match payload {
            HeldBytes::Owned(bytes) => Input::Owned(bytes),
            HeldBytes::Pinned { bytes, hold } => {
                // One job per connection at a time, so the id keys its pin.
                self.holds.borrow_mut().insert(id, hold);
                lock(&self.inbox).reading_pinned += 1;
                Input::Raw(bytes, self.inbox.clone())
            }
        };
        let shared = self.inbox.clone();
        rt.spawn_blocking(move || {
            let payload = match &input {
                Input::Owned(bytes) => bytes.as_slice(),
                // Safe: the pin is dropped only after this job reported back, and
                // the environment's end waits for the job (see `Drop`).
                Input::Raw(raw, _) => unsafe { raw.as_slice() },
            };
            let mut framed = Vec::with_capacity(payload.len() / 2 + 16);
            sender.frame(spec, payload, &mut framed);
            drop(input);
            let mut inbox = lock(&shared);
            inbox.done.push(Done { id, sender, framed });
            if let Some(wake) = inbox.wake.as_ref() {
                // Safe: `wake` is cleared (under this lock) before its handle closes.
                unsafe { wake.send() };
            }
        });
        if self.in_flight.get() == 0 {
            // A job under way keeps the process alive, as a pending write does.
            self.wake.set_ref(true);
        }
        self.in_flight.set(self.in_flight.get() + 1);
        Ok(())
    }

    /// Keeps a record of connection `id` (whose sender is away) for later.
    pub fn defer(&self, id: u32, out: Outgoing, payload: HeldBytes) {
        self.deferred
            .borrow_mut()
            .entry(id)
            .or_default()
            .push_back((out, payload));
    }

    /// The records connection `id` kept while its sender was away, oldest first.
    pub fn take_deferred(&self, id: u32) -> VecDeque<Deferred> {
        self.deferred.borrow_mut().remove(&id).unwrap_or_default()
    }

    /// Forgets what a closed connection kept.
    pub fn forget(&self, id: u32) {
        self.deferred.borrow_mut().remove(&id);
    }

    /// The jobs finished since the last call.
    pub fn take_done(&self) -> Vec<Done> {
        let done = std::mem::take(&mut lock(&self.inbox).done);
        let mut holds = self.holds.borrow_mut();
        for job in &done {
            holds.remove(&job.id);
        }
        let left = self.in_flight.get().saturating_sub(done.len());
        self.in_flight.set(left);
        if left == 0 {
            self.wake.set_ref(false);
        }
        done
    }
}

impl Drop for Offload {
    fn drop(&mut self) {
        // No thread may signal the handle once it closes (right after this, with
        // `wake`); jobs still running finish into the orphaned inbox.
        let mut inbox = lock(&self.inbox);
        inbox.wake = None;
        // A job still reading a pinned Buffer must finish before the environment (and
        // the Buffer with it) goes: compressing one message takes milliseconds.
        while inbox.reading_pinned > 0 {
            inbox = self.inbox.1.wait(inbox).unwrap_or_else(|e| e.into_inner());
        }
    }
}

fn lock(shared: &(Mutex<Inbox>, Condvar)) -> MutexGuard<'_, Inbox> {
    shared.0.lock().unwrap_or_else(|e| e.into_inner())
}
