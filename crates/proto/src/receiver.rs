//! The frame reader: parses headers, unmasks, assembles fragments, validates UTF-8 and
//! close frames, and enforces ws's limits, reporting each complete message, ping, pong
//! or close to a [`Handler`].
//!
//! A received Close is reported and nothing more: answering it is the caller's decision,
//! made in order with everything it sent before (ws semantics).

use crate::close::is_valid_close_code;
use crate::deflate::{InflateConfig, Inflater};
use crate::error::ProtoError;
use crate::mask::apply_mask;
use crate::utf8::Utf8Validator;

/// Which end of the connection this receiver sits on. Servers require masked frames,
/// clients refuse them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

/// Receiver settings, with ws's option names in the comments.
#[derive(Debug, Clone)]
pub struct Config {
    pub role: Role,
    /// `maxPayload`: largest message in bytes; 0 means no limit.
    pub max_payload: u64,
    /// `maxFragments`: most data frames in one message; 0 means no limit.
    pub max_fragments: u32,
    /// `maxBufferedChunks`: most reads one frame may be spread over (ws holds each
    /// read of an unfinished frame as a buffer, and fails the connection when a new
    /// read finds this many held); 0 means no limit. Reads are counted by the driver
    /// calling [`Receiver::note_read`].
    pub max_buffered_chunks: u32,
    /// `skipUTF8Validation`.
    pub skip_utf8_validation: bool,
    /// permessage-deflate, when negotiated: RSV1 then marks compressed messages.
    pub inflate: Option<InflateConfig>,
}

impl Config {
    /// ws's defaults for `role`: 100 MiB, 16384 fragments, 262144 buffered chunks,
    /// UTF-8 checked, no extension.
    pub fn new(role: Role) -> Self {
        Config {
            role,
            max_payload: 100 * 1024 * 1024,
            max_fragments: 16 * 1024,
            max_buffered_chunks: 256 * 1024,
            skip_utf8_validation: false,
            inflate: None,
        }
    }
}

/// A complete message's bytes: borrowed straight from the input when the message was
/// one frame inside one read, otherwise the receiver's assembly buffer, which the
/// handler may take (`std::mem::take`) to avoid a copy.
pub enum Payload<'a> {
    Borrowed(&'a [u8]),
    Owned(&'a mut Vec<u8>),
}

impl Payload<'_> {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Borrowed(b) => b,
            Payload::Owned(v) => v,
        }
    }
}

/// Receives what the peer said.
pub trait Handler {
    /// A complete data message (`binary` false means valid UTF-8 text).
    fn message(&mut self, binary: bool, payload: Payload<'_>);
    /// A frame of a binary message that is not its last one ended, with the
    /// message's length so far (after inflating). ws's `'fragments'` binary type gives
    /// one Buffer per frame; those who need it cut the message at these points.
    fn frame_end(&mut self, _len: u64) {}
    fn ping(&mut self, payload: &[u8]);
    fn pong(&mut self, payload: &[u8]);
    /// A Close frame: its code (1005 when it had none) and reason. The receiver then
    /// ignores further input.
    fn close(&mut self, code: u16, reason: &[u8]);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Payload,
    /// A Close frame was received or a violation found: input is ignored.
    Done,
}

/// The sans-IO frame reader for one connection.
pub struct Receiver {
    cfg: Config,
    state: State,
    hdr: [u8; 14],
    hdr_len: usize,
    // The frame being read.
    fin: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    remaining: u64,
    mask_phase: usize,
    // The message being assembled.
    fragmented: u8,
    compressed: bool,
    total_len: u64,
    fragments: u32,
    /// Reads holding bytes of the frame in progress, this one included; `TOO_MANY_READS`
    /// once a read arrived with `max_buffered_chunks` of them held (the next feed
    /// fails). One field, not two: it is in every connection's state.
    frame_reads: u32,
    msg: Vec<u8>,
    ctrl: Vec<u8>,
    utf8: Utf8Validator,
    // Boxed: a connection without compression pays one pointer, not a zlib stream.
    inflater: Option<Box<Inflater>>,
}

/// `Receiver::frame_reads` once `max_buffered_chunks` was exceeded.
const TOO_MANY_READS: u32 = u32::MAX;
/// Above this, an assembly buffer is dropped after its message rather than kept.
const KEEP_CAPACITY: usize = 64 * 1024;
/// Most bytes reserved ahead of their arrival for one frame.
const RESERVE_LIMIT: usize = 8 * 1024 * 1024;

impl Receiver {
    pub fn new(cfg: Config) -> Self {
        Receiver {
            state: State::Header,
            hdr: [0; 14],
            hdr_len: 0,
            fin: false,
            opcode: 0,
            mask: None,
            remaining: 0,
            mask_phase: 0,
            fragmented: 0,
            compressed: false,
            total_len: 0,
            fragments: 0,
            frame_reads: 0,
            msg: Vec::new(),
            ctrl: Vec::new(),
            utf8: Utf8Validator::default(),
            inflater: cfg
                .inflate
                .map(|c| Box::new(Inflater::new(c.window_bits, c.no_context_takeover))),
            cfg,
        }
    }

