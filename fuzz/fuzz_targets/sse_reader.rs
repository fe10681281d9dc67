//! The SSE reader the gateway runs on upstream streams (and the client on the hub's): an
//! upstream's bytes, cut into chunks whose sizes the first input bytes choose.
//!
//! Besides not panicking: the blocks and the verdict on an over-long block are the same
//! whatever the chunking; the blocks put together are the stream, byte for byte (after a
//! leading BOM), so a relay forwards exactly what it got; every block ends with a blank
//! line and stays under the limit; and parsing and dispatching each block does not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssegate::sse::{Block, BlockTooLarge, Dispatcher, SseReader};

/// Small, so that the fuzzer reaches the limit often.
const MAX_BLOCK: usize = 512;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What a reader made of a stream: its blocks, then its verdict (a failure, or what was
/// left unfinished at the end).
#[derive(Debug, PartialEq)]
struct Outcome {
    blocks: Vec<Block>,
    failed: Option<BlockTooLarge>,
    unfinished_retry: Option<u64>,
}

fuzz_target!(|input: &[u8]| {
    let (sizes, stream) = match input.split_first() {
        Some((&n, rest)) => (usize::from(n % 4), rest),
        None => return,
    };
    let (sizes, stream) = stream.split_at(sizes.min(stream.len()));
    let whole = read(&[stream]);
    let chunks = chunk(stream, sizes);
    let chunked = read(&chunks);
    assert_eq!(
        whole,
        chunked,
        "chunks {:?}",
        chunks.iter().map(|c| c.len()).collect::<Vec<_>>()
    );

    let unmarked = stream.strip_prefix(BOM).unwrap_or(stream);
    let joined: Vec<u8> = whole.blocks.iter().flat_map(|b| b.raw().to_vec()).collect();
    if whole.failed.is_none() {
        assert!(
            unmarked.starts_with(&joined),
            "blocks are the stream's bytes"
        );
    }
    let mut dispatcher = Dispatcher::default();
    for block in &whole.blocks {
        let raw = block.raw();
        assert!(raw.len() <= MAX_BLOCK);
        assert!(raw.ends_with(b"\n") || raw.ends_with(b"\r"));
        // Parse the block as the fan-out does, and dispatch it as a client does.
        let fields = block.fields();
        let _ = block.lines().count();
        if let Some(event) = dispatcher.dispatch(fields.clone()) {
            assert_eq!(Some(&event.data), fields.data.as_ref());
        }
    }
});

/// Splits `stream` into chunks whose lengths cycle through `sizes` (plus one, so never 0).
fn chunk<'a>(stream: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    if sizes.is_empty() {
        return stream.iter().map(std::slice::from_ref).collect();
    }
    let mut chunks = Vec::new();
    let mut rest = stream;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at((usize::from(size) + 1).min(rest.len()));
        chunks.push(head);
        rest = tail;
    }
    chunks
}

fn read(chunks: &[&[u8]]) -> Outcome {
    let mut reader = SseReader::new(MAX_BLOCK);
    let mut blocks = Vec::new();
    for chunk in chunks {
        reader.push(chunk);
        loop {
            match reader.next_block() {
                Ok(Some(block)) => blocks.push(block),
                Ok(None) => break,
                Err(e) => {
                    return Outcome {
                        blocks,
                        failed: Some(e),
                        unfinished_retry: None,
                    }
                }
            }
        }
        // Where the relay may insert a heartbeat; only its not panicking is checked here.
        let _ = reader.at_boundary();
    }
    loop {
        match reader.finish() {
            Ok(Some(block)) => blocks.push(block),
            Ok(None) => break,
            Err(e) => {
                return Outcome {
                    blocks,
                    failed: Some(e),
                    unfinished_retry: None,
                }
            }
        }
    }
    Outcome {
        blocks,
        failed: None,
        unfinished_retry: reader.unfinished_retry(),
    }
}
