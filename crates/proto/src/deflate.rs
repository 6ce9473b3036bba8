//! permessage-deflate (RFC 7692) contexts: an [`Inflater`] for the receiver and a
//! [`Deflater`] for the sender, each owned by one side of a connection.
//!
//! Raw deflate with a sync flush per message; the `00 00 ff ff` tail that flush ends
//! with is stripped on send and added back on receive (RFC 7692 7.2.1-7.2.2).
//!
//! zlib state is the bulk of a compressed connection's memory (a zlib-rs deflate
//! context touches about 300 KiB), so a connection holds one only while it uses it:
//! - contexts are taken from a small per-thread pool when a message starts, and go
//!   back to it (reset) when no longer needed;
//! - without context takeover that is after every message;
//! - with context takeover the caller may [`Deflater::release_idle`] /
//!   [`Inflater::release_idle`] between messages. The inflater keeps the last window's
//!   worth of message bytes (the peer may refer to any of it), the deflater only its
//!   last [`DEFLATE_HISTORY`] bytes; each primes its next context with them as a preset
//!   dictionary, so the stream stays exactly as the peer expects;
//! - while more than [`DEFLATE_CONTEXTS_HELD`] deflate contexts are held in the process,
//!   a deflater with context takeover gives its context back after each message too.
//!
//! Deflate contexts are made by `crate::zstream` (zlib-rs's zlib-style API, state
//! mapped from the kernel); inflate contexts by flate2 on zlib-rs.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::LocalKey;

use flate2::{Decompress, FlushDecompress, Status};

use crate::error::ProtoError;

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// Bytes of its own history a deflater primes a fresh context with. The inflater needs
/// the whole window (the peer may refer to any of it), but a deflater may refer to as
/// little of what it sent as it likes: a shorter history makes resuming cheap (priming
/// hashes every byte) and an idle connection small, for a little compression ratio.
pub const DEFLATE_HISTORY: usize = 8 * 1024;
/// Inflated bytes produced per step, so `maxPayload` is checked every this many bytes.
const STEP: usize = 32 * 1024;
/// Least spare room worth an inflate step; below it the buffer grows first.
const MIN_ROOM: usize = 1024;

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

/// The most recent window's worth of one direction's uncompressed stream: what a fresh
/// context needs as its dictionary to continue the stream. A ring once full, so each
/// message costs one copy of at most a window, and no shifting.
struct History {
    ring: Vec<u8>,
    /// Where the oldest byte is (and the next is written) once the ring is full.
    head: usize,
    window: usize,
}

impl History {
    /// The last `min(2^window_bits, limit)` bytes.
    fn new(window_bits: u8, limit: usize) -> Self {
        History {
            ring: Vec::new(),
            head: 0,
            window: (1usize << window_bits).min(limit).max(1),
        }
    }

    fn push(&mut self, data: &[u8]) {
        let mut data = &data[data.len().saturating_sub(self.window)..];
        if self.ring.len() < self.window {
            let take = data.len().min(self.window - self.ring.len());
            let len = self.ring.len();
            if self.ring.capacity() < len + take {
                // Doubling, but never past the window.
                let want = (len * 2).max(len + take).min(self.window);
                self.ring.reserve_exact(want - len);
            }
            self.ring.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        while !data.is_empty() {
            let n = data.len().min(self.window - self.head);
            self.ring[self.head..self.head + n].copy_from_slice(&data[..n]);
            self.head = (self.head + n) % self.window;
            data = &data[n..];
        }
    }

    /// The bytes in stream order, in a buffer of their own size.
    fn compact(&mut self) -> &[u8] {
        if self.head != 0 {
            self.ring.rotate_left(self.head);
            self.head = 0;
        }
        self.ring.shrink_to_fit();
        &self.ring
    }

    fn clear(&mut self) {
        self.ring = Vec::new();
        self.head = 0;
    }
}

/// zlib's deflate tuning, as ws passes `zlibDeflateOptions` to zlib: `level` 0-9,
/// `mem_level` 1-9 (the size of the hash and literal buffers: memory for speed and
/// ratio) and `strategy` 0-4 (`Z_DEFAULT_STRATEGY`, `Z_FILTERED`, `Z_HUFFMAN_ONLY`,
/// `Z_RLE`, `Z_FIXED`). Out-of-range values fall back to zlib's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    pub level: u32,
    pub mem_level: u8,
    pub strategy: u8,
}