    /// True while a permessage-deflate context is held; see
    /// [`Self::release_idle_context`].
    pub fn holds_context(&self) -> bool {
        self.inflater
            .as_deref()
            .is_some_and(Inflater::holds_context)
    }

    /// Lets go of the inflate context between messages (kept otherwise), so an idle
    /// connection holds no zlib state; the next message resumes the stream.
    pub fn release_idle_context(&mut self) {
        if let Some(inflater) = self.inflater.as_mut() {
            inflater.release_idle();
        }
    }

    /// Payload bytes announced by the data frames of the message in progress so far
    /// (before inflating; 0 between messages), as ws's `_totalPayloadLength`.
    pub fn message_length(&self) -> u64 {
        self.total_len
    }

    /// True once a Close frame was received or a violation found.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Counts a read from the socket (call it once per read, before feeding or
    /// committing its bytes, however they are fed): ws's `maxBufferedChunks` is a
    /// bound on how many reads an unfinished frame may span.
    pub fn note_read(&mut self) {
        if self.hdr_len == 0 && self.state != State::Payload {
            self.frame_reads = 1;
            return;
        }
        let max = self.cfg.max_buffered_chunks;
        self.frame_reads = if max > 0 && self.frame_reads >= max {
            TOO_MANY_READS
        } else {
            (self.frame_reads + 1).min(TOO_MANY_READS - 1)
        };
    }

    /// Parses `input` (unmasking it in place), reporting events to `handler` as they
    /// complete. On a violation, returns it and ignores all later input.
    pub fn feed<H: Handler>(
        &mut self,
        input: &mut [u8],
        handler: &mut H,
    ) -> Result<(), ProtoError> {
        let result = self.feed_inner(input, handler);
        if result.is_err() {
            self.state = State::Done;
        }
        result
    }

