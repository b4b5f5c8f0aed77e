//! The tables of a [`Schema`](super::Schema), with an index of the names they carry.
//!
//! Validating a revision checks every new table, key and index name against the whole schema
//! (PostgreSQL keeps them in one namespace). Scanning every table for each name made replaying
//! a history of N `create_table`s O(N²); the index makes each check O(1). It is built on the
//! first lookup and kept exact by `insert` and `shift_remove`, the paths operations take; every
//! other way to change a table in place drops it, to be rebuilt on the next lookup.

use std::ops::Deref;
use std::sync::OnceLock;

use indexmap::IndexMap;
use serde::Serialize;

use super::Table;

/// Table name → table, in creation order; reads go through `Deref` to the map.
#[derive(Clone, Default)]
pub struct Tables {
    map: IndexMap<String, Table>,
    /// Every table, constraint and index name → the tables that carry it (more than one only
    /// in a schema read from a database that scopes index names per table, as MySQL does).
    names: OnceLock<NameIndex>,
}

type NameIndex = std::collections::HashMap<String, Vec<String>>;

impl Tables {
    /// Adds or replaces the table under `name`, keeping its position when it was there.
    pub fn insert(&mut self, name: String, table: Table) -> Option<Table> {
        let old = self.map.insert(name.clone(), table);
        if let Some(index) = self.names.get_mut() {
            if let Some(old) = &old {
                forget(index, &name, old);
            }
            remember(index, &name, &self.map[&name]);
        }
        old
    }

    /// Adds `table` under `name` at position `at`.
    pub fn shift_insert(&mut self, at: usize, name: String, table: Table) -> Option<Table> {
        let old = self.map.shift_insert(at, name.clone(), table);
        if let Some(index) = self.names.get_mut() {
            if let Some(old) = &old {
                forget(index, &name, old);
            }
            remember(index, &name, &self.map[&name]);
        }
        old
    }

    /// Removes the table under `name`, keeping the others' order.
    pub fn shift_remove(&mut self, name: &str) -> Option<Table> {
        self.shift_remove_full(name).map(|(_, _, table)| table)
    }

    /// Removes the table under `name`, with its position and key.
    pub fn shift_remove_full(&mut self, name: &str) -> Option<(usize, String, Table)> {
        let removed = self.map.shift_remove_full(name)?;
        if let Some(index) = self.names.get_mut() {
            forget(index, &removed.1, &removed.2);
        }
        Some(removed)
    }

    /// The map, to change tables in place; the name index is rebuilt on the next lookup.
    pub fn map_mut(&mut self) -> &mut IndexMap<String, Table> {
        self.names.take();
        &mut self.map
    }

    /// The table under `name`, to change in place.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Table> {
        self.map_mut().get_mut(name)
    }

    /// Every table, to change in place.
    pub fn values_mut(&mut self) -> indexmap::map::ValuesMut<'_, String, Table> {
        self.map_mut().values_mut()
    }

    /// Every table with its name, to change in place.
    pub fn iter_mut(&mut self) -> indexmap::map::IterMut<'_, String, Table> {
        self.map_mut().iter_mut()
    }

    /// Sorts the tables by name (names are unchanged, so the index stays).
    pub fn sort_keys(&mut self) {
        self.map.sort_keys();
    }

    /// Adds tables at the end.
    pub fn extend(&mut self, tables: impl IntoIterator<Item = (String, Table)>) {
        for (name, table) in tables {
            self.insert(name, table);
        }
    }

    /// The names of the tables, consuming them.
    pub fn into_keys(self) -> indexmap::map::IntoKeys<String, Table> {
        self.map.into_keys()
    }

    /// The tables that carry `name` as their own name, a constraint's or an index's, in table
    /// order.
    pub fn carrying<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Table> + 'a {
        let index = self.names.get_or_init(|| {
            let mut index = NameIndex::new();
            for (key, table) in &self.map {
                remember(&mut index, key, table);
            }
            index
        });
        let mut found: Vec<(usize, &Table)> = index
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|key| self.map.get_full(key.as_str()))
            .map(|(at, _, table)| (at, table))
            .collect();
        found.sort_by_key(|(at, _)| *at);
        found.dedup_by_key(|(at, _)| *at);
        debug_assert_eq!(
            found.iter().map(|(at, _)| *at).collect::<Vec<_>>(),
            self.map
                .values()
                .enumerate()
                .filter(|(_, t)| t.name == name || t.object_names().any(|n| n == name))
                .map(|(at, _)| at)
                .collect::<Vec<_>>(),
            "the name index is out of step for '{name}'"
        );
        found.into_iter().map(|(_, table)| table)
    }
}

/// The names `table` (under map key `key`) carries.
fn names_of<'a>(key: &'a str, table: &'a Table) -> impl Iterator<Item = &'a str> {
    std::iter::once(key)
        .chain((table.name != key).then_some(table.name.as_str()))
        .chain(table.object_names())
}

fn remember(index: &mut NameIndex, key: &str, table: &Table) {
    for name in names_of(key, table) {
        let owners = index.entry(name.to_string()).or_default();
        if !owners.iter().any(|o| o == key) {
            owners.push(key.to_string());
        }
    }
}

fn forget(index: &mut NameIndex, key: &str, table: &Table) {
    for name in names_of(key, table) {
        if let Some(owners) = index.get_mut(name) {
            owners.retain(|o| o != key);
            if owners.is_empty() {
                index.remove(name);
            }
        }
    }
}

impl Deref for Tables {
    type Target = IndexMap<String, Table>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.map.fmt(f)
    }
}

impl PartialEq for Tables {
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

impl Serialize for Tables {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(serializer)
    }
}

impl FromIterator<(String, Table)> for Tables {
    fn from_iter<I: IntoIterator<Item = (String, Table)>>(iter: I) -> Self {
        Self {
            map: iter.into_iter().collect(),
            names: OnceLock::new(),
        }
    }
}

impl From<IndexMap<String, Table>> for Tables {
    fn from(map: IndexMap<String, Table>) -> Self {
        Self {
            map,
            names: OnceLock::new(),
        }
    }
}

impl<'a> IntoIterator for &'a Tables {
    type Item = (&'a String, &'a Table);
    type IntoIter = indexmap::map::Iter<'a, String, Table>;
    fn into_iter(self) -> Self::IntoIter {
        self.map.iter()
    }
}
