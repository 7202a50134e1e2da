//! Where run data lives. The engine writes through [`Store`], so the same runner serves a
//! local folder and (in the Lambda crates) S3.

use crate::error::{Result, SweepError};
use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// A flat key-value object store with `/`-separated keys, as S3 is.
pub trait Store: Send + Sync {
    /// Writes `bytes` at `key`, replacing any object there. Readers never see a partial object.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<()>;
    /// Writes `bytes` at `key` only if nothing is there; returns whether it wrote.
    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool>;
    /// Reads the object at `key`, or `None` if there is none.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Keys that start with `prefix`, sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>>;
    /// Whether an object exists at `key`.
    fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.get(key)?.is_some())
    }
    /// Removes the object at `key`; removing a missing object is not an error.
    fn delete(&self, key: &str) -> Result<()>;

    /// Claims `key` for this process while the returned guard lives, so that executions
    /// of one run in several processes (two resumes at once) split its shards instead of
    /// each computing all of them. `None`: another live process holds the claim. A claim
    /// dies with its process, so a crash never leaves a shard claimed. Stores that cannot
    /// coordinate (S3, where workers get disjoint shard lists anyway) always grant it.
    fn claim(&self, _key: &str) -> Result<Option<Claim>> {
        Ok(Some(Claim(None)))
    }
    /// Whether `list` costs a request per 1,000 keys (an object store such as S3): large
    /// listings are then split by key range and sent in parallel. A folder lists in one go.
    fn lists_in_pages(&self) -> bool {
        false
    }
}

/// Most listings of one run sent at once.
pub const LIST_THREADS: usize = 16;

/// Every key under `prefix` whose name starts with a shard number of `width` digits, for a
/// run of `shards` shards. On a paged store the key space is cut into blocks of 1,000 shards
/// (one LIST request each) listed [`LIST_THREADS`] at a time, so a run of 10^6 shards takes
/// 1,000 requests in about 63 round trips instead of 1,000 in a row.
pub fn list_shard_keys(
    store: &dyn Store,
    prefix: &str,
    width: usize,
    shards: u64,
) -> Result<Vec<String>> {
    if !store.lists_in_pages() || width <= 3 || shards <= 1_000 {
        return store.list(prefix);
    }
    let blocks = shards.div_ceil(1_000);
    let next = std::sync::atomic::AtomicU64::new(0);
    let lists = || -> Result<Vec<String>> {
        let mut keys = Vec::new();
        loop {
            let block = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if block >= blocks {
                return Ok(keys);
            }
            let block_prefix = format!("{prefix}{block:0w$}", w = width - 3);
            keys.extend(store.list(&block_prefix)?);
        }
    };
    let threads = LIST_THREADS.min(blocks as usize);
    let parts: Vec<Result<Vec<String>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(lists)).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a listing thread panicked"))
            .collect()
    });
    let mut keys = Vec::new();
    for part in parts {
        keys.extend(part?);
    }
    keys.sort_unstable();
    Ok(keys)
}

/// A [`Store`] over a local folder. Writes go to a temporary file in the same folder and are
/// renamed into place, so a killed process leaves either the whole object or none.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStore { root: root.into() }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        let rel = Path::new(key);
        let safe = !key.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
        if !safe {
            return Err(SweepError::storage(key, "invalid object key"));
        }
        Ok(self.root.join(rel))
    }

    fn write_atomic(&self, key: &str, bytes: &[u8], overwrite: bool) -> Result<bool> {
        let path = self.path(key)?;
        let dir = path.parent().expect("keys have a parent");
        fs::create_dir_all(dir).map_err(|e| SweepError::storage(key, e))?;
        let tmp = dir.join(format!(
            ".{}.tmp-{}-{:?}",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("object"),
            std::process::id(),
            std::thread::current().id()
        ));
        let result = (|| -> std::io::Result<bool> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            drop(f);
            if overwrite {
                fs::rename(&tmp, &path)?;
                Ok(true)
            } else {
                // hard_link fails if the target exists: an atomic create-if-absent.
                match fs::hard_link(&tmp, &path) {
                    Ok(()) => Ok(true),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(e),
                }
            }
        })();
        let _ = fs::remove_file(&tmp);
        result.map_err(|e| SweepError::storage(key, e))
    }
}

/// A held claim ([`Store::claim`]): released when dropped (or when its process ends).
#[derive(Debug)]
pub struct Claim(#[allow(dead_code)] Option<fs::File>);

impl Store for LocalStore {
    fn claim(&self, key: &str) -> Result<Option<Claim>> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| SweepError::storage(key, e))?;
        }
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| SweepError::storage(key, e))?;
        // An advisory lock the OS drops with the process: nothing to clean up after a crash.
        match file.try_lock() {
            Ok(()) => Ok(Some(Claim(Some(file)))),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(SweepError::storage(key, e)),
        }
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.write_atomic(key, bytes, true).map(|_| ())
    }

    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        self.write_atomic(key, bytes, false)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match fs::read(self.path(key)?) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SweepError::storage(key, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        // Walk only the deepest folder the prefix names, then filter by the rest.
        let (dir_part, _) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let start = if dir_part.is_empty() {
            self.root.clone()
        } else {
            self.path(dir_part)?
        };
        let mut out = Vec::new();
        let mut stack = vec![start];
        while let Some(dir) = stack.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(SweepError::storage(prefix, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| SweepError::storage(prefix, e))?;
                let path = entry.path();
                let name = entry.file_name();
                if name.to_string_lossy().starts_with('.') {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(rel) = path.strip_prefix(&self.root) {
                    let key = rel.to_string_lossy().replace('\\', "/");
                    if key.starts_with(prefix) {
                        out.push(key);
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.path(key)?.is_file())
    }

    fn delete(&self, key: &str) -> Result<()> {
        match fs::remove_file(self.path(key)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SweepError::storage(key, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sweep-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn put_get_list_and_create_if_absent() {
        let root = temp_root("basic");
        let s = LocalStore::new(&root);
        s.put("a/b/c.json", b"1").unwrap();
        s.put("a/b/d.json", b"2").unwrap();
        s.put("a/x.json", b"3").unwrap();
        assert_eq!(s.get("a/b/c.json").unwrap().unwrap(), b"1");
        assert_eq!(s.get("a/missing").unwrap(), None);
        assert_eq!(s.list("a/b/").unwrap(), vec!["a/b/c.json", "a/b/d.json"]);
        assert_eq!(s.list("a/").unwrap().len(), 3);
        assert!(s.put_if_absent("a/new", b"x").unwrap());
        assert!(!s.put_if_absent("a/new", b"y").unwrap());
        assert_eq!(s.get("a/new").unwrap().unwrap(), b"x");
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn keys_cannot_escape_the_root() {
        let s = LocalStore::new(temp_root("escape"));
        for key in ["../x", "/etc/passwd", "a/../../x", ""] {
            assert!(s.put(key, b"no").is_err(), "{key}");
        }
    }
}
