//! Files uploaded with `upload_file`: id, name, where the copy lives, its SHA-256 and size.

use std::path::PathBuf;

use super::sql::{DbError, Row, args};
use super::{Store, now};
use crate::error::ApiResult;

/// A stored file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFile {
    /// Id.
    pub file_id: String,
    /// Name (sanitised).
    pub name: String,
    /// Local path of the copy.
    pub path: PathBuf,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
}

/// The files of one account.
#[derive(Clone, Copy, Debug)]
pub struct Files<'a> {
    pub(super) store: &'a Store,
    pub(super) account: &'a str,
}

fn row(r: &Row) -> Result<StoredFile, DbError> {
    Ok(StoredFile {
        file_id: r.get(0)?,
        name: r.get(1)?,
        path: PathBuf::from(r.get::<String>(2)?),
        sha256: r.get(3)?,
        size: r.get::<i64>(4)? as u64,
    })
}

const COLUMNS: &str = "file_id, name, path, sha256, size";

impl Files<'_> {
    /// Records a new file.
    pub async fn insert(&self, f: StoredFile) -> ApiResult<()> {
        let account = self.account.to_owned();
        self.store
            .write(move |t| {
                t.exec(
                    "INSERT INTO files(file_id, account, name, path, sha256, size, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    args![f.file_id, account, f.name, f.path.to_string_lossy().into_owned(), f.sha256, f.size as i64, now()],
                )?;
                Ok(())
            })
            .await
    }

    /// Records a file, replacing one with the same id.
    pub async fn upsert(&self, f: StoredFile) -> ApiResult<()> {
        let account = self.account.to_owned();
        self.store
            .write(move |t| {
                t.exec(
                    "INSERT INTO files(file_id, account, name, path, sha256, size, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT(file_id) DO UPDATE SET account = excluded.account, name = excluded.name, path = excluded.path,
                        sha256 = excluded.sha256, size = excluded.size, created_at = excluded.created_at",
                    args![f.file_id, account, f.name, f.path.to_string_lossy().into_owned(), f.sha256, f.size as i64, now()],
                )?;
                Ok(())
            })
            .await
    }

    /// A file by id.
    pub async fn get(&self, file_id: &str) -> ApiResult<Option<StoredFile>> {
        let (account, id) = (self.account.to_owned(), file_id.to_owned());
        self.store
            .read(move |t| {
                Ok(t.opt(
                    &format!("SELECT {COLUMNS} FROM files WHERE file_id = ?1 AND account = ?2"),
                    args![id, account],
                )?
                .map(|r| row(&r))
                .transpose()?)
            })
            .await
    }

    /// Files with this content hash, oldest first.
    pub async fn by_sha256(&self, sha256: &str) -> ApiResult<Vec<StoredFile>> {
        let (account, sha) = (self.account.to_owned(), sha256.to_owned());
        self.store
            .read(move |t| {
                let rows = t.query(
                    &format!("SELECT {COLUMNS} FROM files WHERE account = ?1 AND sha256 = ?2 ORDER BY created_at"),
                    args![account, sha],
                )?;
                Ok(rows.iter().map(row).collect::<Result<_, _>>()?)
            })
            .await
    }

    /// Removes and returns the rows older than `before` (the caller deletes the copies).
    pub async fn take_older_than(&self, before: f64) -> ApiResult<Vec<StoredFile>> {
        let account = self.account.to_owned();
        self.store
            .write(move |t| {
                let old: Vec<StoredFile> = t
                    .query(
                        &format!("SELECT {COLUMNS} FROM files WHERE account = ?1 AND created_at < ?2"),
                        args![account.as_str(), before],
                    )?
                    .iter()
                    .map(row)
                    .collect::<Result<_, _>>()?;
                t.exec("DELETE FROM files WHERE account = ?1 AND created_at < ?2", args![account, before])?;
                Ok(old)
            })
            .await
    }

    /// True when some row (of any account) still points at `path`.
    pub async fn path_in_use(&self, path: &std::path::Path) -> ApiResult<bool> {
        let p = path.to_string_lossy().into_owned();
        self.store.read(move |t| Ok(t.opt("SELECT 1 FROM files WHERE path = ?1", args![p])?.is_some())).await
    }
}
