//! The store's binary encoding of readings, shared by the log and the history: compact,
//! little-endian, versioned by the caller's format byte.
//!
//! One reading: id (u8 length + UTF-8), observed ms (i64), then its values. Values: count (u8),
//! then per value the quantity code (u8 tag, u16 socket, see `Quantity::code`) and the value
//! (u8 type: 0 number f64, 1 bool u8, 2 text u16 length + UTF-8).

use chrono::{TimeZone, Utc};
use twin_core::{EntityId, Quantity, Reading, Value};

/// Append one reading (id, time, values) to `buf`.
pub(super) fn encode_reading(buf: &mut Vec<u8>, r: &Reading) {
    let id = r.entity.to_string();
    buf.push(id.len() as u8);
    buf.extend_from_slice(id.as_bytes());
    buf.extend_from_slice(&r.observed_at.timestamp_millis().to_le_bytes());
    encode_values(buf, &r.values);
}

/// Append a reading's values (count, then code and value of each) to `buf`.
pub(super) fn encode_values(buf: &mut Vec<u8>, values: &[(Quantity, Value)]) {
    buf.push(values.len() as u8);
    for (q, v) in values {
        let (tag, socket) = q.code();
        buf.push(tag);
        buf.extend_from_slice(&socket.to_le_bytes());
        match v {
            Value::Number(x) => {
                buf.push(0);
                buf.extend_from_slice(&x.to_le_bytes());
            }
            Value::Bool(b) => {
                buf.push(1);
                buf.push(u8::from(*b));
            }
            Value::Text(s) => {
                buf.push(2);
                // Text longer than 64 KB is cut at the last whole character before it, so
                // that what is stored decodes.
                let mut end = s.len().min(usize::from(u16::MAX));
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                let bytes = &s.as_bytes()[..end];
                buf.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
                buf.extend_from_slice(bytes);
            }
        }
    }
}

/// Reads encoded readings from a byte slice; every error names the byte where it failed.
pub(super) struct Cursor<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) at: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(bytes: &'a [u8], at: usize) -> Cursor<'a> {
        Cursor { bytes, at }
    }

    pub(super) fn at_end(&self) -> bool {
        self.at >= self.bytes.len()
    }

    pub(super) fn u32(&mut self) -> Result<u32, String> {
        self.take(4)?
            .try_into()
            .map(u32::from_le_bytes)
            .map_err(|_| "short field".to_string())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let s = self
            .bytes
            .get(self.at..self.at + n)
            .ok_or_else(|| format!("truncated at byte {}", self.at))?;
        self.at += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }

    fn array8(&mut self) -> Result<[u8; 8], String> {
        self.take(8)?
            .try_into()
            .map_err(|_| "short field".to_string())
    }

    fn text(&mut self, n: usize) -> Result<&'a str, String> {
        std::str::from_utf8(self.take(n)?).map_err(|e| e.to_string())
    }

    /// One reading written by [`encode_reading`].
    pub(super) fn reading(&mut self) -> Result<Reading, String> {
        let id_len = usize::from(self.u8()?);
        let entity: EntityId = self
            .text(id_len)?
            .parse()
            .map_err(|e: twin_core::IdError| e.to_string())?;
        let ms = i64::from_le_bytes(self.array8()?);
        let observed_at = Utc
            .timestamp_millis_opt(ms)
            .single()
            .ok_or_else(|| format!("bad time {ms}"))?;
        Ok(Reading {
            entity,
            observed_at,
            values: self.values()?,
        })
    }

    /// A reading's values written by [`encode_values`].
    pub(super) fn values(&mut self) -> Result<Vec<(Quantity, Value)>, String> {
        let n = self.u8()?;
        let mut values = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            let tag = self.u8()?;
            let socket = self.u16()?;
            let q = Quantity::from_code(tag, socket)
                .ok_or_else(|| format!("unknown quantity code {tag}"))?;
            let v = match self.u8()? {
                0 => Value::Number(f64::from_le_bytes(self.array8()?)),
                1 => Value::Bool(self.u8()? != 0),
                2 => {
                    let len = usize::from(self.u16()?);
                    Value::Text(self.text(len)?.to_string())
                }
                t => return Err(format!("unknown value type {t}")),
            };
            values.push((q, v));
        }
        Ok(values)
    }
}
