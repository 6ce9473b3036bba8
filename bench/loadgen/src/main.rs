//! Echo load generator: opens N WebSocket connections to an echo server, keeps `depth`
//! messages of `size` bytes in flight on each, and reports messages per second plus
//! its own CPU use (its headroom: well under 100% of its core means the server, not
//! the generator, set the rate).
//!
//! Usage: wsrs-loadgen HOST:PORT CONNS DEPTH SIZE SECONDS [WARMUP_SECONDS] [MODE]
//! MODE:
//! - `echo` (default): each connection keeps DEPTH messages in flight. At depth 1 the
//!   round-trip times are recorded too (`p50_us`, `p99_us`).
//! - `deflate`: echo with JSON-like text over permessage-deflate (context takeover,
//!   15-bit windows: what a default ws server agrees to).
//! - `connect`: CONNS loops that each open a connection, do the closing handshake and
//!   wait for the server to close; the rate is connections per second.
//! - `broadcast`: CONNS connections; the first sends a trigger whenever fewer than
//!   DEPTH broadcasts are incomplete, the server (bench/broadcast-server.js) sends it
//!   to every client; the rate is deliveries per second.
//! - `socketio`: `broadcast` through socket.io (bench/socketio-server.js): each
//!   connection opens engine.io's WebSocket transport and joins the default
//!   namespace; the trigger is the event `42["m","xx…"]` (SIZE bytes in all), which the
//!   server sends to everyone with `io.emit`; only such event packets are counted.
//!
//! Prints one JSON line.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsrs_proto::{
    encode_frame, Config, Deflater, Handler, InflateConfig, MaskGen, Opcode, Payload, Receiver,
    Role,
};

struct Counter<'a> {
    received: usize,
    bytes: usize,
    expect: usize,
    bad: &'a Cell<u64>,
    /// Count only messages starting with this (socket.io's event packets).
    only: &'static [u8],
}

impl Handler for Counter<'_> {
    fn message(&mut self, _binary: bool, payload: Payload<'_>) {
        if !payload.as_slice().starts_with(self.only) {
            return;
        }
        if payload.as_slice().len() != self.expect {
            self.bad.set(self.bad.get() + 1);
        }
        self.received += 1;
        self.bytes += payload.as_slice().len();
    }
    fn ping(&mut self, _: &[u8]) {}
    fn pong(&mut self, _: &[u8]) {}
    fn close(&mut self, _: u16, _: &[u8]) {}
}

fn cpu_seconds() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // Safe: getrusage only writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Opens the connection; returns the stream, bytes after the 101, and whether the
/// server agreed to permessage-deflate.
async fn handshake(addr: &str, deflate: bool) -> std::io::Result<(TcpStream, Vec<u8>, bool)> {
    handshake_at(addr, "/", deflate).await
}

/// [`handshake`] for the resource `path`.
async fn handshake_at(
    addr: &str,
    path: &str,
    deflate: bool,
) -> std::io::Result<(TcpStream, Vec<u8>, bool)> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let offer = if deflate {
        "Sec-WebSocket-Extensions: permessage-deflate\r\n"
    } else {
        ""
    };
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        let n = s.read(&mut tmp).await?;
        if n == 0 {
            return Err(std::io::Error::other("closed during handshake"));
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            if !buf.starts_with(b"HTTP/1.1 101") {
                return Err(std::io::Error::other("handshake refused"));
            }
            let agreed = String::from_utf8_lossy(&buf[..end])
                .to_ascii_lowercase()
                .contains("permessage-deflate");
            return Ok((s, buf[end + 4..].to_vec(), agreed));
        }
    }
}

struct Shared {
    /// Round-trip times in µs (echo at depth 1), while counting.
    rtts: std::cell::RefCell<Vec<u32>>,
    /// Broadcast mode: the trigger task waits here for deliveries.
    delivered: tokio::sync::Notify,
    counting: Cell<bool>,
    stop: Cell<bool>,
    messages: Cell<u64>,
    bad: Cell<u64>,
    failed: Cell<u64>,
}

/// Frames outgoing messages, compressing them when deflate was agreed.
struct Sender {
    masks: MaskGen,
    deflater: Option<Deflater>,
    scratch: Vec<u8>,
    out: Vec<u8>,
}

impl Sender {
    /// Writes `n` copies of `payload` as masked frames in one write.
    async fn send(&mut self, s: &mut TcpStream, n: usize, payload: &[u8]) -> std::io::Result<()> {
        self.out.clear();
        for _ in 0..n {
            let mask = Some(self.masks.next_mask());
            match self.deflater.as_mut() {
                Some(d) => {
                    self.scratch.clear();
                    d.compress(payload, true, &mut self.scratch);
                    encode_frame(&mut self.out, Opcode::Text, true, true, &self.scratch, mask);
                }
                None => encode_frame(&mut self.out, Opcode::Binary, true, false, payload, mask),
            }
        }
        s.write_all(&self.out).await
    }
}

