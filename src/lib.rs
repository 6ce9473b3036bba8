//! The ws-rs native addon.
//!
//! Three layers, one folder each:
//! - `crates/proto` (its own crate): the sans-IO protocol core;
//! - [`io`]: the tokio driver that owns adopted sockets and runs the core on them;
//! - [`bridge`]: the N-API surface the JS layer (`lib/`) calls, with ids in and batched
//!   events out.
//!
//! One message, socket to `emit`: `io::connection` reads bytes and feeds
//! `proto::Receiver`, whose handler appends the message to the environment's
//! `io::events::EventQueue`; the first append wakes JS, which calls `bridge::drain` and
//! walks the batch in `lib/native.js`, emitting on each `WebSocket`.

// In `cargo test` builds napi-derive registers nothing, so the exports look unused.
#![cfg_attr(test, allow(dead_code))]

mod bridge;
mod io;
mod wire;
