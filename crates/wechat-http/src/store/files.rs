//! Files uploaded with `upload_file`: id, name, where the copy lives, its SHA-256 and size.

use std::path::PathBuf;

use rusqlite::{OptionalExtension, params};

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

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredFile> {
    Ok(StoredFile {
        file_id: r.get(0)?,
        name: r.get(1)?,
        path: PathBuf::from(r.get::<_, String>(2)?),
        sha256: r.get(3)?,
        size: r.get::<_, i64>(4)? as u64,
    })
}

const COLUMNS: &str = "file_id, name, path, sha256, size";

impl Files<'_> {
    /// Records a stored file.
    pub async fn insert(&self, f: StoredFile) -> ApiResult<()> {
        let account = self.account.to_owned();
        self.store
            .write(move |c| {
                c.execute(
                    "INSERT INTO files(file_id, account, name, path, sha256, size, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![f.file_id, account, f.name, f.path.to_string_lossy(), f.sha256, f.size as i64, now()],
                )?;
                Ok(())
            })
            .await
    }

    /// Records a fetched received medium (replacing an earlier record of the same id).
    pub async fn upsert(&self, f: StoredFile) -> ApiResult<()> {
        let account = self.account.to_owned();
        self.store
            .write(move |c| {
                c.execute(
                    "INSERT OR REPLACE INTO files(file_id, account, name, path, sha256, size, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![f.file_id, account, f.name, f.path.to_string_lossy(), f.sha256, f.size as i64, now()],
                )?;
                Ok(())
            })
            .await
    }

    /// A file by id.
    pub async fn get(&self, file_id: &str) -> ApiResult<Option<StoredFile>> {
        let (account, id) = (self.account.to_owned(), file_id.to_owned());
        self.store
            .read(move |c| {
                Ok(c.query_row(
                    &format!("SELECT {COLUMNS} FROM files WHERE file_id = ?1 AND account = ?2"),
                    [id, account],
                    row,
                )
                .optional()?)
            })
            .await
    }

    /// Files with this content, oldest first.
    pub async fn by_sha256(&self, sha256: &str) -> ApiResult<Vec<StoredFile>> {
        let (account, sha) = (self.account.to_owned(), sha256.to_owned());
        self.store
            .read(move |c| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM files WHERE account = ?1 AND sha256 = ?2 ORDER BY created_at"
                ))?;
                let rows = stmt.query_map([account, sha], row)?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }

    /// Removes the records of files created before `before`; returns them.
    pub async fn take_older_than(&self, before: f64) -> ApiResult<Vec<StoredFile>> {
        let account = self.account.to_owned();
        self.store
            .write(move |c| {
                let tx = c.transaction()?;
                let old: Vec<StoredFile> = {
                    let mut stmt = tx.prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM files WHERE account = ?1 AND created_at < ?2"
                    ))?;
                    stmt.query_map(params![account, before], row)?.collect::<Result<_, _>>()?
                };
                tx.execute("DELETE FROM files WHERE account = ?1 AND created_at < ?2", params![account, before])?;
                tx.commit()?;
                Ok(old)
            })
            .await
    }

    /// True when some record still points at `path`.
    pub async fn path_in_use(&self, path: &std::path::Path) -> ApiResult<bool> {
        let p = path.to_string_lossy().into_owned();
        self.store
            .read(move |c| {
                Ok(c.query_row("SELECT 1 FROM files WHERE path = ?1", [p], |_| Ok(())).optional()?.is_some())
            })
            .await
    }
}
