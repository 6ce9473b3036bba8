//! Every receiver rule, fed in one piece, byte by byte, and split at every offset.

use wsrs_proto::*;

#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Msg(bool, Vec<u8>),
    FrameEnd(u64),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(u16, Vec<u8>),
    Err(ProtoError),
}

#[derive(Default)]
struct Rec(Vec<Ev>);

impl Handler for Rec {
    fn message(&mut self, binary: bool, payload: Payload<'_>) {
        self.0.push(Ev::Msg(binary, payload.as_slice().to_vec()));
    }
    fn frame_end(&mut self, len: u64) {
        self.0.push(Ev::FrameEnd(len));
    }
    fn ping(&mut self, p: &[u8]) {
        self.0.push(Ev::Ping(p.to_vec()));
    }
    fn pong(&mut self, p: &[u8]) {
        self.0.push(Ev::Pong(p.to_vec()));
    }
    fn close(&mut self, code: u16, reason: &[u8]) {
        self.0.push(Ev::Close(code, reason.to_vec()));
    }
}

fn run(cfg: &Config, pieces: &[&[u8]]) -> Vec<Ev> {
    let mut r = Receiver::new(cfg.clone());
    let mut rec = Rec::default();
    for p in pieces {
        let mut buf = p.to_vec();
        if let Err(e) = r.feed(&mut buf, &mut rec) {
            rec.0.push(Ev::Err(e));
            break;
        }
    }
    rec.0
}

/// Feeds `input` whole, byte by byte, and split at each offset; all must agree.
fn feed_all_ways(cfg: &Config, input: &[u8]) -> Vec<Ev> {
    let whole = run(cfg, &[input]);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run(cfg, &bytes), whole, "byte by byte");
    if input.len() < 2048 {
        for cut in 0..=input.len() {
            assert_eq!(
                run(cfg, &[&input[..cut], &input[cut..]]),
                whole,
                "split at {cut}"
            );
        }
    }
    whole
}

fn server() -> Config {
    Config::new(Role::Server)
}
fn client() -> Config {
    Config::new(Role::Client)
}

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn frame(op: Opcode, fin: bool, payload: &[u8], mask: bool) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, op, fin, false, payload, mask.then_some(KEY));
    out
}

fn raw(b0: u8, b1: u8, rest: &[u8]) -> Vec<u8> {
    let mut v = vec![b0, b1];
    v.extend_from_slice(rest);
    v
}

#[test]
fn rfc_single_frames() {
    assert_eq!(
        feed_all_ways(&client(), &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]),
        vec![Ev::Msg(false, b"Hello".to_vec())]
    );
    assert_eq!(
        feed_all_ways(
            &server(),
            &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        ),
        vec![Ev::Msg(false, b"Hello".to_vec())]
    );
}

#[test]
fn lengths_7_16_64_bit_both_roles() {
    for len in [0usize, 1, 125, 126, 127, 65535, 65536, 3 * 1024 * 1024 + 7] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
        for (cfg, mask) in [(server(), true), (client(), false)] {
            let input = frame(Opcode::Binary, true, &payload, mask);
            let got = if len <= 65536 {
                feed_all_ways(&cfg, &input)
            } else {
                run(&cfg, &input.chunks(1000).collect::<Vec<_>>())
            };
            assert_eq!(got, vec![Ev::Msg(true, payload.clone())], "len {len}");
        }
    }
}

#[test]
fn fragments_with_interleaved_control_frames() {
    let mut input = frame(Opcode::Text, false, "Hel".as_bytes(), true);
    input.extend(frame(Opcode::Ping, true, b"p", true));
    input.extend(frame(Opcode::Continuation, false, "lo wö".as_bytes(), true));
    input.extend(frame(Opcode::Pong, true, b"", true));
    input.extend(frame(Opcode::Continuation, true, "rld".as_bytes(), true));
    input.extend(frame(Opcode::Binary, true, &[1, 2, 3], true));
    assert_eq!(
        feed_all_ways(&server(), &input),
        vec![
            Ev::Ping(b"p".to_vec()),
            Ev::Pong(vec![]),
            Ev::Msg(false, "Hello wörld".as_bytes().to_vec()),
            Ev::Msg(true, vec![1, 2, 3])
        ]
    );
}

