//! ws-rs's frame reader against tungstenite's on the same bytes, as a server or a
//! client with the same 64 MiB limit: the same messages, pings, pongs and closes in the same order,
//! and a violation where the other finds one. Where they may differ, it is one of
//! ws's rules, listed in `ws_rule` below; anything else is a finding.
#![no_main]

use std::io::{Read, Write};

use libfuzzer_sys::fuzz_target;
use tungstenite::error::{Error, ProtocolError};
use tungstenite::protocol::{
    frame::coding::CloseCode, Message, Role as TRole, WebSocket, WebSocketConfig,
};
use wsrs_proto::{Config, Handler, Payload, ProtoError, Receiver, Role};

/// The same size limit on both sides (tungstenite reserves a frame's declared length
/// up front, so it cannot go without one).
const LIMIT: usize = 64 << 20;

#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, Vec<u8>),
    /// A Close frame whose code the reader refused.
    BadClose,
}

/// How a reader's run ended.
#[derive(Debug, Clone, PartialEq)]
enum End {
    /// Input ran out (mid-frame or not).
    Incomplete,
    /// A Close was received; the rest is ignored.
    Closed,
    /// A protocol violation (for ws-rs, which one).
    Violation(Option<ProtoError>),
}

struct Events(Vec<Ev>);

impl Handler for Events {
    fn message(&mut self, binary: bool, payload: Payload<'_>) {
        let data = payload.as_slice().to_vec();
        self.0.push(if binary {
            Ev::Binary(data)
        } else {
            Ev::Text(data)
        });
    }
    fn ping(&mut self, payload: &[u8]) {
        self.0.push(Ev::Ping(payload.to_vec()));
    }
    fn pong(&mut self, payload: &[u8]) {
        self.0.push(Ev::Pong(payload.to_vec()));
    }
    fn close(&mut self, code: u16, reason: &[u8]) {
        let code = (code != 1005).then_some(code);
        self.0.push(Ev::Close(code, reason.to_vec()));
    }
}

fn ours(role: Role, input: &[u8], step: usize) -> (Vec<Ev>, End) {
    let mut cfg = Config::new(role);
    cfg.max_payload = LIMIT as u64;
    cfg.max_fragments = 0;
    let mut receiver = Receiver::new(cfg);
    let mut events = Events(Vec::new());
    let mut bytes = input.to_vec();
    for piece in bytes.chunks_mut(step) {
        if let Err(err) = receiver.feed(piece, &mut events) {
            if let ProtoError::InvalidCloseCode(_) = err {
                events.0.push(Ev::BadClose);
                return (events.0, End::Closed);
            }
            return (events.0, End::Violation(Some(err)));
        }
    }
    let end = match events.0.last() {
        Some(Ev::Close(..)) => End::Closed,
        _ => End::Incomplete,
    };
    (events.0, end)
}

/// A stream that reads the input `step` bytes at a time and drops what is written.
struct Peer<'a> {
    input: &'a [u8],
    step: usize,
}

impl Read for Peer<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.input.len().min(self.step).min(buf.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

impl Write for Peer<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn theirs(role: TRole, input: &[u8], step: usize) -> (Vec<Ev>, End) {
    let config = WebSocketConfig::default()
        .max_message_size(Some(LIMIT))
        .max_frame_size(Some(LIMIT));
    let mut ws = WebSocket::from_raw_socket(Peer { input, step }, role, Some(config));
    let mut events = Vec::new();
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => events.push(Ev::Text(t.as_bytes().to_vec())),
            Ok(Message::Binary(b)) => events.push(Ev::Binary(b.to_vec())),
            Ok(Message::Ping(b)) => events.push(Ev::Ping(b.to_vec())),
            Ok(Message::Pong(b)) => events.push(Ev::Pong(b.to_vec())),
            Ok(Message::Close(None)) => {
                events.push(Ev::Close(None, Vec::new()));
                return (events, End::Closed);
            }
            Ok(Message::Close(Some(frame))) => {
                // tungstenite answers a refused code with its own 1002 frame.
                let refused = frame.code == CloseCode::Protocol
                    && frame.reason.as_str() == "Protocol violation";
                events.push(if refused {
                    Ev::BadClose
                } else {
                    Ev::Close(Some(frame.code.into()), frame.reason.as_bytes().to_vec())
                });
                return (events, End::Closed);
            }
            Ok(Message::Frame(_)) => {}
            Err(Error::Protocol(ProtocolError::ResetWithoutClosingHandshake))
            | Err(Error::ConnectionClosed)
            | Err(Error::AlreadyClosed)
            | Err(Error::Io(_)) => return (events, End::Incomplete),
            Err(_) => return (events, End::Violation(None)),
        }
    }
}

