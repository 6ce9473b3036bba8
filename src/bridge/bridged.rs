//! Bridged connections: sockets that stay in Node (TLS, Unix-domain, any `Duplex`).
//! Their bytes are fed to the same protocol core, on the JS thread, and their frames
//! are encoded here and handed back for `socket.write`. Same semantics, no offload.
//! JS sweeps them with [`bridged_release_idle`] so that idle ones give back their
//! permessage-deflate contexts, as the io driver's connections do by themselves.

use std::time::Instant;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use wsrs_proto::{Receiver, Sender};

use super::{take_batch, AdoptOptions, Batch, BridgedWrite, EnvState};
use crate::io::connection::{context_idle, deflate_context_idle, encode_batch, OpBatch};
use crate::io::events::Recorder;

/// The protocol state of one bridged connection.
pub struct Bridged {
    receiver: Receiver,
    writer: Sender,
    /// Feeds so far (`idleTimeout` counts them as life).
    pub reads: u64,
    last_read: Instant,
    last_write: Instant,
}

impl Bridged {
    /// Frames what one flush queued for this connection.
    pub fn encode(&mut self, id: u32, batch: &OpBatch) -> BridgedWrite {
        self.last_write = Instant::now();
        let mut out = Vec::new();
        let mut frames = 0;
        let end = encode_batch(&mut self.writer, batch, &mut out, &mut frames);
        BridgedWrite {
            id,
            data: out.into(),
            frames,
            end,
        }
    }
}

/// Registers a bridged connection; returns its id (from the same space as adopted ones).
#[napi(catch_unwind)]
pub fn bridged_open(state: &External<EnvState>, options: AdoptOptions) -> u32 {
    let id = state.new_id();
    state.bridged.borrow_mut().insert(
        id,
        Bridged {
            receiver: Receiver::new(options.config()),
            writer: options.sender(),
            reads: 0,
            last_read: Instant::now(),
            last_write: Instant::now(),
        },
    );
    id
}

/// Feeds bytes the socket read (unmasked in place, as ws does) and returns the events
/// they completed, with records in `log`, or null if none.
#[napi(catch_unwind)]
pub fn bridged_feed(
    state: &External<EnvState>,
    id: u32,
    mut chunk: BufferSlice,
    mut log: BufferSlice,
) -> Option<Batch> {
    {
        let mut bridged = state.bridged.borrow_mut();
        let conn = bridged.get_mut(&id)?;
        if conn.receiver.is_done() {
            return None;
        }
        conn.last_read = Instant::now();
        conn.reads += 1;
        let mut events = Recorder::new(state.bridged_queue.writer(id));
        conn.receiver.note_read();
        if let Err(err) = conn.receiver.feed(&mut chunk, &mut events) {
            events.error(err);
        }
    }
    take_batch(&state.bridged_queue, &mut log, |_| {})
}

/// Takes the next batch of bridged events, when one feed produced more than fit.
#[napi(catch_unwind)]
pub fn bridged_drain(state: &External<EnvState>, mut log: BufferSlice) -> Option<Batch> {
    take_batch(&state.bridged_queue, &mut log, |_| {})
}

/// Payload bytes of the data frames received so far of the message in progress (0
/// between messages): ws's `Receiver#_totalPayloadLength`, for `WebSocket.Receiver`.
#[napi(catch_unwind)]
pub fn bridged_message_length(state: &External<EnvState>, id: u32) -> f64 {
    state
        .bridged
        .borrow()
        .get(&id)
        .map_or(0.0, |conn| conn.receiver.message_length() as f64)
}

/// Forgets a bridged connection once its socket has closed.
#[napi(catch_unwind)]
pub fn bridged_close(state: &External<EnvState>, id: u32) {
    state.bridged.borrow_mut().remove(&id);
}

/// Lets each half of a bridged connection that has been idle for the deflate idle time
/// give its permessage-deflate context back. Returns how many connections still hold
/// one, so JS can stop sweeping when none does.
#[napi(catch_unwind)]
pub fn bridged_release_idle(state: &External<EnvState>) -> u32 {
    let (inflate_idle, deflate_idle) = (context_idle(), deflate_context_idle());
    let mut holding = 0;
    for conn in state.bridged.borrow_mut().values_mut() {
        if conn.last_read.elapsed() >= inflate_idle {
            conn.receiver.release_idle_context();
        }
        if conn.last_write.elapsed() >= deflate_idle {
            conn.writer.release_idle_context();
        }
        if conn.receiver.holds_context() || conn.writer.holds_context() {
            holding += 1;
        }
    }
    holding
}

/// The shorter of the two idle times in milliseconds (`WS_RS_DEFLATE_IDLE_MS`), for
/// JS's sweep.
#[napi(catch_unwind)]
pub fn deflate_idle_ms() -> u32 {
    context_idle()
        .min(deflate_context_idle())
        .as_millis()
        .min(u32::MAX as u128) as u32
}
