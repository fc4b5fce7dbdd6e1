//! Users, identities and merges, the way Heap does them.
//!
//! Every user has a `user_id`; `identify` attaches an identity. When the
//! identity already belongs to another user, the anonymous user is merged
//! into the identified one (a row of `user_migrations`) and every query sees
//! all their events under the surviving `user_id`. The state also keeps each
//! user's last session so that sessions continue across imports.

use hashbrown::HashMap;

use serde_json::{Map, Value};

use crate::message::{UserKind, UserRef};
use crate::properties::Properties;

/// One user, live or merged away.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct UserRecord {
    pub(crate) user_id: String,
    pub(crate) identity: Option<String>,
    /// First event (or identify) time, µs.
    pub(crate) joindate: Option<i64>,
    /// Last event time, µs.
    pub(crate) last_seen: Option<i64>,
    /// Kept as JSON text, not as a `serde_json::Map`: a 100M-event import
    /// holds 1.2M users, and importing 1.2M users with five properties each
    /// peaked at 1,143 MiB this way against 1,831 MiB with the maps.
    pub(crate) properties: Properties,
    /// The user this one was merged into, and when.
    pub(crate) merged_into: Option<String>,
    pub(crate) merged_at: Option<i64>,
    /// The session of this user's latest event, and that event's time.
    pub(crate) last_session_id: Option<String>,
    pub(crate) last_event_time: Option<i64>,
}

/// All users, indexed by id and identity.
#[derive(Debug, Clone, Default)]
pub(crate) struct Users {
    by_id: HashMap<String, UserRecord>,
    by_identity: HashMap<String, String>,
    /// Per surviving user, the last written event (time, session) of each
    /// user merged into it: a merged user's late event continues that
    /// user's session, where the survivor's record keeps only the later of
    /// the two. Not stored: the merged users' records keep them.
    merged_seeds: HashMap<String, Vec<(i64, String)>>,
}

impl Users {
    /// Builds the index from stored records.
    pub(crate) fn from_records(records: impl IntoIterator<Item = UserRecord>) -> Self {
        let mut users = Self::default();
        for r in records {
            if let (Some(identity), None) = (&r.identity, &r.merged_into) {
                users
                    .by_identity
                    .insert(identity.clone(), r.user_id.clone());
            }
            users.by_id.insert(r.user_id.clone(), r);
        }
        let merged: Vec<(String, (i64, String))> = users
            .by_id
            .values()
            .filter(|r| r.merged_into.is_some())
            .filter_map(|r| {
                let seed = r.last_event_time.zip(r.last_session_id.clone())?;
                Some((users.canonical(&r.user_id), seed))
            })
            .collect();
        for (survivor, seed) in merged {
            users.merged_seeds.entry(survivor).or_default().push(seed);
        }
        users
    }

    /// The last written events (time, session) a user's new events may
    /// continue: its own and those of the users merged into it, by time.
    pub(crate) fn seeds(&self, user_id: &str) -> Vec<(i64, String)> {
        let own = self
            .by_id
            .get(user_id)
            .and_then(|r| r.last_event_time.zip(r.last_session_id.clone()));
        let mut seeds: Vec<(i64, String)> = own.into_iter().collect();
        if let Some(merged) = self.merged_seeds.get(user_id) {
            seeds.extend(merged.iter().cloned());
            seeds.sort_unstable();
            seeds.dedup();
        }
        seeds
    }

    /// Every record, merged users included.
    pub(crate) fn records(&self) -> impl Iterator<Item = &UserRecord> {
        self.by_id.values()
    }

    /// The surviving user for `user_id` (itself unless merged away).
    pub(crate) fn canonical(&self, user_id: &str) -> String {
        self.canonical_ref(user_id).to_string()
    }

    /// [`Self::canonical`] without the allocation.
    pub(crate) fn canonical_ref<'a>(&'a self, user_id: &'a str) -> &'a str {
        let mut id = user_id;
        // Merges form chains a → b → c; bounded so a corrupt cycle cannot hang.
        for _ in 0..64 {
            match self.by_id.get(id).and_then(|r| r.merged_into.as_deref()) {
                Some(next) => id = next,
                None => break,
            }
        }
        id
    }

    /// Resolves a message's user to its surviving `user_id`, creating the user if new.
    pub(crate) fn resolve(&mut self, user: &UserRef) -> String {
        let (kind, name) = user.parts();
        self.resolve_name(kind, name)
    }

    /// [`Self::resolve`] of a user named by its form and name.
    pub(crate) fn resolve_name(&mut self, kind: UserKind, name: &str) -> String {
        match kind {
            UserKind::Id => {
                let id = self.canonical(name);
                self.ensure(&id);
                id
            }
            UserKind::Identity => match self.by_identity.get(name) {
                Some(id) => self.canonical(&id.clone()),
                None => {
                    let id = self.canonical(name);
                    let record = self.ensure(&id);
                    if record.identity.is_none() {
                        record.identity = Some(name.to_string());
                        self.by_identity.insert(name.to_string(), id.clone());
                    }
                    id
                }
            },
        }
    }

