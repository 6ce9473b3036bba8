//! The sending half of the protocol, the mirror of [`crate::Receiver`]: turns one
//! outgoing frame request into wire bytes, masking (clients) and compressing
//! (permessage-deflate) as asked. Every io path (the JS-loop driver, the io threads,
//! bridged sockets) frames through it.

use crate::deflate::Deflater;
use crate::frame::{encode_frame, encode_header, Opcode};
use crate::mask::MaskGen;

/// How a frame is masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Masking {
    /// Unmasked (servers).
    None,
    /// A key from the sender's own generator (clients).
    Generated,
    /// A key the caller chose (ws's `generateMask` option).
    Key([u8; 4]),
}

/// One frame to send.
#[derive(Debug, Clone, Copy)]
pub struct FrameSpec {
    pub opcode: Opcode,
    /// Last frame of its message.
    pub fin: bool,
    /// Compress the payload (only with a negotiated deflater). On the wire RSV1 is set
    /// on the message's first frame only.
    pub compress: bool,
    pub masking: Masking,
}

/// Frames outgoing data for one connection.
pub struct Sender {
    masks: MaskGen,
    // Boxed: a connection without compression pays one pointer, not a zlib stream.
    deflater: Option<Box<Deflater>>,
    scratch: Vec<u8>,
}

/// A compression buffer larger than this is released after each frame, so idle
/// connections keep no large buffer.
const SCRATCH_KEEP: usize = 16 * 1024;

impl Sender {
    /// A sender; `deflater` when permessage-deflate was negotiated.
    pub fn new(deflater: Option<Deflater>) -> Self {
        Sender {
            masks: MaskGen::new(),
            deflater: deflater.map(Box::new),
            scratch: Vec::new(),
        }
    }

    /// Whether permessage-deflate is in use on this connection.
    pub fn compresses(&self) -> bool {
        self.deflater.is_some()
    }

    /// Appends one frame carrying `payload` to `out`.
    pub fn frame(&mut self, spec: FrameSpec, payload: &[u8], out: &mut Vec<u8>) {
        let mut payload = payload;
        let mut rsv1 = false;
        if let (true, Some(deflater)) = (spec.compress, self.deflater.as_mut()) {
            self.scratch.clear();
            deflater.compress(payload, spec.fin, &mut self.scratch);
            payload = &self.scratch;
            rsv1 = spec.opcode != Opcode::Continuation;
        }
        let mask = match spec.masking {
            Masking::None => None,
            Masking::Generated => Some(self.masks.next_mask()),
            Masking::Key(key) => Some(key),
        };
        encode_frame(out, spec.opcode, spec.fin, rsv1, payload, mask);
        if self.scratch.capacity() > SCRATCH_KEEP {
            self.scratch = Vec::new();
        }
    }

    /// For a frame whose payload goes on the wire as it is (unmasked, uncompressed):
    /// appends only its header to `out` and returns true, so the caller can write the
    /// payload from where it lies. Otherwise appends nothing and returns false.
    pub fn header_for_verbatim(&mut self, spec: FrameSpec, len: usize, out: &mut Vec<u8>) -> bool {
        if spec.masking != Masking::None || (spec.compress && self.deflater.is_some()) {
            return false;
        }
        encode_header(out, spec.opcode, spec.fin, false, len, None);
        true
    }

    /// True while the deflater holds a zlib context.
    pub fn holds_context(&self) -> bool {
        self.deflater
            .as_deref()
            .is_some_and(Deflater::holds_context)
    }

    /// Lets go of the deflate context between messages; see [`Deflater::release_idle`].
    pub fn release_idle_context(&mut self) {
        if let Some(deflater) = self.deflater.as_mut() {
            deflater.release_idle();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Handler, Payload, Receiver, Role};

    #[derive(Default)]
    struct Collect(Vec<(bool, Vec<u8>)>);
    impl Handler for Collect {
        fn message(&mut self, binary: bool, payload: Payload<'_>) {
            self.0.push((binary, payload.as_slice().to_vec()));
        }
        fn ping(&mut self, _: &[u8]) {}
        fn pong(&mut self, _: &[u8]) {}
        fn close(&mut self, _: u16, _: &[u8]) {}
    }

    fn spec(opcode: Opcode, fin: bool, compress: bool, masking: Masking) -> FrameSpec {
        FrameSpec {
            opcode,
            fin,
            compress,
            masking,
        }
    }

    #[test]
    fn verbatim_header_matches_the_whole_frame() {
        let mut s = Sender::new(None);
        for len in [0usize, 125, 126, 65535, 65536] {
            let payload = vec![7u8; len];
            let plain = spec(Opcode::Binary, true, true, Masking::None);
            let (mut whole, mut split) = (Vec::new(), Vec::new());
            s.frame(plain, &payload, &mut whole);
            assert!(s.header_for_verbatim(plain, len, &mut split));
            split.extend_from_slice(&payload);
            assert_eq!(whole, split);
        }
        let masked = spec(Opcode::Binary, true, false, Masking::Generated);
        let mut out = Vec::new();
        assert!(!s.header_for_verbatim(masked, 3, &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn server_frames_are_plain() {
        let mut s = Sender::new(None);
        let mut out = Vec::new();
        s.frame(
            spec(Opcode::Text, true, true, Masking::None),
            b"Hello",
            &mut out,
        );
        assert_eq!(out, [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
    }

    #[test]
    fn caller_key_is_used() {
        let mut s = Sender::new(None);
        let mut out = Vec::new();
        let key = [0x37, 0xfa, 0x21, 0x3d];
        s.frame(
            spec(Opcode::Text, true, false, Masking::Key(key)),
            b"Hello",
            &mut out,
        );
        assert_eq!(
            out,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    /// Client frames, compressed and fragmented, decode to what was sent.
    #[test]
    fn round_trip_through_receiver() {
        let mut s = Sender::new(Some(Deflater::new(15, false, 6)));
        let mut out = Vec::new();
        s.frame(
            spec(Opcode::Text, false, true, Masking::Generated),
            b"Hello, ",
            &mut out,
        );
        s.frame(
            spec(Opcode::Continuation, true, true, Masking::Generated),
            b"world",
            &mut out,
        );
        s.frame(
            spec(Opcode::Binary, true, false, Masking::Generated),
            &[7; 300],
            &mut out,
        );
        let mut cfg = Config::new(Role::Server);
        cfg.inflate = Some(crate::InflateConfig {
            window_bits: 15,
            no_context_takeover: false,
        });
        let mut r = Receiver::new(cfg);
        let mut got = Collect::default();
        r.feed(&mut out, &mut got).expect("valid frames");
        assert_eq!(
            got.0,
            vec![(false, b"Hello, world".to_vec()), (true, vec![7; 300])]
        );
    }
}
