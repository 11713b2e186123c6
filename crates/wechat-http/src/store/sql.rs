//! One SQL surface over both backends. A repository writes its statements once, in the
//! dialect SQLite and PostgreSQL share (`ON CONFLICT … DO …`, `RETURNING`, `COALESCE`), with
//! `?1`-style placeholders; [`Tx`] runs them on whichever backend the store uses. The few
//! places where the dialects differ ask [`Tx::pg`].
//!
//! Values cross as [`Value`] (null, integer, real, text): every column of the schema is one of
//! those, so a repository never sees a backend's own types.

use std::collections::HashMap;

use crate::error::ApiError;

/// A parameter or a column value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// NULL.
    Null,
    /// INTEGER / BIGINT.
    Int(i64),
    /// REAL / DOUBLE PRECISION.
    Real(f64),
    /// TEXT.
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Self::Int(v.into())
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Self::Real(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Self::Text(v.clone())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// Parameters of a statement: `args![a, b]`.
macro_rules! args {
    ($($v:expr),* $(,)?) => { &[$($crate::store::sql::Value::from($v)),*][..] };
}
pub(crate) use args;

/// Why a statement failed.
#[derive(Debug)]
pub struct DbError {
    /// A UNIQUE (or primary key) constraint refused the row.
    pub unique_violation: bool,
    /// What the database said.
    pub message: String,
}

impl DbError {
    fn other(message: impl Into<String>) -> Self {
        Self { unique_violation: false, message: message.into() }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        Self::Database(e.message)
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        let unique = matches!(&e, rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation
                && matches!(f.extended_code, rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY));
        Self { unique_violation: unique, message: e.to_string() }
    }
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => Self {
                unique_violation: *db.code() == postgres::error::SqlState::UNIQUE_VIOLATION,
                message: format!("PostgreSQL {}: {}", db.code().code(), db.message()),
            },
            None => {
                let cause = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
                Self::other(format!("PostgreSQL: {e}{cause}"))
            }
        }
    }
}

/// A result row.
#[derive(Clone, Debug)]
pub struct Row(Vec<Value>);

impl Row {
    /// Column `i` as `T`; a NULL or a value of another type is an error (use `Option<T>`).
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T, DbError> {
        let v = self.0.get(i).ok_or_else(|| DbError::other(format!("no column {i}")))?;
        T::from_value(v).ok_or_else(|| DbError::other(format!("column {i} holds {v:?}, not a {}", T::NAME)))
    }
}

/// A Rust type a column converts to.
pub trait FromValue: Sized {
    /// For error messages.
    const NAME: &'static str;
    /// `None` when the value does not fit.
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    const NAME: &'static str = "integer";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}
impl FromValue for i32 {
    const NAME: &'static str = "32-bit integer";
    fn from_value(v: &Value) -> Option<Self> {
        i64::from_value(v).and_then(|i| i32::try_from(i).ok())
    }
}
impl FromValue for f64 {
    const NAME: &'static str = "real";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Real(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}
impl FromValue for String {
    const NAME: &'static str = "text";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    const NAME: &'static str = T::NAME;
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// Prepared PostgreSQL statements of one connection, by SQL text.
pub(super) type PgCache = HashMap<String, postgres::Statement>;

/// A transaction on either backend; committed by the store when the repository's closure
/// returns `Ok`, rolled back otherwise.
pub struct Tx<'a> {
    inner: Inner<'a>,
}

enum Inner<'a> {
    Sqlite(rusqlite::Transaction<'a>),
    Pg(postgres::Transaction<'a>, &'a mut PgCache),
}

impl<'a> Tx<'a> {
    pub(super) fn sqlite(tx: rusqlite::Transaction<'a>) -> Self {
        Self { inner: Inner::Sqlite(tx) }
    }

    pub(super) fn postgres(tx: postgres::Transaction<'a>, cache: &'a mut PgCache) -> Self {
        Self { inner: Inner::Pg(tx, cache) }
    }

    pub(super) fn commit(self) -> Result<(), DbError> {
        match self.inner {
            Inner::Sqlite(tx) => Ok(tx.commit()?),
            Inner::Pg(tx, _) => Ok(tx.commit()?),
        }
    }

    /// True on PostgreSQL.
    pub fn pg(&self) -> bool {
        matches!(self.inner, Inner::Pg(..))
    }

    /// The SQLite connection (tests and SQLite-only maintenance).
    #[cfg(test)]
    pub(super) fn sqlite_conn(&self) -> Option<&rusqlite::Connection> {
        match &self.inner {
            Inner::Sqlite(tx) => Some(tx),
            Inner::Pg(..) => None,
        }
    }

    /// Runs a statement; the number of rows it changed.
    pub fn exec(&mut self, sql: &str, args: &[Value]) -> Result<u64, DbError> {
        match &mut self.inner {
            Inner::Sqlite(tx) => {
                let mut stmt = tx.prepare_cached(sql)?;
                Ok(stmt.execute(rusqlite::params_from_iter(args.iter()))? as u64)
            }
            Inner::Pg(tx, cache) => {
                let stmt = pg_statement(tx, cache, sql)?;
                Ok(tx.execute(&stmt, &pg_args(args))?)
            }
        }
    }