#[test]
fn frame_ends_of_fragmented_binary_messages_only() {
    let mut input = frame(Opcode::Binary, false, &[1, 2], true);
    input.extend(frame(Opcode::Ping, true, b"p", true));
    input.extend(frame(Opcode::Continuation, false, b"", true));
    input.extend(frame(Opcode::Continuation, false, &[3, 4, 5], true));
    input.extend(frame(Opcode::Continuation, true, &[6], true));
    input.extend(frame(Opcode::Text, false, b"a", true));
    input.extend(frame(Opcode::Continuation, true, b"b", true));
    input.extend(frame(Opcode::Binary, true, &[7], true));
    assert_eq!(
        feed_all_ways(&server(), &input),
        vec![
            Ev::FrameEnd(2),
            Ev::Ping(b"p".to_vec()),
            Ev::FrameEnd(2),
            Ev::FrameEnd(5),
            Ev::Msg(true, vec![1, 2, 3, 4, 5, 6]),
            Ev::Msg(false, b"ab".to_vec()),
            Ev::Msg(true, vec![7])
        ]
    );
}

#[test]
fn message_length_counts_the_data_frames_of_the_message_in_progress() {
    let mut r = Receiver::new(server());
    let mut rec = Rec::default();
    let mut first = frame(Opcode::Binary, false, &[1, 2], true);
    first.extend(frame(Opcode::Ping, true, b"ping", true));
    r.feed(&mut first, &mut rec).unwrap();
    assert_eq!(r.message_length(), 2);
    let mut last = frame(Opcode::Continuation, true, &[3, 4, 5], true);
    r.feed(&mut last, &mut rec).unwrap();
    assert_eq!(r.message_length(), 0);
}

#[test]
fn empty_fragments_and_messages() {
    let mut input = frame(Opcode::Text, false, b"", false);
    input.extend(frame(Opcode::Continuation, false, b"", false));
    input.extend(frame(Opcode::Continuation, true, b"", false));
    input.extend(frame(Opcode::Binary, true, b"", false));
    assert_eq!(
        feed_all_ways(&client(), &input),
        vec![Ev::Msg(false, vec![]), Ev::Msg(true, vec![])]
    );
}

#[test]
fn masking_rules_per_role() {
    assert_eq!(
        feed_all_ways(&server(), &frame(Opcode::Text, true, b"x", false)),
        vec![Ev::Err(ProtoError::ExpectedMask)]
    );
    assert_eq!(
        feed_all_ways(&client(), &frame(Opcode::Text, true, b"x", true)),
        vec![Ev::Err(ProtoError::UnexpectedMask)]
    );
}

