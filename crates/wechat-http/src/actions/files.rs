//! `upload_file` and `get_file` (OneBot 12 file actions).

use base64::Engine as _;
use serde_json::{Value, json};

use super::Params;
use crate::account::Account;
use crate::error::{ApiError, ApiResult};
use crate::files;

pub(super) async fn upload(account: &Account, p: &Params) -> ApiResult<Value> {
    let kind = p.str("type")?;
    let name = p.opt_str("name")?.filter(|n| !n.trim().is_empty());
    let sha = p.opt_str("sha256")?;
    let max = account.settings.media.max_upload_bytes;
    let (bytes, default_name) = match kind.as_str() {
        "url" => {
            let url = p.str("url")?;
            let bytes = account.media.download(&url).await?;
            (bytes, crate::account::media::url_file_name(&url))
        }
        "path" => {
            let path = p.str("path")?;
            let bytes = files::read_local(account, &path).await?;
            let name = std::path::Path::new(&path).file_name().map(|n| n.to_string_lossy().into_owned());
            (bytes, name)
        }
        "data" => {
            let data = p.str("data")?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|e| ApiError::BadParam(format!("`data` is not valid base64: {e}")))?;
            (bytes, None)
        }
        other => return Err(ApiError::BadParam(format!("`type` {other:?} is not supported: use url, path or data"))),
    };
    if bytes.len() as u64 > max {
        return Err(ApiError::BadParam(format!(
            "the file is {} bytes, more than media.max_upload_bytes ({max})",
            bytes.len()
        )));
    }
    let name = name.or(default_name).unwrap_or_else(|| {
        crate::account::media::sniff_image(&bytes)
            .map(|(_, ext)| format!("image.{ext}"))
            .unwrap_or_else(|| "file.bin".into())
    });
    let stored = files::store(account, &name, bytes, sha.as_deref()).await?;
    Ok(json!({ "file_id": stored.file_id }))
}

pub(super) async fn get(account: &Account, p: &Params) -> ApiResult<Value> {
    let file_id = p.str("file_id")?;
    let kind = p.str("type")?;
    if !matches!(kind.as_str(), "path" | "data" | "url") {
        return Err(ApiError::BadParam(format!("`type` {kind:?} is not supported: use url, path or data")));
    }
    let f = files::find(account, &file_id).await?;
    let mut out = json!({ "name": f.name, "sha256": f.sha256, "size": f.size });
    match kind.as_str() {
        "path" => out["path"] = Value::String(f.path.to_string_lossy().into_owned()),
        "data" => {
            let bytes =
                crate::fsx::read_regular_async(f.path.clone(), account.settings.media.max_upload_bytes.max(f.size))
                    .await
                    .map_err(|e| ApiError::Filesystem(e.to_string()))?;
            out["data"] = Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
        }
        _ => {
            let base = account.events.base_url.as_str();
            out["url"] = Value::String(match file_id.strip_prefix(files::CHAT_IMAGE_PREFIX) {
                Some(rel) => format!("{base}/chat_image/{rel}"),
                None => format!("{base}/files/{file_id}"),
            });
        }
    }
    Ok(out)
}
