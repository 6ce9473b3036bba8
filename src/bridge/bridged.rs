//! Bridged connections: sockets that stay in Node (TLS, Unix-domain, any `Duplex`).
//! Their bytes are fed to the same protocol core, on the JS thread, and their frames
//! are encoded here and handed back for `socket.write`. Same semantics, no offload.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use wsrs_proto::Receiver;

use super::{take_batch, AdoptOptions, Batch, BridgedWrite, EnvState};
use crate::io::connection::{FrameWriter, OpBatch};
use crate::io::events::Recorder;

/// The protocol state of one bridged connection.
pub struct Bridged {
    receiver: Receiver,
    writer: FrameWriter,
}

impl Bridged {
    /// Frames what one flush queued for this connection.
    pub fn encode(&mut self, id: u32, batch: &OpBatch) -> BridgedWrite {
        let mut out = Vec::new();
        let mut frames = 0;
        let end = self.writer.encode(batch, &mut out, &mut frames);
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
            writer: options.frame_writer(),
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
        let mut events = Recorder::new(state.bridged_queue.writer(id));
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

/// Forgets a bridged connection once its socket has closed.
#[napi(catch_unwind)]
pub fn bridged_close(state: &External<EnvState>, id: u32) {
    state.bridged.borrow_mut().remove(&id);
}
