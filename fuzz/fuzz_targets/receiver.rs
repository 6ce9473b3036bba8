//! The frame reader on hostile input, in both roles, with limits drawn from the input
//! (`maxPayload` 0, tiny, large or `u64::MAX`; `maxFragments`; `skipUTF8Validation`;
//! permessage-deflate with any window and takeover mode), fed in random splits.
//! Checks: no panic, no message over `maxPayload`, nothing reported after a Close or
//! a violation, and text messages are valid UTF-8 unless validation was skipped.
//! With the top bit of the first byte set, payload bytes go through the in-place path
//! (`direct_room` / `commit_direct`) whenever the receiver offers it, as the JS-loop
//! driver reads large frames.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsrs_proto::{Config, Handler, InflateConfig, Payload, Receiver, Role};

#[derive(Default)]
struct Seen {
    done: bool,
    after_done: bool,
    largest: u64,
    bad_text: bool,
}

impl Handler for Seen {
    fn message(&mut self, binary: bool, payload: Payload<'_>) {
        self.after_done |= self.done;
        let data = payload.as_slice();
        self.largest = self.largest.max(data.len() as u64);
        self.bad_text |= !binary && std::str::from_utf8(data).is_err();
    }
    fn ping(&mut self, payload: &[u8]) {
        self.after_done |= self.done || payload.len() > 125;
    }
    fn pong(&mut self, payload: &[u8]) {
        self.after_done |= self.done || payload.len() > 125;
    }
    fn close(&mut self, _code: u16, _reason: &[u8]) {
        self.after_done |= self.done;
        self.done = true;
    }
}

fuzz_target!(|data: &[u8]| {
    let [a, b, c, d, rest @ ..] = data else {
        return;
    };
    let role = if a & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    let mut cfg = Config::new(role);
    cfg.max_payload = match (a >> 1) & 3 {
        0 => 0,
        1 => u64::from(*b),
        2 => 1 << 20,
        _ => u64::MAX,
    };
    cfg.max_fragments = match (a >> 3) & 3 {
        0 => 0,
        1 => u32::from(*c & 7),
        _ => 16 * 1024,
    };
    cfg.skip_utf8_validation = a & 0x20 != 0;
    // Small bounds on reads per frame, from the split byte's high bits.
    cfg.max_buffered_chunks = u32::from(*d >> 5);
    if a & 0x40 != 0 {
        cfg.inflate = Some(InflateConfig {
            window_bits: 8 + (c >> 4) % 8,
            no_context_takeover: c & 8 != 0,
        });
    }
    let skip_utf8 = cfg.skip_utf8_validation;
    let limit = cfg.max_payload;

    let mut receiver = Receiver::new(cfg);
    let mut seen = Seen::default();
    let mut input = rest.to_vec();
    // Split points from the input itself: every `d`-th byte ends a read.
    let step = usize::from(*d).max(1);
    let mut failed = false;
    let direct = a & 0x80 != 0;
    for piece in input.chunks_mut(step) {
        receiver.note_read();
        let mut at = 0;
        while at < piece.len() {
            let result = match receiver.direct_room(1, piece.len() - at).filter(|_| direct) {
                Some(room) => {
                    let n = room.len().min(piece.len() - at);
                    for (slot, &byte) in room.iter_mut().zip(&piece[at..at + n]) {
                        slot.write(byte);
                    }
                    at += n;
                    // Safe: `n` bytes of the room were written just above.
                    unsafe { receiver.commit_direct(n, &mut seen) }
                }
                None => {
                    let from = at;
                    at = piece.len();
                    receiver.feed(&mut piece[from..], &mut seen)
                }
            };
            if result.is_err() {
                failed = true;
                seen.done = true;
                break;
            }
        }
        if failed && !receiver.is_done() {
            panic!("a violation must end the receiver");
        }
    }
    assert!(!seen.after_done, "events after a Close or a violation");
    assert!(
        limit == 0 || seen.largest <= limit,
        "a message over maxPayload"
    );
    assert!(
        skip_utf8 || !seen.bad_text,
        "invalid UTF-8 reported as text"
    );
});
