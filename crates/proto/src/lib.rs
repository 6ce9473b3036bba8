//! The sans-IO WebSocket protocol core of ws-rs (RFC 6455).
//!
//! Nothing here does I/O, spawns tasks or knows about Node: bytes go in through
//! [`Receiver::feed`], events come out through a [`Handler`], and frames to send are
//! written into a caller's buffer by [`Sender`] (or [`encode_frame`]). The same code serves the tokio io
//! driver (adopted sockets) and any other transport.
//!
//! The rules follow ws 8 (the npm package) wherever RFC 6455 leaves a choice, so that
//! errors map one-to-one onto ws's `WS_ERR_*` codes and close codes: see [`ProtoError`].

mod close;
mod deflate;
mod error;
mod frame;
mod handshake;
mod mask;
mod receiver;
mod sender;
mod utf8;
mod zstream;

pub use close::{encode_close_payload, is_valid_close_code};
pub use deflate::{
    contexts_held, inflate_message, DeflateParams, Deflater, InflateConfig, Inflater,
    DEFLATE_CONTEXTS_HELD, DEFLATE_HISTORY,
};
pub use error::ProtoError;
pub use frame::{encode_frame, encode_header, header_len, Opcode};
pub use handshake::{parse_request_head, HeadParse, RequestHead, MAX_HEADERS};
pub use mask::{apply_mask, MaskGen};
pub use receiver::{Config, Handler, Payload, Receiver, Role};
pub use sender::{FrameSpec, Masking, Sender};
pub use utf8::Utf8Validator;
