//! One account's media: received chat images (fetched from WeChat, stored under
//! `img_dir_path/<YYYY-MM-DD>/<file>`, purged after `img_valid_duration` days), files fetched
//! from URLs for WeChat to send (never from `media.deny_networks`), and the mapping between
//! this machine's paths and the WeChat host's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;

use crate::config::{self, PathMapping};
use crate::error::{ApiError, ApiResult};

/// An image type recognised from its first bytes: `(mime, extension without dot)`.
pub fn sniff_image(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    if bytes.starts_with(&[0x89, b'P', b'N', b'G']) {
        Some(("image/png", "png"))
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("image/jpeg", "jpg"))
    } else if bytes.starts_with(b"GIF8") {
        Some(("image/gif", "gif"))
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(("image/webp", "webp"))
    } else if bytes.starts_with(b"BM") && bytes.len() > 14 {
        Some(("image/bmp", "bmp"))
    } else {
        None
    }
}

/// Translates paths between this machine and the WeChat host (`wcf.path_mapping`). With no
/// mapping both are the same machine and paths pass unchanged.
#[derive(Clone, Debug, Default)]
pub struct PathMap {
    entries: Vec<PathMapping>,
}

fn norm(s: &str) -> String {
    s.replace('\\', "/").trim_end_matches('/').to_owned()
}

fn is_windows_style(s: &str) -> bool {
    let b = s.as_bytes();
    s.contains('\\') || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
}

impl PathMap {
    /// From the config.
    pub fn new(entries: Vec<PathMapping>) -> Self {
        Self { entries }
    }

    /// The WeChat host's name for a local path.
    pub fn to_wechat(&self, local: &Path) -> String {
        let local_s = norm(&local.to_string_lossy());
        for m in &self.entries {
            let g = norm(&m.gateway);
            if let Some(rest) = local_s.strip_prefix(&g).filter(|r| r.is_empty() || r.starts_with('/')) {
                let mut out = format!("{}{}", norm(&m.wechat), rest);
                if is_windows_style(&m.wechat) {
                    out = out.replace('/', "\\");
                }
                return out;
            }
        }
        local.to_string_lossy().into_owned()
    }

    /// The local name of a path on the WeChat host (case-insensitive prefix match, either
    /// slash).
    pub fn to_local(&self, wechat: &str) -> PathBuf {
        let w = norm(wechat);
        for m in &self.entries {
            let prefix = norm(&m.wechat);
            if w.len() >= prefix.len()
                && w[..prefix.len()].eq_ignore_ascii_case(&prefix)
                && (w.len() == prefix.len() || w.as_bytes()[prefix.len()] == b'/')
            {
                let rest = w[prefix.len()..].trim_start_matches('/');
                let mut p = PathBuf::from(&m.gateway);
                for part in rest.split('/').filter(|s| !s.is_empty()) {
                    p.push(part);
                }
                return p;
            }
        }
        PathBuf::from(wechat)
    }
}

/// One account's media: where its chat images and staged files live, and URL downloads.
#[derive(Clone, Debug)]
pub struct Media {
    img_dir: PathBuf,
    staging_dir: PathBuf,
    /// `""` for the single implicit account, `"<name>/"` when several are configured: the
    /// part of `/chat_image/…` and of chat-image file ids before the date.
    url_prefix: String,
    keep_days: u64,
    settings: config::Media,
    paths: PathMap,
    http: reqwest::Client,
    deny: crate::net::DenyList,
}

/// Checks `<date>/<file>` from a URL: a `YYYY-MM-DD` folder and a plain file name. Anything else
/// (`..`, separators, absolute paths, hidden files) is refused.
pub fn check_image_path(date: &str, file: &str) -> Option<()> {
    let date_ok = date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    let file_ok = !file.is_empty()
        && file.len() <= 128
        && !file.starts_with('.')
        && !file.contains("..")
        && file.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    (date_ok && file_ok).then_some(())
}