/// `size` bytes of chat-like JSON, as a compressed workload would carry.
fn json_like(size: usize) -> Vec<u8> {
    let mut text = Vec::with_capacity(size + 64);
    let mut i = 0;
    while text.len() < size {
        text.extend_from_slice(
            format!(
                "{{\"id\":{i},\"user\":\"user{}\",\"text\":\"hello there, how is it going?\"}},",
                i % 17
            )
            .as_bytes(),
        );
        i += 1;
    }
    text.truncate(size);
    text
}

async fn connection(
    addr: String,
    depth: usize,
    size: usize,
    deflate: bool,
    shared: Rc<Shared>,
) -> std::io::Result<()> {
    let (mut s, head, agreed) = handshake(&addr, deflate).await?;
    if deflate && !agreed {
        return Err(std::io::Error::other(
            "server did not agree to permessage-deflate",
        ));
    }
    let payload: Vec<u8> = if deflate {
        json_like(size)
    } else {
        (0..size).map(|i| (i % 251) as u8).collect()
    };
    let mut sender = Sender {
        masks: MaskGen::new(),
        // Level 1: the generator compresses as cheaply as it can, so it keeps headroom;
        // the server still inflates and deflates every message in full.
        deflater: agreed.then(|| Deflater::new(15, false, 1)),
        scratch: Vec::new(),
        out: Vec::new(),
    };
    sender.send(&mut s, depth, &payload).await?;
    let mut sent_at = Instant::now();
    let mut cfg = Config {
        max_payload: 0,
        ..Config::new(Role::Client)
    };
    cfg.inflate = agreed.then_some(InflateConfig {
        window_bits: 15,
        no_context_takeover: false,
    });
    let mut receiver = Receiver::new(cfg);
    let mut buf = vec![0u8; 256 * 1024];
    let mut pending = head;
    loop {
        let n = next_bytes(&mut s, &mut pending, &mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        let mut counter = Counter {
            received: 0,
            bytes: 0,
            expect: size,
            bad: &shared.bad,
            only: b"",
        };
        if receiver.feed(&mut buf[..n], &mut counter).is_err() {
            return Err(std::io::Error::other("protocol error from server"));
        }
        if shared.counting.get() {
            shared
                .messages
                .set(shared.messages.get() + counter.received as u64);
        }
        if shared.stop.get() {
            return Ok(());
        }
        if counter.received > 0 {
            if depth == 1 && shared.counting.get() {
                let us = sent_at.elapsed().as_micros().min(u32::MAX as u128) as u32;
                shared.rtts.borrow_mut().push(us);
            }
            sender.send(&mut s, counter.received, &payload).await?;
            sent_at = Instant::now();
        }
    }
}

/// Puts the next bytes to parse in `buf`: what came after the handshake first, then
/// reads. Returns how many (0: the server closed).
async fn next_bytes<R: tokio::io::AsyncRead + Unpin>(
    r: &mut R,
    pending: &mut Vec<u8>,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    if pending.is_empty() {
        return r.read(buf).await;
    }
    let n = pending.len().min(buf.len());
    buf[..n].copy_from_slice(&pending[..n]);
    pending.drain(..n);
    Ok(n)
}

/// One connection's whole life, over and over: open, closing handshake, wait for the
/// server's close. Counts each completed one.
async fn connect_loop(addr: String, shared: Rc<Shared>) -> std::io::Result<()> {
    let mut masks = MaskGen::new();
    let mut buf = vec![0u8; 4096];
    while !shared.stop.get() {
        let (mut s, _, _) = handshake(&addr, false).await?;
        let mut close = Vec::new();
        encode_frame(
            &mut close,
            Opcode::Close,
            true,
            false,
            &1000u16.to_be_bytes(),
            Some(masks.next_mask()),
        );
        s.write_all(&close).await?;
        // The server answers with its Close and then ends the connection.
        while s.read(&mut buf).await? != 0 {}
        if shared.counting.get() {
            shared.messages.set(shared.messages.get() + 1);
        }
    }
    Ok(())
}

/// A broadcast receiver: counts what arrives and wakes the trigger task.
async fn broadcast_reader(
    mut r: tokio::net::tcp::OwnedReadHalf,
    head: Vec<u8>,
    (size, only): (usize, &'static [u8]),
    shared: Rc<Shared>,
    total: Rc<Cell<u64>>,
) -> std::io::Result<()> {
    let mut receiver = Receiver::new(Config {
        max_payload: 0,
        ..Config::new(Role::Client)
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending = head;
    loop {
        let n = next_bytes(&mut r, &mut pending, &mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        let mut counter = Counter {
            received: 0,
            bytes: 0,
            expect: size,
            bad: &shared.bad,
            only,
        };
        if receiver.feed(&mut buf[..n], &mut counter).is_err() {
            return Err(std::io::Error::other("protocol error from server"));
        }
        total.set(total.get() + counter.received as u64);
        if shared.counting.get() {
            shared
                .messages
                .set(shared.messages.get() + counter.received as u64);
        }
        if counter.received > 0 {
            shared.delivered.notify_one();
        }
    }
}

/// Opens `conns` connections and keeps `depth` broadcasts in flight through the first;
/// with `socketio`, through socket.io's protocol (see the module comment).
async fn broadcast(
    addr: String,
    (conns, depth, size): (usize, usize, usize),
    socketio: bool,
    shared: Rc<Shared>,
) -> std::io::Result<()> {
    let total = Rc::new(Cell::new(0u64));
    let mut masks = MaskGen::new();
    let (path, only): (_, &'static [u8]) = if socketio {
        ("/socket.io/?EIO=4&transport=websocket", b"42")
    } else {
        ("/", b"")
    };
    // Dropping a write half would shut the connection's write side: keep them all.
    let mut writers = Vec::new();
    for _ in 0..conns {
        let (s, head, _) = handshake_at(&addr, path, false).await?;
        let (r, mut w) = s.into_split();
        if socketio {
            // Join the default namespace.
            let mut join = Vec::new();
            let mask = Some(masks.next_mask());
            encode_frame(&mut join, Opcode::Text, true, false, b"40", mask);
            w.write_all(&join).await?;
        }
        writers.push(w);
        let (shared, total) = (shared.clone(), total.clone());
        tokio::task::spawn_local(async move {
            let _ = broadcast_reader(r, head, (size, only), shared, total).await;
        });
    }
    let Some(w) = writers.first_mut() else {
        return Ok(());
    };
    let (payload, opcode) = if socketio {
        let pad = "x".repeat(size.saturating_sub(10));
        (format!("42[\"m\",\"{pad}\"]").into_bytes(), Opcode::Text)
    } else {
        let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        (bytes, Opcode::Binary)
    };
    let mut out = Vec::new();
    let mut sent = 0u64;
    while !shared.stop.get() {
        let done = total.get() / conns as u64;
        if sent < done + depth as u64 {
            out.clear();
            while sent < done + depth as u64 {
                encode_frame(
                    &mut out,
                    opcode,
                    true,
                    false,
                    &payload,
                    Some(masks.next_mask()),
                );
                sent += 1;
            }
            w.write_all(&out).await?;
        }
        shared.delivered.notified().await;
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!(
            "usage: wsrs-loadgen HOST:PORT CONNS DEPTH SIZE SECONDS [WARMUP_SECONDS] [deflate]"
        );
        std::process::exit(2);
    }
    let addr = args[1].clone();
    let parse = |i: usize| {
        args[i]
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("argument {i} must be a number"))
    };
    let (conns, depth, size, seconds) = (
        parse(2) as usize,
        parse(3) as usize,
        parse(4) as usize,
        parse(5),
    );
    let warmup = if args.len() > 6 { parse(6) } else { 1.0 };
    let mode = args.get(7).map_or("echo", |a| a.as_str()).to_string();
    let deflate = mode == "deflate";

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    let shared = Rc::new(Shared {
        rtts: Default::default(),
        delivered: tokio::sync::Notify::new(),
        counting: Cell::new(false),
        stop: Cell::new(false),
        messages: Cell::new(0),
        bad: Cell::new(0),
        failed: Cell::new(0),
    });
    let result = local.block_on(&rt, async {
        let mut tasks = Vec::new();
        let count_failure = |shared: &Shared, r: std::io::Result<()>| {
            if r.is_err() && !shared.stop.get() {
                shared.failed.set(shared.failed.get() + 1);
            }
        };
        if mode == "broadcast" || mode == "socketio" {
            let (addr, shared) = (addr.clone(), shared.clone());
            let socketio = mode == "socketio";
            tasks.push(tokio::task::spawn_local(async move {
                let r = broadcast(addr, (conns, depth, size), socketio, shared.clone()).await;
                count_failure(&shared, r);
            }));
        } else {
            for _ in 0..conns {
                let (addr, shared, mode) = (addr.clone(), shared.clone(), mode.clone());
                tasks.push(tokio::task::spawn_local(async move {
                    let r = if mode == "connect" {
                        connect_loop(addr, shared.clone()).await
                    } else {
                        connection(addr, depth, size, deflate, shared.clone()).await
                    };
                    count_failure(&shared, r);
                }));
            }
        }
        tokio::time::sleep(Duration::from_secs_f64(warmup)).await;
        shared.counting.set(true);
        let (t0, c0) = (Instant::now(), cpu_seconds());
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        shared.counting.set(false);
        let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
        shared.stop.set(true);
        for t in tasks {
            t.abort();
        }
        (wall, cpu)
    });
    let (wall, cpu) = result;
    let failed = shared.failed.get();
    let messages = shared.messages.get();
    let mut rtts = shared.rtts.take();
    rtts.sort_unstable();
    let at = |q: f64| {
        rtts.get(((rtts.len() as f64 * q) as usize).min(rtts.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{{\"messages\":{messages},\"seconds\":{wall:.3},\"rate\":{:.0},\"loadgen_cpu\":{:.3},\"bad\":{},\"failed\":{failed},\"p50_us\":{},\"p99_us\":{}}}",
        messages as f64 / wall,
        cpu / wall,
        shared.bad.get(),
        at(0.5),
        at(0.99)
    );
}
