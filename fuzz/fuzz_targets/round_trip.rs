//! Encode, then decode: messages the Sender frames (any opcode sequence the API
//! allows, fragmented or not, masked or not, compressed with any window and takeover
//! mode) come out of the Receiver of the other role exactly as they went in.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsrs_proto::{
    Config, Deflater, FrameSpec, Handler, InflateConfig, Masking, Opcode, Payload, Receiver, Role,
    Sender,
};

#[derive(Default, Debug, PartialEq)]
struct Log(Vec<(u8, Vec<u8>)>);

impl Handler for Log {
    fn message(&mut self, binary: bool, payload: Payload<'_>) {
        self.0
            .push((if binary { 2 } else { 1 }, payload.as_slice().to_vec()));
    }
    fn ping(&mut self, payload: &[u8]) {
        self.0.push((9, payload.to_vec()));
    }
    fn pong(&mut self, payload: &[u8]) {
        self.0.push((10, payload.to_vec()));
    }
    fn close(&mut self, code: u16, reason: &[u8]) {
        let mut bytes = code.to_be_bytes().to_vec();
        bytes.extend_from_slice(reason);
        self.0.push((8, bytes));
    }
}

fuzz_target!(|data: &[u8]| {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let from_client = a & 1 != 0;
    let deflate = a & 2 != 0;
    let window_bits = 8 + (b & 7);
    let no_context_takeover = b & 8 != 0;
    let mut sender = Sender::new(
        deflate.then(|| Deflater::new(window_bits, no_context_takeover, u32::from(b >> 4) % 10)),
    );
    let mut cfg = Config::new(if from_client {
        Role::Server
    } else {
        Role::Client
    });
    cfg.max_payload = 0;
    cfg.max_fragments = 0;
    cfg.inflate = deflate.then_some(InflateConfig {
        window_bits,
        no_context_takeover,
    });
    let mut receiver = Receiver::new(cfg);
    let masking = if from_client {
        Masking::Generated
    } else {
        Masking::None
    };

    // Each record of the input: a kind byte, a length byte, then that many bytes.
    let mut wire = Vec::new();
    let mut expected = Log::default();
    let mut records = rest;
    while let [kind, len, tail @ ..] = records {
        let len = usize::from(*len).min(tail.len());
        let (body, tail) = tail.split_at(len);
        records = tail;
        // Text must be UTF-8 to round-trip: use the lossless part.
        let text = String::from_utf8_lossy(body).into_owned().into_bytes();
        let compress = deflate && kind & 0x80 != 0;
        match kind % 4 {
            0 | 1 => {
                let (opcode, payload, code) = if kind % 4 == 0 {
                    (Opcode::Text, text, 1)
                } else {
                    (Opcode::Binary, body.to_vec(), 2)
                };
                // Fragmented at `kind >> 2 & 3` places.
                let parts = usize::from((kind >> 2) & 3) + 1;
                let size = payload.len().div_ceil(parts).max(1);
                let chunks: Vec<&[u8]> = if payload.is_empty() {
                    vec![&[][..]]
                } else {
                    payload.chunks(size).collect()
                };
                for (i, chunk) in chunks.iter().enumerate() {
                    let spec = FrameSpec {
                        opcode: if i == 0 { opcode } else { Opcode::Continuation },
                        fin: i + 1 == chunks.len(),
                        compress,
                        masking,
                    };
                    sender.frame(spec, chunk, &mut wire);
                }
                expected.0.push((code, payload));
            }
            2 => {
                let payload = &body[..body.len().min(125)];
                let (opcode, code) = if kind & 4 == 0 {
                    (Opcode::Ping, 9)
                } else {
                    (Opcode::Pong, 10)
                };
                let spec = FrameSpec {
                    opcode,
                    fin: true,
                    compress: false,
                    masking,
                };
                sender.frame(spec, payload, &mut wire);
                expected.0.push((code, payload.to_vec()));
            }
            _ => {}
        }
    }
    let mut got = Log::default();
    for piece in wire.chunks_mut(usize::from(*b).max(1)) {
        receiver
            .feed(piece, &mut got)
            .expect("our own frames decode");
    }
    assert_eq!(got, expected);
});
