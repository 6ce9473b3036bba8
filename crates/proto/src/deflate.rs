//! permessage-deflate (RFC 7692) contexts: an [`Inflater`] for the receiver and a
//! [`Deflater`] for the sender, each owned by one side of a connection.
//!
//! Raw deflate with a sync flush per message; the `00 00 ff ff` tail that flush ends
//! with is stripped on send and added back on receive (RFC 7692 7.2.1-7.2.2). Contexts
//! are allocated on first use and dropped again between messages when context
//! takeover is off, so idle connections hold no zlib state.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::error::ProtoError;

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// Inflated bytes produced per step, so `maxPayload` is checked every this many bytes.
const STEP: usize = 32 * 1024;

/// zlib's window bits range is 9-15; like zlib and Node, treat 8 as 9.
fn usable_window_bits(bits: u8) -> u8 {
    bits.clamp(9, 15)
}

/// Messages zlib gives for corrupt input; ws passes them on as the error message.
const INFLATE_MESSAGES: &[&str] = &[
    "invalid compressed data",
    "invalid block type",
    "invalid stored block lengths",
    "too many length or distance symbols",
    "invalid code lengths set",
    "invalid bit length repeat",
    "invalid code -- missing end-of-block",
    "invalid literal/lengths set",
    "invalid distances set",
    "invalid literal/length code",
    "invalid distance code",
    "invalid distance too far back",
];

/// The message of an [`ProtoError::Inflate`] index.
pub fn inflate_message(index: u8) -> &'static str {
    INFLATE_MESSAGES
        .get(index as usize)
        .copied()
        .unwrap_or(INFLATE_MESSAGES[0])
}

fn inflate_error(err: &flate2::DecompressError) -> ProtoError {
    let index = err
        .message()
        .and_then(|m| INFLATE_MESSAGES.iter().position(|known| *known == m))
        .unwrap_or(0);
    ProtoError::Inflate(index as u8)
}

/// What the receiver needs of a permessage-deflate agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InflateConfig {
    /// The peer's maximum window bits.
    pub window_bits: u8,
    /// Whether the peer resets its context after each message.
    pub no_context_takeover: bool,
}

/// Decompresses incoming messages.
pub struct Inflater {
    ctx: Option<Decompress>,
    window_bits: u8,
    no_context_takeover: bool,
}

impl Inflater {
    /// `window_bits`: the peer's negotiated maximum; `no_context_takeover`: the peer
    /// resets its context after each message.
    pub fn new(window_bits: u8, no_context_takeover: bool) -> Self {
        Inflater {
            ctx: None,
            window_bits: usable_window_bits(window_bits),
            no_context_takeover,
        }
    }

    /// Inflates one piece of a message, appending to `out` (which holds the message so
    /// far). Fails with [`ProtoError::MaxPayload`] as soon as `out` exceeds `limit`
    /// (0: no limit), having inflated at most one byte past it.
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: u64,
    ) -> Result<(), ProtoError> {
        let bits = self.window_bits;
        let ctx = self
            .ctx
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        let mut input = input;
        loop {
            if out.capacity() - out.len() < STEP {
                out.reserve(STEP.max(out.len() / 2));
            }
            // At most STEP bytes per step, and never more than one byte past the
            // limit: a bomb is stopped having buffered at most `limit + 1` bytes.
            let room = match limit {
                0 => STEP,
                _ => (limit + 1)
                    .saturating_sub(out.len() as u64)
                    .min(STEP as u64) as usize,
            };
            let window = &mut out.spare_capacity_mut()[..room];
            let (in_before, out_before) = (ctx.total_in(), ctx.total_out());
            let status = ctx
                .decompress_uninit(input, window, FlushDecompress::Sync)
                .map_err(|e| inflate_error(&e))?;
            let consumed = (ctx.total_in() - in_before) as usize;
            let produced = (ctx.total_out() - out_before) as usize;
            // SAFETY: the inflater initialized the first `produced` bytes of the spare
            // capacity it was given (`produced <= room <= STEP <= spare capacity`).
            unsafe { out.set_len(out.len() + produced) };
            input = &input[consumed..];
            if limit > 0 && out.len() as u64 > limit {
                return Err(ProtoError::MaxPayload);
            }
            if status == Status::StreamEnd {
                // A final block ends the stream: the next message starts a new one.
                ctx.reset(false);
                return Ok(());
            }
            if produced < room && (input.is_empty() || consumed == 0) {
                return Ok(());
            }
        }
    }

    /// Ends a message: feeds the stripped tail and, without context takeover, drops
    /// the context.
    pub fn finish(&mut self, out: &mut Vec<u8>, limit: u64) -> Result<(), ProtoError> {
        self.inflate(&TAIL, out, limit)?;
        if self.no_context_takeover {
            self.ctx = None;
        }
        Ok(())
    }
}

/// Compresses outgoing messages.
pub struct Deflater {
    ctx: Option<Compress>,
    level: Compression,
    window_bits: u8,
    no_context_takeover: bool,
}