#[test]
fn reserved_bits_and_opcodes() {
    let c = client();
    assert_eq!(
        feed_all_ways(&c, &raw(0xa1, 0x00, &[])),
        vec![Ev::Err(ProtoError::Rsv23)]
    );
    assert_eq!(
        feed_all_ways(&c, &raw(0x91, 0x00, &[])),
        vec![Ev::Err(ProtoError::Rsv23)]
    );
    assert_eq!(
        feed_all_ways(&c, &raw(0xc1, 0x00, &[])),
        vec![Ev::Err(ProtoError::Rsv1)]
    );
    for op in [3u8, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
        assert_eq!(
            feed_all_ways(&c, &raw(0x80 | op, 0x00, &[])),
            vec![Ev::Err(ProtoError::InvalidOpcode(op))]
        );
    }
    // A continuation with nothing to continue.
    assert_eq!(
        feed_all_ways(&c, &raw(0x80, 0x00, &[])),
        vec![Ev::Err(ProtoError::InvalidOpcode(0))]
    );
    // A new data frame inside a fragmented message.
    let mut input = frame(Opcode::Text, false, b"a", false);
    input.extend(frame(Opcode::Binary, true, b"b", false));
    assert_eq!(
        feed_all_ways(&c, &input),
        vec![Ev::Err(ProtoError::InvalidOpcode(2))]
    );
    // RSV1 with deflate negotiated but on a control frame or continuation.
    let mut d = client();
    d.inflate = Some(InflateConfig {
        window_bits: 15,
        no_context_takeover: false,
    });
    assert_eq!(
        feed_all_ways(&d, &raw(0xc9, 0x00, &[])),
        vec![Ev::Err(ProtoError::Rsv1)]
    );
    let mut input = frame(Opcode::Binary, false, b"a", false);
    input.extend(raw(0xc0, 0x00, &[]));
    assert_eq!(
        feed_all_ways(&d, &input),
        vec![Ev::FrameEnd(1), Ev::Err(ProtoError::Rsv1)]
    );
}

#[test]
fn control_frame_rules() {
    let c = client();
    assert_eq!(
        feed_all_ways(&c, &raw(0x09, 0x00, &[])),
        vec![Ev::Err(ProtoError::ExpectedFin)]
    );
    assert_eq!(
        feed_all_ways(&c, &raw(0x89, 0x7e, &[0, 126])),
        vec![Ev::Err(ProtoError::InvalidControlLength(126))]
    );
    assert_eq!(
        feed_all_ways(&c, &raw(0x88, 0x01, &[3])),
        vec![Ev::Err(ProtoError::InvalidControlLength(1))]
    );
    let ping = vec![7u8; 125];
    assert_eq!(
        feed_all_ways(&c, &frame(Opcode::Ping, true, &ping, false)),
        vec![Ev::Ping(ping)]
    );
}

#[test]
fn close_frames() {
    let c = client();
    assert_eq!(
        feed_all_ways(&c, &frame(Opcode::Close, true, b"", false)),
        vec![Ev::Close(1005, vec![])]
    );
    let mut p = Vec::new();
    encode_close_payload(&mut p, 4000, "bye ü".as_bytes());
    assert_eq!(
        feed_all_ways(&c, &frame(Opcode::Close, true, &p, false)),
        vec![Ev::Close(4000, "bye ü".as_bytes().to_vec())]
    );
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        let mut p = Vec::new();
        encode_close_payload(&mut p, code, b"");
        assert_eq!(
            feed_all_ways(&c, &frame(Opcode::Close, true, &p, false)),
            vec![Ev::Err(ProtoError::InvalidCloseCode(code))]
        );
    }
    let mut p = Vec::new();
    encode_close_payload(&mut p, 1000, &[0xff, 0xfe]);
    assert_eq!(
        feed_all_ways(&c, &frame(Opcode::Close, true, &p, false)),
        vec![Ev::Err(ProtoError::InvalidUtf8)]
    );
    let mut skip = client();
    skip.skip_utf8_validation = true;
    assert_eq!(
        feed_all_ways(&skip, &frame(Opcode::Close, true, &p, false)),
        vec![Ev::Close(1000, vec![0xff, 0xfe])]
    );
}

#[test]
fn input_after_close_is_ignored() {
    let mut input = frame(Opcode::Close, true, &[0x03, 0xe8], false);
    input.extend(frame(Opcode::Text, true, b"late", false));
    input.extend([0xff, 0xff, 0xff]);
    assert_eq!(
        feed_all_ways(&client(), &input),
        vec![Ev::Close(1000, vec![])]
    );
}

#[test]
fn input_after_error_is_ignored() {
    let mut r = Receiver::new(client());
    let mut rec = Rec::default();
    assert_eq!(
        r.feed(&mut raw(0x83, 0, &[]), &mut rec),
        Err(ProtoError::InvalidOpcode(3))
    );
    assert!(r.is_done());
    assert_eq!(
        r.feed(&mut frame(Opcode::Text, true, b"x", false), &mut rec),
        Ok(())
    );
    assert!(rec.0.is_empty());
}

