//! The only code that knows sled. Records are JSON under `<kind>/<id>` keys in one tree, so a
//! change touching several records is one atomic batch.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
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
        let db = sled::Config::new().path(dir.join("db")).open()?;
        Ok(Store { db })
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
        for w in writes {
            match w.value {
                Some(v) => batch.insert(w.key.as_bytes(), v),
                None => batch.remove(w.key.as_bytes()),
            }
        }
        self.db.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }

    pub fn put<T: Serialize>(&self, kind: &str, id: &str, value: &T) -> anyhow::Result<()> {
        self.apply(vec![Write::put(kind, id, value)])
    }

    /// Removes every record (the admin reset).
    pub fn clear(&self) -> anyhow::Result<()> {
        self.db.clear()?;
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
}