impl Deflater {
    /// `window_bits`: our negotiated maximum; `no_context_takeover`: reset after each
    /// message; `level`: zlib level 0-9.
    pub fn new(window_bits: u8, no_context_takeover: bool, level: u32) -> Self {
        Deflater {
            ctx: None,
            level: Compression::new(level.min(9)),
            window_bits: usable_window_bits(window_bits),
            no_context_takeover,
        }
    }

    /// Compresses one frame's payload, appending to `out`. With `fin` (the last frame
    /// of the message) the sync-flush tail is stripped and, without context takeover,
    /// the context dropped.
    pub fn compress(&mut self, payload: &[u8], fin: bool, out: &mut Vec<u8>) {
        let (level, bits) = (self.level, self.window_bits);
        let ctx = self
            .ctx
            .get_or_insert_with(|| Compress::new_with_window_bits(level, false, bits));
        let start = out.len();
        let mut input = payload;
        loop {
            out.reserve(input.len() / 2 + 64);
            let before = ctx.total_in();
            // Compressing into a Vec only fails on a misused stream, which this is not.
            let _ = ctx.compress_vec(input, out, FlushCompress::Sync);
            input = &input[(ctx.total_in() - before) as usize..];
            if input.is_empty() && out.capacity() > out.len() {
                break;
            }
        }
        if fin {
            if out.len() >= start + 4 && out[out.len() - 4..] == TAIL {
                out.truncate(out.len() - 4);
            }
            if out.len() == start {
                // An empty message is one empty stored block (RFC 7692 7.2.3.6).
                out.push(0x00);
            }
            if self.no_context_takeover {
                self.ctx = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7692_examples() {
        // 7.2.3.2: "Hello" twice with context takeover.
        let mut d = Deflater::new(15, false, 6);
        let mut out = Vec::new();
        d.compress(b"Hello", true, &mut out);
        assert_eq!(out, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        out.clear();
        d.compress(b"Hello", true, &mut out);
        assert_eq!(out, [0xf2, 0x00, 0x11, 0x00, 0x00]);
        // 7.2.3.1 decoded, and 7.2.3.3 (a BFINAL stored block).
        let mut i = Inflater::new(15, false);
        let mut msg = Vec::new();
        i.inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut msg, 0)
            .unwrap();
        i.finish(&mut msg, 0).unwrap();
        assert_eq!(msg, b"Hello");
        let mut msg = Vec::new();
        let mut i = Inflater::new(15, false);
        i.inflate(
            &[
                0x01, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
            ],
            &mut msg,
            0,
        )
        .unwrap();
        i.finish(&mut msg, 0).unwrap();
        assert_eq!(msg, b"Hello");
    }

    #[test]
    fn round_trips_for_every_window_and_takeover_setting() {
        let text: Vec<u8> = (0..5_000u32)
            .flat_map(|i| format!("{{\"n\":{i},\"k\":\"v{}\"}}", i % 7).into_bytes())
            .collect();
        for bits in 8..=15u8 {
            for no_takeover in [false, true] {
                let mut d = Deflater::new(bits, no_takeover, 6);
                let mut i = Inflater::new(bits, no_takeover);
                for part in [&text[..10], &text[..], b"", &text[..3000]] {
                    let mut wire = Vec::new();
                    d.compress(part, true, &mut wire);
                    let mut msg = Vec::new();
                    i.inflate(&wire, &mut msg, 0).unwrap();
                    i.finish(&mut msg, 0).unwrap();
                    assert_eq!(msg, part, "bits {bits} no_takeover {no_takeover}");
                }
            }
        }
    }

    #[test]
    fn fragments_of_one_message() {
        let mut d = Deflater::new(15, false, 6);
        let mut wire = Vec::new();
        d.compress(b"first half, ", false, &mut wire);
        let split = wire.len();
        d.compress(b"second half", true, &mut wire);
        let mut i = Inflater::new(15, false);
        let mut msg = Vec::new();
        i.inflate(&wire[..split], &mut msg, 0).unwrap();
        i.inflate(&wire[split..], &mut msg, 0).unwrap();
        i.finish(&mut msg, 0).unwrap();
        assert_eq!(msg, b"first half, second half");
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 16 * 1024 * 1024];
        let mut d = Deflater::new(15, false, 9);
        let mut wire = Vec::new();
        d.compress(&zeros, true, &mut wire);
        assert!(
            wire.len() < 128 * 1024,
            "16 MiB of zeros deflate to {} bytes",
            wire.len()
        );
        let mut i = Inflater::new(15, false);
        let mut msg = Vec::new();
        assert_eq!(
            i.inflate(&wire, &mut msg, 1024 * 1024),
            Err(ProtoError::MaxPayload)
        );
        assert!(msg.len() <= 1024 * 1024 + 1, "buffered {} bytes", msg.len());
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        let mut i = Inflater::new(15, false);
        let mut msg = Vec::new();
        let err = i
            .inflate(&[0xff, 0xff, 0xff, 0xff], &mut msg, 0)
            .unwrap_err();
        assert!(matches!(err, ProtoError::Inflate(_)));
        assert_eq!(err.close_code(), 1007);
    }
}