#[test]
fn utf8_checked_and_fails_fast() {
    let c = client();
    assert_eq!(
        feed_all_ways(&c, &frame(Opcode::Text, true, &[0xce, 0xba, 0xff], false)),
        vec![Ev::Err(ProtoError::InvalidUtf8)]
    );
    // Invalid in the first fragment: refused before the message completes.
    let input = frame(Opcode::Text, false, &[0x61, 0xff], false);
    assert_eq!(run(&c, &[&input]), vec![Ev::Err(ProtoError::InvalidUtf8)]);
    // A code point split across fragments is fine.
    let mut input = frame(Opcode::Text, false, &[0xe2, 0x82], false);
    input.extend(frame(Opcode::Continuation, true, &[0xac], false));
    assert_eq!(
        feed_all_ways(&c, &input),
        vec![Ev::Msg(false, "€".as_bytes().to_vec())]
    );
    // A message that ends inside a sequence.
    let mut input = frame(Opcode::Text, false, b"a", false);
    input.extend(frame(Opcode::Continuation, true, &[0xe2, 0x82], false));
    assert_eq!(
        feed_all_ways(&c, &input),
        vec![Ev::Err(ProtoError::InvalidUtf8)]
    );
    // Binary is never checked; skipUTF8Validation turns text checks off.
    assert_eq!(
        feed_all_ways(&c, &frame(Opcode::Binary, true, &[0xff], false)),
        vec![Ev::Msg(true, vec![0xff])]
    );
    let mut skip = client();
    skip.skip_utf8_validation = true;
    assert_eq!(
        feed_all_ways(&skip, &frame(Opcode::Text, true, &[0xff], false)),
        vec![Ev::Msg(false, vec![0xff])]
    );
}

#[test]
fn max_payload_enforced_before_buffering() {
    let mut c = client();
    c.max_payload = 10;
    assert_eq!(
        feed_all_ways(&c, &frame(Opcode::Binary, true, &[0; 10], false)),
        vec![Ev::Msg(true, vec![0; 10])]
    );
    // Only the header of an 11-byte frame is needed to refuse it.
    assert_eq!(
        feed_all_ways(&c, &[0x82, 11]),
        vec![Ev::Err(ProtoError::MaxPayload)]
    );
    // Across fragments.
    let mut input = frame(Opcode::Binary, false, &[0; 6], false);
    input.extend(frame(Opcode::Continuation, true, &[0; 5], false));
    assert_eq!(
        feed_all_ways(&c, &input),
        vec![Ev::FrameEnd(6), Ev::Err(ProtoError::MaxPayload)]
    );
    // Control frames do not count; 0 means no limit.
    c.max_payload = 0;
    assert_eq!(
        run(
            &c,
            &[&frame(Opcode::Binary, true, &vec![1; 200_000], false)]
        )
        .len(),
        1
    );
}

