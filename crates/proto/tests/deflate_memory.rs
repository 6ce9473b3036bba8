//! Deflate contexts give their memory back to the system once gone (their state is
//! mapped, not taken from the heap). Alone in this test binary, so that nothing else
//! moves the process's RSS while it measures.

#![cfg(target_os = "linux")]

use wsrs_proto::{Deflater, DEFLATE_CONTEXTS_HELD};

fn rss_kib() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

#[test]
fn contexts_that_are_gone_return_their_memory() {
    let text: Vec<u8> = (0..4096u32)
        .flat_map(|i| (i * 7919).to_le_bytes())
        .collect();
    let round = || {
        // Context takeover, never released, as many as may hold their contexts.
        let mut deflaters: Vec<Deflater> = (0..DEFLATE_CONTEXTS_HELD)
            .map(|_| Deflater::new(15, false, 6))
            .collect();
        for d in &mut deflaters {
            let mut out = Vec::new();
            d.compress(&text, true, &mut out);
            assert!(!out.is_empty());
        }
        let held = rss_kib();
        drop(deflaters);
        held
    };
    let before = rss_kib();
    // Twice: from the heap, the second round is where memory freed by the first stays
    // with the allocator (glibc serves big blocks from the heap once one was freed).
    for n in 0..2 {
        let held = round();
        let after = rss_kib();
        // Each context touches over 250 KiB. Once dropped they go to the thread's pool
        // (at most 16 kept, about 5 MiB) and the rest is unmapped.
        assert!(
            held > before + DEFLATE_CONTEXTS_HELD * 250,
            "round {n}: held {held} KiB, before {before} KiB"
        );
        assert!(
            after < before + 8 * 1024,
            "round {n}: after {after} KiB, before {before} KiB, held {held} KiB"
        );
    }
}