fn today() -> String {
    let d = time::OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

impl Media {
    /// The media of `account`. With several accounts configured (`own_folders`) each gets
    /// `<img_dir_path>/<name>/` and `<staging_dir>/<name>/`.
    pub fn new(config: &config::Config, account: &config::AccountEntry, own_folders: bool) -> ApiResult<Self> {
        let deny = crate::net::DenyList::new(&config.media.deny_networks);
        let http = crate::net::guarded_client(
            deny.clone(),
            Duration::from_secs(config.media.download_timeout.max(1)),
            Duration::from_secs(config.media.download_timeout.clamp(1, 10)),
        )
        .map_err(|e| ApiError::Internal(format!("HTTP client: {e}")))?;
        let (img_dir, staging_dir, url_prefix) = if own_folders {
            (
                config.img_dir_path.join(&account.name),
                config.media.staging_dir.join(&account.name),
                format!("{}/", account.name),
            )
        } else {
            (config.img_dir_path.clone(), config.media.staging_dir.clone(), String::new())
        };
        for dir in [&img_dir, &staging_dir] {
            crate::fsx::create_private_dir(dir)
                .map_err(|e| ApiError::Filesystem(format!("cannot create {}: {e}", dir.display())))?;
        }
        Ok(Self {
            img_dir: absolute(&img_dir),
            staging_dir: absolute(&staging_dir),
            url_prefix,
            keep_days: config.img_valid_duration,
            settings: config.media.clone(),
            paths: PathMap::new(account.wcf.path_mapping.clone()),
            http,
            deny,
        })
    }

    /// The path mapping.
    pub fn paths(&self) -> &PathMap {
        &self.paths
    }

    /// `""` or `"<account>/"`: what comes before the date in chat-image addresses.
    pub fn url_prefix(&self) -> &str {
        &self.url_prefix
    }

    /// Fetches a received image: asks WeChat to download it, then to decrypt it into today's
    /// image folder; retries while WeChat is still downloading. Returns `<date>/<file>`.
    pub async fn fetch_chat_image(&self, client: &wcf::Client, id: u64, extra: &str) -> ApiResult<String> {
        let date = today();
        let dir = self.img_dir.join(&date);
        crate::fsx::create_private_dir(&dir)
            .map_err(|e| ApiError::Filesystem(format!("cannot create {}: {e}", dir.display())))?;
        if !self.paths.to_local(extra).exists() {
            client.download_attach(id, "", extra).await.map_err(|e| super::received::attach_error("image", &e))?;
        }
        let wechat_dir = self.paths.to_wechat(&dir);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(self.settings.image_fetch_timeout);
        loop {
            match client.decrypt_image(extra, &wechat_dir).await {
                Ok(out) => {
                    let local = self.paths.to_local(&out);
                    let file = local.file_name().map(|f| f.to_string_lossy().into_owned()).ok_or_else(|| {
                        ApiError::Internal(format!("WeChat decrypted to {out:?}, which has no file name"))
                    })?;
                    if local.parent() != Some(dir.as_path()) {
                        // WeChat wrote elsewhere (no shared folder): copy it in when we can see it.
                        tokio::fs::copy(&local, dir.join(&file)).await.map_err(|e| {
                            ApiError::Filesystem(format!(
                                "cannot read {}: {e} (is wcf.path_mapping set?)",
                                local.display()
                            ))
                        })?;
                    }
                    return Ok(format!("{date}/{file}"));
                }
                Err(e) if tokio::time::Instant::now() < deadline && matches!(e, wcf::Error::Failed { .. }) => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(ApiError::from_wcf("decrypt the image", &e)),
            }
        }
    }

    /// Today's folder for received media (created owner-only): `(path, date)`.
    pub fn received_dir(&self) -> ApiResult<(PathBuf, String)> {
        let date = today();
        let dir = self.img_dir.join(&date);
        crate::fsx::create_private_dir(&dir)
            .map_err(|e| ApiError::Filesystem(format!("cannot create {}: {e}", dir.display())))?;
        Ok((dir, date))
    }

    /// The local file of a fetched chat image `<date>/<file>`.
    pub fn chat_image_path(&self, rel: &str) -> ApiResult<PathBuf> {
        let (date, file) =
            rel.split_once('/').ok_or_else(|| ApiError::Internal(format!("bad chat image path {rel:?}")))?;
        self.chat_image(date, file)
    }

    /// The local file behind `/chat_image/[<account>/]<date>/<file>`.
    pub fn chat_image(&self, date: &str, file: &str) -> ApiResult<PathBuf> {
        let not_found = || ApiError::NotFound(format!("no chat image {date}/{file}"));
        check_image_path(date, file).ok_or_else(not_found)?;
        let p = self.img_dir.join(date).join(file);
        if p.is_file() { Ok(p) } else { Err(not_found()) }
    }

    /// Deletes image folders older than `img_valid_duration` days; returns how many.
    pub fn purge_old_images(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.img_dir) else { return 0 };
        let cutoff = time::OffsetDateTime::now_utc().date() - time::Duration::days(self.keep_days as i64);
        let mut removed = 0;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(date) = parse_date(&name) else { continue };
            if date < cutoff && std::fs::remove_dir_all(e.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }

    /// Deletes staged files (`<staging>/<uuid>/…`) older than `media.retention_days`, except
    /// `keep` (paths still referenced); returns how many folders went.
    pub fn purge_staging(&self, keep: &dyn Fn(&Path) -> bool) -> usize {
        if self.settings.retention_days == 0 {
            return 0;
        }
        let max_age = Duration::from_secs(self.settings.retention_days * 86_400);
        let Ok(entries) = std::fs::read_dir(&self.staging_dir) else { return 0 };
        let mut removed = 0;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // Only the folders this gateway makes: a UUID each (uploads live under files/).
            if uuid::Uuid::parse_str(&name).is_err() {
                continue;
            }
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|a| a > max_age);
            if old && !keep(&e.path()) && std::fs::remove_dir_all(e.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }

    /// The staging folder (absolute).
    pub fn staging_dir(&self) -> &Path {
        &self.staging_dir
    }

    /// Downloads `url` (http/https, size limit, timeout) into the staging folder; returns the
    /// path as WeChat sees it. `image` demands an image.
    pub async fn stage_url(&self, url: &str, image: bool) -> ApiResult<String> {
        let body = self.download(url).await?;
        let name = url_file_name(url);
        self.stage_bytes(&body, name.as_deref(), image, url).await
    }

    /// Downloads `url` (http/https) with the size limit and timeout, never reaching
    /// `media.deny_networks` (checked on every resolved address and redirect hop).
    pub async fn download(&self, url: &str) -> ApiResult<Vec<u8>> {
        let parsed: reqwest::Url = match url.parse() {
            Ok(u) if url.starts_with("http://") || url.starts_with("https://") => u,
            _ => return Err(ApiError::BadParam(format!("{url:?} is not an http(s) URL"))),
        };
        let denied = || {
            ApiError::Download(format!(
                "downloading {url} is not allowed: the address is in media.deny_networks (nothing was contacted)"
            ))
        };
        if crate::net::url_denied(&parsed, &self.deny) {
            return Err(denied());
        }
        let max = self.settings.max_download_bytes;
        let fail = |e: reqwest::Error| {
            if crate::net::is_denied(&e) {
                denied()
            } else if e.is_timeout() {
                ApiError::Download(format!(
                    "downloading {url} timed out after {} s (media.download_timeout)",
                    self.settings.download_timeout
                ))
            } else {
                ApiError::Download(format!("cannot download {url}: {e}"))
            }
        };
        let rsp = self.http.get(parsed).send().await.map_err(fail)?;
        if !rsp.status().is_success() {
            return Err(ApiError::Download(format!("downloading {url} failed: HTTP {}", rsp.status())));
        }
        let too_large =
            || ApiError::Download(format!("{url} is larger than the {max}-byte limit (media.max_download_bytes)"));
        if rsp.content_length().is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        let mut stream = rsp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(fail)?;
            if body.len() as u64 + chunk.len() as u64 > max {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Writes bytes into the staging folder (as `<uuid>/<name>`, owner-only); returns the
    /// WeChat path.
    pub async fn stage_bytes(&self, bytes: &[u8], name: Option<&str>, image: bool, source: &str) -> ApiResult<String> {
        let sniffed = sniff_image(bytes);
        if image && sniffed.is_none() {
            return Err(ApiError::BadSegmentData(format!(
                "{source} is not an image (expected PNG, JPEG, GIF, WebP or BMP data)"
            )));
        }
        let name = match (name, sniffed) {
            (Some(n), _) if !n.is_empty() => crate::fsx::sanitize_name(n),
            (_, Some((_, ext))) => format!("image.{ext}"),
            _ => "file.bin".to_owned(),
        };
        let path = self.staging_dir.join(uuid::Uuid::new_v4().to_string()).join(name);
        crate::fsx::write_private_async(path.clone(), bytes.to_vec())
            .await
            .map_err(|e| ApiError::Filesystem(format!("cannot write {}: {e}", path.display())))?;
        Ok(self.paths.to_wechat(&path))
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn parse_date(s: &str) -> Option<time::Date> {
    check_image_path(s, "x")?;
    let y: i32 = s[..4].parse().ok()?;
    let m: u8 = s[5..7].parse().ok()?;
    let d: u8 = s[8..10].parse().ok()?;
    time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()
}

/// The last path segment of a URL, when it looks like a file name.
pub fn url_file_name(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let last = path.rsplit('/').next()?;
    (!last.is_empty() && last.contains('.')).then(|| last.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_common_images() {
        assert_eq!(sniff_image(&[0x89, b'P', b'N', b'G', 0]).unwrap().0, "image/png");
        assert_eq!(sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0]).unwrap().1, "jpg");
        assert_eq!(sniff_image(b"GIF89a").unwrap().0, "image/gif");
        assert_eq!(sniff_image(b"RIFF\0\0\0\0WEBPVP8 ").unwrap().0, "image/webp");
        assert_eq!(sniff_image(b"BM..............").unwrap().0, "image/bmp");
        assert_eq!(sniff_image(b"hello"), None);
    }

    #[test]
    fn image_paths_refuse_traversal() {
        assert!(check_image_path("2026-11-29", "abc_1.png").is_some());
        for (d, f) in [
            ("..", "x.png"),
            ("2026-11-29", "../x"),
            ("2026-11-29", ".hidden"),
            ("2026-11-29", "a/b"),
            ("2026-11-29", "a\\b"),
            ("/etc", "passwd"),
            ("2026-1-299", "x"),
            ("2026-11-29", ""),
        ] {
            assert!(check_image_path(d, f).is_none(), "{d}/{f}");
        }
    }

    #[test]
    fn path_mapping_both_ways() {
        let map = PathMap::new(vec![PathMapping { gateway: "/mnt/share".into(), wechat: "C:\\share".into() }]);
        assert_eq!(map.to_wechat(Path::new("/mnt/share/staging/a.png")), "C:\\share\\staging\\a.png");
        assert_eq!(map.to_local("c:/SHARE/img/x.jpg"), PathBuf::from("/mnt/share/img/x.jpg"));
        assert_eq!(map.to_local("C:\\share\\img\\x.jpg"), PathBuf::from("/mnt/share/img/x.jpg"));
        assert_eq!(map.to_local("D:\\other\\x.jpg"), PathBuf::from("D:\\other\\x.jpg"));
        assert_eq!(map.to_wechat(Path::new("/mnt/shared/x")), "/mnt/shared/x", "prefix must end at a separator");
        let none = PathMap::default();
        assert_eq!(none.to_wechat(Path::new("/a/b")), "/a/b");
    }

    #[test]
    fn names_from_urls() {
        assert_eq!(url_file_name("http://h/a/b/report.pdf?x=1").as_deref(), Some("report.pdf"));
        assert_eq!(url_file_name("http://h/a/b/"), None);
        assert_eq!(parse_date("2026-02-03"), time::Date::from_calendar_date(2026, time::Month::February, 3).ok());
    }
}
