//! The ceiling of the echo benchmarks on this machine: a single-threaded epoll server
//! in plain Rust that does the least any WebSocket server can do per message — one
//! `recv` and one `send` per readable socket, frames unmasked and echoed with no
//! event loop, no JS and no allocation. No real server gets here; the bench prints it
//! so the ratios of ws-rs and Bun can be read against what the kernel allows.
//!
//! Usage: wsrs-ceiling PORT [broadcast]. Prints "ready" once listening. Handles only
//! what the echo workloads send (small unfragmented masked frames); anything else
//! closes the connection. With `broadcast`, what a connection sends goes to every
//! connection instead (the broadcast workload), with one `send` per connection.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;

use wsrs_proto::{apply_mask, encode_header, Opcode};

/// One connection: its stream, whether the 101 has been sent, and unparsed input.
struct Conn {
    stream: TcpStream,
    open: bool,
    input: Vec<u8>,
}

fn epoll_add(epfd: i32, fd: i32) {
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: fd as u64,
    };
    // Safe: a valid epoll fd and an fd we own.
    unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) };
}

/// Parses the complete masked frames at the front of `input` and appends their
/// unmasked echoes to `out`; returns the bytes consumed, or None on anything the
/// echo workloads never send.
fn echo_frames(input: &mut [u8], out: &mut Vec<u8>) -> Option<usize> {
    let mut at = 0;
    loop {
        let rest = &mut input[at..];
        if rest.len() < 2 {
            return Some(at);
        }
        let (b0, b1) = (rest[0], rest[1]);
        if b1 & 0x80 == 0 || b0 & 0x80 == 0 {
            return None;
        }
        let (len, head) = match b1 & 0x7f {
            126 if rest.len() >= 4 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
            126 => return Some(at),
            127 => return None,
            n => (n as usize, 2),
        };
        if rest.len() < head + 4 + len {
            return Some(at);
        }
        let mask = [rest[head], rest[head + 1], rest[head + 2], rest[head + 3]];
        let payload = &mut rest[head + 4..head + 4 + len];
        apply_mask(payload, mask, 0);
        let opcode = match b0 & 0x0f {
            1 => Opcode::Text,
            2 => Opcode::Binary,
            _ => return None,
        };
        encode_header(out, opcode, true, false, len, None);
        out.extend_from_slice(payload);
        at += head + 4 + len;
    }
}

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("usage: wsrs-ceiling PORT [broadcast]");
    let broadcast = std::env::args().nth(2).as_deref() == Some("broadcast");
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    // Safe: plain syscall.
    let epfd = unsafe { libc::epoll_create1(0) };
    let lfd = listener.as_raw_fd();
    epoll_add(epfd, lfd);
    println!("ready");
    let mut conns: HashMap<i32, Conn> = HashMap::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        // Safe: the buffer holds 256 events.
        let n = unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), 256, -1) };
        for ev in events.iter().take(n.max(0) as usize) {
            let fd = ev.u64 as i32;
            if fd == lfd {
                while let Ok((stream, _)) = listener.accept() {
                    let _ = stream.set_nodelay(true);
                    let _ = stream.set_nonblocking(true);
                    epoll_add(epfd, stream.as_raw_fd());
                    let conn = Conn {
                        stream,
                        open: false,
                        input: Vec::new(),
                    };
                    conns.insert(conn.stream.as_raw_fd(), conn);
                }
                continue;
            }
            let Some(conn) = conns.get_mut(&fd) else {
                continue;
            };
            let ok = match conn.stream.read(&mut buf) {
                Ok(0) => false,
                Ok(got) => {
                    conn.input.extend_from_slice(&buf[..got]);
                    if !conn.open {
                        match conn.input.windows(4).position(|w| w == b"\r\n\r\n") {
                            Some(end) => {
                                conn.open = true;
                                conn.input.drain(..end + 4);
                                let _ = conn.stream.write_all(
                                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                                      Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n",
                                );
                            }
                            None => continue,
                        }
                    }
                    out.clear();
                    match echo_frames(&mut conn.input, &mut out) {
                        Some(used) if broadcast => {
                            conn.input.drain(..used);
                            if !out.is_empty() {
                                for other in conns.values_mut().filter(|c| c.open) {
                                    let _ = other.stream.write_all(&out);
                                }
                            }
                            true
                        }
                        Some(used) => {
                            conn.input.drain(..used);
                            out.is_empty() || conn.stream.write_all(&out).is_ok()
                        }
                        None => false,
                    }
                }
                Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
            };
            if !ok {
                conns.remove(&fd);
            }
        }
    }
}