#[test]
fn lengths_beyond_2_pow_53_refused() {
    let input = raw(0x82, 0x7f, &[0x00, 0x20, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        feed_all_ways(&client(), &input),
        vec![Ev::Err(ProtoError::UnsupportedLength)]
    );
    assert_eq!(ProtoError::UnsupportedLength.close_code(), 1009);
}

#[test]
fn max_fragments() {
    let mut c = client();
    c.max_fragments = 3;
    let mut ok = frame(Opcode::Text, false, b"a", false);
    ok.extend(frame(Opcode::Continuation, false, b"b", false));
    ok.extend(frame(Opcode::Continuation, true, b"c", false));
    assert_eq!(
        feed_all_ways(&c, &ok),
        vec![Ev::Msg(false, b"abc".to_vec())]
    );
    let mut bad = frame(Opcode::Text, false, b"a", false);
    for _ in 0..2 {
        bad.extend(frame(Opcode::Continuation, false, b"", false));
    }
    bad.extend(frame(Opcode::Continuation, true, b"", false));
    assert_eq!(
        feed_all_ways(&c, &bad),
        vec![Ev::Err(ProtoError::TooManyFragments)]
    );
    assert_eq!(ProtoError::TooManyFragments.close_code(), 1008);
    // The count restarts with each message.
    let mut two = ok.clone();
    two.extend(ok);
    assert_eq!(feed_all_ways(&c, &two).len(), 2);
}

/// Feeds each piece as one read (`note_read` first), as the drivers do.
fn run_reads(cfg: &Config, pieces: &[&[u8]]) -> Vec<Ev> {
    let mut r = Receiver::new(cfg.clone());
    let mut rec = Rec::default();
    for p in pieces {
        let mut buf = p.to_vec();
        r.note_read();
        if let Err(e) = r.feed(&mut buf, &mut rec) {
            rec.0.push(Ev::Err(e));
            break;
        }
    }
    rec.0
}

#[test]
fn max_buffered_chunks() {
    // As ws: a read that finds `max` reads of an unfinished frame held fails the
    // connection with 1008; a frame may span exactly `max` reads.
    let mut c = client();
    c.max_buffered_chunks = 4;
    let msg = frame(Opcode::Binary, true, b"abcdefgh", false);
    let four: Vec<&[u8]> = vec![&msg[..2], &msg[2..4], &msg[4..6], &msg[6..]];
    assert_eq!(
        run_reads(&c, &four),
        vec![Ev::Msg(true, b"abcdefgh".to_vec())]
    );
    let five: Vec<&[u8]> = vec![&msg[..1], &msg[1..3], &msg[3..5], &msg[5..7], &msg[7..]];
    assert_eq!(
        run_reads(&c, &five),
        vec![Ev::Err(ProtoError::TooManyBufferedChunks)]
    );
    assert_eq!(ProtoError::TooManyBufferedChunks.close_code(), 1008);
    // The count restarts with each frame, including one that starts mid-read, and
    // reads between frames hold nothing.
    let mut two = msg.clone();
    two.extend(&msg);
    let pieces: Vec<&[u8]> = vec![
        &two[..3],
        &two[3..6],
        &two[6..9],
        &two[9..12],
        &two[12..15],
        &two[15..],
    ];
    assert_eq!(run_reads(&c, &pieces).len(), 2);
    let mut many = Vec::new();
    for _ in 0..10 {
        many.extend(&msg);
    }
    let whole: Vec<&[u8]> = many.chunks(msg.len()).collect();
    assert_eq!(run_reads(&c, &whole).len(), 10);
    // 0: no limit.
    c.max_buffered_chunks = 0;
    let bytes: Vec<&[u8]> = msg.chunks(1).collect();
    assert_eq!(run_reads(&c, &bytes).len(), 1);
}

#[test]
fn close_codes_per_error() {
    assert_eq!(ProtoError::InvalidUtf8.close_code(), 1007);
    assert_eq!(ProtoError::MaxPayload.close_code(), 1009);
    assert_eq!(ProtoError::Rsv1.close_code(), 1002);
    assert_eq!(ProtoError::InvalidCloseCode(5).close_code(), 1002);
}

#[test]
fn many_pipelined_messages_in_order() {
    let mut input = Vec::new();
    for i in 0..10_000u32 {
        input.extend(frame(Opcode::Binary, true, &i.to_be_bytes(), true));
    }
    let got = run(&server(), &input.chunks(4093).collect::<Vec<_>>());
    assert_eq!(got.len(), 10_000);
    for (i, ev) in got.iter().enumerate() {
        assert_eq!(ev, &Ev::Msg(true, (i as u32).to_be_bytes().to_vec()));
    }
}

fn deflating(role: Role) -> Config {
    let mut c = Config::new(role);
    c.inflate = Some(InflateConfig {
        window_bits: 15,
        no_context_takeover: false,
    });
    c
}

fn compressed_frame(op: Opcode, fin: bool, rsv1: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, op, fin, rsv1, payload, None);
    out
}