    fn feed_inner<H: Handler>(
        &mut self,
        input: &mut [u8],
        handler: &mut H,
    ) -> Result<(), ProtoError> {
        if self.frame_reads == TOO_MANY_READS && self.state != State::Done {
            return Err(ProtoError::TooManyBufferedChunks);
        }
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                State::Done => return Ok(()),
                State::Header => {
                    let need = if self.hdr_len < 2 {
                        2
                    } else {
                        self.header_size()
                    };
                    let take = (need - self.hdr_len).min(input.len() - pos);
                    self.hdr[self.hdr_len..self.hdr_len + take]
                        .copy_from_slice(&input[pos..pos + take]);
                    self.hdr_len += take;
                    pos += take;
                    if self.hdr_len < need {
                        return Ok(());
                    }
                    if self.hdr_len == 2 {
                        self.check_first_bytes()?;
                        if self.header_size() > 2 {
                            continue;
                        }
                    }
                    self.read_length()?;
                    if self.remaining == 0 {
                        self.frame_complete(handler)?;
                    }
                }
                State::Payload => {
                    let avail = input.len() - pos;
                    if self.opcode < 0x08
                        && self.fin
                        && self.fragments == 0
                        && self.msg.is_empty()
                        && !self.compressed
                        && self.remaining <= avail as u64
                    {
                        // Fast path: a whole unfragmented message in this read.
                        let len = self.remaining as usize;
                        let data = &mut input[pos..pos + len];
                        pos += len;
                        if let Some(mask) = self.mask {
                            apply_mask(data, mask, 0);
                        }
                        let binary = self.opcode == 0x02;
                        if !binary
                            && !self.cfg.skip_utf8_validation
                            && std::str::from_utf8(data).is_err()
                        {
                            return Err(ProtoError::InvalidUtf8);
                        }
                        self.reset_message();
                        self.state = State::Header;
                        handler.message(binary, Payload::Borrowed(data));
                        continue;
                    }
                    let n = (self.remaining.min(avail as u64)) as usize;
                    let data = &mut input[pos..pos + n];
                    pos += n;
                    if let Some(mask) = self.mask {
                        apply_mask(data, mask, self.mask_phase);
                        self.mask_phase = (self.mask_phase + n) & 3;
                    }
                    self.remaining -= n as u64;
                    if self.opcode >= 0x08 {
                        self.ctrl.extend_from_slice(data);
                    } else if self.compressed {
                        let start = self.msg.len();
                        if let Some(inflater) = self.inflater.as_mut() {
                            inflater.inflate(data, &mut self.msg, self.cfg.max_payload)?;
                        }
                        self.check_text(start)?;
                    } else {
                        if self.fragmented_opcode() == 0x01
                            && !self.cfg.skip_utf8_validation
                            && !self.utf8.feed(data)
                        {
                            return Err(ProtoError::InvalidUtf8);
                        }
                        if self.msg.capacity() - self.msg.len() < n {
                            // Room for the rest of this frame at once (bounded, as a
                            // peer may announce a large frame and send it slowly).
                            let rest = (self.remaining as usize + n).min(RESERVE_LIMIT);
                            self.msg.reserve(rest.max(n));
                        }
                        self.msg.extend_from_slice(data);
                    }
                    if self.remaining == 0 {
                        self.frame_complete(handler)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Where the next payload bytes of a large uncompressed data frame can be read
    /// straight into: the spare capacity of the message being assembled (reserved
    /// here, for up to `max` of the frame's remaining bytes). Reading there and calling
    /// [`Self::commit_direct`] skips copying them out of a read buffer. `None` unless a
    /// data frame's payload with at least `min` bytes to go is in progress.
    pub fn direct_room(
        &mut self,
        min: usize,
        max: usize,
    ) -> Option<&mut [std::mem::MaybeUninit<u8>]> {
        if self.state != State::Payload || self.opcode >= 0x08 || self.compressed {
            return None;
        }
        if self.remaining < min as u64 || max == 0 {
            return None;
        }
        let want = (self.remaining.min(max as u64) as usize).min(RESERVE_LIMIT);
        self.msg.reserve(want);
        let spare = self.msg.spare_capacity_mut();
        let len = spare.len().min(want);
        Some(&mut spare[..len])
    }

    /// Takes `n` bytes written into [`Self::direct_room`] as the next payload bytes:
    /// unmasks and checks them in place, and reports the message if the frame ends it.
    ///
    /// # Safety
    /// The first `n` bytes of the room last returned by `direct_room` must have been
    /// written, and `n` must not exceed its length.
    pub unsafe fn commit_direct<H: Handler>(
        &mut self,
        n: usize,
        handler: &mut H,
    ) -> Result<(), ProtoError> {
        let result = self.commit_direct_inner(n, handler);
        if result.is_err() {
            self.state = State::Done;
        }
        result
    }

    unsafe fn commit_direct_inner<H: Handler>(
        &mut self,
        n: usize,
        handler: &mut H,
    ) -> Result<(), ProtoError> {
        if self.frame_reads == TOO_MANY_READS {
            return Err(ProtoError::TooManyBufferedChunks);
        }
        let n = n.min(self.msg.capacity() - self.msg.len());
        let n = (n as u64).min(self.remaining) as usize;
        let start = self.msg.len();
        // Safe by the caller's promise: those bytes are written, within capacity.
        self.msg.set_len(start + n);
        let data = &mut self.msg[start..];
        if let Some(mask) = self.mask {
            apply_mask(data, mask, self.mask_phase);
            self.mask_phase = (self.mask_phase + n) & 3;
        }
        self.remaining -= n as u64;
        if self.fragmented_opcode() == 0x01
            && !self.cfg.skip_utf8_validation
            && !self.utf8.feed(&self.msg[start..])
        {
            return Err(ProtoError::InvalidUtf8);
        }
        if self.remaining == 0 {
            self.frame_complete(handler)?;
        }
        Ok(())
    }

    /// The opcode of the message in progress (a continuation's is its first frame's).
    fn fragmented_opcode(&self) -> u8 {
        if self.fragmented != 0 {
            self.fragmented
        } else {
            self.opcode
        }
    }

    fn header_size(&self) -> usize {
        let ext = match self.hdr[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        2 + ext + if self.hdr[1] & 0x80 != 0 { 4 } else { 0 }
    }

    /// The checks ws makes on the first two header bytes, in ws's order.
    fn check_first_bytes(&mut self) -> Result<(), ProtoError> {
        let (b0, b1) = (self.hdr[0], self.hdr[1]);
        if b0 & 0x30 != 0 {
            return Err(ProtoError::Rsv23);
        }
        let rsv1 = b0 & 0x40 != 0;
        if rsv1 && self.inflater.is_none() {
            return Err(ProtoError::Rsv1);
        }
        let fin = b0 & 0x80 != 0;
        let opcode = b0 & 0x0f;
        let len7 = b1 & 0x7f;
        match opcode {
            0x00 => {
                if rsv1 {
                    return Err(ProtoError::Rsv1);
                }
                if self.fragmented == 0 {
                    return Err(ProtoError::InvalidOpcode(0));
                }
            }
            0x01 | 0x02 => {
                if self.fragmented != 0 {
                    return Err(ProtoError::InvalidOpcode(opcode));
                }
                self.compressed = rsv1;
            }
            0x08..=0x0a => {
                if !fin {
                    return Err(ProtoError::ExpectedFin);
                }
                if rsv1 {
                    return Err(ProtoError::Rsv1);
                }
                if len7 > 125 || (opcode == 0x08 && len7 == 1) {
                    return Err(ProtoError::InvalidControlLength(len7));
                }
            }
            _ => return Err(ProtoError::InvalidOpcode(opcode)),
        }
        if !fin && self.fragmented == 0 {
            self.fragmented = opcode;
        }
        let masked = b1 & 0x80 != 0;
        match self.cfg.role {
            Role::Server if !masked => return Err(ProtoError::ExpectedMask),
            Role::Client if masked => return Err(ProtoError::UnexpectedMask),
            _ => {}
        }
        self.fin = fin;
        self.opcode = opcode;
        Ok(())
    }

    /// Reads the payload length and mask key once the whole header is in.
    fn read_length(&mut self) -> Result<(), ProtoError> {
        let h = &self.hdr;
        let (len, key_at) = match h[1] & 0x7f {
            126 => (u16::from_be_bytes([h[2], h[3]]) as u64, 4),
            127 => {
                let len = u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]);
                if len > (1 << 53) - 1 {
                    return Err(ProtoError::UnsupportedLength);
                }
                (len, 10)
            }
            n => (n as u64, 2),
        };
        self.mask =
            (h[1] & 0x80 != 0).then(|| [h[key_at], h[key_at + 1], h[key_at + 2], h[key_at + 3]]);
        if len > 0 && self.opcode < 0x08 {
            self.total_len += len;
            if self.cfg.max_payload > 0 && self.total_len > self.cfg.max_payload {
                return Err(ProtoError::MaxPayload);
            }
        }
        self.remaining = len;
        self.mask_phase = 0;
        self.hdr_len = 0;
        self.state = State::Payload;
        Ok(())
    }

    fn frame_complete<H: Handler>(&mut self, handler: &mut H) -> Result<(), ProtoError> {
        self.state = State::Header;
        // The rest of this read, if any, starts the next frame.
        self.frame_reads = 1;
        if self.opcode >= 0x08 {
            return self.control_complete(handler);
        }
        self.fragments += 1;
        if self.cfg.max_fragments > 0 && self.fragments > self.cfg.max_fragments {
            return Err(ProtoError::TooManyFragments);
        }
        if !self.fin {
            if self.fragmented == 0x02 {
                handler.frame_end(self.msg.len() as u64);
            }
            return Ok(());
        }
        if self.compressed {
            let start = self.msg.len();
            if let Some(inflater) = self.inflater.as_mut() {
                inflater.finish(&mut self.msg, self.cfg.max_payload)?;
            }
            self.check_text(start)?;
        }
        let binary = self.fragmented_opcode() == 0x02;
        if !binary && !self.cfg.skip_utf8_validation && !self.utf8.finish() {
            return Err(ProtoError::InvalidUtf8);
        }
        self.reset_message();
        handler.message(binary, Payload::Owned(&mut self.msg));
        if self.msg.capacity() > KEEP_CAPACITY {
            self.msg = Vec::new();
        } else {
            self.msg.clear();
        }
        Ok(())
    }

    /// Validates the text inflated since `start` (compressed messages are checked
    /// after inflation, piece by piece).
    fn check_text(&mut self, start: usize) -> Result<(), ProtoError> {
        if self.fragmented_opcode() == 0x01
            && !self.cfg.skip_utf8_validation
            && !self.utf8.feed(&self.msg[start..])
        {
            return Err(ProtoError::InvalidUtf8);
        }
        Ok(())
    }

    fn reset_message(&mut self) {
        self.fragmented = 0;
        self.total_len = 0;
        self.fragments = 0;
    }

    fn control_complete<H: Handler>(&mut self, handler: &mut H) -> Result<(), ProtoError> {
        match self.opcode {
            0x08 => {
                if self.ctrl.is_empty() {
                    handler.close(1005, &[]);
                } else {
                    let code = u16::from_be_bytes([self.ctrl[0], self.ctrl[1]]);
                    if !is_valid_close_code(code) {
                        return Err(ProtoError::InvalidCloseCode(code));
                    }
                    let reason = &self.ctrl[2..];
                    if !self.cfg.skip_utf8_validation && std::str::from_utf8(reason).is_err() {
                        return Err(ProtoError::InvalidUtf8);
                    }
                    handler.close(code, reason);
                }
                self.state = State::Done;
            }
            0x09 => handler.ping(&self.ctrl),
            _ => handler.pong(&self.ctrl),
        }
        self.ctrl.clear();
        Ok(())
    }
}
