//! Close frame codes: which ones a peer may send, and how a close payload is laid out.

/// Whether `code` may appear in a Close frame received from a peer, by ws's rule:
/// 1000-1014 except the reserved 1004, 1005 and 1006, or 3000-4999.
pub fn is_valid_close_code(code: u16) -> bool {
    (1000..=1014).contains(&code) && !matches!(code, 1004..=1006) || (3000..=4999).contains(&code)
}

/// Appends a close payload (big-endian code, then the reason bytes) to `out`.
pub fn encode_close_payload(out: &mut Vec<u8>, code: u16, reason: &[u8]) {
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(reason);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_codes_match_ws() {
        let valid: Vec<u16> = (0..=u16::MAX).filter(|&c| is_valid_close_code(c)).collect();
        let mut expected: Vec<u16> = (1000..=1014)
            .filter(|c| ![1004, 1005, 1006].contains(c))
            .collect();
        expected.extend(3000..=4999);
        assert_eq!(valid, expected);
    }
}
