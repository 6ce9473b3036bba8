//! permessage-deflate contexts for JS code that compresses by itself: the
//! `compress`/`decompress` methods of `WebSocket.PerMessageDeflate` (ws's API; ws's
//! tests and some tools build compressed frames with them). Connections never come
//! here: their contexts live with them in the io drivers. Same core, same results.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use wsrs_proto::{inflate_message, Deflater, Inflater, ProtoError};

use super::DeflateOptions;

/// One side's compressor (`PerMessageDeflate#compress`).
#[napi]
pub struct DeflateStream {
    inner: Deflater,
}

#[napi]
impl DeflateStream {
    /// The deflate side of an agreement, as `PerMessageDeflate#coreOptions` gives it.
    #[napi(constructor)]
    pub fn new(options: DeflateOptions) -> Self {
        DeflateStream {
            inner: options.deflater(),
        }
    }

    /// Compresses one fragment; `fin` ends the message (the sync-flush tail stripped).
    #[napi(catch_unwind)]
    pub fn compress(&mut self, data: BufferSlice, fin: bool) -> Buffer {
        let mut out = Vec::with_capacity(data.len() / 2 + 16);
        self.inner.compress(&data, fin, &mut out);
        out.into()
    }
}

/// What `InflateStream#decompress` gives: the data, or a protocol error as the core
/// reports it (`kind` is `ProtoError::kind_id`; `message` is zlib's text).
#[napi(object)]
pub struct Inflated {
    pub data: Option<Buffer>,
    pub error_kind: u32,
    pub error_message: String,
}

/// One side's decompressor (`PerMessageDeflate#decompress`).
#[napi]
pub struct InflateStream {
    inner: Inflater,
}

#[napi]
impl InflateStream {
    #[napi(constructor)]
    pub fn new(window_bits: u32, no_context_takeover: bool) -> Self {
        InflateStream {
            inner: Inflater::new(window_bits.min(15) as u8, no_context_takeover),
        }
    }

    /// Inflates one fragment (`fin`: the message's last); `max_payload` bounds what
    /// this call may produce (0 or not a positive number: no limit), as in ws.
    #[napi(catch_unwind)]
    pub fn decompress(&mut self, data: BufferSlice, fin: bool, max_payload: f64) -> Inflated {
        let limit = if max_payload.is_finite() && max_payload >= 1.0 {
            max_payload as u64
        } else {
            0
        };
        let mut out = Vec::new();
        let mut result = self.inner.inflate(&data, &mut out, limit);
        if result.is_ok() && fin {
            result = self.inner.finish(&mut out, limit);
        }
        match result {
            Ok(()) => Inflated {
                data: Some(out.into()),
                error_kind: 0,
                error_message: String::new(),
            },
            Err(err) => Inflated {
                data: None,
                error_kind: err.kind_id(),
                error_message: match err {
                    ProtoError::Inflate(index) => inflate_message(index).to_string(),
                    _ => String::new(),
                },
            },
        }
    }
}
