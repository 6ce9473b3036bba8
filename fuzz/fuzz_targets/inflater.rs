//! The permessage-deflate inflater on hostile compressed data: every window size and
//! takeover mode, messages split anywhere, a limit drawn from the input. Checks: no
//! panic, no hang, and at most one byte buffered past the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsrs_proto::Inflater;

fuzz_target!(|data: &[u8]| {
    let [a, b, c, rest @ ..] = data else {
        return;
    };
    let window_bits = 8 + a % 8;
    let no_context_takeover = a & 8 != 0;
    let limit = match (a >> 4) & 3 {
        0 => 0,
        1 => u64::from(*b) * 64,
        2 => 1 << 20,
        _ => u64::MAX,
    };
    let mut inflater = Inflater::new(window_bits, no_context_takeover);
    // Messages end at each 0xff byte of the input; pieces are `c` bytes long.
    for message in rest.split(|&byte| byte == 0xff) {
        let mut out = Vec::new();
        let mut result = Ok(());
        for piece in message.chunks(usize::from(*c).max(1)) {
            result = inflater.inflate(piece, &mut out, limit);
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            result = inflater.finish(&mut out, limit);
        }
        assert!(limit == 0 || out.len() as u64 <= limit.saturating_add(1));
        if result.is_err() {
            // A failed stream is not used again (the connection closes).
            return;
        }
        if a & 0x40 != 0 {
            inflater.release_idle();
        }
    }
});
