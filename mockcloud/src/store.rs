//! The only code that knows sled. Records are JSON under `<kind>/<id>` keys in one tree, so a
//! change touching several records is one atomic batch.
//!
//! [`Store::get_shared`] keeps parsed records in memory for the hot read paths (the
//! cryptographic operations read a key, its instance and the account per request); every write
//! goes through [`Store::apply`], which drops what it changed, so the cache is never stale.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::any::Any;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    cache: Arc<RwLock<Cache>>,
}

/// Parsed records by store key. `generation` moves on every write, so a reader that parsed a
/// record before a write does not put it in the cache after it.
#[derive(Default)]
struct Cache {
    generation: u64,
    values: HashMap<String, Arc<dyn Any + Send + Sync>>,
}

/// One record to write (Some) or remove (None) in a batch.
pub struct Write {
    key: String,
    value: Option<Vec<u8>>,
}

impl Write {
    pub fn put<T: Serialize>(kind: &str, id: &str, value: &T) -> Write {
        Write {
            key: key(kind, id),
            value: Some(serde_json::to_vec(value).expect("records serialize")),
        }
    }

    pub fn remove(kind: &str, id: &str) -> Write {
        Write {
            key: key(kind, id),
            value: None,
        }
    }
}

fn key(kind: &str, id: &str) -> String {
    format!("{kind}/{id}")
}

impl Store {
    pub fn open(dir: &Path) -> anyhow::Result<Store> {
        // Writes flush themselves (`apply`), so no background flusher: its thread would keep the
        // directory's lock for a moment after the store is dropped, and a quick reopen (restart
        // tests, a restarted server) could fail. A lock still held by a closing store is retried.
        let config = sled::Config::new()
            .path(dir.join("db"))
            .flush_every_ms(None);
        let mut attempt = 0;
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock") && attempt < 50 =>
                {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(e) => return Err(e.into()),
            }
        };
        Ok(Store {
            db,
            cache: Arc::default(),
        })
    }

    /// A record, parsed once and shared until a write changes it.
    pub fn get_shared<T: DeserializeOwned + Send + Sync + 'static>(
        &self,
        kind: &str,
        id: &str,
    ) -> anyhow::Result<Option<Arc<T>>> {
        let k = key(kind, id);
        let generation = {
            let cache = self.cache.read().expect("cache lock");
            if let Some(v) = cache.values.get(&k) {
                if let Ok(t) = v.clone().downcast::<T>() {
                    return Ok(Some(t));
                }
            }
            cache.generation
        };
        let Some(raw) = self.db.get(&k)? else {
            return Ok(None);
        };
        let value: Arc<T> = Arc::new(serde_json::from_slice(&raw)?);
        let mut cache = self.cache.write().expect("cache lock");
        if cache.generation == generation {
            cache.values.insert(k, value.clone());
        }
        Ok(Some(value))
    }

    /// Drops cached records a write changed.
    fn invalidate<'a>(&self, keys: impl Iterator<Item = &'a str>) {
        let mut cache = self.cache.write().expect("cache lock");
        for k in keys {
            cache.values.remove(k);
        }
        cache.generation += 1;
    }

    pub fn get<T: DeserializeOwned>(&self, kind: &str, id: &str) -> anyhow::Result<Option<T>> {
        match self.db.get(key(kind, id))? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// Every record of a kind, in key order.
    pub fn list<T: DeserializeOwned>(&self, kind: &str) -> anyhow::Result<Vec<T>> {
        let prefix = format!("{kind}/");
        self.db
            .scan_prefix(prefix.as_bytes())
            .map(|kv| Ok(serde_json::from_slice(&kv?.1)?))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.db.is_empty()
    }

    pub fn apply(&self, writes: Vec<Write>) -> anyhow::Result<()> {
        let mut batch = sled::Batch::default();
        let keys: Vec<String> = writes.iter().map(|w| w.key.clone()).collect();
        for w in writes {
            match w.value {
                Some(v) => batch.insert(w.key.as_bytes(), v),
                None => batch.remove(w.key.as_bytes()),
            }
        }
        let applied = self.db.apply_batch(batch);
        // Invalidated whatever the outcome: a dropped entry only costs a re-read.
        self.invalidate(keys.iter().map(String::as_str));
        applied?;
        self.db.flush()?;
        Ok(())
    }

    pub fn put<T: Serialize>(&self, kind: &str, id: &str, value: &T) -> anyhow::Result<()> {
        self.apply(vec![Write::put(kind, id, value)])
    }

    /// Removes every record (the admin reset).
    pub fn clear(&self) -> anyhow::Result<()> {
        self.db.clear()?;
        let mut cache = self.cache.write().expect("cache lock");
        cache.values.clear();
        cache.generation += 1;
        drop(cache);
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopening_and_batches_apply_together() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            s.apply(vec![
                Write::put("a", "1", &1u32),
                Write::put("a", "2", &2u32),
                Write::put("b", "1", &"x"),
            ])
            .unwrap();
            s.apply(vec![Write::remove("a", "1")]).unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.list::<u32>("a").unwrap(), vec![2]);
        assert_eq!(s.get::<String>("b", "1").unwrap().as_deref(), Some("x"));
        assert_eq!(s.get::<u32>("a", "1").unwrap(), None);
    }

    #[test]
    fn shared_records_are_cached_until_a_write_changes_them() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert!(s.get_shared::<u32>("a", "1").unwrap().is_none());
        s.put("a", "1", &1u32).unwrap();
        let first = s.get_shared::<u32>("a", "1").unwrap().unwrap();
        let again = s.get_shared::<u32>("a", "1").unwrap().unwrap();
        assert!(Arc::ptr_eq(&first, &again), "parsed once");
        s.put("a", "1", &2u32).unwrap();
        assert_eq!(*s.get_shared::<u32>("a", "1").unwrap().unwrap(), 2);
        s.apply(vec![Write::remove("a", "1")]).unwrap();
        assert!(s.get_shared::<u32>("a", "1").unwrap().is_none());
        s.put("a", "2", &3u32).unwrap();
        assert_eq!(*s.get_shared::<u32>("a", "2").unwrap().unwrap(), 3);
        s.clear().unwrap();
        assert!(s.get_shared::<u32>("a", "2").unwrap().is_none());
    }
}
