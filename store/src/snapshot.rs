//! The snapshot format: every row of the state machine's column families,
//! read from one point-in-time view.
//!
//! Layout: the magic `TSNAP1`, then records of
//! `[cf tag: u8][key len: u32 BE][key][value len: u32 BE][value]`.
//! A stored snapshot (the one offered to followers) is
//! `[meta len: u32 BE][SnapshotMeta as JSON][data]`.

use crate::engine::CfRow;
use crate::keys::Cf;
use crate::types::SnapshotMeta;

const MAGIC: &[u8] = b"TSNAP1";

#[derive(Debug, thiserror::Error)]
#[error("snapshot is malformed: {0}")]
pub struct SnapshotFormatError(pub String);

pub fn encode_rows(rows: &[CfRow]) -> Vec<u8> {
    let size: usize = rows.iter().map(|(_, k, v)| 9 + k.len() + v.len()).sum();
    let mut out = Vec::with_capacity(MAGIC.len() + size);
    out.extend_from_slice(MAGIC);
    for (cf, key, value) in rows {
        out.push(cf.tag());
        out.extend_from_slice(&(key.len() as u32).to_be_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value);
    }
    out
}

pub fn decode_rows(data: &[u8]) -> Result<Vec<CfRow>, SnapshotFormatError> {
    let body = data.strip_prefix(MAGIC).ok_or_else(|| SnapshotFormatError("no TSNAP1 header".into()))?;
    let mut reader = Reader { buf: body };
    let mut rows = Vec::new();
    while !reader.buf.is_empty() {
        let tag = reader.take(1)?[0];
        let cf = Cf::from_tag(tag).ok_or_else(|| SnapshotFormatError(format!("unknown column family tag {tag}")))?;
        if !Cf::STATE.contains(&cf) {
            return Err(SnapshotFormatError(format!("column family {} is not state machine data", cf.name())));
        }
        let key = reader.take_prefixed()?.to_vec();
        let value = reader.take_prefixed()?.to_vec();
        rows.push((cf, key, value));
    }
    Ok(rows)
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotFormatError> {
        if self.buf.len() < n {
            return Err(SnapshotFormatError("truncated record".into()));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn take_prefixed(&mut self) -> Result<&'a [u8], SnapshotFormatError> {
        let len = u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")) as usize;
        self.take(len)
    }
}

pub fn encode_stored(meta: &SnapshotMeta, data: &[u8]) -> Vec<u8> {
    let meta_json = serde_json::to_vec(meta).expect("snapshot meta serializes");
    let mut out = Vec::with_capacity(4 + meta_json.len() + data.len());
    out.extend_from_slice(&(meta_json.len() as u32).to_be_bytes());
    out.extend_from_slice(&meta_json);
    out.extend_from_slice(data);
    out
}

pub fn decode_stored(bytes: &[u8]) -> Result<(SnapshotMeta, Vec<u8>), SnapshotFormatError> {
    let mut reader = Reader { buf: bytes };
    let meta_json = reader.take_prefixed()?;
    let meta = serde_json::from_slice(meta_json).map_err(|e| SnapshotFormatError(format!("meta: {e}")))?;
    Ok((meta, reader.buf.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip() {
        let rows = vec![(Cf::Kv, b"k".to_vec(), vec![1, 2, 3]), (Cf::SmMeta, b"m".to_vec(), vec![])];
        assert_eq!(decode_rows(&encode_rows(&rows)).unwrap(), rows);
    }

    #[test]
    fn truncated_or_foreign_data_is_rejected() {
        let rows = vec![(Cf::Kv, b"key".to_vec(), b"value".to_vec())];
        let data = encode_rows(&rows);
        assert!(decode_rows(&data[..data.len() - 1]).is_err());
        assert!(decode_rows(b"something else").is_err());
        assert!(decode_rows(&encode_rows(&[(Cf::RaftLogs, vec![1], vec![2])])).is_err());
    }
}
