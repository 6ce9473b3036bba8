//! N-API surface of native accept (`src/io/js_loop/accept.rs`): `lib/accept.js`
//! starts and stops listeners, and answers each HANDSHAKE or FALLBACK record with one
//! of the `pending*` calls.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::{serve, AdoptOptions, EnvState};

/// Starts accepting the connections of Node's listening socket `fd` on this
/// environment's event loop. `maxHead`: Node's `maxHeaderSize`; `headersTimeoutMs`:
/// the server's `headersTimeout` (0: none). Returns the listener id, or -1 where the
/// socket stays Node's (not Linux, not a TCP listener, no fd left for the dup).
#[napi(catch_unwind)]
pub fn listen(state: &External<EnvState>, fd: i32, max_head: u32, headers_timeout_ms: f64) -> i32 {
    let timeout = (headers_timeout_ms.is_finite() && headers_timeout_ms >= 1.0)
        .then(|| std::time::Duration::from_millis(headers_timeout_ms.min(u32::MAX as f64) as u64));
    match state
        .driver
        .listen(fd, (max_head as usize).clamp(1024, 1 << 20), timeout)
    {
        Ok(id) => i32::try_from(id).unwrap_or(-1),
        Err(_) => -1,
    }
}

/// Whether listener `id` hands every connection to Node unread (its server has
/// `'connection'` listeners of its own).
#[napi(catch_unwind)]
pub fn listener_to_node(state: &External<EnvState>, id: u32, on: bool) {
    state.driver.set_to_node(id, on);
}

/// Stops listener `id` (its server is closing).
#[napi(catch_unwind)]
pub fn unlisten(state: &External<EnvState>, id: u32) {
    state.driver.unlisten(id);
}

/// Takes over a connection Node's server handle of listener `listener` accepted (fd
/// `fd`, which stays Node's to close); false if it stays Node's.
#[napi(catch_unwind)]
pub fn pending_from_fd(state: &External<EnvState>, listener: u32, fd: i32) -> bool {
    state.driver.pending_from_fd(listener, fd)
}

/// Serves pending socket `id` as a WebSocket connection: writes `preamble` (the 101)
/// and feeds what the client sent after its request. A socket that is gone or breaks
/// on the 101 is reported CLOSED, as any broken connection.
#[napi(catch_unwind)]
pub fn pending_accept(
    state: &External<EnvState>,
    id: u32,
    preamble: BufferSlice,
    options: AdoptOptions,
) {
    let Some(mut accepted) = state.driver.pending_take(id) else {
        state.driver.closed_early(id);
        return;
    };
    if serve(
        state,
        id,
        accepted.stream,
        accepted.poll,
        &mut accepted.early,
        &preamble,
        &options,
    )
    .is_err()
    {
        state.driver.closed_early(id);
    }
}

/// Writes bytes to pending socket `id` (a refusal, or a `wsClientError` listener's
/// response); false if it is gone or broken.
#[napi(catch_unwind)]
pub fn pending_write(state: &External<EnvState>, id: u32, data: BufferSlice) -> bool {
    state.driver.pending_write(id, &data)
}

/// Closes pending socket `id`; `end`: send a FIN first.
#[napi(catch_unwind)]
pub fn pending_close(state: &External<EnvState>, id: u32, end: bool) {
    state.driver.pending_close(id, end);
}

/// A pending socket handed to Node.
#[napi(object)]
pub struct Released {
    /// Now the caller's to own and close.
    pub fd: i32,
    /// Every byte read from it so far.
    pub bytes: Buffer,
}

/// Hands pending socket `id` to Node, or null if it is gone.
#[napi(catch_unwind)]
pub fn pending_release(state: &External<EnvState>, id: u32) -> Option<Released> {
    state
        .driver
        .pending_release(id)
        .map(|(fd, bytes)| Released {
            fd,
            bytes: bytes.into(),
        })
}

/// A socket's local address, as `net.Socket#address()` reports it.
#[napi(object)]
pub struct LocalAddress {
    pub address: String,
    pub port: u32,
    pub family: String,
}

/// The local address of connection or pending socket `id`, if it is served here.
#[napi(catch_unwind)]
pub fn local_address(state: &External<EnvState>, id: u32) -> Option<LocalAddress> {
    let name = state.driver.socket_name(id).or_else(|| {
        let local = state.conns.borrow().get(&id)?.local?;
        Some(crate::io::SocketName::of(local))
    });
    name.map(|name| LocalAddress {
        address: name.address,
        port: name.port as u32,
        family: name.family.to_string(),
    })
}
