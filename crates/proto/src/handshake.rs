//! The head of an opening-handshake request (RFC 6455 4.2.1 over HTTP/1.1), for a
//! server that accepts sockets itself instead of going through Node's HTTP parser.
//!
//! Deliberately narrow: it recognises the common, strictly formed request and says
//! [`HeadParse::Fallback`] for anything else (bare LF line ends, folded headers, odd
//! characters, too many or too long headers). The caller then hands the socket and the
//! bytes read so far to Node's own parser, so an unusual client gets exactly Node's
//! answer. Incremental: call again with more bytes until it is not `Partial`.
//!
//! Header values are decoded as Latin-1, byte for byte, as Node decodes them.

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The request target as sent (`/chat?room=1`).
    pub target: String,
    /// The `x` of `HTTP/1.x`.
    pub minor_version: u8,
    /// In order, names as sent (Node's `rawHeaders`), values without surrounding
    /// white space.
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether Node's HTTP parser would call this an upgrade (its `'upgrade'` event
    /// rather than `'request'`): an `Upgrade` header, and `upgrade` among the tokens
    /// of a `Connection` header. CONNECT, Node's other upgrade, is not one here.
    pub fn is_upgrade(&self) -> bool {
        let has = |name: &str| {
            self.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        has("upgrade")
            && self.headers.iter().any(|(n, v)| {
                n.eq_ignore_ascii_case("connection")
                    && v.split(',')
                        .any(|t| t.trim_matches([' ', '\t']).eq_ignore_ascii_case("upgrade"))
            })
    }
}

/// What [`parse_request_head`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadParse {
    /// The head is not complete yet.
    Partial,
    /// The head, and the number of bytes it took; what follows belongs to the
    /// WebSocket (frames the client sent right behind its request).
    Complete(RequestHead, usize),
    /// Not a request this parser takes: leave it to Node's HTTP parser.
    Fallback,
}

/// Most header lines taken; beyond, Node's parser decides.
pub const MAX_HEADERS: usize = 64;

/// Parses the request head at the start of `buf`, which may hold more (or less) than
/// the head. `max_len` bounds the head (Node's default `maxHeaderSize` is 16 KiB): a
/// longer one is a `Fallback`, never a wait for more.
pub fn parse_request_head(buf: &[u8], max_len: usize) -> HeadParse {
    let window = &buf[..buf.len().min(max_len)];
    let Some(end) = find_head_end(window) else {
        // A bare LF where a CRLF should be, or a head already too long: not ours.
        if window.len() >= max_len || has_bare_lf(window) {
            return HeadParse::Fallback;
        }
        return HeadParse::Partial;
    };
    // `end` is where the blank line's CRLF ends.
    let head = &window[..end - 4];
    match parse_lines(head) {
        Some(parsed) => HeadParse::Complete(parsed, end),
        None => HeadParse::Fallback,
    }
}

/// Index just past the first CRLF CRLF.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

fn has_bare_lf(buf: &[u8]) -> bool {
    buf.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || buf[i - 1] != b'\r'))
}

/// RFC 9110 tchar.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The lines of `head` (which ends before its last CRLF), split at each CRLF. A lone
/// CR or LF stays inside a line, where the character checks refuse it.
fn crlf_lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(head);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.windows(2).position(|w| w == b"\r\n") {
            Some(at) => {
                rest = Some(&r[at + 2..]);
                Some(&r[..at])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

fn parse_lines(head: &[u8]) -> Option<RequestHead> {
    let mut lines = crlf_lines(head);
    let (method, target, minor_version) = parse_request_line(lines.next()?)?;
    let mut headers = Vec::new();
    for line in lines {
        if headers.len() == MAX_HEADERS {
            return None;
        }
        headers.push(parse_header(line)?);
    }
    Some(RequestHead {
        method,
        target,
        minor_version,
        headers,
    })
}

fn parse_request_line(line: &[u8]) -> Option<(String, String, u8)> {
    let mut parts = line.split(|&b| b == b' ');
    let method = parts.next()?;
    let target = parts.next()?;
    let version = parts.next()?;
    if parts.next().is_some() || method.is_empty() || target.is_empty() {
        return None;
    }
    if !method.iter().all(|&b| is_token(b)) || !target.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return None;
    }
    let minor = match version {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', d] if d.is_ascii_digit() => d - b'0',
        _ => return None,
    };
    Some((latin1(method), latin1(target), minor))
}

fn parse_header(line: &[u8]) -> Option<(String, String)> {
    let colon = line.iter().position(|&b| b == b':')?;
    let (name, rest) = (&line[..colon], &line[colon + 1..]);
    // No white space before the colon, and no folded continuation lines.
    if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
        return None;
    }
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = rest.iter().position(|b| !is_ows(b)).unwrap_or(rest.len());
    let end = rest
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    let value = &rest[start..end];
    // Visible characters, obs-text, and inner spaces or tabs; no controls.
    if !value
        .iter()
        .all(|&b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80)
    {
        return None;
    }
    Some((latin1(name), latin1(value)))
}

