//! The models a backend keeps loaded: most recently used first, bounded by a memory budget.
//! Loading one that does not fit unloads the least recently used others first; one model is
//! always allowed, however large, so a model bigger than the budget still runs (alone).

/// Loaded models of type `M`, keyed by the path or name they were loaded with.
#[derive(Debug)]
pub struct Cache<M> {
    budget: u64,
    /// Most recently used first.
    entries: Vec<Entry<M>>,
}

#[derive(Debug)]
struct Entry<M> {
    key: String,
    bytes: u64,
    model: M,
}

impl<M> Cache<M> {
    /// A cache that keeps at most `budget` bytes of models loaded.
    pub fn new(budget: u64) -> Self {
        Self {
            budget,
            entries: Vec::new(),
        }
    }

    /// The model loaded as `key`, now the most recently used.
    pub fn get(&mut self, key: &str) -> Option<&M> {
        let i = self.entries.iter().position(|e| e.key == key)?;
        let entry = self.entries.remove(i);
        self.entries.insert(0, entry);
        Some(&self.entries[0].model)
    }

    /// The model loaded as `key`, mutable, now the most recently used.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut M> {
        self.get(key)?;
        Some(&mut self.entries[0].model)
    }

    /// Unloads the least recently used models until `bytes` more fit; returns their keys.
    pub fn make_room(&mut self, bytes: u64) -> Vec<String> {
        let mut out = Vec::new();
        while !self.entries.is_empty() && self.used() + bytes > self.budget {
            out.push(self.entries.pop().expect("not empty").key);
        }
        out
    }

    /// Adds `model` as the most recently used (call [`Cache::make_room`] first).
    pub fn insert(&mut self, key: String, bytes: u64, model: M) -> &M {
        self.entries.retain(|e| e.key != key);
        self.entries.insert(0, Entry { key, bytes, model });
        &self.entries[0].model
    }

    /// Unloads `key`, or every model with `None`; returns what was unloaded.
    pub fn remove(&mut self, key: Option<&str>) -> Vec<String> {
        let (gone, kept) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|e| key.is_none_or(|k| e.key == k));
        self.entries = kept;
        gone.into_iter().map(|e: Entry<M>| e.key).collect()
    }

    /// Keys and sizes, most recently used first.
    pub fn list(&self) -> Vec<(String, u64)> {
        self.entries.iter().map(|e| (e.key.clone(), e.bytes)).collect()
    }

    /// The models held, most recently used first, as the worker reports them.
    pub fn loaded(&self) -> Vec<oarn_protocol::infer::Loaded> {
        self.entries
            .iter()
            .map(|e| oarn_protocol::infer::Loaded {
                model: e.key.clone(),
                bytes: e.bytes,
            })
            .collect()
    }

    fn used(&self) -> u64 {
        self.entries.iter().map(|e| e.bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_goes_first_and_one_model_always_fits() {
        let mut c = Cache::new(100);
        assert!(c.make_room(40).is_empty());
        c.insert("a".into(), 40, ());
        assert!(c.make_room(40).is_empty());
        c.insert("b".into(), 40, ());
        c.get("a");
        assert_eq!(c.make_room(40), ["b"]);
        c.insert("c".into(), 40, ());
        assert_eq!(c.list(), [("c".to_string(), 40), ("a".to_string(), 40)]);
        // Larger than the budget: everything else goes, and it still loads.
        assert_eq!(c.make_room(500), ["a", "c"]);
        c.insert("huge".into(), 500, ());
        assert_eq!(c.remove(Some("nope")), Vec::<String>::new());
        assert_eq!(c.remove(None), ["huge"]);
        assert!(c.get("huge").is_none());
    }
}
