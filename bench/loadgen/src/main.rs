//! Echo load generator: opens N WebSocket connections to an echo server, keeps `depth`
//! messages of `size` bytes in flight on each, and reports messages per second plus
//! its own CPU use (its headroom: well under 100% of its core means the server, not
//! the generator, set the rate).
//!
//! Usage: wsrs-loadgen HOST:PORT CONNS DEPTH SIZE SECONDS [WARMUP_SECONDS]
//! Prints one JSON line.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsrs_proto::{encode_frame, Config, Handler, MaskGen, Opcode, Payload, Receiver, Role};

struct Counter<'a> {
    received: usize,
    bytes: usize,
    expect: usize,
    bad: &'a Cell<u64>,
}

impl Handler for Counter<'_> {
    fn message(&mut self, _binary: bool, payload: Payload<'_>) {
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

async fn handshake(addr: &str) -> std::io::Result<(TcpStream, Vec<u8>)> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
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
            return Ok((s, buf[end + 4..].to_vec()));
        }
    }
}

struct Shared {
    counting: Cell<bool>,
    stop: Cell<bool>,
    messages: Cell<u64>,
    bad: Cell<u64>,
    failed: Cell<u64>,
}

async fn connection(
    addr: String,
    depth: usize,
    size: usize,
    shared: Rc<Shared>,
) -> std::io::Result<()> {
    let (mut s, head) = handshake(&addr).await?;
    let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let mut masks = MaskGen::new();
    let mut out = Vec::new();
    send_messages(&mut s, &mut out, depth, &payload, &mut masks).await?;
    let mut receiver = Receiver::new(Config {
        max_payload: 0,
        ..Config::new(Role::Client)
    });
    let mut buf = vec![0u8; 256 * 1024];
    let mut pending = head;
    loop {
        let n = if pending.is_empty() {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            n
        } else {
            let n = pending.len();
            buf[..n].copy_from_slice(&pending);
            pending.clear();
            n
        };
        let mut counter = Counter {
            received: 0,
            bytes: 0,
            expect: size,
            bad: &shared.bad,
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
            send_messages(&mut s, &mut out, counter.received, &payload, &mut masks).await?;
        }
    }
}

/// Writes `n` masked binary frames of `payload` in one write.
async fn send_messages(
    s: &mut TcpStream,
    out: &mut Vec<u8>,
    n: usize,
    payload: &[u8],
    masks: &mut MaskGen,
) -> std::io::Result<()> {
    out.clear();
    for _ in 0..n {
        encode_frame(
            out,
            Opcode::Binary,
            true,
            false,
            payload,
            Some(masks.next_mask()),
        );
    }
    s.write_all(out).await
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!("usage: wsrs-loadgen HOST:PORT CONNS DEPTH SIZE SECONDS [WARMUP_SECONDS]");
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

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    let shared = Rc::new(Shared {
        counting: Cell::new(false),
        stop: Cell::new(false),
        messages: Cell::new(0),
        bad: Cell::new(0),
        failed: Cell::new(0),
    });
    let result = local.block_on(&rt, async {
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let (addr, shared) = (addr.clone(), shared.clone());
            tasks.push(tokio::task::spawn_local(async move {
                if connection(addr, depth, size, shared.clone()).await.is_err()
                    && !shared.stop.get()
                {
                    shared.failed.set(shared.failed.get() + 1);
                }
            }));
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
    println!(
        "{{\"messages\":{messages},\"seconds\":{wall:.3},\"rate\":{:.0},\"loadgen_cpu\":{:.3},\"bad\":{},\"failed\":{failed}}}",
        messages as f64 / wall,
        cpu / wall,
        shared.bad.get()
    );
}
