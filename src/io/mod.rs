//! The io drivers: where adopted sockets are read and written.
//!
//! - [`js_loop`]: the default, on the JS thread's own event loop (a libuv poll handle
//!   per socket; no thread hop per message); large compressions go to the io threads;
//! - [`connection`] on the process-wide tokio [`runtime`]: a reader and a writer task
//!   per socket, for every socket with `WS_RS_IO=threads`.
//!
//! Both take a socket by its fd, so on platforms without fds (Windows) nothing is
//! adopted: `js_loop` is `js_loop_none.rs` there and every connection runs bridged.

pub mod connection;
pub mod events;
#[cfg(unix)]
pub mod js_loop;
#[cfg(not(unix))]
#[path = "js_loop_none.rs"]
pub mod js_loop;
pub mod runtime;
pub mod sockopt;
#[cfg(unix)]
mod uv;

/// Which driver adopted sockets use.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every adopted socket on the JS loop, compressed ones too; their large messages
    /// are compressed on the io threads (`js_loop/offload.rs`). The default
    /// (`WS_RS_IO=loop` says the same).
    Loop,
    /// Everything on the io threads (`WS_RS_IO=threads`): a thread hop per message,
    /// kept as an opt-in for comparison and for many-core machines.
    Threads,
}

/// `WS_RS_IO`, read once.
pub fn mode() -> Mode {
    static MODE: std::sync::OnceLock<Mode> = std::sync::OnceLock::new();
    *MODE.get_or_init(|| match std::env::var("WS_RS_IO").as_deref() {
        Ok("threads") => Mode::Threads,
        _ => Mode::Loop,
    })
}

/// A socket's local address, for `ws._socket.localAddress` (asked lazily: one
/// `getsockname` only for code that reads it).
pub struct SocketName {
    pub address: String,
    pub port: u16,
    pub family: &'static str,
}

impl SocketName {
    pub fn of(addr: std::net::SocketAddr) -> Self {
        SocketName {
            address: addr.ip().to_string(),
            port: addr.port(),
            family: if addr.is_ipv4() { "IPv4" } else { "IPv6" },
        }
    }
}

/// A map keyed by connection id. Ids are small sequential numbers handed out by this
/// process, not attacker-chosen keys, so a multiplicative hash is enough (SipHash
/// showed up in the per-message profile).
pub type IdMap<V> = std::collections::HashMap<u32, V, std::hash::BuildHasherDefault<IdHasher>>;

/// Fibonacci hashing of a `u32` id; see [`IdMap`].
#[derive(Default)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u32` is used by `IdMap`; fold anything else in all the same.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u32(&mut self, id: u32) {
        self.0 = (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}
