//! The values that cross the [`super::Backend`] boundary: bound parameters ([`Val`]) and result
//! rows ([`Row`]). Both backends convert their native types to and from these, so the
//! data-access code above them ([`super::Db`]) is written once.
//!
//! Integers are always 64-bit (`BIGINT` columns on both backends), times are Unix
//! milliseconds, booleans are `0`/`1`, JSON is text. Decoding a row never panics: a column of
//! the wrong type is a [`DbError::Decode`].

use super::DbError;

/// One bound parameter or one column of a result row.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<f64> for Val {
    fn from(v: f64) -> Val {
        Val::Float(v)
    }
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}

impl From<u32> for Val {
    fn from(v: u32) -> Val {
        Val::Int(i64::from(v))
    }
}

impl From<u16> for Val {
    fn from(v: u16) -> Val {
        Val::Int(i64::from(v))
    }
}

impl From<bool> for Val {
    fn from(v: bool) -> Val {
        Val::Int(i64::from(v))
    }
}

/// NUL becomes U+FFFD on both engines (PostgreSQL text cannot hold it; SQLite's string
/// functions stop at it), so a value reads back the same wherever it is stored.
fn text(v: &str) -> Val {
    if v.contains('\0') {
        Val::Text(v.replace('\0', "\u{FFFD}"))
    } else {
        Val::Text(v.to_string())
    }
}

impl From<&str> for Val {
    fn from(v: &str) -> Val {
        text(v)
    }
}

impl From<String> for Val {
    fn from(v: String) -> Val {
        if v.contains('\0') {
            text(&v)
        } else {
            Val::Text(v)
        }
    }
}

impl From<&String> for Val {
    fn from(v: &String) -> Val {
        text(v)
    }
}

impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Val {
        v.map_or(Val::Null, Into::into)
    }
}

/// Builds a parameter list: `params![id, name, None::<i64>]`.
#[macro_export]
#[doc(hidden)]
macro_rules! db_params {
    ($($v:expr),* $(,)?) => { vec![$($crate::db::Val::from($v)),*] };
}

/// One result row, columns in `SELECT` order.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Val>);

impl Row {
    fn col(&self, i: usize) -> Result<&Val, DbError> {
        self.0
            .get(i)
            .ok_or_else(|| DbError::Decode(format!("no column {i}")))
    }

    /// A non-null integer.
    pub fn int(&self, i: usize) -> Result<i64, DbError> {
        self.opt_int(i)?
            .ok_or_else(|| DbError::Decode(format!("column {i} is null")))
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, DbError> {
        match self.col(i)? {
            Val::Null => Ok(None),
            Val::Int(v) => Ok(Some(*v)),
            other => Err(DbError::Decode(format!(
                "column {i}: expected an integer, got {other:?}"
            ))),
        }
    }

    /// A non-null text.
    pub fn text(&self, i: usize) -> Result<String, DbError> {
        self.opt_text(i)?
            .ok_or_else(|| DbError::Decode(format!("column {i} is null")))
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>, DbError> {
        match self.col(i)? {
            Val::Null => Ok(None),
            Val::Text(v) => Ok(Some(v.clone())),
            other => Err(DbError::Decode(format!(
                "column {i}: expected text, got {other:?}"
            ))),
        }
    }

    pub fn bool(&self, i: usize) -> Result<bool, DbError> {
        Ok(self.int(i)? != 0)
    }

    /// A JSON text column parsed; `default` when null or empty.
    pub fn json<T: serde::de::DeserializeOwned>(&self, i: usize, default: T) -> Result<T, DbError> {
        match self.opt_text(i)? {
            None => Ok(default),
            Some(t) if t.is_empty() => Ok(default),
            Some(t) => serde_json::from_str(&t)
                .map_err(|e| DbError::Decode(format!("column {i}: bad JSON: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_decode_by_position_and_refuse_wrong_types() {
        let r = Row(vec![
            Val::Int(7),
            Val::Null,
            Val::Text("x".into()),
            Val::Text("[1,2]".into()),
        ]);
        assert_eq!(r.int(0).unwrap(), 7);
        assert_eq!(r.opt_int(1).unwrap(), None);
        assert!(r.int(1).is_err());
        assert_eq!(r.text(2).unwrap(), "x");
        assert!(r.int(2).is_err());
        assert!(r.text(9).is_err());
        assert_eq!(r.json::<Vec<u8>>(3, vec![]).unwrap(), vec![1, 2]);
        assert_eq!(r.json::<Vec<u8>>(1, vec![9]).unwrap(), vec![9]);
        assert!(r.json::<Vec<u8>>(2, vec![]).is_err());
    }

    #[test]
    fn params_convert_options_and_numbers() {
        let v: Vec<Val> = db_params!["a", 3i64, None::<i64>, Some(2u16), true];
        assert_eq!(
            v,
            vec![
                Val::Text("a".into()),
                Val::Int(3),
                Val::Null,
                Val::Int(2),
                Val::Int(1)
            ]
        );
    }
}
