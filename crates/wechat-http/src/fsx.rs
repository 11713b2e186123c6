//! File-system helpers that cannot hang or leak: reads open without blocking (a FIFO or a
//! device never stalls a thread), accept only regular files, stop at a size cap; folders and
//! files the gateway creates are readable by its owner only.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Not a regular file (a folder, FIFO, socket, device, or a file under /proc, /sys, /dev).
    #[error("{0} is not a regular file")]
    NotRegular(String),
    /// Larger than allowed.
    #[error("{path} is {size} bytes, more than the limit of {max}")]
    TooLarge {
        /// File.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The OS refused.
    #[error("cannot read {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// Kernel pseudo file systems whose "regular" files are not files.
const PSEUDO: &[&str] = &["/proc", "/sys", "/dev"];

/// True when `p` (canonical) lies in a pseudo file system.
pub fn is_pseudo(p: &Path) -> bool {
    PSEUDO.iter().any(|root| p.starts_with(root))
}

/// Reads a regular file of at most `max` bytes without ever blocking on it.
pub fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let shown = path.display().to_string();
    let io = |source| ReadError::Io { path: shown.clone(), source };
    let canonical = std::fs::canonicalize(path).map_err(io)?;
    if is_pseudo(&canonical) {
        return Err(ReadError::NotRegular(shown));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A FIFO opened for reading would wait for a writer; with O_NONBLOCK it opens at once
        // and is refused below.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(&canonical).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(shown));
    }
    if meta.len() > max {
        return Err(ReadError::TooLarge { path: shown, size: meta.len(), max });
    }
    let mut out = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1).read_to_end(&mut out).map_err(io)?;
    if out.len() as u64 > max {
        return Err(ReadError::TooLarge { path: shown, size: out.len() as u64, max });
    }
    Ok(out)
}

/// [`read_regular`] on the blocking pool.
pub async fn read_regular_async(path: PathBuf, max: u64) -> Result<Vec<u8>, ReadError> {
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || read_regular(&path, max))
        .await
        .unwrap_or_else(|e| Err(ReadError::Io { path: shown, source: std::io::Error::other(e.to_string()) }))
}

/// Creates `dir` (and its parents); a folder created here is owner-only (0700 on Unix).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` (replacing it), owner-only (0600 on Unix).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_data()
}

/// [`create_private_dir`] + [`write_private`] on the blocking pool.
pub async fn write_private_async(path: PathBuf, bytes: Vec<u8>) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || {
        if let Some(dir) = path.parent() {
            create_private_dir(dir)?;
        }
        write_private(&path, &bytes)
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))?
}

/// Cuts `s` to at most `max` bytes at a UTF-8 character boundary.
pub fn cut_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A file name safe on every platform: no separators, control or reserved characters, no
/// leading dots, at most 200 bytes (cut at a character boundary, keeping the extension).
pub fn sanitize_name(n: &str) -> String {
    const MAX: usize = 200;
    let cleaned: String =
        n.chars()
            .map(|c| {
                if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                    '_'
                } else {
                    c
                }
            })
            .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() {
        return "file.bin".into();
    }
    if cleaned.len() <= MAX {
        return cleaned.to_owned();
    }
    match cleaned.rsplit_once('.') {
        Some((stem, ext)) if !ext.is_empty() && ext.len() <= 16 && !stem.is_empty() => {
            format!("{}.{ext}", cut_utf8(stem, MAX - ext.len() - 1))
        }
        _ => cut_utf8(cleaned, MAX).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cut_at_character_boundaries() {
        let long = "报".repeat(100) + ".pdf"; // 300 bytes of text
        let n = sanitize_name(&long);
        assert!(n.len() <= 200 && n.ends_with(".pdf"), "{} bytes: {n}", n.len());
        assert!(n.trim_end_matches(".pdf").chars().all(|c| c == '报'));
        assert_eq!(sanitize_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(sanitize_name("..."), "file.bin");
        assert_eq!(sanitize_name("a\u{0}b\nc.txt"), "a_b_c.txt");
        assert_eq!(sanitize_name("年度 报告.pdf"), "年度 报告.pdf");
        assert_eq!(cut_utf8("ab报", 3), "ab");
    }

    #[cfg(unix)]
    #[test]
    fn reads_refuse_fifos_devices_and_big_files() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(matches!(read_regular(&fifo, 100), Err(ReadError::NotRegular(_))), "no hang, refused");
        assert!(matches!(read_regular(Path::new("/dev/zero"), 100), Err(ReadError::NotRegular(_))));
        assert!(matches!(read_regular(Path::new("/proc/self/environ"), 100_000), Err(ReadError::NotRegular(_))));
        let f = dir.path().join("f.txt");
        std::fs::write(&f, b"hello").unwrap();
        assert_eq!(read_regular(&f, 5).unwrap(), b"hello");
        assert!(matches!(read_regular(&f, 4), Err(ReadError::TooLarge { size: 5, .. })));
        assert!(matches!(read_regular(dir.path(), 4), Err(ReadError::NotRegular(_))));
    }
}
