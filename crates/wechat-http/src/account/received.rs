//! Media of received messages: voice, video (and its cover), files, stickers and images,
//! fetched through WeChatFerry the way `wechat-messages.md` §4 describes, and served by
//! `get_file` under ids of the form `wx-<account>-<kind>-<message id>`.
//!
//! Kinds in `media.auto_download` are fetched when the message arrives (up to
//! `media.auto_download_max_bytes` as the message declares it); every other one on the first
//! `get_file`, which reads the message back from WeChat's database. Fetched files live in the
//! dated folders of `img_dir_path` (kept `img_valid_duration` days) and are recorded in the
//! file store, so a fetched file is also sendable by its id.
//!
//! | kind | how |
//! |---|---|
//! | image | `DOWNLOAD_ATTACH` to `extra`, then `DECRYPT_IMAGE` |
//! | voice | `GET_AUDIO_MSG` (MP3 into the dated folder), polled while WeChat stores it |
//! | video | `DOWNLOAD_ATTACH(id, thumb, "")`, then the `.mp4` next to the cover |
//! | video_thumb | the cover `thumb` as WeChat wrote it |
//! | file | `DOWNLOAD_ATTACH(id, "", extra)` unless `extra` exists, then `extra` |
//! | emoji | an HTTP GET of the sticker's `cdnurl` (never into `media.deny_networks`) |

use std::path::{Path, PathBuf};
use std::time::Duration;

use wcf::WxMsg;
use wcf::content::{AppDetail, Content};

use super::Account;
use crate::config::MediaKind;
use crate::error::{ApiError, ApiResult};
use crate::files::sha256_hex;
use crate::store::StoredFile;

/// The id `get_file` knows a received medium by.
pub fn file_id(account: &str, kind: MediaKind, msg_id: u64) -> String {
    format!("wx-{account}-{}-{msg_id}", kind.name())
}

/// `(kind, message id)` of a received-media id of `account`.
pub fn parse_file_id(account: &str, file_id: &str) -> Option<(MediaKind, u64)> {
    let rest = file_id.strip_prefix("wx-")?.strip_prefix(account)?.strip_prefix('-')?;
    let (kind, id) = rest.rsplit_once('-')?;
    Some((MediaKind::from_name(kind)?, id.parse().ok()?))
}