impl DeflateParams {
    /// zlib's defaults at `level`.
    pub fn level(level: u32) -> Self {
        DeflateParams {
            level,
            mem_level: 8,
            strategy: 0,
        }
    }

    fn checked(self) -> Self {
        DeflateParams {
            level: if self.level <= 9 { self.level } else { 6 },
            mem_level: if (1..=9).contains(&self.mem_level) {
                self.mem_level
            } else {
                8
            },
            strategy: if self.strategy <= 4 { self.strategy } else { 0 },
        }
    }
}

/// What pooled contexts must agree on to be interchangeable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    window_bits: u8,
    /// Deflate only; zlib's defaults for inflate contexts.
    params: DeflateParams,
}

use crate::zstream::DeflateContext as Compress;

/// Deflate contexts held between messages by connections with context takeover, in
/// the whole process; past it a connection gives its context back after each message
/// and resumes from its history for the next (a reset and an 8 KiB priming, ~10% of a
/// 16 KiB level-6 message). Busy servers with many compressed connections stay near
/// this many × ~300 KiB of deflate state instead of one per connection (ws: one
/// ~250 KiB zlib context per active connection), and a handful of busy connections
/// never pay for resuming.
pub const DEFLATE_CONTEXTS_HELD: usize = 64;

/// Idle contexts kept per thread and kind; more are freed. A fresh deflate context
/// costs about 80 µs more than a pooled one (mapping and zeroing its state), so the
/// pool covers a burst of connections resuming at once; at most 16 × ~300 KiB.
const POOL_KEEP: usize = 16;

type Pool<C> = RefCell<Vec<(Key, C)>>;

static DEFLATE_HELD: AtomicUsize = AtomicUsize::new(0);
static INFLATE_HELD: AtomicUsize = AtomicUsize::new(0);

/// Deflate and inflate contexts held by streams in this process right now (for tests
/// and diagnostics: idle connections should hold none).
pub fn contexts_held() -> (usize, usize) {
    (
        DEFLATE_HELD.load(Ordering::Relaxed),
        INFLATE_HELD.load(Ordering::Relaxed),
    )
}

thread_local! {
    static DEFLATE_POOL: Pool<Compress> = const { RefCell::new(Vec::new()) };
    static INFLATE_POOL: Pool<Decompress> = const { RefCell::new(Vec::new()) };
}

/// A zlib context kind: how to make, reset and prime one, and its per-thread pool of
/// reset contexts (taking one for a message then costs a reset, not an allocation).
trait Context: Sized + 'static {
    fn create(key: Key) -> Self;
    fn reset(&mut self);
    /// Sets the preset dictionary of a fresh raw stream; that cannot fail.
    fn prime(&mut self, dictionary: &[u8]);
    fn pool() -> &'static LocalKey<Pool<Self>>;
    /// Contexts of this kind held by streams, against [`Self::HELD_BUDGET`]. A process
    /// count (a stream may move between threads with its connection).
    fn held() -> &'static AtomicUsize;
    /// Past this many held contexts, streams give theirs back after each message.
    const HELD_BUDGET: usize;

    fn take(key: Key) -> Self {
        Self::pool()
            .try_with(|pool| {
                let mut pool = pool.borrow_mut();
                let at = pool.iter().position(|(k, _)| *k == key)?;
                Some(pool.swap_remove(at).1)
            })
            .ok()
            .flatten()
            .unwrap_or_else(|| Self::create(key))
    }

    /// Resets the context and keeps it for the next taker on this thread, if there is
    /// room.
    fn give(key: Key, mut ctx: Self) {
        ctx.reset();
        let _ = Self::pool().try_with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.len() < POOL_KEEP {
                pool.push((key, ctx));
            }
        });
    }
}

