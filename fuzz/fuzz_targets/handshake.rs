//! The request-head parser on arbitrary bytes: never panics, and what it accepts is
//! consistent however the bytes are cut (a server reads them in pieces).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsrs_proto::{parse_request_head, HeadParse};

const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let whole = parse_request_head(data, MAX);
    if let HeadParse::Complete(head, used) = &whole {
        assert!(*used <= data.len() && *used <= MAX);
        // The head alone parses to the same, with nothing left over.
        assert_eq!(
            parse_request_head(&data[..*used], MAX),
            HeadParse::Complete(head.clone(), *used)
        );
        // Any shorter prefix is still waiting (or already not ours).
        for cut in [0, *used / 2, used.saturating_sub(1)] {
            let part = parse_request_head(&data[..cut], MAX);
            assert!(
                matches!(part, HeadParse::Partial | HeadParse::Fallback),
                "cut {cut}"
            );
        }
        // Names are tokens; values have no CR or LF.
        for (name, value) in &head.headers {
            assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':'));
            assert!(!value.contains(['\r', '\n']));
        }
    }
});
