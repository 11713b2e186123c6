//! Files uploaded with `upload_file` (and received chat images), addressable by `file_id` in
//! image and file segments and readable with `get_file`. Uploaded files live in
//! `media.staging_dir/files/<file_id>/<name>` (owner-only), where WeChat can read them;
//! identical content with the same name is stored once.
//!
//! `type: path` reads only inside `media.readable_dirs` (off when empty), only regular files,
//! at most `media.max_upload_bytes`.

use std::path::{Path, PathBuf};

use sha2::Digest;

use crate::account::Account;
use crate::error::{ApiError, ApiResult};
use crate::store::StoredFile;

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Prefix of the file ids of received chat images (`chat_image/[<account>/]<date>/<file>`).
pub const CHAT_IMAGE_PREFIX: &str = "chat_image/";

/// Stores `bytes` under `name`; `expected_sha256` (hex) is checked first. Identical content
/// with the same name gives the file stored before.
pub async fn store(
    account: &Account,
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
    let name = crate::fsx::sanitize_name(name);
    let repo = account.store.files(&account.name);
    let same = repo.by_sha256(&sha).await?;
    if let Some(f) = same.iter().find(|f| f.name == name && f.path.is_file()) {
        return Ok(f.clone());
    }
    let file_id = uuid::Uuid::new_v4().simple().to_string();
    let path = account.media.staging_dir().join("files").join(&file_id).join(&name);
    // Same content under another name: a hard link where the file system allows it.
    let linked = match same.iter().find(|f| f.path.is_file()) {
        Some(existing) => {
            let (from, to) = (existing.path.clone(), path.clone());
            tokio::task::spawn_blocking(move || {
                crate::fsx::create_private_dir(to.parent().expect("has a parent"))?;
                std::fs::hard_link(from, to)
            })
            .await
            .map(|r| r.is_ok())
            .unwrap_or(false)
        }
        None => false,
    };
    let size = bytes.len() as u64;
    if !linked {
        crate::fsx::write_private_async(path.clone(), bytes)
            .await
            .map_err(|e| ApiError::Filesystem(format!("cannot write {}: {e}", path.display())))?;
    }
    let row = StoredFile { file_id, name, path, sha256: sha, size };
    repo.insert(row.clone()).await?;
    Ok(row)
}

/// Reads `path` for `upload_file {type: path}`: inside `media.readable_dirs` only, a regular
/// file, at most `media.max_upload_bytes`.
pub async fn read_local(account: &Account, path: &str) -> ApiResult<Vec<u8>> {
    let media = &account.settings.media;
    if media.readable_dirs.is_empty() {
        return Err(ApiError::BadParam(
            "reading files from the gateway machine is off: list the folders it may read in media.readable_dirs".into(),
        ));
    }
    let canonical = tokio::fs::canonicalize(path)
        .await
        .map_err(|e| ApiError::BadParam(format!("cannot read `path` {path:?} on the gateway machine: {e}")))?;
    let allowed = media
        .readable_dirs
        .iter()
        .filter_map(|d| std::fs::canonicalize(d).ok())
        .any(|d| canonical.starts_with(&d) && !crate::fsx::is_pseudo(&d));
    if !allowed || crate::fsx::is_pseudo(&canonical) {
        return Err(ApiError::BadParam(format!(
            "`path` {path:?} is outside media.readable_dirs; add its folder there to allow it"
        )));
    }
    crate::fsx::read_regular_async(canonical, media.max_upload_bytes).await.map_err(|e| match e {
        crate::fsx::ReadError::NotRegular(_) => ApiError::BadParam(format!(
            "`path` {path:?} is not a regular file (folders, pipes and devices are refused)"
        )),
        crate::fsx::ReadError::TooLarge { size, max, .. } => {
            ApiError::BadParam(format!("`path` {path:?} is {size} bytes, more than media.max_upload_bytes ({max})"))
        }
        crate::fsx::ReadError::Io { source, .. } => {
            ApiError::BadParam(format!("cannot read `path` {path:?} on the gateway machine: {source}"))
        }
    })
}

/// The chat image behind a file id of this account, if it is one.
fn chat_image_path(account: &Account, file_id: &str) -> Option<ApiResult<(PathBuf, String)>> {
    let rel = file_id.strip_prefix(CHAT_IMAGE_PREFIX)?;
    let rel = rel.strip_prefix(account.media.url_prefix())?;
    let (date, file) = rel.split_once('/')?;
    Some(account.media.chat_image(date, file).map(|p| (p, file.to_owned())))
}

/// Looks a file id up: uploaded files and received chat images.
pub async fn find(account: &Account, file_id: &str) -> ApiResult<StoredFile> {
    let unknown =
        || ApiError::BadParam(format!("file_id {file_id:?} is unknown; upload the file with upload_file first"));
    if file_id.starts_with(CHAT_IMAGE_PREFIX) {
        let (path, name) = chat_image_path(account, file_id).ok_or_else(unknown)?.map_err(|_| unknown())?;
        let bytes = crate::fsx::read_regular_async(path.clone(), u64::MAX).await.map_err(|_| unknown())?;
        return Ok(StoredFile {
            file_id: file_id.to_owned(),
            name,
            path,
            sha256: sha256_hex(&bytes),
            size: bytes.len() as u64,
        });
    }
    if let Some((kind, msg_id)) = crate::account::received::parse_file_id(&account.name, file_id) {
        // A received medium: fetched now unless it was already.
        if let Some(f) = account.store.files(&account.name).get(file_id).await?
            && f.path.is_file()
        {
            return Ok(f);
        }
        return crate::account::received::fetch_by_id(account, kind, msg_id).await;
    }
    let row = account.store.files(&account.name).get(file_id).await?.ok_or_else(unknown)?;
    if !row.path.is_file() {
        return Err(ApiError::BadParam(format!("file_id {file_id:?} is gone from disk; upload it again")));
    }
    Ok(row)
}

/// Deletes uploaded files older than `media.retention_days` (their records and copies, the
/// copy only when no other record shares it); returns how many records went.
pub async fn purge(account: &Account, before: f64) -> ApiResult<usize> {
    let repo = account.store.files(&account.name);
    let old = repo.take_older_than(before).await?;
    for f in &old {
        if !repo.path_in_use(&f.path).await? {
            let dir: Option<&Path> = f.path.parent();
            if let Some(dir) = dir.filter(|d| d.starts_with(account.media.staging_dir())) {
                let _ = tokio::fs::remove_dir_all(dir).await;
            }
        }
    }
    Ok(old.len())
}