impl Context for Compress {
    fn create(key: Key) -> Self {
        let p = key.params;
        Compress::new(
            p.level as i32,
            i32::from(key.window_bits),
            i32::from(p.mem_level),
            i32::from(p.strategy),
        )
    }
    fn reset(&mut self) {
        Compress::reset(self);
    }
    fn prime(&mut self, dictionary: &[u8]) {
        self.set_dictionary(dictionary);
    }
    fn pool() -> &'static LocalKey<Pool<Self>> {
        &DEFLATE_POOL
    }
    fn held() -> &'static AtomicUsize {
        &DEFLATE_HELD
    }
    const HELD_BUDGET: usize = DEFLATE_CONTEXTS_HELD;
}

impl Context for Decompress {
    fn create(key: Key) -> Self {
        Decompress::new_with_window_bits(false, key.window_bits)
    }
    fn reset(&mut self) {
        Decompress::reset(self, false);
    }
    fn prime(&mut self, dictionary: &[u8]) {
        let _ = self.set_dictionary(dictionary);
    }
    fn pool() -> &'static LocalKey<Pool<Self>> {
        &INFLATE_POOL
    }
    fn held() -> &'static AtomicUsize {
        &INFLATE_HELD
    }
    /// An inflate context is little more than the window its history keeps anyway.
    const HELD_BUDGET: usize = usize::MAX;
}

/// One direction of a connection's compressed stream: the context it holds while in
/// use, and with context takeover the history to resume from without one.
struct Stream<C: Context> {
    ctx: Option<C>,
    key: Key,
    takeover: bool,
    history: History,
    mid_message: bool,
}

impl<C: Context> Stream<C> {
    /// `history`: most bytes kept to resume from (see [`DEFLATE_HISTORY`]).
    fn new(key: Key, takeover: bool, history: usize) -> Self {
        Stream {
            ctx: None,
            key,
            takeover,
            history: History::new(key.window_bits, history),
            mid_message: false,
        }
    }

    /// The context for a piece of a message (taken from the pool and primed with the
    /// history if not held); the message is in progress until [`Self::end_message`].
    fn context(&mut self) -> &mut C {
        self.mid_message = true;
        let (key, history) = (self.key, &mut self.history);
        self.ctx.get_or_insert_with(|| {
            C::held().fetch_add(1, Ordering::Relaxed);
            let mut ctx = C::take(key);
            let dictionary = history.compact();
            if !dictionary.is_empty() {
                ctx.prime(dictionary);
            }
            ctx
        })
    }

    /// Notes uncompressed stream bytes (message payload) the context has seen.
    fn record(&mut self, bytes: &[u8]) {
        if self.takeover {
            self.history.push(bytes);
        }
    }

    /// The stream ended (a final block): the next message starts without history.
    fn restart(&mut self) {
        self.history.clear();
    }

    /// Ends a message; without context takeover the context goes back at once, and
    /// with it too while more than the budget of contexts are held.
    fn end_message(&mut self) {
        self.mid_message = false;
        if !self.takeover || C::held().load(Ordering::Relaxed) > C::HELD_BUDGET {
            self.release();
        }
    }

    fn release(&mut self) {
        if self.mid_message {
            return;
        }
        self.give_back();
        self.history.compact();
    }

    fn give_back(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            C::held().fetch_sub(1, Ordering::Relaxed);
            C::give(self.key, ctx);
        }
    }
}

impl<C: Context> Drop for Stream<C> {
    fn drop(&mut self) {
        self.give_back();
    }
}

/// Decompresses incoming messages.
pub struct Inflater {
    stream: Stream<Decompress>,
}

