//! TFRecord framing, as TensorFlow writes it: per record a little-endian u64 length, the masked
//! CRC32C of those 8 bytes, the data, and the masked CRC32C of the data. Read as a stream, so a
//! 500 MB file never sits in memory whole.

use std::io::{self, Read};

/// TensorFlow's CRC mask: rotate right by 15 and add a constant, so that CRCs of data that itself
/// holds CRCs stay well distributed.
pub fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c::crc32c(data);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Records above this size are not the benchmark's (each is well under 10 KB): refusing them keeps
/// a corrupt length from asking for gigabytes.
pub const MAX_RECORD_LEN: u64 = 64 << 20;

/// A record that is not framed as TensorFlow frames them. Records are numbered from 1.
#[derive(Debug, thiserror::Error)]
pub enum TfRecordError {
    #[error("record {record} (byte {offset}): the file ends inside the record's {part}; the file is truncated")]
    Truncated { record: usize, offset: u64, part: &'static str },
    #[error(
        "record {record} (byte {offset}): the length's CRC does not match; the file is corrupt or not a TFRecord file"
    )]
    LengthCrc { record: usize, offset: u64 },
    #[error("record {record} (byte {offset}): the data's CRC does not match; the file is corrupt")]
    DataCrc { record: usize, offset: u64 },
    #[error("record {record} (byte {offset}): length {len} is implausibly large; the file is corrupt")]
    TooLong { record: usize, offset: u64, len: u64 },
    #[error("record {record} (byte {offset}): {source}")]
    Io { record: usize, offset: u64, source: io::Error },
}

/// Reads records one after the other from any byte stream.
pub struct TfRecordReader<R> {
    inner: R,
    /// Records read so far.
    count: usize,
    offset: u64,
}

impl<R: Read> TfRecordReader<R> {
    pub fn new(inner: R) -> Self {
        TfRecordReader { inner, count: 0, offset: 0 }
    }

    /// Number of the record [`TfRecordReader::next_into`] returned last (1-based).
    pub fn record_number(&self) -> usize {
        self.count
    }

    /// Reads the next record's data into `buf`; `Ok(false)` at a clean end of file.
    pub fn next_into(&mut self, buf: &mut Vec<u8>) -> Result<bool, TfRecordError> {
        let record = self.count + 1;
        let start = self.offset;
        let mut head = [0u8; 12];
        let got = self.fill(&mut head, record, start)?;
        if got == 0 {
            return Ok(false);
        }
        if got < head.len() {
            return Err(TfRecordError::Truncated { record, offset: start, part: "header" });
        }
        let len = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
        if masked_crc(&head[..8]) != u32::from_le_bytes(head[8..].try_into().expect("4 bytes")) {
            return Err(TfRecordError::LengthCrc { record, offset: start });
        }
        if len > MAX_RECORD_LEN {
            return Err(TfRecordError::TooLong { record, offset: start, len });
        }
        buf.resize(len as usize, 0);
        if self.fill(buf, record, start)? < buf.len() {
            return Err(TfRecordError::Truncated { record, offset: start, part: "data" });
        }
        let mut crc = [0u8; 4];
        if self.fill(&mut crc, record, start)? < crc.len() {
            return Err(TfRecordError::Truncated { record, offset: start, part: "data CRC" });
        }
        if masked_crc(buf) != u32::from_le_bytes(crc) {
            return Err(TfRecordError::DataCrc { record, offset: start });
        }
        self.count = record;
        Ok(true)
    }

    /// Reads until `buf` is full or the stream ends; returns how many bytes arrived.
    fn fill(&mut self, buf: &mut [u8], record: usize, offset: u64) -> Result<usize, TfRecordError> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => return Err(TfRecordError::Io { record, offset, source }),
            }
        }
        self.offset += got as u64;
        Ok(got)
    }
}

/// One record framed as TensorFlow frames it (for writing test files and tools).
pub fn frame(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8]) -> Result<Vec<Vec<u8>>, TfRecordError> {
        let mut r = TfRecordReader::new(bytes);
        let mut out = vec![];
        let mut buf = vec![];
        while r.next_into(&mut buf)? {
            out.push(buf.clone());
        }
        Ok(out)
    }

    #[test]
    fn crc32c_and_mask_known_values() {
        // CRC32C check value of "123456789" (RFC 3720 / the Castagnoli polynomial's standard check).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        // The mask by hand: 0xe3069283 rotated right by 15 is 0x2507c60d; plus 0xa282ead8.
        assert_eq!(0xe306_9283u32.rotate_right(15), 0x2507_c60d);
        assert_eq!(masked_crc(b"123456789"), 0x2507_c60du32.wrapping_add(0xa282_ead8));
    }

    #[test]
    fn frames_round_trip_and_damage_is_located() {
        let mut file = frame(b"first");
        file.extend(frame(b""));
        file.extend(frame(b"third record"));
        assert_eq!(read_all(&file).unwrap(), vec![b"first".to_vec(), vec![], b"third record".to_vec()]);

        let third = frame(b"first").len() + frame(b"").len();
        let mut bad = file.clone();
        bad[third + 12] ^= 1;
        let e = read_all(&bad).unwrap_err().to_string();
        assert!(e.starts_with("record 3 (byte 37): the data's CRC does not match"), "{e}");
        let mut bad = file.clone();
        bad[third] ^= 1;
        assert!(matches!(read_all(&bad), Err(TfRecordError::LengthCrc { record: 3, .. })));
        for cut in [third + 5, third + 14, file.len() - 2] {
            let e = read_all(&file[..cut]).unwrap_err();
            assert!(matches!(e, TfRecordError::Truncated { record: 3, .. }), "{cut}: {e}");
            assert!(e.to_string().contains("truncated"));
        }
        // A length whose CRC matches but that no benchmark record has.
        let huge = (1u64 << 40).to_le_bytes();
        let mut bad = huge.to_vec();
        bad.extend(masked_crc(&huge).to_le_bytes());
        assert!(matches!(read_all(&bad), Err(TfRecordError::TooLong { record: 1, .. })));
    }
}
