//! One record on disk: `[u32 len][u32 crc32c][u64 seq][u32 books][payload]`,
//! little-endian. The checksum covers `seq`, `books` and the payload, so a
//! flipped byte anywhere but in `len` is caught by the checksum, and a bad
//! `len` is caught by the checksum of what it then frames (or by running
//! past the end of the file).
//!
//! A record that carries its source's id (its *origin*, which a sink may
//! send on as a message id so a broker drops a replay's duplicates) has the
//! top bit of `books` set, and its payload starts with `[u16 len][origin]`.
//! Records written without one read as before.

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

/// The bit of `books` that says the payload starts with an origin.
const HAS_ORIGIN: u32 = 1 << 31;

/// Appends the record to `out`. An origin longer than 64 KiB is not kept.
pub(crate) fn encode(
    out: &mut Vec<u8>,
    seq: u64,
    books: u32,
    origin: Option<&str>,
    payload: &[u8],
) {
    let origin = origin.and_then(|o| u16::try_from(o.len()).ok().map(|len| (len, o)));
    let books = books & !HAS_ORIGIN | if origin.is_some() { HAS_ORIGIN } else { 0 };
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    if let Some((len, origin)) = origin {
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(origin.as_bytes());
    }
    out.extend_from_slice(payload);
    let body = &out[start + HEADER..];
    let len = u32::try_from(body.len()).expect("a spilled record is under 4 GiB");
    let crc = checksum(seq, books, body);
    let head = &mut out[start..start + HEADER];
    head[0..4].copy_from_slice(&len.to_le_bytes());
    head[4..8].copy_from_slice(&crc.to_le_bytes());
    head[8..16].copy_from_slice(&seq.to_le_bytes());
    head[16..20].copy_from_slice(&books.to_le_bytes());
}

/// A checked record's body as its origin (if it has one) and payload;
/// `None` if the origin's length runs past the body.
pub(crate) fn split_body(header: &Header, mut body: Vec<u8>) -> Option<(Option<String>, Vec<u8>)> {
    if header.books & HAS_ORIGIN == 0 {
        return Some((None, body));
    }
    let len = usize::from(u16::from_le_bytes(body.get(..2)?.try_into().ok()?));
    let origin = String::from_utf8_lossy(body.get(2..2 + len)?).into_owned();
    body.drain(..2 + len);
    Some((Some(origin), body))
}

impl Header {
    /// How many source records the record stands for.
    pub(crate) fn books(&self) -> u32 {
        self.books & !HAS_ORIGIN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_any_flipped_byte_fails_its_check() {
        let mut bytes = Vec::new();
        encode(&mut bytes, 42, 3, None, b"hello");
        let header = Header::parse(bytes[..HEADER].try_into().unwrap());
        assert_eq!((header.len, header.seq, header.books()), (5, 42, 3));
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

    #[test]
    fn an_origin_reads_back_with_its_record_and_is_checked_with_it() {
        let mut bytes = Vec::new();
        encode(&mut bytes, 7, 1, Some("EVENTS:12"), b"{}");
        let header = Header::parse(bytes[..HEADER].try_into().unwrap());
        assert_eq!((header.seq, header.books()), (7, 1));
        assert!(header.checks(&bytes[HEADER..]));
        let (origin, payload) = split_body(&header, bytes[HEADER..].to_vec()).unwrap();
        assert_eq!(origin.as_deref(), Some("EVENTS:12"));
        assert_eq!(payload, b"{}");
        let mut bad = bytes.clone();
        bad[HEADER + 3] ^= 0x01; // in the origin
        assert!(!header.checks(&bad[HEADER..]));
        // A record written without one reads as before.
        let mut plain = Vec::new();
        encode(&mut plain, 8, 1, None, b"{}");
        let header = Header::parse(plain[..HEADER].try_into().unwrap());
        let (origin, payload) = split_body(&header, plain[HEADER..].to_vec()).unwrap();
        assert_eq!((origin, payload), (None, b"{}".to_vec()));
    }
}
