//! Native accept for `new WebSocketServer({ port })`: the JS-loop driver accepts the
//! listening socket's connections itself, reads and parses the upgrade request, and
//! hands JS one HANDSHAKE record per request. JS builds the `req` users see and runs
//! ws's checks, `verifyClient`, `handleProtocols` and `'headers'`; `pendingAccept`
//! then turns the waiting socket into a connection of this driver (the 101 is its
//! first write) with no dup, no new poll handle and no Node `net.Socket` or HTTP
//! parser on the way. Measured: see `doc/io-drivers.md`.
//!
//! Anything the narrow request-head parser does not take (plain HTTP requests, odd
//! heads, a client that ends mid-head) is a FALLBACK record: JS gives the fd and the
//! bytes read so far to Node's own `http.Server`, so such a client gets exactly
//! Node's answer.
//!
//! How the listening socket changes hands: Node keeps its server handle (for
//! `address()`, `close()`, `ref()`/`unref()` and its errors); the driver watches a dup
//! of the fd, and right after the loop iteration that registered Node's handle (or at
//! the first readiness, if that comes first) takes Node's registration out of the
//! loop's epoll set, so libuv no longer accepts on it (libuv never re-adds a watcher
//! whose events it did not see). A connection Node's handle accepted before that is
//! taken over by `pending_from_fd`. Linux only: elsewhere `listen` refuses and Node
//! accepts as before.

use std::ffi::{c_int, c_void};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::time::{Duration, Instant};

use wsrs_proto::{parse_request_head, HeadParse};

use super::{on_socket, with_driver, LoopDriver};
use crate::io::uv::{self, poll_extra, SocketPoll, Timer};
use crate::io::SocketName;
use crate::wire::{self, event};

/// Bytes asked of each read of a request head.
const HEAD_READ: usize = 4096;
/// Most connections accepted per readiness report; the rest wait for the next loop
/// iteration, after timers and other I/O.
const ACCEPT_BATCH: usize = 64;
/// How often unfinished heads are checked against the headers timeout, and how soon
/// accepting resumes after the process ran out of file descriptors.
const SWEEP_MS: u64 = 1000;
/// What Node answers when a request head takes longer than `headersTimeout`.
const TIMEOUT_RESPONSE: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n";

/// A listening socket whose connections this driver accepts.
pub(super) struct Listener {
    /// Declared before `socket`: closed before the fd.
    poll: Option<SocketPoll>,
    socket: TcpListener,
    /// Node's own fd for the socket, whose epoll registration is removed once.
    node_fd: RawFd,
    detached: bool,
    /// Longest request head taken here (Node's `maxHeaderSize`).
    max_head: usize,
    headers_timeout: Option<Duration>,
    /// Accepting paused after running out of fds; resumed by the sweep.
    throttled: bool,
    /// Every connection goes to Node at once, unread: the server has `'connection'`
    /// listeners of its own, which must see a `net.Socket` per connection.
    to_node: bool,
}

/// An accepted socket whose upgrade request is being read, or waits for JS's answer.
pub(super) struct Pending {
    /// Declared before `stream`: closed before the fd. Watches READABLE|DISCONNECT
    /// with `on_socket`, exactly as the connection it becomes, so accepting it costs
    /// no syscall.
    poll: Option<SocketPoll>,
    stream: TcpStream,
    peer: Option<SocketAddr>,
    /// Bytes read: the head, then whatever the client sent right behind it.
    buf: Vec<u8>,
    /// Where the head ended, once it was complete and reported to JS.
    head_end: Option<usize>,
    listener: u32,
    since: Instant,
}

/// What `pendingAccept` takes over from a pending socket.
pub struct Accepted {
    pub stream: TcpStream,
    pub poll: Option<SocketPoll>,
    /// What the client sent after its request head (frames, to feed first).
    pub early: Vec<u8>,
}

