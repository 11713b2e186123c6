//! Files uploaded with `upload_file` (and received chat images), addressable by `file_id` in
//! image and file segments and readable with `get_file`. Uploaded files live in
//! `media.staging_dir/files/<file_id>/<name>`, where WeChat can read them.

use std::path::PathBuf;

use rusqlite::{OptionalExtension, params};
use sha2::Digest;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::now;

/// A stored file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFile {
    /// Id.
    pub file_id: String,
    /// Original name.
    pub name: String,
    /// Local path.
    pub path: PathBuf,
    /// Hex SHA-256 of the content.
    pub sha256: String,
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Prefix of the file ids of received chat images (`chat_image/<date>/<file>`).
pub const CHAT_IMAGE_PREFIX: &str = "chat_image/";

/// Stores `bytes` as a new file; `expected_sha256` (hex) is checked first.
pub async fn store(
    state: &AppState,
    name: &str,
    bytes: Vec<u8>,
    expected_sha256: Option<&str>,
) -> ApiResult<StoredFile> {
    let sha = sha256_hex(&bytes);
    if let Some(want) = expected_sha256
        && !want.eq_ignore_ascii_case(&sha)
    {
        return Err(ApiError::BadParam(format!(
            "`sha256` does not match the content (its SHA-256 is {sha}); nothing was stored"
        )));
    }
    let file_id = uuid::Uuid::new_v4().simple().to_string();
    let name = crate::media::sanitize_name(name);
    let dir = state.media.staging_dir().join("files").join(&file_id);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ApiError::Filesystem(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join(&name);
    tokio::fs::write(&path, &bytes)
        .await
        .map_err(|e| ApiError::Filesystem(format!("cannot write {}: {e}", path.display())))?;
    let row = StoredFile { file_id: file_id.clone(), name, path: path.clone(), sha256: sha };
    let r = row.clone();
    let size = bytes.len() as i64;
    state
        .store
        .run(move |c| {
            c.execute(
                "INSERT INTO files(file_id, name, path, sha256, size, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![r.file_id, r.name, r.path.to_string_lossy(), r.sha256, size, now()],
            )?;
            Ok(())
        })
        .await?;
    Ok(row)
}

/// Looks a file id up: uploaded files and received chat images.
pub async fn find(state: &AppState, file_id: &str) -> ApiResult<StoredFile> {
    let unknown =
        || ApiError::BadParam(format!("file_id {file_id:?} is unknown; upload the file with upload_file first"));
    if let Some(rel) = file_id.strip_prefix(CHAT_IMAGE_PREFIX) {
        let (date, file) = rel.split_once('/').ok_or_else(unknown)?;
        let path = state.media.chat_image(date, file).map_err(|_| unknown())?;
        let bytes = tokio::fs::read(&path).await.map_err(|e| ApiError::Filesystem(e.to_string()))?;
        return Ok(StoredFile { file_id: file_id.to_owned(), name: file.to_owned(), path, sha256: sha256_hex(&bytes) });
    }
    let id = file_id.to_owned();
    let row = state
        .store
        .run(move |c| {
            Ok(c.query_row("SELECT file_id, name, path, sha256 FROM files WHERE file_id = ?1", [id], |r| {
                Ok(StoredFile {
                    file_id: r.get(0)?,
                    name: r.get(1)?,
                    path: PathBuf::from(r.get::<_, String>(2)?),
                    sha256: r.get(3)?,
                })
            })
            .optional()?)
        })
        .await?;
    let row = row.ok_or_else(unknown)?;
    if !row.path.is_file() {
        return Err(ApiError::BadParam(format!("file_id {file_id:?} is gone from disk; upload it again")));
    }
    Ok(row)
}