impl Inflater {
    /// `window_bits`: the peer's negotiated maximum; `no_context_takeover`: the peer
    /// resets its context after each message.
    pub fn new(window_bits: u8, no_context_takeover: bool) -> Self {
        let key = Key {
            window_bits: usable_window_bits(window_bits),
            params: DeflateParams::level(0),
        };
        Inflater {
            stream: Stream::new(key, !no_context_takeover, usize::MAX),
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
        let start = out.len();
        let result = inflate_into(self.stream.context(), input, out, limit);
        if result == Ok(true) {
            // The stream ended, and with it the window the next message may refer to.
            self.stream.restart();
        } else {
            self.stream.record(&out[start..]);
        }
        result.map(|_| ())
    }

    /// Ends a message: feeds the stripped tail and, without context takeover, gives
    /// the context back.
    pub fn finish(&mut self, out: &mut Vec<u8>, limit: u64) -> Result<(), ProtoError> {
        self.inflate(&TAIL, out, limit)?;
        self.stream.end_message();
        Ok(())
    }

    /// True while this side holds a zlib context.
    pub fn holds_context(&self) -> bool {
        self.stream.ctx.is_some()
    }

    /// Gives the context back to the thread's pool unless a message is in progress,
    /// keeping only the window's worth of bytes needed to resume the stream.
    pub fn release_idle(&mut self) {
        self.stream.release();
    }
}

/// [`Inflater::inflate`]'s work; `Ok(true)` when a final block ended the stream.
fn inflate_into(
    ctx: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: u64,
) -> Result<bool, ProtoError> {
    let mut input = input;
    loop {
        if out.capacity() - out.len() < MIN_ROOM {
            // Sized from the input (text inflates a few times over) so that a small
            // message leaves no 32 KiB buffer behind on an idle connection; a message
            // that keeps inflating grows the buffer by half each time.
            let guess = input.len().saturating_mul(4).clamp(MIN_ROOM, STEP);
            out.reserve(guess.max(out.len() / 2));
        }
        // At most STEP bytes per step, and never more than one byte past the limit: a
        // bomb is stopped having buffered at most `limit + 1` bytes.
        let spare = out.capacity() - out.len();
        // Saturating: a limit of u64::MAX must not wrap to a room of 0 (a spin).
        let room = match limit {
            0 => STEP,
            _ => limit
                .saturating_add(1)
                .saturating_sub(out.len() as u64)
                .min(STEP as u64) as usize,
        }
        .min(spare);
        if room == 0 {
            // Only reachable past the limit, which the check below already reported.
            return Err(ProtoError::MaxPayload);
        }
        let window = &mut out.spare_capacity_mut()[..room];
        let (in_before, out_before) = (ctx.total_in(), ctx.total_out());
        let status = ctx
            .decompress_uninit(input, window, FlushDecompress::Sync)
            .map_err(|e| inflate_error(&e))?;
        let consumed = (ctx.total_in() - in_before) as usize;
        let produced = (ctx.total_out() - out_before) as usize;
        // SAFETY: the inflater initialized the first `produced` bytes of the spare
        // capacity it was given (`produced <= room <= spare capacity`).
        unsafe { out.set_len(out.len() + produced) };
        input = &input[consumed..];
        if limit > 0 && out.len() as u64 > limit {
            return Err(ProtoError::MaxPayload);
        }
        if status == Status::StreamEnd {
            // A final block ends the stream: the next message starts a new one, with
            // an empty window.
            ctx.reset(false);
            return Ok(true);
        }
        if produced < room && (input.is_empty() || consumed == 0) {
            return Ok(false);
        }
    }
}

/// Compresses outgoing messages.
pub struct Deflater {
    stream: Stream<Compress>,
}

impl Deflater {
    /// `window_bits`: our negotiated maximum; `no_context_takeover`: reset after each
    /// message; `level`: zlib level 0-9.
    pub fn new(window_bits: u8, no_context_takeover: bool, level: u32) -> Self {
        Self::with_params(
            window_bits,
            no_context_takeover,
            DeflateParams::level(level.min(9)),
        )
    }

    /// As [`Deflater::new`], with zlib's `mem_level` and `strategy` too.
    pub fn with_params(window_bits: u8, no_context_takeover: bool, params: DeflateParams) -> Self {
        let key = Key {
            window_bits: usable_window_bits(window_bits),
            params: params.checked(),
        };
        Deflater {
            stream: Stream::new(key, !no_context_takeover, DEFLATE_HISTORY),
        }
    }

