//! The ws-rs native addon.
//!
//! The layers, one folder each:
//! - `crates/proto` (its own crate): the sans-IO protocol core (`Receiver`, `Sender`);
//! - [`wire`]: the JS <-> Rust record format, exported to JS;
//! - [`io`]: the drivers that own adopted sockets: on the JS thread's event loop
//!   (`io::js_loop`, the default) or on tokio io threads (`io::connection`);
//! - [`bridge`]: the N-API surface the JS layer (`lib/`) calls, with ids in and batched
//!   events out.
//!
//! One message, socket to `emit`: libuv calls `io::js_loop`'s poll callback, which
//! reads the socket and feeds `proto::Receiver`; its handler stages the message; the
//! driver calls `onLoop` in `lib/native.js`, which pulls the batch with `loopTake` and
//! emits on each `WebSocket`.

// In `cargo test` builds napi-derive registers nothing, so the exports look unused.
#![cfg_attr(test, allow(dead_code))]

mod bridge;
mod io;
mod wire;