/// What a message says about its media: the size it declares and the name to give it.
pub fn declared(m: &WxMsg, kind: MediaKind) -> (u64, String) {
    let content = wcf::content::parse(m.r#type, &m.content);
    match (kind, &content) {
        (MediaKind::Voice, Content::Voice(v)) => (v.length, format!("{}.mp3", m.id)),
        (MediaKind::Video, Content::Video(v)) => (v.length, format!("{}.mp4", m.id)),
        (MediaKind::VideoThumb, _) => (0, format!("{}.jpg", m.id)),
        (MediaKind::File, Content::App(a)) => match &a.detail {
            AppDetail::File(f) => (f.size, if f.name.is_empty() { format!("{}.bin", m.id) } else { f.name.clone() }),
            _ => (0, format!("{}.bin", m.id)),
        },
        (MediaKind::Emoji, Content::Emoji(e)) => {
            (e.length, format!("{}.gif", if e.md5.is_empty() { m.id.to_string() } else { e.md5.clone() }))
        }
        (MediaKind::Image, Content::Image(i)) => (i.length, format!("{}.jpg", m.id)),
        _ => (0, format!("{}.bin", m.id)),
    }
}

/// Fetches a received medium unless it was fetched already; records it in the file store.
pub async fn fetch(account: &Account, kind: MediaKind, m: &WxMsg) -> ApiResult<StoredFile> {
    let id = file_id(&account.name, kind, m.id);
    let repo = account.store.files(&account.name);
    if let Some(f) = repo.get(&id).await?
        && f.path.is_file()
    {
        return Ok(f);
    }
    let max = account.settings.media.max_download_bytes;
    let (size, name) = declared(m, kind);
    if size > max {
        return Err(ApiError::Download(format!(
            "the {} is {size} bytes, more than media.max_download_bytes ({max})",
            kind.name()
        )));
    }
    let (dir, _) = account.media.received_dir()?;
    let path = match kind {
        MediaKind::Image => {
            let rel = account.media.fetch_chat_image(&account.backend.client, m.id, &m.extra).await?;
            account.store.chat_images(&account.name).record(m.id, &rel).await?;
            account.media.chat_image_path(&rel)?
        }
        MediaKind::Voice => voice(account, m, &dir).await?,
        MediaKind::Video => {
            if m.thumb.is_empty() {
                return Err(ApiError::Download(
                    "WeChat gave no cover path for the video, so it cannot be found".into(),
                ));
            }
            let local = account.media.paths().to_local(&m.thumb).with_extension("mp4");
            if !local.is_file() {
                attach(account, m.id, &m.thumb, "").await?;
            }
            wait_for(account, &local, size).await?;
            copy_in(&local, &dir, &id, "mp4", max).await?
        }
        MediaKind::VideoThumb => {
            let local = account.media.paths().to_local(&m.thumb);
            if m.thumb.is_empty() || !local.is_file() {
                return Err(ApiError::Download("WeChat has not written the video's cover".into()));
            }
            copy_in(&local, &dir, &id, "jpg", max).await?
        }
        MediaKind::File => {
            if m.extra.is_empty() {
                return Err(ApiError::Download("WeChat gave no path for the file".into()));
            }
            let local = account.media.paths().to_local(&m.extra);
            if !local.is_file() {
                attach(account, m.id, "", &m.extra).await?;
            }
            wait_for(account, &local, size).await?;
            let ext =
                Path::new(&name).extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_else(|| "bin".into());
            copy_in(&local, &dir, &id, &crate::fsx::sanitize_name(&ext), max).await?
        }
        MediaKind::Emoji => {
            let Content::Emoji(e) = wcf::content::parse(m.r#type, &m.content) else {
                return Err(ApiError::Download("the sticker message carries no sticker".into()));
            };
            if e.url.is_empty() {
                return Err(ApiError::Download("the sticker has no download address (cdnurl)".into()));
            }
            let bytes = account.media.download(&e.url).await?;
            let ext = crate::account::media::sniff_image(&bytes).map(|(_, x)| x).unwrap_or("bin");
            let path = dir.join(format!("{id}.{ext}"));
            crate::fsx::write_private_async(path.clone(), bytes)
                .await
                .map_err(|err| ApiError::Filesystem(format!("cannot write {}: {err}", path.display())))?;
            path
        }
    };
    let bytes = crate::fsx::read_regular_async(path.clone(), max)
        .await
        .map_err(|e| ApiError::Filesystem(format!("cannot read the fetched {}: {e}", kind.name())))?;
    let name = match kind {
        MediaKind::Emoji | MediaKind::Image => {
            path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or(name)
        }
        _ => name,
    };
    let f = StoredFile {
        file_id: id,
        name: crate::fsx::sanitize_name(&name),
        path,
        sha256: sha256_hex(&bytes),
        size: bytes.len() as u64,
    };
    repo.upsert(f.clone()).await?;
    Ok(f)
}

/// Fetches by id alone (the first `get_file`): the message is read back from WeChat.
pub async fn fetch_by_id(account: &Account, kind: MediaKind, msg_id: u64) -> ApiResult<StoredFile> {
    let m = account.db.message(&account.backend, msg_id).await?.ok_or_else(|| {
        ApiError::BadParam(format!(
            "message {msg_id} is not in WeChat's database any more, so its media cannot be fetched"
        ))
    })?;
    fetch(account, kind, &m).await
}

async fn attach(account: &Account, id: u64, thumb: &str, extra: &str) -> ApiResult<()> {
    account.backend.client.download_attach(id, thumb, extra).await.map_err(|e| attach_error("attachment", &e))
}

/// `DOWNLOAD_ATTACH` failing: -1 means WeChat does not have the message, or its file expired.
pub fn attach_error(what: &str, e: &wcf::Error) -> ApiError {
    match e {
        wcf::Error::Rejected { status: -1, .. } => ApiError::WeChatRefused(format!(
            "WeChat cannot download the {what}: the message is unknown to it or the file expired on WeChat's servers (DOWNLOAD_ATTACH answered -1)"
        )),
        e => ApiError::from_wcf(&format!("download the {what}"), e),
    }
}

fn timeout(account: &Account) -> Duration {
    Duration::from_secs(account.settings.media.image_fetch_timeout.max(1))
}

/// Waits until WeChat has written `path` (and at least `size` bytes of it, when known).
async fn wait_for(account: &Account, path: &Path, size: u64) -> ApiResult<()> {
    let deadline = tokio::time::Instant::now() + timeout(account);
    loop {
        if let Ok(meta) = tokio::fs::metadata(path).await
            && meta.is_file()
            && meta.len() >= size
        {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::Download(format!(
                "WeChat did not finish downloading within {} s (media.image_fetch_timeout); {} is not there (is wcf.path_mapping set?)",
                timeout(account).as_secs(),
                path.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn copy_in(from: &Path, dir: &Path, id: &str, ext: &str, max: u64) -> ApiResult<PathBuf> {
    let bytes = crate::fsx::read_regular_async(from.to_path_buf(), max).await.map_err(|e| match e {
        crate::fsx::ReadError::TooLarge { size, max, .. } => {
            ApiError::Download(format!("the file is {size} bytes, more than media.max_download_bytes ({max})"))
        }
        e => ApiError::Filesystem(format!("cannot read {}: {e} (is wcf.path_mapping set?)", from.display())),
    })?;
    let to = dir.join(format!("{id}.{ext}"));
    crate::fsx::write_private_async(to.clone(), bytes)
        .await
        .map_err(|e| ApiError::Filesystem(format!("cannot write {}: {e}", to.display())))?;
    Ok(to)
}

/// `GET_AUDIO_MSG` into `dir`, retried while WeChat has not stored the voice yet.
async fn voice(account: &Account, m: &WxMsg, dir: &Path) -> ApiResult<PathBuf> {
    let paths = account.media.paths();
    let wechat_dir = paths.to_wechat(dir);
    let deadline = tokio::time::Instant::now() + timeout(account);
    loop {
        match account.backend.client.audio_msg(m.id, &wechat_dir).await {
            Ok(out) if !out.is_empty() => {
                let local = paths.to_local(&out);
                if local.parent() == Some(dir) {
                    return Ok(local);
                }
                return copy_in(
                    &local,
                    dir,
                    &file_id(&account.name, MediaKind::Voice, m.id),
                    "mp3",
                    account.settings.media.max_download_bytes,
                )
                .await;
            }
            Ok(_) | Err(wcf::Error::Failed { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Ok(_) => {
                return Err(ApiError::Download(format!(
                    "WeChat has no audio for message {} (GET_AUDIO_MSG answered nothing within {} s)",
                    m.id,
                    timeout(account).as_secs()
                )));
            }
            Err(e) => return Err(ApiError::from_wcf("read the voice message", &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_belong_to_one_account() {
        let id = file_id("demo-1", MediaKind::VideoThumb, 8957146552862694275);
        assert_eq!(id, "wx-demo-1-video_thumb-8957146552862694275");
        assert_eq!(parse_file_id("demo-1", &id), Some((MediaKind::VideoThumb, 8957146552862694275)));
        assert_eq!(parse_file_id("demo", &id), None);
        assert_eq!(parse_file_id("demo-1", "wx-demo-1-nope-1"), None);
        assert_eq!(parse_file_id("demo-1", "0f3a"), None);
    }
}