#[test]
fn compressed_messages() {
    let c = deflating(Role::Client);
    // RFC 7692 7.2.3.1: "Hello" in one compressed frame.
    let hello = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    assert_eq!(
        feed_all_ways(&c, &hello),
        vec![Ev::Msg(false, b"Hello".to_vec())]
    );
    // Two messages sharing the context, then a fragmented one (RSV1 on the first
    // frame only) with a ping in between.
    let mut d = Deflater::new(15, false, 6);
    let mut input = Vec::new();
    for text in ["one", "one two"] {
        let mut wire = Vec::new();
        d.compress(text.as_bytes(), true, &mut wire);
        input.extend(compressed_frame(Opcode::Text, true, true, &wire));
    }
    let mut first = Vec::new();
    d.compress(b"frag-", false, &mut first);
    let mut second = Vec::new();
    d.compress(b"mented", true, &mut second);
    input.extend(compressed_frame(Opcode::Binary, false, true, &first));
    input.extend(compressed_frame(Opcode::Ping, true, false, b"p"));
    input.extend(compressed_frame(Opcode::Continuation, true, false, &second));
    // An uncompressed message in between is fine too.
    input.extend(compressed_frame(Opcode::Text, true, false, b"plain"));
    assert_eq!(
        feed_all_ways(&c, &input),
        vec![
            Ev::Msg(false, b"one".to_vec()),
            Ev::Msg(false, b"one two".to_vec()),
            // Inflated, the first frame was "frag-".
            Ev::FrameEnd(5),
            Ev::Ping(b"p".to_vec()),
            Ev::Msg(true, b"frag-mented".to_vec()),
            Ev::Msg(false, b"plain".to_vec()),
        ]
    );
}

#[test]
fn compressed_errors() {
    let c = deflating(Role::Client);
    // Text that is not UTF-8 once inflated.
    let mut d = Deflater::new(15, false, 6);
    let mut wire = Vec::new();
    d.compress(&[0x61, 0xff, 0x62], true, &mut wire);
    assert_eq!(
        feed_all_ways(&c, &compressed_frame(Opcode::Text, true, true, &wire)),
        vec![Ev::Err(ProtoError::InvalidUtf8)]
    );
    // Corrupt data.
    let got = feed_all_ways(
        &c,
        &compressed_frame(Opcode::Binary, true, true, &[0xff, 0xff, 0xff]),
    );
    assert!(
        matches!(got[..], [Ev::Err(ProtoError::Inflate(_))]),
        "{got:?}"
    );
    // A small frame that inflates past maxPayload.
    let mut small = deflating(Role::Client);
    small.max_payload = 100_000;
    let mut d = Deflater::new(15, false, 9);
    let mut wire = Vec::new();
    d.compress(&vec![b'a'; 1_000_000], true, &mut wire);
    assert!(wire.len() < 2_000);
    assert_eq!(
        run(
            &small,
            &[&compressed_frame(Opcode::Binary, true, true, &wire)]
        ),
        vec![Ev::Err(ProtoError::MaxPayload)]
    );
}

/// A tiny deterministic generator for the robustness test (no extra dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

