//! `idleTimeout` (an opt-in of ws-rs): connections that receive nothing get a ping of
//! ws-rs's own, and those still silent are reported to JS, which terminates them.
//!
//! One sweep per environment, called from one JS interval (every eighth of the
//! shortest idle time), walks the watched connections. A connection counts as alive
//! when it read any byte since the last sweep (the counters the drivers keep anyway:
//! nothing is added per read), and then as quiet since that previous sweep (early by
//! at most a period, never late). A quiet one gets a ping after `idle - margin`
//! (`margin`: a quarter of `idle`), queued in order with its other frames and
//! acknowledged to no one; its pong is not reported (see `HEARTBEAT_PAYLOAD`). So an
//! idle connection costs no JS work, whatever the count. A connection still silent
//! `margin` after its ping (or, without pings, after `idle`) is returned to JS, which
//! terminates it: within `idle + margin` of its last byte, and never before it had a
//! whole margin to answer.

use std::time::{Duration, Instant};

use napi::bindgen_prelude::*;
use napi_derive::napi;
use wsrs_proto::Masking;

use super::EnvState;
use crate::io::connection::{Op, OpBatch};
use crate::wire::{Outgoing, HEARTBEAT_PAYLOAD};

/// One watched connection.
pub struct Beat {
    idle: Duration,
    margin: Duration,
    pings: bool,
    masking: Masking,
    /// The connection's read count at the last sweep, and when it last changed.
    seen: u64,
    since: Instant,
    /// When the unanswered heartbeat ping went, if one did.
    pinged: Option<Instant>,
}

/// The watched connections of an environment.
#[derive(Default)]
pub struct Beats {
    map: crate::io::IdMap<Beat>,
    /// When the last sweep ran: a connection found to have read since is counted as
    /// quiet from then.
    last_sweep: Option<Instant>,
}

/// Watches connection `id`: pinged after `idle_ms` minus a quarter of silence (with
/// `send_pings`), reported by `heartbeatSweep` after `idle_ms`. `masked`: the
/// connection is a client's (its pings are masked).
#[napi(catch_unwind)]
pub fn heartbeat_watch(
    state: &External<EnvState>,
    id: u32,
    idle_ms: u32,
    send_pings: bool,
    masked: bool,
) {
    let idle = Duration::from_millis(u64::from(idle_ms.max(1)));
    let beat = Beat {
        idle,
        margin: idle / 4,
        pings: send_pings,
        masking: if masked {
            Masking::Generated
        } else {
            Masking::None
        },
        seen: read_count(state, id).unwrap_or(0),
        since: Instant::now(),
        pinged: None,
    };
    state.beats.borrow_mut().map.insert(id, beat);
}

/// Stops watching connection `id` (it is closing).
#[napi(catch_unwind)]
pub fn heartbeat_unwatch(state: &External<EnvState>, id: u32) {
    state.beats.borrow_mut().map.remove(&id);
}

/// One sweep: pings quiet connections and returns the ids silent for their whole
/// idle time (no longer watched), for JS to terminate. Bridged pings are left in
/// `takeBridgedWrites`. Connections that are gone are forgotten.
#[napi(catch_unwind)]
pub fn heartbeat_sweep(state: &External<EnvState>) -> Vec<u32> {
    let now = Instant::now();
    let mut silent = Vec::new();
    let mut pings = Vec::new();
    let mut beats = state.beats.borrow_mut();
    let previous = beats.last_sweep.replace(now).unwrap_or(now);
    beats.map.retain(|&id, beat| {
        let Some(count) = read_count(state, id) else {
            return false;
        };
        if count != beat.seen {
            beat.seen = count;
            beat.since = previous.max(beat.since);
            beat.pinged = None;
            return true;
        }
        let quiet = now.saturating_duration_since(beat.since);
        match beat.pinged {
            _ if !beat.pings => {
                if quiet >= beat.idle {
                    silent.push(id);
                    return false;
                }
            }
            None => {
                if quiet >= beat.idle - beat.margin {
                    beat.pinged = Some(now);
                    pings.push((id, beat.masking));
                }
            }
            Some(at) => {
                if now.saturating_duration_since(at) >= beat.margin {
                    silent.push(id);
                    return false;
                }
            }
        }
        true
    });
    drop(beats);
    if !pings.is_empty() {
        send_pings(state, &pings);
    }
    silent
}

/// How many connections are watched (JS stops its interval at 0).
#[napi(catch_unwind)]
pub fn heartbeat_count(state: &External<EnvState>) -> u32 {
    state.beats.borrow().map.len() as u32
}

/// Bytes (or, bridged, feeds) read so far by connection `id`, whichever driver serves
/// it; None once it is gone.
fn read_count(state: &EnvState, id: u32) -> Option<u64> {
    if let Some((read, _)) = state.driver.byte_counts(id) {
        return Some(read);
    }
    if let Some(conn) = state.conns.borrow().get(&id) {
        return Some(conn.control.byte_counts().0);
    }
    state.bridged.borrow().get(&id).map(|b| b.reads)
}

/// Queues a heartbeat ping on each connection, in order with what it already has.
fn send_pings(state: &EnvState, pings: &[(u32, Masking)]) {
    let ping_batch = |masking| OpBatch {
        data: HEARTBEAT_PAYLOAD.to_vec(),
        ops: vec![Op {
            out: Outgoing::Heartbeat(masking),
            start: 0,
            len: HEARTBEAT_PAYLOAD.len(),
        }],
    };
    let mut loop_batch = state.driver.batch(Vec::new());
    for &(id, masking) in pings {
        if loop_batch.has(id) {
            loop_batch.queue(id, Outgoing::Heartbeat(masking), HEARTBEAT_PAYLOAD, None);
        } else if let Some(conn) = state.conns.borrow().get(&id) {
            let _ = conn.ops.send(ping_batch(masking));
        } else if let Some(conn) = state.bridged.borrow_mut().get_mut(&id) {
            let write = conn.encode(id, &ping_batch(masking));
            state.bridged_writes.borrow_mut().push(write);
        }
    }
    // Written now; frames of earlier sends it completes are reported as WRITTEN
    // events, as for any write outside a flush.
    loop_batch.finish(&mut []);
}
