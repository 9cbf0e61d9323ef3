//! One record on disk: `[u32 len][u32 crc32c][u64 seq][u32 books][payload]`,
//! little-endian. The checksum covers `seq`, `books` and the payload, so a
//! flipped byte anywhere but in `len` is caught by the checksum, and a bad
//! `len` is caught by the checksum of what it then frames (or by running
//! past the end of the file).

/// Bytes before the payload.
pub(crate) const HEADER: usize = 20;

/// A record's header, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) len: u32,
    pub(crate) crc: u32,
    pub(crate) seq: u64,
    /// How many source records the record stands for in the books.
    pub(crate) books: u32,
}

impl Header {
    pub(crate) fn parse(bytes: &[u8; HEADER]) -> Header {
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        Header {
            len: u32_at(0),
            crc: u32_at(4),
            seq: u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")),
            books: u32_at(16),
        }
    }

    /// Whether `payload` is what this header was written with.
    pub(crate) fn checks(&self, payload: &[u8]) -> bool {
        checksum(self.seq, self.books, payload) == self.crc
    }
}

fn checksum(seq: u64, books: u32, payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&seq.to_le_bytes());
    let crc = crc32c::crc32c_append(crc, &books.to_le_bytes());
    crc32c::crc32c_append(crc, payload)
}

/// Appends the record to `out`.
pub(crate) fn encode(out: &mut Vec<u8>, seq: u64, books: u32, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("a spilled record is under 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&checksum(seq, books, payload).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&books.to_le_bytes());
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_any_flipped_byte_fails_its_check() {
        let mut bytes = Vec::new();
        encode(&mut bytes, 42, 3, b"hello");
        let header = Header::parse(bytes[..HEADER].try_into().unwrap());
        assert_eq!((header.len, header.seq, header.books), (5, 42, 3));
        assert!(header.checks(&bytes[HEADER..]));
        for at in 4..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            let header = Header::parse(bad[..HEADER].try_into().unwrap());
            assert!(
                !header.checks(&bad[HEADER..]),
                "byte {at} flipped unnoticed"
            );
        }
    }
}
