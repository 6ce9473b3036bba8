//! UTF-8 validation that can be fed a message in pieces, so invalid text is refused at
//! the fragment (or read) where it appears instead of after the whole message arrived.

/// Incremental UTF-8 validator. Keeps at most the 3 bytes of a sequence cut by a piece
/// boundary.
#[derive(Default)]
pub struct Utf8Validator {
    pending: [u8; 4],
    pending_len: usize,
}

fn sequence_len(lead: u8) -> usize {
    match lead {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 1,
    }
}

impl Utf8Validator {
    /// Checks the next piece. Returns false as soon as the bytes so far cannot be the
    /// start of valid UTF-8.
    pub fn feed(&mut self, mut input: &[u8]) -> bool {
        if self.pending_len > 0 {
            let need = sequence_len(self.pending[0]);
            while self.pending_len < need && !input.is_empty() {
                self.pending[self.pending_len] = input[0];
                self.pending_len += 1;
                input = &input[1..];
            }
            match std::str::from_utf8(&self.pending[..self.pending_len]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() => return true,
                Err(_) => return false,
            }
        }
        match std::str::from_utf8(input) {
            Ok(_) => true,
            Err(e) if e.error_len().is_none() => {
                let rest = &input[e.valid_up_to()..];
                self.pending[..rest.len()].copy_from_slice(rest);
                self.pending_len = rest.len();
                true
            }
            Err(_) => false,
        }
    }

    /// Ends the message: false if it stopped inside a sequence. Resets the validator.
    pub fn finish(&mut self) -> bool {
        let complete = self.pending_len == 0;
        self.pending_len = 0;
        complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_everywhere(bytes: &[u8]) -> bool {
        let whole = std::str::from_utf8(bytes).is_ok();
        for cut in 0..=bytes.len() {
            for cut2 in cut..=bytes.len() {
                let mut v = Utf8Validator::default();
                let ok = v.feed(&bytes[..cut])
                    && v.feed(&bytes[cut..cut2])
                    && v.feed(&bytes[cut2..])
                    && v.finish();
                assert_eq!(ok, whole, "{bytes:x?} cut at {cut},{cut2}");
            }
        }
        whole
    }

    #[test]
    fn agrees_with_std_at_every_split() {
        assert!(split_everywhere("Hello-µ@ßöäüàá-UTF-8!!".as_bytes()));
        assert!(split_everywhere("κόσμε 𝄞 \u{10ffff}".as_bytes()));
        assert!(!split_everywhere(&[
            0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80,
            0x65, 0x64
        ]));
        assert!(!split_everywhere(&[0xf4, 0x90, 0x80, 0x80]));
        assert!(!split_everywhere(&[0xc0, 0xaf]));
        assert!(!split_everywhere(&[0xe0, 0x80, 0xaf]));
        assert!(!split_everywhere(&[0xf0, 0x9f, 0x98]));
        assert!(!split_everywhere(&[0x80]));
    }

    #[test]
    fn fails_fast_before_the_end() {
        let mut v = Utf8Validator::default();
        assert!(v.feed(b"abc"));
        assert!(!v.feed(&[0xce, 0xba, 0xff]));
    }
}
