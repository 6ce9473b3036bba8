//! Frames built by JS code itself: `Sender.frame(data, options)` (lib/sender.js), which
//! socket.io uses to build a broadcast frame once. The header and the masking come
//! from the protocol core, so the frame format stays defined in one place.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use wsrs_proto::{apply_mask, encode_header, header_len, Opcode};

fn opcode_of(code: u32) -> Result<Opcode> {
    Ok(match code {
        0x0 => Opcode::Continuation,
        0x1 => Opcode::Text,
        0x2 => Opcode::Binary,
        0x8 => Opcode::Close,
        0x9 => Opcode::Ping,
        0xa => Opcode::Pong,
        _ => return Err(Error::from_reason(format!("Invalid opcode: {code}"))),
    })
}

fn key_of(key: Option<&[u8]>) -> Result<Option<[u8; 4]>> {
    key.map(|k| {
        <[u8; 4]>::try_from(k).map_err(|_| Error::from_reason("The masking key must be 4 bytes"))
    })
    .transpose()
}

/// The header of a frame with a payload of `len` bytes, the masking key last when
/// given; `extra` bytes of room after it (for a payload masked into the same Buffer).
#[napi(catch_unwind)]
pub fn frame_header(
    opcode: u32,
    fin: bool,
    rsv1: bool,
    len: f64,
    key: Option<BufferSlice>,
    extra: Option<u32>,
) -> Result<Buffer> {
    if !(len.is_finite() && len >= 0.0 && len.fract() == 0.0 && len <= 9_007_199_254_740_991.0) {
        return Err(Error::from_reason(format!("Invalid payload length: {len}")));
    }
    let len = len as usize;
    let key = key_of(key.as_deref())?;
    let extra = extra.unwrap_or(0) as usize;
    let mut out = Vec::with_capacity(header_len(len, key.is_some()).saturating_add(extra));
    encode_header(&mut out, opcode_of(opcode)?, fin, rsv1, len, key);
    out.resize(out.len().saturating_add(extra), 0);
    Ok(out.into())
}

/// Masks `source` with `key`: in place, or into `target` from `offset` (ws's
/// `applyMask(source, mask, output, offset, length)`).
#[napi(catch_unwind)]
pub fn mask_payload(
    mut source: BufferSlice,
    key: BufferSlice,
    target: Option<BufferSlice>,
    offset: Option<u32>,
) -> Result<()> {
    let Some(key) = key_of(Some(&key))? else {
        return Ok(());
    };
    match target {
        None => apply_mask(&mut source, key, 0),
        Some(mut target) => {
            let start = offset.unwrap_or(0) as usize;
            let end = start.saturating_add(source.len());
            let Some(out) = target.get_mut(start..end) else {
                return Err(Error::from_reason(
                    "The target is too small for the payload",
                ));
            };
            out.copy_from_slice(&source);
            apply_mask(out, key, 0);
        }
    }
    Ok(())
}
