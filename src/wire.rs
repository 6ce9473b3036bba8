//! The JS <-> Rust record format, defined once: the event kinds Rust reports, the
//! outbox operations and flags JS queues, and the sizes both sides agree on.
//! `lib/native.js` reads all of these from `bridge::wire_constants`, never from a copy.
//!
//! An event record is four `u32`s, `[conn id, kind | extra << 8, a, b]`; an outbox
//! record is four `u32`s, `[conn id, op | flags << 8, payload length, big index]`.

use wsrs_proto::{FrameSpec, Masking, Opcode};

/// Event kinds (low byte of an event record's second word).
pub mod event {
    pub const TEXT: u32 = 1;
    pub const BINARY: u32 = 2;
    pub const PING: u32 = 3;
    pub const PONG: u32 = 4;
    /// A Close frame arrived: extra = code, payload = reason.
    pub const CLOSE_FRAME: u32 = 5;
    /// A protocol violation: extra = `ProtoError::kind_id`, a = its argument (for an
    /// inflate failure: a, b = zlib's message in the arena).
    pub const PROTO_ERROR: u32 = 6;
    /// a = number of queued frames now fully handed to the kernel.
    pub const WRITTEN: u32 = 7;
    /// The peer ended its side (read returned 0).
    pub const EOF: u32 = 8;
    /// The socket is closed; the id is dead. Payload: [`super::byte_totals`].
    pub const CLOSED: u32 = 9;
    /// A connection the JS-loop driver accepted sent a complete upgrade request
    /// (`{ port }` servers): the payload is [`super::handshake_fields`], extra = the
    /// listener id. The socket waits, unread, for `pendingAccept`, `pendingWrite` or
    /// `pendingClose`.
    pub const HANDSHAKE: u32 = 10;
    /// A connection the driver accepted is for Node's own HTTP server (a plain HTTP
    /// request, an unusual head, a server with `'connection'` listeners):
    /// `pendingRelease` hands over the fd and the bytes read. Extra = the listener id.
    pub const FALLBACK: u32 = 11;
    /// Bytes as they were read from the socket, before parsing, for a connection whose
    /// `ws._socket` has `'data'` listeners (`socketTap`): payload = the bytes.
    pub const DATA: u32 = 12;
    /// Reading or writing the socket failed (the connection then closes): extra =
    /// the OS error number, a = [`super::SYSCALL_READ`] or [`super::SYSCALL_WRITE`].
    /// JS makes Node's error of it for `ws._socket`'s `'error'` listeners.
    pub const SOCKET_ERROR: u32 = 13;
    /// A frame of a fragmented binary message ended (not its last): a, b = the low
    /// and high 32 bits of the message's length so far. For ws's `'fragments'`
    /// binary type, which gives one Buffer per frame.
    pub const FRAME_END: u32 = 14;
    /// Flag on TEXT/BINARY: the payload is in `bigs[a]`, not in the arena.
    pub const BIG: u32 = 0x80;
    /// Flag on TEXT/BINARY: the payload is where it was read, in the read arena (the
    /// Buffer the JS-loop driver reads sockets into) at `a`, `b` bytes; no copy.
    pub const DIRECT: u32 = 0x40;
    /// The kind without its flags.
    pub const KIND_MASK: u32 = 0x3f;
}

/// Outbox operations (low byte of an outbox record's second word).
pub mod op {
    pub const CONTINUATION: u8 = 0;
    pub const TEXT: u8 = 1;
    pub const BINARY: u8 = 2;
    pub const CLOSE: u8 = 8;
    pub const PING: u8 = 9;
    pub const PONG: u8 = 10;
    /// Shut down the write side once everything before it is written.
    pub const END: u8 = 16;
    /// Bytes written as they are, in order with the frames (`ws._socket.write`).
    pub const RAW: u8 = 17;
}

