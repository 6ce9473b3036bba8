//! Frame masking: XOR with a 4-byte key, and the key generator clients use.

/// XORs `buf` with `mask`, starting at byte `phase` of the key (for payloads that
/// arrive in pieces). Works a machine word at a time.
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4], phase: usize) {
    if mask == [0; 4] {
        return;
    }
    let mut key = [0u8; 8];
    for (i, k) in key.iter_mut().enumerate() {
        *k = mask[(phase + i) & 3];
    }
    let word = u64::from_ne_bytes(key);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut v = [0u8; 8];
        v.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(v) ^ word).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i];
    }
}

/// A fast, non-cryptographic generator of masking keys (wyrand), seeded from the
/// process's random hash keys. RFC 6455 asks for unpredictable keys so that a browser
/// page cannot steer the bytes on the wire; a per-process random seed serves that.
pub struct MaskGen {
    state: u64,
}

impl MaskGen {
    /// A generator with a fresh random seed.
    pub fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(&h as *const _ as usize);
        MaskGen { state: h.finish() }
    }

    /// The next 4-byte masking key.
    pub fn next_mask(&mut self) -> [u8; 4] {
        self.state = self.state.wrapping_add(0xa076_1d64_78bd_642f);
        let t = (self.state as u128).wrapping_mul((self.state ^ 0xe703_7ed1_a0b4_28db) as u128);
        (((t >> 64) ^ t) as u32).to_ne_bytes()
    }
}

impl Default for MaskGen {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(buf: &mut [u8], mask: [u8; 4], phase: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= mask[(phase + i) & 3];
        }
    }

    #[test]
    fn word_mask_equals_bytewise_at_every_length_and_phase() {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..40 {
            for phase in 0..4 {
                let orig: Vec<u8> = (0..len as u8).collect();
                let mut a = orig.clone();
                let mut b = orig.clone();
                apply_mask(&mut a, mask, phase);
                naive(&mut b, mask, phase);
                assert_eq!(a, b, "len {len} phase {phase}");
            }
        }
    }

    #[test]
    fn masks_differ() {
        let mut g = MaskGen::new();
        let a = g.next_mask();
        let b = g.next_mask();
        assert_ne!(a, b);
    }
}