fn accept_error_is_exhaustion(err: &std::io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Whether `fd` is a listening TCP socket (the only kind taken over).
#[cfg(target_os = "linux")]
fn is_tcp_listener(fd: RawFd) -> bool {
    let get = |level, name| -> Option<c_int> {
        let mut value: c_int = 0;
        let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
        // Safe: a c_int out-parameter of the right length; a bad fd only fails.
        let ok = unsafe {
            libc::getsockopt(fd, level, name, (&mut value as *mut c_int).cast(), &mut len)
        } == 0;
        ok.then_some(value)
    };
    get(libc::SOL_SOCKET, libc::SO_ACCEPTCONN) == Some(1)
        && get(libc::SOL_SOCKET, libc::SO_TYPE) == Some(libc::SOCK_STREAM)
        && matches!(
            get(libc::SOL_SOCKET, libc::SO_DOMAIN),
            Some(libc::AF_INET | libc::AF_INET6)
        )
}

/// Native accept is Linux-only (see the module comment).
#[cfg(not(target_os = "linux"))]
fn is_tcp_listener(_fd: RawFd) -> bool {
    false
}

impl LoopDriver {
    /// Starts accepting the connections of Node's listening socket `node_fd`; returns
    /// the listener id (the `extra` of its HANDSHAKE and FALLBACK records).
    pub fn listen(
        &self,
        node_fd: RawFd,
        max_head: usize,
        headers_timeout: Option<Duration>,
    ) -> std::io::Result<u32> {
        if !is_tcp_listener(node_fd) {
            return Err(std::io::Error::other("not a listening TCP socket"));
        }
        // Safe: fcntl on an fd number; a bad one only makes it fail.
        let dup = unsafe { libc::fcntl(node_fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // Safe: we own `dup`, a listening socket (checked above).
        let socket = unsafe { TcpListener::from_raw_fd(dup) };
        let id = self.next_listener.get();
        self.next_listener
            .set(id.wrapping_add(1).max(1) & 0x00ff_ffff);
        let data = self as *const LoopDriver as *mut c_void;
        let mut poll = SocketPoll::new(self.uv_loop, dup, data, id as u64)
            .ok_or_else(|| std::io::Error::other("cannot watch the listening socket"))?;
        // Node's server handle decides whether the process stays alive.
        poll.unref();
        if !poll.watch(uv::READABLE, on_listen) {
            return Err(std::io::Error::other("cannot watch the listening socket"));
        }
        self.listeners.borrow_mut().insert(
            id,
            Listener {
                poll: Some(poll),
                socket,
                node_fd,
                detached: false,
                max_head,
                headers_timeout,
                throttled: false,
                to_node: false,
            },
        );
        self.ensure_sweep();
        // The next turn runs right after the poll phase that registers Node's handle
        // (libuv registers at the start of its poll): take it out there, before
        // connections arrive, rather than at the first one.
        self.schedule();
        Ok(id)
    }

    /// Takes Node's registration out of the loop for listeners that still have it;
    /// see [`Self::listen`].
    pub(super) fn detach_listeners(&self) {
        for listener in self.listeners.borrow_mut().values_mut() {
            if !listener.detached {
                listener.detached = true;
                detach_from_loop(self.uv_loop, listener.node_fd);
            }
        }
    }

    /// Whether listener `id` hands every connection to Node (see `Listener::to_node`).
    pub fn set_to_node(&self, id: u32, on: bool) {
        if let Some(listener) = self.listeners.borrow_mut().get_mut(&id) {
            listener.to_node = on;
        }
    }

    /// Stops accepting for listener `id` (its server is closing) and closes the
    /// sockets that have not sent a whole request yet, as Node's `server.close()`
    /// closes idle connections. Requests JS is deciding on stay.
    pub fn unlisten(&self, id: u32) {
        let Some(listener) = self.listeners.borrow_mut().remove(&id) else {
            return;
        };
        drop(listener);
        self.pending
            .borrow_mut()
            .retain(|_, p| p.listener != id || p.head_end.is_some());
        if self.listeners.borrow().is_empty() {
            *self.sweep.borrow_mut() = None;
        }
    }

    fn ensure_sweep(&self) {
        let mut sweep = self.sweep.borrow_mut();
        if sweep.is_none() {
            let data = self as *const LoopDriver as *mut c_void;
            *sweep = Timer::start(self.uv_loop, data, SWEEP_MS, on_sweep);
        }
    }

    /// Accepts what the listening socket has, up to [`ACCEPT_BATCH`].
    fn listener_ready(&self, lid: u32) {
        let mut accepted = Vec::new();
        let to_node;
        {
            let mut listeners = self.listeners.borrow_mut();
            let Some(listener) = listeners.get_mut(&lid) else {
                return;
            };
            to_node = listener.to_node;
            if !listener.detached {
                listener.detached = true;
                detach_from_loop(self.uv_loop, listener.node_fd);
            }
            while accepted.len() < ACCEPT_BATCH {
                match listener.socket.accept() {
                    Ok(conn) => accepted.push(conn),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e)
                        if e.kind() == std::io::ErrorKind::Interrupted
                            || e.kind() == std::io::ErrorKind::ConnectionAborted => {}
                    Err(e) => {
                        if accept_error_is_exhaustion(&e) {
                            // Level-triggered: watching on would spin. The sweep
                            // resumes; meanwhile clients wait in the backlog.
                            listener.throttled = true;
                            if let Some(poll) = listener.poll.as_mut() {
                                poll.watch(0, on_listen);
                            }
                        }
                        break;
                    }
                }
            }
        }
        for (stream, peer) in accepted {
            if to_node {
                self.hand_to_node(lid, stream);
            } else {
                self.start_pending(lid, stream, peer);
            }
        }
    }

    /// Reports a just-accepted socket for Node, unread (FALLBACK with no bytes).
    fn hand_to_node(&self, lid: u32, stream: TcpStream) {
        let id = self.new_id();
        let mut p = Box::new(Pending {
            poll: None,
            stream,
            peer: None,
            buf: Vec::new(),
            head_end: None,
            listener: lid,
            since: Instant::now(),
        });
        self.fall_back(&mut p, id);
        self.pending.borrow_mut().insert(id, p);
    }

    /// Takes a connection Node's server handle accepted before the driver took the
    /// listening socket over (the first loop iteration may report it to Node first):
    /// a dup of its fd becomes a pending socket like any other. False if it cannot.
    pub fn pending_from_fd(&self, lid: u32, fd: RawFd) -> bool {
        if self.listeners.borrow().get(&lid).is_none_or(|l| l.to_node) {
            return false;
        }
        // Safe: fcntl on an fd number; a bad one only makes it fail.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return false;
        }
        // Safe: we own `dup`, a connected socket Node accepted.
        let stream = unsafe { TcpStream::from_raw_fd(dup) };
        let Ok(peer) = stream.peer_addr() else {
            return false;
        };
        self.start_pending(lid, stream, peer);
        true
    }

    fn start_pending(&self, lid: u32, stream: TcpStream, peer: SocketAddr) {
        // As Node's http.Server (noDelay) and ws's setSocket do.
        let _ = stream.set_nodelay(true);
        let id = self.new_id();
        let data = self as *const LoopDriver as *mut c_void;
        // uv_poll_init also makes the socket non-blocking.
        let Some(mut poll) = SocketPoll::new(self.uv_loop, stream.as_raw_fd(), data, id as u64)
        else {
            return;
        };
        if !poll.watch(uv::READABLE | uv::DISCONNECT, on_socket) {
            return;
        }
        self.pending.borrow_mut().insert(
            id,
            Box::new(Pending {
                poll: Some(poll),
                stream,
                peer: Some(peer),
                buf: Vec::new(),
                head_end: None,
                listener: lid,
                since: Instant::now(),
            }),
        );
    }

    /// Whether `id` is an accepted socket still before its upgrade.
    pub(super) fn is_pending(&self, id: u32) -> bool {
        self.pending.borrow().contains_key(&id)
    }

    /// Reads a pending socket's request head; see the module comment.
    pub(super) fn pending_ready(&self, id: u32, status: c_int) {
        let mut table = self.pending.borrow_mut();
        let Some(p) = table.get_mut(&id) else {
            return;
        };
        if status < 0 {
            table.remove(&id);
            return;
        }
        if p.head_end.is_some() {
            // JS is deciding; later bytes wait in the kernel until the connection
            // is served (and an EOF is seen then).
            if let Some(poll) = p.poll.as_mut() {
                poll.watch(0, on_socket);
            }
            return;
        }
        let max_head = self
            .listeners
            .borrow()
            .get(&p.listener)
            .map_or(16 * 1024, |l| l.max_head);
        let start = p.buf.len();
        p.buf.resize(start + HEAD_READ, 0);
        let n = match p.stream.read(&mut p.buf[start..]) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                p.buf.truncate(start);
                return;
            }
            Err(_) => {
                table.remove(&id);
                return;
            }
        };
        p.buf.truncate(start + n);
        if n == 0 {
            if start == 0 {
                // Connected and left without a byte: nothing for anyone to answer.
                table.remove(&id);
            } else {
                // Ended mid-head: Node's parser gives the answer it gives.
                self.fall_back(p, id);
            }
            return;
        }
        // Only where the new bytes can end the head (or break the rules) is the head
        // parsed, so a client sending a byte at a time costs linear time.
        let new = &p.buf[start.saturating_sub(3)..];
        let bare_lf = p.buf[start..]
            .iter()
            .enumerate()
            .any(|(i, &b)| b == b'\n' && (start + i == 0 || p.buf[start + i - 1] != b'\r'));
        let ended = new.windows(4).any(|w| w == b"\r\n\r\n");
        if !ended && !bare_lf && p.buf.len() < max_head {
            return;
        }
        match parse_request_head(&p.buf, max_head) {
            HeadParse::Partial => {}
            HeadParse::Complete(head, used)
                if head.is_upgrade() && head.minor_version == 1 && head.method != "CONNECT" =>
            {
                p.head_end = Some(used);
                let fields = wire::handshake_fields(&head, used, p.peer);
                let listener = p.listener;
                self.staging
                    .writer(id)
                    .push_payload(event::HANDSHAKE, listener, &fields);
            }
            _ => self.fall_back(p, id),
        }
    }

    /// Reports a pending socket for Node's parser (see [`Self::pending_release`]).
    fn fall_back(&self, p: &mut Pending, id: u32) {
        if let Some(poll) = p.poll.as_mut() {
            poll.watch(0, on_socket);
        }
        self.staging.writer(id).push(event::FALLBACK, p.listener, 0);
    }

    /// Gives up a pending socket for Node (after FALLBACK, or after HANDSHAKE when
    /// JS decides Node must see it): its fd, now the caller's, and every byte read
    /// from it so far.
    pub fn pending_release(&self, id: u32) -> Option<(RawFd, Vec<u8>)> {
        let p = self.pending.borrow_mut().remove(&id)?;
        let Pending {
            poll, stream, buf, ..
        } = *p;
        // libuv's rule: the poll handle goes before the fd changes hands.
        drop(poll);
        Some((stream.into_raw_fd(), buf))
    }

    /// Takes a pending socket over for a connection (after HANDSHAKE).
    pub fn pending_take(&self, id: u32) -> Option<Accepted> {
        let p = self.pending.borrow_mut().remove(&id)?;
        let Pending {
            poll,
            stream,
            mut buf,
            head_end,
            ..
        } = *p;
        let early = buf.split_off(head_end.unwrap_or(buf.len()).min(buf.len()));
        Some(Accepted {
            stream,
            poll,
            early,
        })
    }

    /// Writes bytes to a pending socket (a refusal, or what a `wsClientError` listener
    /// writes), as far as the kernel takes them at once: these are a few hundred
    /// bytes on a fresh socket, far below its send buffer.
    pub fn pending_write(&self, id: u32, data: &[u8]) -> bool {
        let mut table = self.pending.borrow_mut();
        let Some(p) = table.get_mut(&id) else {
            return false;
        };
        let mut at = 0;
        while at < data.len() {
            match p.stream.write(&data[at..]) {
                Ok(0) => return false,
                Ok(n) => at += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Closes a pending socket; `end`: shut down its write side first (a FIN
    /// after the response, as `socket.end()` then `destroy()` do in Node).
    pub fn pending_close(&self, id: u32, end: bool) {
        if let Some(p) = self.pending.borrow_mut().remove(&id) {
            if end {
                let _ = p.stream.shutdown(std::net::Shutdown::Write);
            }
        }
    }

    /// The local address of connection or pending socket `id`.
    pub fn socket_name(&self, id: u32) -> Option<SocketName> {
        let addr = match self.pending.borrow().get(&id) {
            Some(p) => p.stream.local_addr().ok()?,
            None => self.conns.borrow().get(&id)?.stream.local_addr().ok()?,
        };
        Some(SocketName::of(addr))
    }

    /// Every [`SWEEP_MS`]: resumes throttled listeners, and answers heads that took
    /// longer than their server's `headersTimeout` as Node does (408, then close).
    fn sweep(&self) {
        let mut timeouts = Vec::new();
        {
            let mut listeners = self.listeners.borrow_mut();
            for listener in listeners.values_mut() {
                if listener.throttled {
                    listener.throttled = false;
                    if let Some(poll) = listener.poll.as_mut() {
                        poll.watch(uv::READABLE, on_listen);
                    }
                }
            }
            let now = Instant::now();
            for (&id, p) in self.pending.borrow().iter() {
                let limit = listeners.get(&p.listener).and_then(|l| l.headers_timeout);
                if p.head_end.is_none() && limit.is_some_and(|t| now - p.since >= t) {
                    timeouts.push((id, !p.buf.is_empty()));
                }
            }
        }
        for (id, started) in timeouts {
            if started {
                self.pending_write(id, TIMEOUT_RESPONSE);
            }
            self.pending_close(id, false);
        }
        self.wake_if_staged();
    }
}

/// Takes Node's registration of `fd` out of the loop's epoll set, so libuv stops
/// accepting on it.
#[cfg(target_os = "linux")]
fn detach_from_loop(uv_loop: *mut napi::sys::uv_loop_s, fd: RawFd) {
    // Safe: epoll_ctl on the loop's own epoll fd; removing a registration that is not
    // there only fails (ENOENT), which changes nothing.
    unsafe {
        libc::epoll_ctl(
            uv::backend_fd(uv_loop),
            libc::EPOLL_CTL_DEL,
            fd,
            std::ptr::null_mut(),
        );
    }
}

/// Never reached: `listen` refuses off Linux.
#[cfg(not(target_os = "linux"))]
fn detach_from_loop(_uv_loop: *mut napi::sys::uv_loop_s, _fd: RawFd) {}

/// The listening socket's poll callback; the poll's extra word is the listener id.
extern "C" fn on_listen(handle: *mut c_void, status: c_int, _events: c_int) {
    if status < 0 {
        return;
    }
    // Safe: the driver's poll handle (see `with_driver`).
    unsafe {
        let id = poll_extra(handle) as u32;
        with_driver(handle, |driver| {
            driver.listener_ready(id);
            driver.wake_if_staged();
        });
    }
}

/// The sweep timer's callback.
extern "C" fn on_sweep(handle: *mut c_void) {
    // Safe: the driver's timer (see `with_driver`).
    unsafe { with_driver(handle, LoopDriver::sweep) }
}