/// Outbox flags (second byte of an outbox record's second word).
pub mod flag {
    pub const FIN: u8 = 1;
    /// Compress this frame's payload (permessage-deflate).
    pub const RSV1: u8 = 2;
    pub const MASK: u8 = 4;
    /// The payload is passed separately (`bigs`), not in the outbox bytes.
    pub const BIG: u8 = 8;
    /// Four key bytes precede the payload in the outbox (`generateMask`).
    pub const KEYED: u8 = 16;
    /// A publish: the frame goes to every connection whose id is in the record's
    /// target list (the record's id field is its length; the ids, u32 little-endian,
    /// precede the payload in the outbox), not to one connection.
    pub const PUBLISH: u8 = 32;
}

/// The failed call of a SOCKET_ERROR event, as Node's errors name it (`syscall`).
pub const SYSCALL_READ: u32 = 0;
pub const SYSCALL_WRITE: u32 = 1;

/// Messages above this size get their own Buffer instead of a place in the arena.
pub const BIG_MESSAGE: usize = 64 * 1024;
/// An event chunk's arena closes when it would grow past this. JS makes the payloads
/// in it views, not copies, so one a handler keeps (a chat history) pins at most
/// this much, as ws's message pins at most its 64 KiB socket read.
pub const ARENA_CAP: usize = 64 * 1024;
/// A message read whole is left in the JS-loop driver's read arena (a view there,
/// no copy; `event::DIRECT`) only above this size; smaller ones are copied into the
/// event arena, which is bounded by [`ARENA_CAP`] where the read arena is not.
pub const DIRECT_MIN_VIEW: usize = 4 * 1024;
/// Most records in one event chunk (the JS logs are sized to match).
pub const LOG_CAP: usize = 8192;
/// Payloads from this size on are passed by reference instead of copied into the outbox.
pub const BIG_SEND: usize = 8 * 1024;

/// A CLOSED event's payload: bytes read, then bytes written, over the connection's
/// life, each a little-endian u64 (`ws._socket.bytesRead` / `bytesWritten` after close).
pub fn byte_totals(read: u64, written: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&read.to_le_bytes());
    out[8..].copy_from_slice(&written.to_le_bytes());
    out
}

/// A HANDSHAKE event's payload: Latin-1 text, fields separated by NUL (which no
/// accepted head contains): method, target, HTTP version, remote address,
/// remote port, remote family (`IPv4`/`IPv6`), bytes of the head, then each header's
/// name (as sent) and value, in order (Node's `rawHeaders`).
#[cfg_attr(not(unix), allow(dead_code))]
pub fn handshake_fields(
    head: &wsrs_proto::RequestHead,
    head_len: usize,
    peer: Option<std::net::SocketAddr>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut field = |text: &str| {
        if !out.is_empty() {
            out.push(0);
        }
        // Every char of a Latin-1-decoded string is below 256.
        out.extend(text.chars().map(|c| c as u32 as u8));
    };
    field(&head.method);
    field(&head.target);
    field(&format!("1.{}", head.minor_version));
    match peer {
        Some(addr) => {
            field(&addr.ip().to_string());
            field(&addr.port().to_string());
            field(if addr.is_ipv4() { "IPv4" } else { "IPv6" });
        }
        None => {
            field("");
            field("");
            field("");
        }
    }
    field(&head_len.to_string());
    for (name, value) in &head.headers {
        field(name);
        field(value);
    }
    out
}

/// Socket options JS can set on an adopted connection (`socketOption`), as Node's
/// `socket.setNoDelay()` and `socket.setKeepAlive()` set them.
pub mod sockopt {
    pub const NO_DELAY: u32 = 1;
    pub const KEEP_ALIVE: u32 = 2;
}

/// What one outbox record asks for.
#[derive(Debug, Clone, Copy)]
pub enum Outgoing {
    Frame(FrameSpec),
    /// The payload as it is: no frame around it (`ws._socket.write`).
    Raw,
    /// Shut down the write side after everything before it.
    End,
    /// A ping of ws-rs's own (`idleTimeout`), with [`HEARTBEAT_PAYLOAD`]: framed like
    /// any ping, in order with the rest, and acknowledged to no one (JS never queued
    /// it, so it is in no send callback and no `bufferedAmount`).
    Heartbeat(Masking),
}

