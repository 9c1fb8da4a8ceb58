//! Documents: JSON objects kept by key in a tree of their own, durable when a write returns
//! (for what clients create through an API, not the readings' hot path): the NGSI-LD
//! broker's own entities and its subscriptions.
//!
//! Writes to one tree are serialised (a read-modify-write such as an attribute update cannot
//! lose another's change); reads never wait for writes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value as Json;

use super::StoreError;

/// A handle on one tree of documents; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Documents {
    path: PathBuf,
    what: &'static str,
    tree: sled::Tree,
    writing: Arc<Mutex<()>>,
}

/// A write in progress: holds the tree's write lock until dropped.
pub struct DocumentWrite<'a> {
    documents: &'a Documents,
    _lock: MutexGuard<'a, ()>,
}

impl Documents {
    pub(super) fn new(path: PathBuf, what: &'static str, tree: sled::Tree) -> Documents {
        Documents {
            path,
            what,
            tree,
            writing: Arc::default(),
        }
    }

    fn backend(&self, e: sled::Error) -> StoreError {
        StoreError::Backend {
            path: self.path.clone(),
            source: e,
        }
    }

    fn decode(&self, key: &[u8], bytes: &[u8]) -> Result<Json, StoreError> {
        serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            what: format!("{} {}", self.what, String::from_utf8_lossy(key)),
            why: e.to_string(),
        })
    }

    /// The document kept under `key`.
    pub fn get(&self, key: &str) -> Result<Option<Json>, StoreError> {
        match self.tree.get(key).map_err(|e| self.backend(e))? {
            Some(bytes) => self.decode(key.as_bytes(), &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Every document, in key order.
    pub fn all(&self) -> Result<Vec<(String, Json)>, StoreError> {
        self.tree
            .iter()
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.backend(e))?;
                let doc = self.decode(&k, &v)?;
                Ok((String::from_utf8_lossy(&k).into_owned(), doc))
            })
            .collect()
    }

    /// How many documents are kept.
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Begin a write: until the returned guard is dropped no other write to this tree runs,
    /// so a document read through it and put back loses nobody's change.
    pub fn write(&self) -> DocumentWrite<'_> {
        DocumentWrite {
            documents: self,
            _lock: self.writing.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }
}

impl DocumentWrite<'_> {
    /// The document kept under `key`, read inside the write.
    pub fn get(&self, key: &str) -> Result<Option<Json>, StoreError> {
        self.documents.get(key)
    }

    /// Keep `doc` under `key` (replacing what was there); durable when this returns.
    pub fn put(&self, key: &str, doc: &Json) -> Result<(), StoreError> {
        let d = self.documents;
        let bytes = serde_json::to_vec(doc).map_err(|e| StoreError::Corrupt {
            path: d.path.clone(),
            what: format!("{} {key}", d.what),
            why: e.to_string(),
        })?;
        d.tree.insert(key, bytes).map_err(|e| d.backend(e))?;
        d.tree.flush().map_err(|e| d.backend(e))?;
        Ok(())
    }

    /// Forget the document under `key`; durable when this returns. Whether there was one.
    pub fn remove(&self, key: &str) -> Result<bool, StoreError> {
        let d = self.documents;
        let was = d.tree.remove(key).map_err(|e| d.backend(e))?.is_some();
        d.tree.flush().map_err(|e| d.backend(e))?;
        Ok(was)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::store::Store;

    #[test]
    fn documents_survive_reopening_and_writes_replace_and_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("open");
            let docs = store.ngsi_ld_entities();
            let w = docs.write();
            w.put("urn:x:1", &json!({"id": "urn:x:1", "n": 1}))
                .expect("put");
            w.put("urn:x:2", &json!({"id": "urn:x:2"})).expect("put");
            w.put("urn:x:1", &json!({"id": "urn:x:1", "n": 2}))
                .expect("replace");
            assert!(w.remove("urn:x:2").expect("remove"));
            assert!(!w.remove("urn:x:3").expect("remove nothing"));
        }
        let store = Store::open(dir.path()).expect("reopen");
        let docs = store.ngsi_ld_entities();
        assert_eq!(docs.len(), 1);
        assert_eq!(
            docs.get("urn:x:1").expect("get"),
            Some(json!({"id": "urn:x:1", "n": 2}))
        );
        assert_eq!(docs.all().expect("all").len(), 1);
        assert!(
            store.ngsi_ld_subscriptions().is_empty(),
            "a tree of its own"
        );
    }
}