    /// Compresses one frame's payload, appending to `out`. With `fin` (the last frame
    /// of the message) the sync-flush tail is stripped and, without context takeover,
    /// the context given back.
    pub fn compress(&mut self, payload: &[u8], fin: bool, out: &mut Vec<u8>) {
        let ctx = self.stream.context();
        let start = out.len();
        let mut input = payload;
        loop {
            out.reserve(input.len() / 2 + 64);
            let before = ctx.total_in();
            // Compressing into a Vec only fails on a misused stream, which this is not.
            ctx.compress_sync(input, out);
            input = &input[(ctx.total_in() - before) as usize..];
            if input.is_empty() && out.capacity() > out.len() {
                break;
            }
        }
        self.stream.record(payload);
        if !fin {
            return;
        }
        if out.len() >= start + 4 && out[out.len() - 4..] == TAIL {
            out.truncate(out.len() - 4);
        }
        if out.len() == start {
            // An empty message is one empty stored block (RFC 7692 7.2.3.6).
            out.push(0x00);
        }
        self.stream.end_message();
    }

    /// True while this side holds a zlib context.
    pub fn holds_context(&self) -> bool {
        self.stream.ctx.is_some()
    }

    /// Gives the context back to the thread's pool unless a message is in progress,
    /// keeping only the window's worth of bytes needed to resume the stream.
    pub fn release_idle(&mut self) {
        self.stream.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// zlib's memLevel and strategy change what is produced, every combination still
    /// inflates to the input, and out-of-range values act as zlib's defaults.
    #[test]
    fn deflate_params_take_effect_and_round_trip() {
        let text: Vec<u8> = (0..20_000u32)
            .map(|i| {
                b"the quick brown fox jumps over the lazy dog "[(i % 44) as usize]
                    ^ (i % 7 == 0) as u8
            })
            .collect();
        let compress = |params: DeflateParams| {
            let mut out = Vec::new();
            Deflater::with_params(15, false, params).compress(&text, true, &mut out);
            out
        };
        let default = compress(DeflateParams::level(6));
        for mem_level in 1..=9u8 {
            for strategy in 0..=4u8 {
                let params = DeflateParams {
                    level: 6,
                    mem_level,
                    strategy,
                };
                let wire = compress(params);
                let mut back = Vec::new();
                let mut inflater = Inflater::new(15, false);
                inflater.inflate(&wire, &mut back, 0).unwrap();
                inflater.finish(&mut back, 0).unwrap();
                assert_eq!(back, text, "{params:?}");
            }
        }
        let huffman = compress(DeflateParams {
            strategy: 2,
            ..DeflateParams::level(6)
        });
        assert!(huffman.len() > default.len() * 2);
        let small_mem = compress(DeflateParams {
            mem_level: 1,
            ..DeflateParams::level(6)
        });
        assert_ne!(small_mem, default);
        let nonsense = compress(DeflateParams {
            level: 42,
            mem_level: 0,
            strategy: 9,
        });
        assert_eq!(nonsense, default);
    }

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
    fn limits_near_u64_max_inflate_and_never_spin() {
        // `maxPayload: Infinity` once became u64::MAX, and `limit + 1` wrapped to a
        // room of 0: one message spun forever. Every large limit must just work.
        let text: Vec<u8> = (0..40_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut wire = Vec::new();
        Deflater::new(15, true, 6).compress(&text, true, &mut wire);
        for limit in [u64::MAX, u64::MAX - 1, u64::MAX / 2, text.len() as u64] {
            let mut i = Inflater::new(15, true);
            let mut msg = Vec::new();
            i.inflate(&wire, &mut msg, limit).unwrap();
            i.finish(&mut msg, limit).unwrap();
            assert_eq!(msg, text, "limit {limit}");
        }
        let mut i = Inflater::new(15, true);
        let mut msg = Vec::new();
        let limit = text.len() as u64 - 1;
        assert_eq!(
            i.inflate(&wire, &mut msg, limit)
                .and_then(|()| i.finish(&mut msg, limit)),
            Err(ProtoError::MaxPayload)
        );
        assert!(msg.len() as u64 <= limit + 1);
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
    fn past_the_budget_deflaters_give_contexts_back_after_each_message() {
        // More connections with context takeover than the budget: no more than the
        // budget keep a context between messages (other tests running at the same time
        // only make fewer of these keep one), and every stream still inflates exactly.
        let n = DEFLATE_CONTEXTS_HELD + 8;
        let mut sides: Vec<(Deflater, Inflater)> = (0..n)
            .map(|_| (Deflater::new(15, false, 6), Inflater::new(15, false)))
            .collect();
        for round in 0..3 {
            for (k, (d, i)) in sides.iter_mut().enumerate() {
                let text = format!("message {round} of connection {k}, message {round} again");
                let mut wire = Vec::new();
                d.compress(text.as_bytes(), true, &mut wire);
                let mut msg = Vec::new();
                i.inflate(&wire, &mut msg, 0).unwrap();
                i.finish(&mut msg, 0).unwrap();
                assert_eq!(msg, text.as_bytes());
            }
            let holding = sides.iter().filter(|(d, _)| d.holds_context()).count();
            assert!(holding <= DEFLATE_CONTEXTS_HELD, "{holding} held");
            assert!(holding < n);
        }
    }

    #[test]
    fn released_contexts_resume_the_stream() {
        // The second "Hello" of RFC 7692 7.2.3.2 refers back into the first even when
        // both sides released their contexts in between.
        let mut d = Deflater::new(15, false, 6);
        let mut i = Inflater::new(15, false);
        let mut out = Vec::new();
        d.compress(b"Hello", true, &mut out);
        let mut msg = Vec::new();
        i.inflate(&out, &mut msg, 0).unwrap();
        i.finish(&mut msg, 0).unwrap();
        d.release_idle();
        i.release_idle();
        assert!(!d.holds_context() && !i.holds_context());
        out.clear();
        d.compress(b"Hello", true, &mut out);
        assert_eq!(out, [0xf2, 0x00, 0x11, 0x00, 0x00]);
        msg.clear();
        i.inflate(&out, &mut msg, 0).unwrap();
        i.finish(&mut msg, 0).unwrap();
        assert_eq!(msg, b"Hello");

        // Every window size, releasing either side at varying points, with messages
        // that refer across more than a window of history.
        let text: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("{{\"n\":{},\"k\":\"v{}\"}}", i % 997, i % 7).into_bytes())
            .collect();
        for bits in 9..=15u8 {
            let mut d = Deflater::new(bits, false, 6);
            let mut i = Inflater::new(bits, false);
            let mut at = 0;
            for (n, len) in [10, 700, 1, 5000, 0, 40_000, 300, 66_000, 20]
                .into_iter()
                .enumerate()
            {
                let part = &text[at..at + len];
                at += len;
                let mut wire = Vec::new();
                // A fragmented message in between: release is refused mid-message.
                let (first, rest) = part.split_at(len / 2);
                d.compress(first, false, &mut wire);
                d.release_idle();
                assert!(len == 0 || d.holds_context());
                d.compress(rest, true, &mut wire);
                let mut msg = Vec::new();
                i.inflate(&wire, &mut msg, 0).unwrap();
                i.finish(&mut msg, 0).unwrap();
                assert_eq!(msg, part, "bits {bits} message {n}");
                if n % 2 == 0 {
                    d.release_idle();
                }
                if n % 3 == 0 {
                    i.release_idle();
                }
            }
        }
    }

    #[test]
    fn history_keeps_the_last_window_in_order() {
        let stream: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 251) as u8).collect();
        for pieces in [1usize, 7, 100, 511, 512, 513, 3000] {
            let mut h = History::new(9, usize::MAX);
            let mut at = 0;
            let mut n = 0;
            while at < stream.len() {
                let len = (pieces + n % 3).min(stream.len() - at);
                h.push(&stream[at..at + len]);
                at += len;
                n += 1;
                let expect = &stream[at.saturating_sub(512)..at];
                if n % 4 == 0 {
                    assert_eq!(h.compact(), expect, "pieces {pieces} at {at}");
                    assert!(h.ring.capacity() <= 512);
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
