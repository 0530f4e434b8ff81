//! Reading a file the user or a scheduler controls without trusting its size: at most `limit`
//! bytes are ever read, whatever `metadata` says (`/dev/zero`, a pipe, a file still growing).

use std::io::Read as _;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("it is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("it is not valid UTF-8")]
    NotText,
}

impl ReadError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

/// The bytes of `path`, refused once they pass `limit`.
pub fn bytes(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(bytes)
}

/// The text of `path`, refused once it passes `limit` bytes.
pub fn text(path: &Path, limit: u64) -> Result<String, ReadError> {
    String::from_utf8(bytes(path, limit)?).map_err(|_| ReadError::NotText)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_files_stop_at_the_limit() {
        let err = bytes(Path::new("/dev/zero"), 1000).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { limit: 1000 }));
    }

    #[test]
    fn small_files_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        std::fs::write(&path, "hello").unwrap();
        assert_eq!(text(&path, 5).unwrap(), "hello");
        assert!(text(&path, 4).is_err());
        assert!(
            bytes(&dir.path().join("none"), 4)
                .unwrap_err()
                .is_not_found()
        );
    }
}
