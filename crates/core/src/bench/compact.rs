//! The compact binary form of the NAS-Bench-201 table, and the embedded asset
//! `crates/core/assets/nb201/nb201.bin`.
//!
//! Regenerate the asset after changing the format or the CSV (the source is
//! `shared/data/nasbench201/nb201_accuracies.csv`, next to the repository):
//!
//! ```text
//! cargo test -p oxnas-core --lib bench::compact::tests::regenerate_asset -- --ignored
//! ```
//!
//! Layout, all integers little-endian:
//!
//! ```text
//! header (24 bytes, not compressed)
//!   0  magic    b"OXNB201\0"
//!   8  version  u32 = 1
//!  12  raw_len  u32  length of the payload after inflating
//!  16  body_len u32  length of the deflate stream that follows the header
//!  20  crc32    u32  over bytes 8..20 and the body, so any flipped or lost byte is caught
//!                    before inflating
//! body: raw deflate of the payload
//!   u32 rows (15625), u32 columns (9)
//!   u16 × rows       arch per row as a base-5 code over the op ids, edge 1<-0 most significant
//!   u32 classes
//!   u16 × rows       isomorphism class per row, numbered by first appearance
//!   u32 text_len, text_len bytes: the classes' unique_str joined by '\n'
//!   per column, in `Column::ALL` order:
//!     u32 distinct
//!     u32 × distinct  the distinct values in micro-percent, ascending, as deltas from the previous
//!     u16 × rows       per row, the position of its value among the distinct values
//! ```
//!
//! Why this shape: each accuracy is a mean over a few seeds of a count of correct test images, so
//! a column has only 900..7,000 distinct values; a sorted dictionary plus 16-bit positions is
//! exact and about a third smaller after deflate than raw u32 values. Every u16 array is stored
//! as all its low bytes, then all its high bytes: the high bytes are small and repetitive, which
//! deflate compresses well (another ~10%). The asset is ~320 KB against 3.7 MB of CSV. Raw
//! deflate rather than gzip because the header already carries lengths and a checksum.

use std::io::Read;
use std::path::Path;

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::{Compression, Crc};

use super::table::{Nb201Table, Parts, NUM_CELLS};
use super::{BenchError, Column};

pub const MAGIC: [u8; 8] = *b"OXNB201\0";
pub const VERSION: u32 = 1;
const HEADER_LEN: usize = 24;
/// Far above the ~1 MB real payload; stops a forged header from making us allocate gigabytes.
const MAX_RAW_LEN: usize = 16 << 20;

/// The asset compiled into oxnas.
pub(super) static ASSET: &[u8] = include_bytes!("../../assets/nb201/nb201.bin");

/// The compact bytes compiled into oxnas (what [`Nb201Table::embedded`] decodes).
pub fn asset_bytes() -> &'static [u8] {
    ASSET
}

/// Loads the CSV at `csv` and writes its compact form to `out`.
pub fn write_asset(csv: &Path, out: &Path) -> Result<(), BenchError> {
    let table = Nb201Table::from_csv_path(csv)?;
    std::fs::write(out, encode(&table)).map_err(|source| BenchError::Io { path: out.to_path_buf(), source })
}

pub(super) fn encode(table: &Nb201Table) -> Vec<u8> {
    let mut raw = Vec::with_capacity(1 << 20);
    put_u32(&mut raw, table.len());
    put_u32(&mut raw, table.columns.len());
    put_u16_planes(&mut raw, &table.codes);
    put_u32(&mut raw, table.num_classes());
    put_u16_planes(&mut raw, &table.class_of);
    let strings: Vec<&str> = (0..table.num_classes()).filter_map(|c| table.class_unique_str(c)).collect();
    let text = strings.join("\n");
    put_u32(&mut raw, text.len());
    raw.extend_from_slice(text.as_bytes());
    for col in &table.columns {
        put_u32(&mut raw, col.distinct.len());
        let mut prev = 0;
        for &v in &col.distinct {
            raw.extend_from_slice(&(v - prev).to_le_bytes());
            prev = v;
        }
        put_u16_planes(&mut raw, &col.slot);
    }

    let mut z = DeflateEncoder::new(Vec::new(), Compression::best());
    std::io::Write::write_all(&mut z, &raw).expect("writing to a Vec cannot fail");
    let body = z.finish().expect("writing to a Vec cannot fail");

    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    put_u32(&mut out, raw.len());
    put_u32(&mut out, body.len());
    let crc = checksum(&out[8..20], &body);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&body);
    out
}