/// Whether a difference in how the two runs ended is one of ws's rules.
fn ws_rule(ours: &(Vec<Ev>, End), theirs: &(Vec<Ev>, End)) -> bool {
    use ProtoError::*;
    let ours_error = match ours.1 {
        End::Violation(Some(err)) => Some(err),
        _ => None,
    };
    let same_count = theirs.0.len() == ours.0.len();
    // ws refuses a frame on its header, before the payload (or the extended length)
    // arrives; tungstenite reads the whole frame first. It must not have delivered
    // anything more.
    if theirs.1 == End::Incomplete
        && same_count
        && matches!(
            ours_error,
            Some(Rsv23 | Rsv1 | InvalidOpcode(_) | ExpectedFin | InvalidControlLength(_))
                | Some(ExpectedMask | UnexpectedMask | UnsupportedLength)
        )
    {
        return true;
    }
    // ws checks UTF-8 fragment by fragment (fail fast); tungstenite waits for more.
    if theirs.1 == End::Incomplete && same_count && ours_error == Some(InvalidUtf8) {
        return true;
    }
    // ws refuses a control frame whose 7-bit length says 126 or 127 (an extended
    // length), whatever that length is; tungstenite takes it if it is <= 125.
    if matches!(ours_error, Some(InvalidControlLength(126 | 127)))
        && theirs.0.len() > ours.0.len()
        && matches!(
            theirs.0[ours.0.len()],
            Ev::Ping(_) | Ev::Pong(_) | Ev::Close(..) | Ev::BadClose
        )
    {
        return true;
    }
    if ours.1 == End::Closed {
        // Both refuse a Close with a bad code and a reason that is not UTF-8: ws (and
        // ws-rs) checks the code first, tungstenite the reason.
        if matches!(theirs.1, End::Violation(None))
            && matches!(ours.0.last(), Some(Ev::BadClose))
            && ours.0.len() == theirs.0.len() + 1
        {
            return true;
        }
        // ws accepts close code 1014 (its isValidStatusCode); tungstenite refuses it.
        if theirs.1 == End::Closed
            && matches!(ours.0.last(), Some(Ev::Close(Some(1014), _)))
            && matches!(theirs.0.last(), Some(Ev::BadClose))
        {
            return true;
        }
    }
    false
}

fuzz_target!(|data: &[u8]| {
    let [a, rest @ ..] = data else {
        return;
    };
    let (role, trole) = if a & 1 == 0 {
        (Role::Server, TRole::Server)
    } else {
        (Role::Client, TRole::Client)
    };
    let step = usize::from(a >> 1).max(1);
    let ours = ours(role, rest, step);
    let theirs = theirs(trole, rest, step);
    let same_end = match (&ours.1, &theirs.1) {
        (End::Violation(_), End::Violation(_)) => true,
        (a, b) => a == b,
    };
    if same_end && ours.0 == theirs.0 {
        return;
    }
    if ws_rule(&ours, &theirs) {
        // Everything before the point where the rule applies must agree.
        let n = ours.0.len().min(theirs.0.len());
        let shared = if matches!(ours.1, End::Closed) {
            n.saturating_sub(1)
        } else {
            n
        };
        assert_eq!(
            ours.0[..shared],
            theirs.0[..shared],
            "events before a ws rule applied"
        );
        return;
    }
    panic!("ws-rs and tungstenite disagree:\n ws-rs: {ours:?}\n tungstenite: {theirs:?}");
});