    /// Runs a query; every row.
    pub fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>, DbError> {
        match &mut self.inner {
            Inner::Sqlite(tx) => {
                let mut stmt = tx.prepare_cached(sql)?;
                let n = stmt.column_count();
                let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let mut values = Vec::with_capacity(n);
                    for i in 0..n {
                        values.push(match r.get_ref(i)? {
                            rusqlite::types::ValueRef::Null => Value::Null,
                            rusqlite::types::ValueRef::Integer(i) => Value::Int(i),
                            rusqlite::types::ValueRef::Real(f) => Value::Real(f),
                            rusqlite::types::ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                            rusqlite::types::ValueRef::Blob(_) => {
                                return Err(DbError::other(format!("column {i} holds a blob")));
                            }
                        });
                    }
                    out.push(Row(values));
                }
                Ok(out)
            }
            Inner::Pg(tx, cache) => {
                let stmt = pg_statement(tx, cache, sql)?;
                let rows = tx.query(&stmt, &pg_args(args))?;
                rows.iter().map(pg_row).collect()
            }
        }
    }

    /// The first row, if any.
    pub fn opt(&mut self, sql: &str, args: &[Value]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// The first row; none is an error.
    pub fn one(&mut self, sql: &str, args: &[Value]) -> Result<Row, DbError> {
        self.opt(sql, args)?.ok_or_else(|| DbError::other("the query returned no row"))
    }

    /// Runs several statements without parameters (migrations).
    pub fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        match &mut self.inner {
            Inner::Sqlite(tx) => Ok(tx.execute_batch(sql)?),
            Inner::Pg(tx, _) => Ok(tx.batch_execute(sql)?),
        }
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Self::Null => ValueRef::Null,
            Self::Int(i) => ValueRef::Integer(*i),
            Self::Real(f) => ValueRef::Real(*f),
            Self::Text(s) => ValueRef::Text(s.as_bytes()),
        }))
    }
}

/// `?N` placeholders become `$N`; SQLite's implicit `rowid` is the explicit `pos` column of
/// the PostgreSQL schema.
pub(super) fn pg_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out.replace(".rowid", ".pos").replace(", rowid", ", pos")
}

fn pg_statement(
    tx: &mut postgres::Transaction<'_>,
    cache: &mut PgCache,
    sql: &str,
) -> Result<postgres::Statement, DbError> {
    if let Some(s) = cache.get(sql) {
        return Ok(s.clone());
    }
    let stmt = tx.prepare(&pg_sql(sql))?;
    cache.insert(sql.to_owned(), stmt.clone());
    Ok(stmt)
}

fn pg_args(args: &[Value]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn postgres::types::ToSql + Sync)).collect()
}

fn pg_row(row: &postgres::Row) -> Result<Row, DbError> {
    use postgres::types::Type;
    let mut values = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let ty = col.type_();
        let v = match *ty {
            Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => row.try_get::<_, Option<i32>>(i)?.map(|v| Value::Int(v.into())),
            Type::INT2 => row.try_get::<_, Option<i16>>(i)?.map(|v| Value::Int(v.into())),
            Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map(Value::Real),
            Type::FLOAT4 => row.try_get::<_, Option<f32>>(i)?.map(|v| Value::Real(v.into())),
            Type::BOOL => row.try_get::<_, Option<bool>>(i)?.map(|b| Value::Int(b.into())),
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => {
                row.try_get::<_, Option<String>>(i)?.map(Value::Text)
            }
            Type::VOID => None,
            _ => return Err(DbError::other(format!("column {} has the unsupported type {ty}", col.name()))),
        };
        values.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

impl postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::{IsNull, Type};
        let mismatch = || format!("a {self:?} cannot be stored in a {ty} column").into();
        match self {
            Self::Null => Ok(IsNull::Yes),
            Self::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                _ => Err(mismatch()),
            },
            Self::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                _ => Err(mismatch()),
            },
            Self::Text(s) => {
                if <&str as postgres::types::ToSql>::accepts(ty) {
                    s.as_str().to_sql(ty, out)
                } else {
                    Err(mismatch())
                }
            }
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_rowid_become_postgres_spelling() {
        assert_eq!(pg_sql("SELECT a FROM t WHERE x = ?1 AND y = ?12"), "SELECT a FROM t WHERE x = $1 AND y = $12");
        assert_eq!(pg_sql("ORDER BY created_at, rowid"), "ORDER BY created_at, pos");
        assert_eq!(pg_sql("ORDER BY c.created_at, c.rowid"), "ORDER BY c.created_at, c.pos");
        assert_eq!(pg_sql("SELECT '?' || x"), "SELECT '?' || x");
    }

    #[test]
    fn rows_convert_and_say_what_does_not_fit() {
        let row = Row(vec![Value::Int(3), Value::Null, Value::Text("a".into()), Value::Real(1.5)]);
        assert_eq!(row.get::<i64>(0).unwrap(), 3);
        assert_eq!(row.get::<f64>(0).unwrap(), 3.0);
        assert_eq!(row.get::<Option<String>>(1).unwrap(), None);
        assert_eq!(row.get::<String>(2).unwrap(), "a");
        assert!(row.get::<String>(1).unwrap_err().message.contains("not a text"));
        assert!(row.get::<i64>(3).is_err());
        assert!(row.get::<i64>(9).unwrap_err().message.contains("no column 9"));
    }
}