pub(super) fn decode(bytes: &[u8]) -> Result<Nb201Table, BenchError> {
    let magic_len = bytes.len().min(MAGIC.len());
    if bytes[..magic_len] != MAGIC[..magic_len] {
        return Err(BenchError::BadMagic { found: bytes[..magic_len].to_vec(), expected: MAGIC.to_vec() });
    }
    if bytes.len() < HEADER_LEN {
        return Err(BenchError::Truncated { needed: HEADER_LEN, found: bytes.len() });
    }
    let field = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let version = field(8);
    if version != VERSION {
        return Err(BenchError::UnsupportedVersion { found: version, supported: VERSION });
    }
    let (raw_len, body_len, stored) = (field(12) as usize, field(16) as usize, field(20));
    let needed = HEADER_LEN.saturating_add(body_len);
    if bytes.len() < needed {
        return Err(BenchError::Truncated { needed, found: bytes.len() });
    }
    if bytes.len() > needed {
        return Err(BenchError::Malformed(format!(
            "{} bytes follow the {needed} the header accounts for",
            bytes.len() - needed
        )));
    }
    let body = &bytes[HEADER_LEN..];
    let computed = checksum(&bytes[8..20], body);
    if computed != stored {
        return Err(BenchError::ChecksumMismatch { stored, computed });
    }
    if raw_len > MAX_RAW_LEN {
        return Err(BenchError::Malformed(format!("payload length {raw_len} is implausibly large")));
    }

    let mut raw = Vec::with_capacity(raw_len);
    DeflateDecoder::new(body)
        .take(raw_len as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(|e| BenchError::Malformed(format!("the deflate stream does not inflate ({e})")))?;
    if raw.len() != raw_len {
        return Err(BenchError::Malformed(format!(
            "payload inflates to {}{} bytes, the header says {raw_len}",
            raw.len(),
            if raw.len() > raw_len { "+" } else { "" }
        )));
    }
    parse_payload(&raw)
}

fn parse_payload(raw: &[u8]) -> Result<Nb201Table, BenchError> {
    let mut r = Reader { buf: raw, pos: 0 };
    let rows = r.u32("row count")?;
    let cols = r.u32("column count")?;
    // Checked before any allocation sized by them.
    if rows != NUM_CELLS || cols != Column::ALL.len() {
        return Err(BenchError::Malformed(format!(
            "{rows} rows × {cols} columns, expected {NUM_CELLS} × {}",
            Column::ALL.len()
        )));
    }
    let codes = r.u16_planes(rows, "arch codes")?;
    let classes = r.u32("class count")?;
    let class_of = r.u16_planes(rows, "class ids")?;
    let text_len = r.u32("unique_str length")?;
    let text = std::str::from_utf8(r.take(text_len, "unique strings")?)
        .map_err(|_| BenchError::Malformed("the unique strings are not UTF-8".into()))?;
    let mut unique_text = String::with_capacity(text.len());
    let mut unique_start = Vec::with_capacity(classes.min(rows) + 1);
    unique_start.push(0u32);
    for s in text.split('\n') {
        unique_text.push_str(s);
        unique_start.push(unique_text.len() as u32);
    }
    if unique_start.len() != classes + 1 {
        return Err(BenchError::Malformed(format!(
            "{} unique strings, the header says {classes} classes",
            unique_start.len() - 1
        )));
    }
    let mut columns = Vec::with_capacity(cols);
    for c in Column::ALL {
        let n = r.u32("distinct value count")?;
        if n == 0 || n > rows {
            return Err(BenchError::Malformed(format!("{c} has {n} distinct values")));
        }
        let deltas = r.take(n * 4, "distinct values")?;
        let mut distinct = Vec::with_capacity(n);
        let mut acc: u32 = 0;
        for d in deltas.chunks_exact(4) {
            let d = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
            acc = acc.checked_add(d).ok_or_else(|| BenchError::Malformed(format!("{c}: a value overflows")))?;
            distinct.push(acc);
        }
        columns.push((distinct, r.u16_planes(rows, "value positions")?));
    }
    if r.pos != raw.len() {
        return Err(BenchError::Malformed(format!("{} unread payload bytes", raw.len() - r.pos)));
    }
    Nb201Table::assemble(Parts { codes, class_of, unique_text, unique_start, columns })
}

fn checksum(header_fields: &[u8], body: &[u8]) -> u32 {
    let mut crc = Crc::new();
    crc.update(header_fields);
    crc.update(body);
    crc.sum()
}

fn put_u32(out: &mut Vec<u8>, v: usize) {
    let v = u32::try_from(v).expect("table sizes fit in u32");
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u16_planes(out: &mut Vec<u8>, xs: &[u16]) {
    out.extend(xs.iter().map(|x| *x as u8));
    out.extend(xs.iter().map(|x| (x >> 8) as u8));
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], BenchError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| BenchError::Malformed(format!("the payload ends inside the {what}")))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self, what: &str) -> Result<usize, BenchError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn u16_planes(&mut self, n: usize, what: &str) -> Result<Vec<u16>, BenchError> {
        let b = self.take(n * 2, what)?;
        let (lo, hi) = b.split_at(n);
        Ok(lo.iter().zip(hi).map(|(&l, &h)| u16::from_le_bytes([l, h])).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn asset_path() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/nb201/nb201.bin"))
    }

    /// Rewrites the asset from the shared CSV; run on purpose only (see the module docs).
    #[test]
    #[ignore = "rewrites crates/core/assets/nb201/nb201.bin from the shared CSV"]
    fn regenerate_asset() {
        let csv = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/nasbench201/nb201_accuracies.csv"
        ));
        write_asset(&csv, &asset_path()).unwrap();
        let written = std::fs::read(asset_path()).unwrap();
        let table = Nb201Table::from_compact(&written).unwrap();
        assert_eq!(table, Nb201Table::from_csv_path(&csv).unwrap());
        eprintln!("wrote {} ({} bytes)", asset_path().display(), written.len());
    }

    #[test]
    fn asset_decodes_and_re_encodes_to_the_same_bytes() {
        assert_eq!(ASSET, std::fs::read(asset_path()).unwrap());
        let table = decode(ASSET).unwrap();
        assert_eq!(encode(&table), ASSET);
        assert!(ASSET.len() < 1 << 20, "asset grew to {} bytes", ASSET.len());
    }

    #[test]
    fn write_asset_turns_a_csv_file_into_the_asset_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (csv, out) = (dir.path().join("nb201.csv"), dir.path().join("nb201.bin"));
        std::fs::write(&csv, Nb201Table::embedded().to_csv_string()).unwrap();
        write_asset(&csv, &out).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), ASSET);
        let missing = dir.path().join("absent.csv");
        assert!(matches!(write_asset(&missing, &out), Err(BenchError::Io { path, .. }) if path == missing));
    }

    #[test]
    fn truncation_anywhere_is_reported_as_truncation() {
        for keep in [0, 3, 8, 20, 23, 24, 100, ASSET.len() / 2, ASSET.len() - 1] {
            match decode(&ASSET[..keep]) {
                Err(BenchError::Truncated { found, .. }) => assert_eq!(found, keep),
                other => panic!("keeping {keep} bytes: {other:?}"),
            }
        }
    }

    #[test]
    fn bad_magic_is_reported_with_the_bytes_found() {
        let gz = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0];
        let err = decode(&gz).unwrap_err();
        assert!(matches!(&err, BenchError::BadMagic { found, .. } if found[..2] == [0x1f, 0x8b]));
        assert!(err.to_string().contains("from_csv_path"), "{err}");
        let mut b = ASSET.to_vec();
        b[3] ^= 0x20;
        assert!(matches!(decode(&b), Err(BenchError::BadMagic { .. })));
    }

    #[test]
    fn other_versions_are_refused_by_number() {
        let mut b = ASSET.to_vec();
        b[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert!(matches!(decode(&b), Err(BenchError::UnsupportedVersion { found: 2, supported: VERSION })));
    }

    #[test]
    fn a_flipped_byte_anywhere_after_the_version_fails_cleanly() {
        // Every position in the lengths, the checksum, and a spread of body positions.
        let mut positions: Vec<usize> = (12..HEADER_LEN).collect();
        positions.extend((HEADER_LEN..ASSET.len()).step_by(997));
        positions.push(ASSET.len() - 1);
        for at in positions {
            let mut b = ASSET.to_vec();
            b[at] ^= 0x01;
            match decode(&b) {
                Err(BenchError::ChecksumMismatch { .. }) if at >= 20 => {}
                // A changed body length makes the file look cut short or padded.
                Err(BenchError::Truncated { .. } | BenchError::Malformed(_)) if (16..20).contains(&at) => {}
                Err(BenchError::ChecksumMismatch { .. }) if (12..16).contains(&at) => {}
                other => panic!("flipping byte {at}: {other:?}"),
            }
        }
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut b = ASSET.to_vec();
        b.push(0);
        assert!(matches!(decode(&b), Err(BenchError::Malformed(m)) if m.contains("1 bytes follow")));
    }

    /// Re-wraps a payload with a valid header, so the payload checks themselves are exercised.
    fn wrap(raw: &[u8]) -> Vec<u8> {
        let mut z = DeflateEncoder::new(Vec::new(), Compression::fast());
        std::io::Write::write_all(&mut z, raw).unwrap();
        let body = z.finish().unwrap();
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&VERSION.to_le_bytes());
        put_u32(&mut out, raw.len());
        put_u32(&mut out, body.len());
        let crc = checksum(&out[8..20], &body);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    fn raw_payload() -> Vec<u8> {
        let mut raw = Vec::new();
        DeflateDecoder::new(&ASSET[HEADER_LEN..]).read_to_end(&mut raw).unwrap();
        raw
    }

    #[test]
    fn well_checksummed_but_inconsistent_payloads_are_errors_not_panics() {
        let raw = raw_payload();
        assert_eq!(decode(&wrap(&raw)).unwrap(), decode(ASSET).unwrap());
        let n = NUM_CELLS;
        let codes = 8;
        let class_ids = codes + 2 * n + 4;
        let mut cases: Vec<(Vec<u8>, &str)> = Vec::new();

        let mut r = raw.clone();
        r[0] = 7;
        cases.push((r, "rows"));
        let mut r = raw.clone();
        r[codes] = r[codes + 1]; // row 0 takes row 1's code: low byte, then high byte
        r[codes + n] = r[codes + n + 1];
        cases.push((r, "same arch"));
        let mut r = raw.clone();
        r[codes + n] = 0xff; // high byte of row 0's code: far above 5^6
        cases.push((r, "arch code"));
        let mut r = raw.clone();
        r[class_ids] = 3; // row 0 claims class 3 before classes 0..2 exist
        cases.push((r, "before class"));
        let mut r = raw.clone();
        r[class_ids - 4] ^= 1; // class count
        cases.push((r, "classes"));
        let mut r = raw.clone();
        r.truncate(raw.len() - 1);
        cases.push((r, "ends inside"));
        let mut r = raw.clone();
        r.push(0);
        cases.push((r, "unread"));
        let mut r = raw.clone();
        let last_slots = raw.len() - 2 * n;
        r[last_slots + n] = 0xff; // a value position past the dictionary
        cases.push((r, "out of range"));

        for (bytes, want) in cases {
            let err = decode(&wrap(&bytes)).unwrap_err();
            assert!(matches!(err, BenchError::Malformed(_) | BenchError::Inconsistent(_)), "{want}: {err:?}");
            assert!(err.to_string().contains(want), "want {want:?} in: {err}");
        }
    }

    #[test]
    fn forged_huge_lengths_do_not_allocate() {
        let mut b = ASSET.to_vec();
        b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        let crc = checksum(&b[8..20], &b[HEADER_LEN..]);
        b[20..24].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(decode(&b), Err(BenchError::Malformed(m)) if m.contains("implausibly")));
    }
}