    fn ensure(&mut self, id: &str) -> &mut UserRecord {
        // Looked up first: the key is only allocated for a new user.
        if !self.by_id.contains_key(id) {
            self.by_id.insert(
                id.to_string(),
                UserRecord {
                    user_id: id.to_string(),
                    ..Default::default()
                },
            );
        }
        self.by_id.get_mut(id).expect("inserted above")
    }

    /// A mutable record of a live user.
    pub(crate) fn get_mut(&mut self, user_id: &str) -> Option<&mut UserRecord> {
        self.by_id.get_mut(user_id)
    }

    /// Heap's `identify`: attach `identity` to `user`. When the identity
    /// belongs to another user and `user` is anonymous, `user` is merged into
    /// the identity's owner; returns the surviving user id.
    pub(crate) fn identify(&mut self, user: &UserRef, identity: &str, time: Option<i64>) -> String {
        let user_id = self.resolve(user);
        let owner = self.by_identity.get(identity).map(|o| self.canonical(o));
        match owner {
            Some(owner) if owner == user_id => owner,
            Some(owner) => {
                if self.by_id[&user_id].identity.is_some() {
                    // Both identified: Heap keeps them apart; later events go to the owner.
                    return owner;
                }
                self.merge(&user_id, &owner, time);
                owner
            }
            None => {
                let record = self.ensure(&user_id);
                if record.identity.is_none() {
                    record.identity = Some(identity.to_string());
                    self.by_identity
                        .insert(identity.to_string(), user_id.clone());
                    user_id
                } else {
                    // Already identified as someone else: the identity is a new user.
                    let id = identity.to_string();
                    let fresh = self.ensure(&id);
                    fresh.identity = Some(identity.to_string());
                    self.by_identity.insert(identity.to_string(), id.clone());
                    id
                }
            }
        }
    }

    /// Merges `from` into `into`: first/last seen widen, `into`'s properties win.
    fn merge(&mut self, from: &str, into: &str, time: Option<i64>) {
        let Some(mut gone) = self.by_id.remove(from) else {
            return;
        };
        let mut seeds = self.merged_seeds.remove(from).unwrap_or_default();
        seeds.extend(gone.last_event_time.zip(gone.last_session_id.clone()));
        if !seeds.is_empty() {
            self.merged_seeds
                .entry(into.to_string())
                .or_default()
                .extend(seeds);
        }
        let survivor = self.ensure(into);
        survivor.joindate = min_opt(survivor.joindate, gone.joindate);
        survivor.last_seen = max_opt(survivor.last_seen, gone.last_seen);
        if gone.last_event_time > survivor.last_event_time {
            survivor.last_event_time = gone.last_event_time;
            survivor.last_session_id = gone.last_session_id.clone();
        }
        let gone_properties = std::mem::take(&mut gone.properties).to_map();
        if !gone_properties.is_empty() {
            survivor.properties.update(|kept| {
                for (k, v) in gone_properties {
                    kept.entry(k).or_insert(v);
                }
            });
        }
        gone.merged_into = Some(into.to_string());
        gone.merged_at = time.or(gone.last_seen);
        self.by_id.insert(from.to_string(), gone);
    }

    /// Adds (overwrites) user properties.
    pub(crate) fn add_properties(&mut self, user: &UserRef, properties: &Map<String, Value>) {
        let id = self.resolve(user);
        let record = self.ensure(&id);
        if !properties.is_empty() {
            record.properties.update(|kept| {
                for (k, v) in properties {
                    kept.insert(k.clone(), v.clone());
                }
            });
        }
    }

    /// Records that `user_id` was seen at `time`.
    pub(crate) fn touch(&mut self, user_id: &str, time: i64) {
        let record = self.ensure(user_id);
        record.joindate = min_opt(record.joindate, Some(time));
        record.last_seen = max_opt(record.last_seen, Some(time));
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.max(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> UserRef {
        UserRef::Id(s.into())
    }

    #[test]
    fn identify_merges_anonymous_into_owner() {
        let mut users = Users::default();
        assert_eq!(users.identify(&id("u1"), "alice", Some(1)), "u1");
        users.touch("anon", 5);
        users.add_properties(
            &id("anon"),
            &serde_json::from_str(r#"{"a":1,"plan":"free"}"#).unwrap(),
        );
        users.add_properties(
            &id("u1"),
            &serde_json::from_str(r#"{"plan":"pro"}"#).unwrap(),
        );
        assert_eq!(users.identify(&id("anon"), "alice", Some(9)), "u1");
        assert_eq!(users.canonical("anon"), "u1");
        assert_eq!(users.resolve(&id("anon")), "u1");
        let u1 = users.get_mut("u1").unwrap().clone();
        assert_eq!(u1.joindate, Some(5));
        let properties = u1.properties.to_map();
        assert_eq!(properties["plan"], "pro");
        assert_eq!(properties["a"], 1);
    }

    #[test]
    fn identity_only_users_are_keyed_by_identity() {
        let mut users = Users::default();
        assert_eq!(users.resolve(&UserRef::Identity("bob".into())), "bob");
        assert_eq!(users.identify(&id("anon2"), "bob", None), "bob");
        assert_eq!(users.canonical("anon2"), "bob");
        // Chains resolve transitively.
        users.identify(&id("anon3"), "carol", None);
        assert_eq!(users.identify(&id("anon4"), "carol", None), "anon3");
        assert_eq!(users.canonical("anon4"), "anon3");
    }
}
