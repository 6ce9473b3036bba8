//! Socket options JS sets on an adopted connection (`ws._socket.setNoDelay` /
//! `setKeepAlive`), applied to its fd the way Node's own sockets apply them. Shared by
//! both drivers: the JS loop applies them at once on its thread; the io threads' connection
//! applies them through its `Control`, under the lock that keeps the fd from closing meanwhile.

use std::ffi::c_int;

/// A socket option JS may set on an adopted connection (`socketOption`).
#[derive(Clone, Copy)]
pub enum SocketOption {
    NoDelay(bool),
    /// SO_KEEPALIVE, and with it the idle time before the first probe.
    KeepAlive {
        on: bool,
        idle_secs: c_int,
    },
}

/// Sets `option` on socket `fd`; false if the kernel refused.
#[cfg(unix)]
pub fn apply(fd: c_int, option: SocketOption) -> bool {
    match option {
        SocketOption::NoDelay(on) => {
            set_sockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, &c_int::from(on))
        }
        SocketOption::KeepAlive { on, idle_secs } => {
            // The idle time before the first probe: TCP_KEEPIDLE, which Apple calls
            // TCP_KEEPALIVE (libuv makes the same choice).
            #[cfg(target_vendor = "apple")]
            let idle = libc::TCP_KEEPALIVE;
            #[cfg(not(target_vendor = "apple"))]
            let idle = libc::TCP_KEEPIDLE;
            set_sockopt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, &c_int::from(on))
                && (!on || set_sockopt(fd, libc::IPPROTO_TCP, idle, &idle_secs))
        }
    }
}

/// `setsockopt(fd, level, name, value)`; false if the kernel refused.
#[cfg(unix)]
pub fn set_sockopt<T>(fd: c_int, level: c_int, name: c_int, value: &T) -> bool {
    // Safe: a socket fd the caller keeps open for the call, and a value of the
    // option's own type and size.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        ) == 0
    }
}
