//! An in-memory [`Store`] for tests of code that writes run data (orchestration, workers).

use crate::error::Result;
use crate::store::Store;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A [`Store`] kept in a map; every operation is atomic.
#[derive(Debug, Default)]
pub struct MemoryStore {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of objects held.
    pub fn len(&self) -> usize {
        self.objects.lock().expect("not poisoned").len()
    }

    /// Whether the store holds no object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Store for MemoryStore {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.objects
            .lock()
            .expect("not poisoned")
            .insert(key.to_string(), bytes.to_vec());
        Ok(())
    }

    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        let mut objects = self.objects.lock().expect("not poisoned");
        if objects.contains_key(key) {
            return Ok(false);
        }
        objects.insert(key.to_string(), bytes.to_vec());
        Ok(true)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.objects.lock().expect("not poisoned").get(key).cloned())
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self
            .objects
            .lock()
            .expect("not poisoned")
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.objects.lock().expect("not poisoned").remove(key);
        Ok(())
    }
}
