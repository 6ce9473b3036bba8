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
use std::sync::{Arc, Mutex};

use napi::sys;
use wsrs_proto::{FrameSpec, Sender};

use crate::io::runtime;
use crate::io::uv::{AsyncHandle, AsyncWake};
use crate::io::IdMap;
use crate::wire::Outgoing;

/// Compressed payloads from this size on are framed on the io threads (about 250 µs
/// of zlib at ws's default level).
pub const OFFLOAD_MIN: usize = 64 * 1024;

/// A record kept while its connection's sender is away: what it is, and its payload.
pub type Deferred = (Outgoing, Vec<u8>);

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
}

/// The environment's offloaded jobs; owned by the `LoopDriver`, used on the JS thread.
pub struct Offload {
    inbox: Arc<Mutex<Inbox>>,
    wake: AsyncWake,
    in_flight: Cell<usize>,
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
        let inbox = Arc::new(Mutex::new(Inbox {
            done: Vec::new(),
            wake: Some(wake.remote()),
        }));
        Some(Offload {
            inbox,
            wake,
            in_flight: Cell::new(0),
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
        payload: Vec<u8>,
    ) -> Result<(), Sender> {
        let Some(rt) = runtime::get() else {
            return Err(sender);
        };
        let inbox = self.inbox.clone();
        rt.spawn_blocking(move || {
            let mut framed = Vec::with_capacity(payload.len() / 2 + 16);
            sender.frame(spec, &payload, &mut framed);
            drop(payload);
            let mut inbox = inbox.lock().unwrap_or_else(|e| e.into_inner());
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
        self.deferred.borrow_mut().entry(id).or_default();
        Ok(())
    }

    /// Keeps a record of connection `id` (whose sender is away) for later.
    pub fn defer(&self, id: u32, out: Outgoing, payload: &[u8]) {
        self.deferred
            .borrow_mut()
            .entry(id)
            .or_default()
            .push_back((out, payload.to_vec()));
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
        let done = std::mem::take(&mut self.inbox.lock().unwrap_or_else(|e| e.into_inner()).done);
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
        self.inbox.lock().unwrap_or_else(|e| e.into_inner()).wake = None;
    }
}