/// The payload of heartbeat pings. Pongs that echo it answer ws-rs, not the
/// application, so they are not reported (an idle connection then costs JS nothing).
pub const HEARTBEAT_PAYLOAD: &[u8] = b"ws-rs:idle";

/// The frame spec of a heartbeat ping.
pub fn heartbeat_spec(masking: Masking) -> FrameSpec {
    FrameSpec {
        opcode: Opcode::Ping,
        fin: true,
        compress: false,
        masking,
    }
}

/// Decodes an outbox record's op and flags; `key` is the user's masking key, if the
/// record carried one. Unknown ops give `None` (and are skipped).
pub fn decode_op(code: u8, flags: u8, key: Option<[u8; 4]>) -> Option<Outgoing> {
    let opcode = match code {
        op::CONTINUATION => Opcode::Continuation,
        op::TEXT => Opcode::Text,
        op::BINARY => Opcode::Binary,
        op::CLOSE => Opcode::Close,
        op::PING => Opcode::Ping,
        op::PONG => Opcode::Pong,
        op::END => return Some(Outgoing::End),
        op::RAW => return Some(Outgoing::Raw),
        _ => return None,
    };
    let masking = match (flags & flag::MASK != 0, key) {
        (false, _) => Masking::None,
        (true, Some(key)) => Masking::Key(key),
        (true, None) => Masking::Generated,
    };
    Some(Outgoing::Frame(FrameSpec {
        opcode,
        fin: flags & flag::FIN != 0,
        compress: flags & flag::RSV1 != 0,
        masking,
    }))
}

/// One outbox record as `flush` reads it.
pub struct OutRecord<'a> {
    pub id: u32,
    pub op: Outgoing,
    pub payload: &'a [u8],
    /// The index in `bigs` the payload came from (a JS Buffer passed by reference).
    pub big: Option<u32>,
    /// For a publish ([`flag::PUBLISH`]): the recipients' ids, u32 little-endian.
    /// `id` is then meaningless.
    pub targets: Option<&'a [u8]>,
}

impl OutRecord<'_> {
    /// The connections this record goes to: its own, or a publish's targets.
    pub fn recipients(&self) -> impl Iterator<Item = u32> + '_ {
        let own = match self.targets {
            None => Some(self.id),
            Some(_) => None,
        };
        own.into_iter().chain(
            self.targets
                .unwrap_or_default()
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        )
    }
}

