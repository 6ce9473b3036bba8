//! Every way a peer's bytes can break the protocol, with the close code ws answers with.
//!
//! The human-readable messages live in one place on the JS side (`lib/errors.js`), keyed
//! by [`ProtoError::kind_id`], so that they match ws's text exactly.

/// A protocol violation found while reading frames. After one, the receiver ignores all
/// further input: the connection is closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtoError {
    /// RSV2 or RSV3 set (no extension here uses them).
    Rsv23,
    /// RSV1 set without permessage-deflate, or on a continuation or control frame.
    Rsv1,
    /// Unknown opcode, a continuation with nothing to continue, or a new data frame
    /// in the middle of a fragmented message.
    InvalidOpcode(u8),
    /// A fragmented control frame.
    ExpectedFin,
    /// A control frame longer than 125 bytes, or a Close frame of exactly 1 byte.
    InvalidControlLength(u8),
    /// A server received an unmasked frame.
    ExpectedMask,
    /// A client received a masked frame.
    UnexpectedMask,
    /// A 64-bit length above 2^53 - 1 (ws cannot represent it as a JS number).
    UnsupportedLength,
    /// The message would exceed `maxPayload`.
    MaxPayload,
    /// The message has more than `maxFragments` data frames.
    TooManyFragments,
    /// A frame spread over more than `maxBufferedChunks` reads.
    TooManyBufferedChunks,
    /// A text message or close reason that is not UTF-8.
    InvalidUtf8,
    /// A Close frame with a code a peer may not send.
    InvalidCloseCode(u16),
    /// Compressed data that does not inflate; the index names zlib's message
    /// (`deflate::inflate_message`).
    Inflate(u8),
}

impl ProtoError {
    /// The close code ws sends when failing the connection for this error.
    pub fn close_code(&self) -> u16 {
        match self {
            ProtoError::UnsupportedLength | ProtoError::MaxPayload => 1009,
            ProtoError::TooManyFragments | ProtoError::TooManyBufferedChunks => 1008,
            ProtoError::InvalidUtf8 | ProtoError::Inflate(_) => 1007,
            _ => 1002,
        }
    }

    /// A small stable number per variant, shared with `lib/errors.js`.
    pub fn kind_id(&self) -> u32 {
        match self {
            ProtoError::Rsv23 => 1,
            ProtoError::Rsv1 => 2,
            ProtoError::InvalidOpcode(_) => 3,
            ProtoError::ExpectedFin => 4,
            ProtoError::InvalidControlLength(_) => 5,
            ProtoError::ExpectedMask => 6,
            ProtoError::UnexpectedMask => 7,
            ProtoError::UnsupportedLength => 8,
            ProtoError::MaxPayload => 9,
            ProtoError::TooManyFragments => 10,
            ProtoError::InvalidUtf8 => 11,
            ProtoError::InvalidCloseCode(_) => 12,
            ProtoError::Inflate(_) => 13,
            ProtoError::TooManyBufferedChunks => 14,
        }
    }

    /// The number the message quotes (opcode, length or close code), else 0.
    pub fn arg(&self) -> u32 {
        match *self {
            ProtoError::InvalidOpcode(op) => op as u32,
            ProtoError::InvalidControlLength(len) => len as u32,
            ProtoError::InvalidCloseCode(code) => code as u32,
            ProtoError::Inflate(index) => index as u32,
            _ => 0,
        }
    }
}

impl std::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?} (close code {})", self.close_code())
    }
}

impl std::error::Error for ProtoError {}