#[test]
fn hostile_input_never_panics() {
    // Random bytes, and random mutations of valid (sometimes compressed) frames, fed
    // in random pieces to every kind of receiver: the result may be any error, but
    // never a panic, and never more buffered than maxPayload allows.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut d = Deflater::new(15, false, 6);
    for round in 0..20_000 {
        let mut input = Vec::new();
        for _ in 0..rng.below(6) {
            let len = rng.below(300);
            let payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let op = [
                Opcode::Text,
                Opcode::Binary,
                Opcode::Continuation,
                Opcode::Ping,
                Opcode::Close,
            ][rng.below(5)];
            let mut body = payload.clone();
            let rsv1 = rng.below(3) == 0;
            if rsv1 {
                body.clear();
                d.compress(&payload, true, &mut body);
            }
            let mut f = Vec::new();
            encode_frame(
                &mut f,
                op,
                rng.below(4) != 0,
                rsv1,
                &body,
                (rng.below(2) == 0).then_some(KEY),
            );
            input.extend(f);
        }
        for _ in 0..rng.below(8) {
            if !input.is_empty() {
                let at = rng.below(input.len() as u64);
                input[at] = rng.next() as u8;
            }
        }
        if round % 3 == 0 {
            input = (0..rng.below(600)).map(|_| rng.next() as u8).collect();
        }
        for role in [Role::Server, Role::Client] {
            let mut cfg = if rng.below(2) == 0 {
                Config::new(role)
            } else {
                deflating(role)
            };
            cfg.max_payload = 1000;
            let mut r = Receiver::new(cfg);
            let mut rec = Rec::default();
            let mut rest = input.clone();
            while !rest.is_empty() {
                let n = 1 + rng.below(rest.len() as u64);
                let mut piece: Vec<u8> = rest.drain(..n).collect();
                if r.feed(&mut piece, &mut rec).is_err() {
                    break;
                }
            }
            for ev in &rec.0 {
                if let Ev::Msg(_, m) = ev {
                    assert!(m.len() <= 1000);
                }
            }
        }
    }
}

/// Feeds `input` as a socket driver reading large payloads in place would: whenever
/// the receiver offers a direct room, up to `step` bytes go there; otherwise up to
/// `step` bytes go through `feed`.
fn run_direct(cfg: &Config, input: &[u8], step: usize) -> Vec<Ev> {
    let mut r = Receiver::new(cfg.clone());
    let mut rec = Rec::default();
    let mut pos = 0;
    while pos < input.len() {
        let take = step.min(input.len() - pos);
        let result = match r.direct_room(4, take) {
            Some(room) => {
                let n = room.len().min(take);
                for (slot, &b) in room.iter_mut().zip(&input[pos..pos + n]) {
                    slot.write(b);
                }
                pos += n;
                // Safe: `n` bytes of the room were written just above.
                unsafe { r.commit_direct(n, &mut rec) }
            }
            None => {
                let mut buf = input[pos..pos + take].to_vec();
                pos += take;
                r.feed(&mut buf, &mut rec)
            }
        };
        if let Err(e) = result {
            rec.0.push(Ev::Err(e));
            break;
        }
    }
    rec.0
}

#[test]
fn reading_large_payloads_in_place_gives_the_same_events() {
    let text: Vec<u8> = "héllo wörld, ".repeat(700).into_bytes();
    let binary: Vec<u8> = (0..70_000u32).map(|i| (i * 7) as u8).collect();
    let mut bad_text = text.clone();
    bad_text[5000] = 0xff;
    let mut input = Vec::new();
    input.extend(frame(Opcode::Text, true, &text, true));
    input.extend(frame(Opcode::Binary, false, &binary[..40_000], true));
    input.extend(frame(Opcode::Ping, true, b"between", true));
    input.extend(frame(Opcode::Continuation, true, &binary[40_000..], true));
    input.extend(frame(Opcode::Text, true, b"small", true));
    input.extend(frame(Opcode::Text, true, &bad_text, true));
    let expected = run(&server(), &[&input]);
    assert_eq!(expected.len(), 6, "{:?}", expected.last());
    assert_eq!(expected[1], Ev::FrameEnd(40_000));
    assert_eq!(expected[5], Ev::Err(ProtoError::InvalidUtf8));
    for step in [1, 3, 1000, 4096, 65_536, 1 << 20] {
        assert_eq!(run_direct(&server(), &input, step), expected, "step {step}");
    }
}
