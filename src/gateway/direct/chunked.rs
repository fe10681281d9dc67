//! The chunked transfer coding's decoder, for the gateway's direct upstream connections.

use bytes::BytesMut;

use super::DirectBodyError;

/// Largest chunk extension or trailer section accepted, in bytes.
const MAX_CHUNK_METADATA: usize = 64 * 1024;

/// The chunked transfer coding's decoder (RFC 9112 section 7.1), fed any slicing of the
/// input.
#[derive(Debug, Default)]
pub(super) struct Chunked {
    state: ChunkState,
    /// The size being read, then what is left of the chunk's data.
    size: u64,
    /// A hex digit of the size was seen.
    digits: bool,
    /// Extension and trailer bytes so far (bounded).
    metadata: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// In the chunk size's hex digits.
    #[default]
    Size,
    /// After the size, in a chunk extension (ignored) until the line's end.
    Extension,
    /// A CR ended the size line; its LF comes next.
    SizeLf,
    /// In the chunk's data.
    Data,
    /// After the data: CR LF.
    DataCr,
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// In a trailer field (ignored: trailers are not relayed).
    Trailer,
    /// A CR started the final empty line; its LF ends the body.
    EndLf,
    Done,
}

impl Chunked {
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    pub fn decode(&mut self, mut input: &[u8], out: &mut BytesMut) -> Result<(), DirectBodyError> {
        use ChunkState::*;
        while let Some(&byte) = input.first() {
            if self.state == Data {
                let n = input
                    .len()
                    .min(usize::try_from(self.size).unwrap_or(usize::MAX));
                out.extend_from_slice(&input[..n]);
                self.size -= n as u64;
                input = &input[n..];
                if self.size == 0 {
                    self.state = DataCr;
                }
                continue;
            }
            input = &input[1..];
            self.state = match (self.state, byte) {
                (Size, b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F') => {
                    let digit = (byte as char).to_digit(16).unwrap_or(0);
                    if self.size > u64::MAX >> 4 {
                        return Err(DirectBodyError::Chunked("chunk size too large"));
                    }
                    self.size = self.size << 4 | u64::from(digit);
                    self.digits = true;
                    Size
                }
                (Size, b';' | b' ' | b'\t') => Extension,
                (Size | Extension, b'\r') => SizeLf,
                (Size | Extension | SizeLf, b'\n') => self.end_size()?,
                (Size, _) => return Err(DirectBodyError::Chunked("invalid chunk size")),
                (SizeLf, _) => return Err(DirectBodyError::Chunked("CR without LF")),
                (Extension, _) => {
                    self.count_metadata()?;
                    Extension
                }
                (DataCr, b'\r') => DataLf,
                (DataCr | DataLf, b'\n') => Size,
                (DataCr | DataLf, _) => {
                    return Err(DirectBodyError::Chunked("no line end after chunk data"))
                }
                (TrailerStart, b'\r') => EndLf,
                (TrailerStart | EndLf, b'\n') => Done,
                (EndLf, _) => return Err(DirectBodyError::Chunked("CR without LF")),
                (Trailer, b'\n') => TrailerStart,
                (TrailerStart | Trailer, _) => {
                    self.count_metadata()?;
                    Trailer
                }
                // Copied in bulk above, never byte by byte.
                (Data, _) => Data,
                // Anything after the body is not the body's.
                (Done, _) => return Ok(()),
            };
        }
        Ok(())
    }

    /// The size line ended: the chunk's data follows, or the trailers after the last chunk.
    fn end_size(&mut self) -> Result<ChunkState, DirectBodyError> {
        if !std::mem::take(&mut self.digits) {
            return Err(DirectBodyError::Chunked("chunk size missing"));
        }
        Ok(if self.size == 0 {
            ChunkState::TrailerStart
        } else {
            ChunkState::Data
        })
    }

    fn count_metadata(&mut self) -> Result<(), DirectBodyError> {
        self.metadata += 1;
        if self.metadata > MAX_CHUNK_METADATA {
            return Err(DirectBodyError::Chunked(
                "chunk extensions or trailers too long",
            ));
        }
        Ok(())
    }
}
