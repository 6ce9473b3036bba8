//! Frame opcodes and the frame encoder (header, optional masking).

use crate::mask::apply_mask;

/// RFC 6455 opcodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Opcode {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xa,
}

/// Length of the header [`encode_frame`] writes for a payload of `len` bytes.
pub fn header_len(len: usize, masked: bool) -> usize {
    let ext = if len < 126 {
        0
    } else if len <= 0xffff {
        2
    } else {
        8
    };
    2 + ext + if masked { 4 } else { 0 }
}

/// Appends a frame header for a payload of `len` bytes to `out` (the mask key last,
/// when given).
pub fn encode_header(
    out: &mut Vec<u8>,
    opcode: Opcode,
    fin: bool,
    rsv1: bool,
    len: usize,
    mask: Option<[u8; 4]>,
) {
    out.push((fin as u8) << 7 | (rsv1 as u8) << 6 | opcode as u8);
    let mask_bit = (mask.is_some() as u8) << 7;
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= 0xffff {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

/// Appends one frame to `out`: header, then `payload`, masked with `mask` when given
/// (clients mask, servers do not).
pub fn encode_frame(
    out: &mut Vec<u8>,
    opcode: Opcode,
    fin: bool,
    rsv1: bool,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    let len = payload.len();
    out.reserve(header_len(len, mask.is_some()) + len);
    encode_header(out, opcode, fin, rsv1, len, mask);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_examples() {
        let mut out = Vec::new();
        encode_frame(&mut out, Opcode::Text, true, false, b"Hello", None);
        assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        out.clear();
        encode_frame(
            &mut out,
            Opcode::Text,
            true,
            false,
            b"Hello",
            Some([0x37, 0xfa, 0x21, 0x3d]),
        );
        assert_eq!(
            out,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        out.clear();
        encode_frame(&mut out, Opcode::Binary, true, false, &[0u8; 256], None);
        assert_eq!(&out[..4], &[0x82, 0x7e, 0x01, 0x00]);
        out.clear();
        encode_frame(
            &mut out,
            Opcode::Binary,
            true,
            false,
            &vec![0u8; 65536],
            None,
        );
        assert_eq!(&out[..10], &[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn header_len_matches_encoder() {
        for len in [0, 125, 126, 65535, 65536] {
            for masked in [false, true] {
                let mut out = Vec::new();
                encode_frame(
                    &mut out,
                    Opcode::Binary,
                    true,
                    false,
                    &vec![1; len],
                    masked.then_some([1, 2, 3, 4]),
                );
                assert_eq!(out.len(), header_len(len, masked) + len);
            }
        }
    }
}