/// Each byte as the character of the same code point, as Node decodes header bytes.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &[u8] = b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Note:   spaced value \t\r\n\r\n";

    #[test]
    fn a_handshake_request_and_what_follows_it() {
        let mut buf = REQUEST.to_vec();
        buf.extend_from_slice(&[0x81, 0x80, 1, 2, 3, 4]);
        let HeadParse::Complete(head, used) = parse_request_head(&buf, 16 * 1024) else {
            panic!("not complete");
        };
        assert_eq!(used, REQUEST.len());
        assert_eq!(head.method, "GET");
        assert_eq!(head.target, "/chat?room=1");
        assert_eq!(head.minor_version, 1);
        assert_eq!(head.header("upgrade"), Some("websocket"));
        assert_eq!(head.header("sec-websocket-version"), Some("13"));
        assert_eq!(head.header("x-note"), Some("spaced value"));
        assert_eq!(head.headers.len(), 6);
    }

    #[test]
    fn what_node_calls_an_upgrade() {
        let head = |text: &str| match parse_request_head(text.as_bytes(), 4096) {
            HeadParse::Complete(head, _) => head,
            other => panic!("{other:?}"),
        };
        assert!(head(std::str::from_utf8(REQUEST).unwrap()).is_upgrade());
        assert!(
            head("GET / HTTP/1.1\r\nconnection: keep-alive, UPGRADE\r\nupgrade: x\r\n\r\n")
                .is_upgrade()
        );
        assert!(!head("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n").is_upgrade());
        assert!(!head("GET / HTTP/1.1\r\nConnection: Upgrade\r\n\r\n").is_upgrade());
        assert!(!head("GET / HTTP/1.1\r\nConnection: upgraded\r\nUpgrade: x\r\n\r\n").is_upgrade());
    }

    #[test]
    fn partial_until_the_blank_line() {
        for cut in 0..REQUEST.len() {
            assert_eq!(
                parse_request_head(&REQUEST[..cut], 16 * 1024),
                HeadParse::Partial,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn unusual_requests_go_to_node() {
        let cases: &[&[u8]] = &[
            b"GET / HTTP/1.1\nHost: a\n\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            b"GET / HTTP/1.1\r\n: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"G@T / HTTP/1.1\r\n\r\n",
            b"GET /\x7f HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        ];
        for case in cases {
            assert_eq!(
                parse_request_head(case, 16 * 1024),
                HeadParse::Fallback,
                "{:?}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn limits() {
        // Longer than the bound, complete or not.
        assert_eq!(parse_request_head(REQUEST, 40), HeadParse::Fallback);
        assert_eq!(parse_request_head(&REQUEST[..60], 40), HeadParse::Fallback);
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse_request_head(&many, 64 * 1024), HeadParse::Fallback);
    }

    #[test]
    fn values_are_latin1_names_as_sent() {
        let req = b"GET / HTTP/1.0\r\nX-Name: caf\xe9\r\n\r\n";
        let HeadParse::Complete(head, _) = parse_request_head(req, 1024) else {
            panic!("not complete");
        };
        assert_eq!(head.minor_version, 0);
        assert_eq!(
            head.headers,
            vec![("X-Name".to_string(), "caf\u{e9}".to_string())]
        );
    }
}
