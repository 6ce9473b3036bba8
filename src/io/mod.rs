//! The io drivers: where adopted sockets are read and written.
//!
//! - [`js_loop`]: the default, on the JS thread's own event loop (libuv watches one
//!   epoll fd for all of an environment's sockets; no thread hop per message);
//! - [`connection`] on the process-wide tokio [`runtime`]: a reader and a writer task
//!   per socket, for permessage-deflate connections (compression off the JS thread) or
//!   every socket with `WS_RS_IO=threads`.

pub mod connection;
pub mod events;
pub mod js_loop;
pub mod runtime;
mod uv;

/// Which driver adopted sockets use.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plain connections on the JS loop, compressed ones on the io threads.
    Auto,
    /// Everything on the io threads (`WS_RS_IO=threads`).
    Threads,
}

/// `WS_RS_IO`, read once.
pub fn mode() -> Mode {
    static MODE: std::sync::OnceLock<Mode> = std::sync::OnceLock::new();
    *MODE.get_or_init(|| match std::env::var("WS_RS_IO").as_deref() {
        Ok("threads") => Mode::Threads,
        _ => Mode::Auto,
    })
}