/// Walks the outbox: `count` records in `log`, payloads back to back in `data` (each
/// keyed record's 4 key bytes first, each publish's target ids first), big payloads
/// in `bigs`. Lengths are clamped to
/// what is there, so a malformed outbox reads short rather than out of bounds.
pub fn out_records<'a>(
    data: &'a [u8],
    log: &'a [u8],
    count: u32,
    bigs: &'a [&'a [u8]],
) -> impl Iterator<Item = OutRecord<'a>> + 'a {
    let mut pos = 0usize;
    log.chunks_exact(16)
        .take(count as usize)
        .filter_map(move |bytes| {
            let word = |i: usize| {
                u32::from_le_bytes([
                    bytes[i * 4],
                    bytes[i * 4 + 1],
                    bytes[i * 4 + 2],
                    bytes[i * 4 + 3],
                ])
            };
            let (id, w1, len, big) = (word(0), word(1), word(2) as usize, word(3) as usize);
            let (code, flags) = (w1 as u8, (w1 >> 8) as u8);
            let key = if flags & flag::KEYED != 0 && pos + 4 <= data.len() {
                pos += 4;
                Some([data[pos - 4], data[pos - 3], data[pos - 2], data[pos - 1]])
            } else {
                None
            };
            let targets = if flags & flag::PUBLISH != 0 {
                let end = (id as usize)
                    .saturating_mul(4)
                    .saturating_add(pos)
                    .min(data.len());
                let ids = &data[pos..end];
                pos = end;
                Some(ids)
            } else {
                None
            };
            let (payload, big): (&[u8], _) = if flags & flag::BIG != 0 {
                match bigs.get(big) {
                    Some(&bytes) => (bytes, Some(big as u32)),
                    None => (&[], None),
                }
            } else {
                let end = pos.saturating_add(len).min(data.len());
                let slice = &data[pos..end];
                pos = end;
                (slice, None)
            };
            let op = decode_op(code, flags, key)?;
            Some(OutRecord {
                id,
                op,
                payload,
                big,
                targets,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u32, code: u8, flags: u8, len: u32, big: u32) -> Vec<u8> {
        [id, code as u32 | (flags as u32) << 8, len, big]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect()
    }

    #[test]
    fn reads_payloads_keys_and_bigs_in_order() {
        let mut log = record(1, op::TEXT, flag::FIN, 2, 0);
        log.extend(record(
            2,
            op::BINARY,
            flag::FIN | flag::MASK | flag::KEYED,
            1,
            0,
        ));
        log.extend(record(1, op::BINARY, flag::FIN | flag::BIG, 3, 0));
        log.extend(record(1, 99, 0, 0, 0));
        log.extend(record(1, op::END, 0, 0, 0));
        let data = b"hi\x01\x02\x03\x04z";
        let big: &[u8] = b"big";
        let bigs = [big];
        let recs: Vec<_> = out_records(data, &log, 5, &bigs).collect();
        assert_eq!(recs.len(), 4);
        assert_eq!(recs[0].payload, b"hi");
        assert_eq!(recs[1].payload, b"z");
        assert!(matches!(
            recs[1].op,
            Outgoing::Frame(FrameSpec {
                masking: Masking::Key([1, 2, 3, 4]),
                ..
            })
        ));
        assert_eq!(recs[2].payload, b"big");
        assert_eq!((recs[0].big, recs[2].big), (None, Some(0)));
        assert!(matches!(recs[3].op, Outgoing::End));
    }

    #[test]
    fn a_publish_goes_to_its_targets_between_other_records() {
        let mut log = record(9, op::TEXT, flag::FIN, 1, 0);
        log.extend(record(3, op::BINARY, flag::FIN | flag::PUBLISH, 2, 0));
        log.extend(record(
            4,
            op::TEXT,
            flag::FIN | flag::PUBLISH | flag::BIG,
            3,
            0,
        ));
        log.extend(record(9, op::TEXT, flag::FIN, 1, 0));
        let mut data = b"a".to_vec();
        for id in [5u32, 6, 7] {
            data.extend(id.to_le_bytes());
        }
        data.extend(b"pq");
        for id in [1u32, 2, 3, 4] {
            data.extend(id.to_le_bytes());
        }
        data.extend(b"b");
        let big: &[u8] = b"big";
        let bigs = [big];
        let recs: Vec<_> = out_records(&data, &log, 4, &bigs).collect();
        let to = |r: &OutRecord<'_>| r.recipients().collect::<Vec<_>>();
        assert_eq!((to(&recs[0]), recs[0].payload), (vec![9], &b"a"[..]));
        assert_eq!((to(&recs[1]), recs[1].payload), (vec![5, 6, 7], &b"pq"[..]));
        assert_eq!(
            (to(&recs[2]), recs[2].payload),
            (vec![1, 2, 3, 4], &b"big"[..])
        );
        assert_eq!((to(&recs[3]), recs[3].payload), (vec![9], &b"b"[..]));
        // A target list longer than the outbox reads short.
        let log = record(1000, op::TEXT, flag::FIN | flag::PUBLISH, 0, 0);
        let seven = 7u32.to_le_bytes();
        let recs: Vec<_> = out_records(&seven, &log, 1, &[]).collect();
        assert_eq!(to(&recs[0]), vec![7]);
    }

    #[test]
    fn malformed_lengths_read_short() {
        let log = record(1, op::TEXT, flag::FIN, 1000, 0);
        let recs: Vec<_> = out_records(b"abc", &log, 1, &[]).collect();
        assert_eq!(recs[0].payload, b"abc");
        let log = record(1, op::TEXT, flag::FIN | flag::BIG, 3, 7);
        let recs: Vec<_> = out_records(b"", &log, 1, &[]).collect();
        assert!(recs[0].payload.is_empty());
        assert_eq!(recs[0].big, None);
    }
}
