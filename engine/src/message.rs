//! Import messages: every accepted form, parsed into one [`Message`] type.
//!
//! Three families of messages are accepted, one JSON object each:
//! - Trail's own NDJSON (`type` = `track` | `identify` | `add_user_properties`,
//!   `user_id`, `event`, `time`, `properties`, `event_id`, flat page/device/location fields);
//! - Heap's server-side API names (`identity` for the user, `timestamp`, `idempotency_key`);
//! - Segment / RudderStack spec messages (`userId` / `anonymousId`, `messageId`,
//!   `timestamp`, `traits`, `page`, `alias`, `context.page.*`, `context.userAgent`, …).

use std::borrow::Cow;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::event_batch::CONTEXT_COLUMNS;
use crate::json_scan::scan_object;
use crate::properties::Properties;
use crate::raw_json::{no_backslash, object_error, parse_raw, raw_str, Key};
use crate::time::parse_timestamp_micros;

/// Who a message is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserRef {
    /// A Trail `user_id` (Segment `anonymousId`).
    Id(String),
    /// An identity (Heap `identity`, Segment `userId`): resolved to the user
    /// that owns it, or a new user keyed by the identity.
    Identity(String),
}

/// Which of the two [`UserRef`] forms a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum UserKind {
    Id,
    Identity,
}

impl UserRef {
    pub(crate) fn new(kind: UserKind, name: String) -> Self {
        match kind {
            UserKind::Id => Self::Id(name),
            UserKind::Identity => Self::Identity(name),
        }
    }

    /// The form and the name, borrowed.
    pub(crate) fn parts(&self) -> (UserKind, &str) {
        match self {
            Self::Id(name) => (UserKind::Id, name),
            Self::Identity(name) => (UserKind::Identity, name),
        }
    }
}

/// One tracked event, before identity resolution and sessionization.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackEvent {
    pub user: UserRef,
    pub event_type: String,
    /// Microseconds since the Unix epoch, UTC.
    pub time: i64,
    pub properties: Properties,
    pub session_id: Option<String>,
    pub event_id: Option<String>,
    pub context: EventContext,
}

/// Page, device and location columns of an event ([`CONTEXT_COLUMNS`], in
/// that order), kept in one buffer: an import reads millions of events with
/// up to nine of these short strings each (reading them was ~10 % of an
/// import's CPU in `perf`, much of it allocating), and this is one
/// allocation per event instead of nine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventContext {
    text: String,
    /// Where each column's value ends in `text`; `None` when absent.
    ends: [Option<u32>; CONTEXT_COLUMNS.len()],
}

impl EventContext {
    /// The columns' values in [`CONTEXT_COLUMNS`] order.
    pub fn from_values<S: AsRef<str>>(values: [Option<S>; CONTEXT_COLUMNS.len()]) -> Self {
        let mut context = Self::default();
        for (end, value) in context.ends.iter_mut().zip(&values) {
            if let Some(v) = value {
                context.text.push_str(v.as_ref());
                *end = Some(context.text.len() as u32);
            }
        }
        context
    }

    /// The value of each column, in [`CONTEXT_COLUMNS`] order.
    pub fn values(&self) -> impl Iterator<Item = Option<&str>> + '_ {
        let mut start = 0usize;
        self.ends.iter().map(move |end| {
            end.map(|end| {
                let value = &self.text[start..end as usize];
                start = end as usize;
                value
            })
        })
    }

    /// The value of one column (`"country"`), if the event has one.
    pub fn get(&self, column: &str) -> Option<&str> {
        let i = CONTEXT_COLUMNS.iter().position(|c| *c == column)?;
        self.values().nth(i).flatten()
    }
}

/// A tracked event borrowing its fields from the message text: what the
/// import's parse workers append to Arrow columns without a `String` per
/// field. [`TrackEvent`] is its owned form.
#[derive(Debug)]
pub(crate) struct TrackRef<'a> {
    pub(crate) user_kind: UserKind,
    pub(crate) user: Cow<'a, str>,
    pub(crate) event_type: Cow<'a, str>,
    /// Microseconds since the Unix epoch, UTC.
    pub(crate) time: i64,
    /// The text of the properties object; empty when there is none.
    pub(crate) properties: &'a str,
    pub(crate) session_id: Option<Cow<'a, str>>,
    pub(crate) event_id: Option<Cow<'a, str>>,
    /// In [`CONTEXT_COLUMNS`] order.
    pub(crate) context: [Option<Cow<'a, str>>; CONTEXT_COLUMNS.len()],
}

impl TrackRef<'_> {
    fn into_owned(self) -> TrackEvent {
        TrackEvent {
            user: UserRef::new(self.user_kind, self.user.into_owned()),
            event_type: self.event_type.into_owned(),
            time: self.time,
            properties: Properties::from_object_text(self.properties),
            session_id: self.session_id.map(Cow::into_owned),
            event_id: self.event_id.map(Cow::into_owned),
            context: EventContext::from_values(self.context),
        }
    }
}

/// A parsed message: a track borrowed from its text, or any other message.
// Lives on the stack for one line; boxing the track would allocate per event.
#[allow(clippy::large_enum_variant)]
pub(crate) enum ParsedMessage<'a> {
    Track(TrackRef<'a>),
    User(Message),
}

/// One import message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Track(Box<TrackEvent>),
    /// Attach `identity` to `user`, merging users when it belongs to another.
    Identify {
        user: UserRef,
        identity: String,
        time: Option<i64>,
        traits: Map<String, Value>,
    },
    AddUserProperties {
        user: UserRef,
        properties: Map<String, Value>,
    },
}

/// The event type that `page` messages are stored under.
pub const PAGEVIEW_EVENT: &str = "Page View";

/// Parses one message given as a JSON value; see [`parse_message_json`].
pub fn parse_message(value: Value) -> Result<Message, String> {
    parse_message_json(&value.to_string())
}

/// Parses one message from its JSON text; the error says what is wrong with it.
pub fn parse_message_json(text: &str) -> Result<Message, String> {
    Ok(match parse_message_text(text)? {
        ParsedMessage::Track(t) => Message::Track(Box::new(t.into_owned())),
        ParsedMessage::User(m) => m,
    })
}

/// [`parse_message_json`], a track borrowing from `text`.
pub(crate) fn parse_message_text(text: &str) -> Result<ParsedMessage<'_>, String> {
    let obj = Fields::parse(text)?;
    let kind = match obj.raw("type") {
        // Lowercase already (as nearly every message is): no copy.
        Some(raw) => match raw_str(raw, obj.unescaped)? {
            Some(s) if s.bytes().any(|b| b.is_ascii_uppercase()) => {
                Cow::Owned(s.to_ascii_lowercase())
            }
            Some(s) => s,
            None => {
                return Err(format!(
                    "\"type\" must be a string, got {}",
                    parse_raw(raw)?
                ))
            }
        },
        None if obj.contains("event") => Cow::Borrowed("track"),
        None if obj.contains("properties") => Cow::Borrowed("add_user_properties"),
        None => return Err("missing \"type\" (and no \"event\" to infer a track)".into()),
    };
    match kind.as_ref() {
        "track" | "page" | "screen" => parse_track(&obj, &kind).map(ParsedMessage::Track),
        "identify" => parse_identify(&obj).map(ParsedMessage::User),
        "alias" => parse_alias(&obj).map(ParsedMessage::User),
        "add_user_properties" | "adduserproperties" | "user_properties" => {
            let (kind, name) = user_ref(&obj)?;
            Ok(ParsedMessage::User(Message::AddUserProperties {
                user: UserRef::new(kind, name.into_owned()),
                properties: obj.object("properties")?.unwrap_or_default(),
            }))
        }
        other => Err(format!(
            "unknown message type \"{other}\" (expected track, page, screen, identify, alias or add_user_properties)"
        )),
    }
}

/// Every top-level field some message form reads, besides the flat
/// page/device/location fields; the others are skipped.
const FIELDS: &[&str] = &[
    "type",
    "event",
    "properties",
    "traits",
    "context",
    "name",
    "user_id",
    "identity",
    "userId",
    "anonymousId",
    "anonymous_id",
    "previousId",
    "previous_id",
    "time",
    "timestamp",
    "originalTimestamp",
    "sentAt",
    "session_id",
    "sessionId",
    "event_id",
    "messageId",
    "idempotency_key",
];

/// Slots: [`FIELDS`], then the flat page/device/location fields, named as
/// their columns.
const SLOTS: usize = FIELDS.len() + CONTEXT_COLUMNS.len();

/// The slot of a top-level key: its index in [`FIELDS`], then in
/// [`CONTEXT_COLUMNS`]. Every key of every message is looked up here: a
/// `match` compares the length first and then the bytes (a hash map was
/// measured at three times the CPU of this); the test
/// `slots_follow_the_field_lists` keeps it in step with the lists. Inlined,
/// so that a lookup of a constant key (every [`Fields`] accessor's) can be
/// folded by the compiler (not checked in the assembly; `perf` still shows
/// the out-of-line copy, called by the scan with the message's own keys).
#[inline]
fn field_slot(key: &str) -> Option<usize> {
    Some(match key {
        "type" => 0,
        "event" => 1,
        "properties" => 2,
        "traits" => 3,
        "context" => 4,
        "name" => 5,
        "user_id" => 6,
        "identity" => 7,
        "userId" => 8,
        "anonymousId" => 9,
        "anonymous_id" => 10,
        "previousId" => 11,
        "previous_id" => 12,
        "time" => 13,
        "timestamp" => 14,
        "originalTimestamp" => 15,
        "sentAt" => 16,
        "session_id" => 17,
        "sessionId" => 18,
        "event_id" => 19,
        "messageId" => 20,
        "idempotency_key" => 21,
        "page_url" => 22,
        "page_title" => 23,
        "referrer" => 24,
        "device_type" => 25,
        "browser" => 26,
        "platform" => 27,
        "country" => 28,
        "region" => 29,
        "city" => 30,
        _ => return None,
    })
}

/// The top-level fields of one message, values unparsed until a message form
/// asks for them. One pass over the text, no allocation: each known field
/// lands in its slot (of a repeated key the last, as when the object is
/// parsed whole), everything else is validated and skipped.
struct Fields<'a> {
    /// Each value's JSON text.
    values: [Option<&'a str>; SLOTS],
    /// The message has no backslash ([`no_backslash`]): its strings have no
    /// escapes. False when unknown.
    unescaped: bool,
}

impl<'a> Fields<'a> {
    /// Scanned ([`crate::json_scan`]), or parsed by `serde_json` (which
    /// words the error) when the scan declines.
    fn parse(text: &'a str) -> Result<Self, String> {
        let mut values = [None; SLOTS];
        let scanned = scan_object(text, |key, value| {
            if let Some(i) = field_slot(key) {
                values[i] = Some(value);
            }
        });
        if scanned.is_some() {
            return Ok(Fields {
                values,
                unescaped: no_backslash(text),
            });
        }
        serde_json::from_str(text).map_err(object_error)
    }

    #[inline]
    fn raw(&self, key: &str) -> Option<&'a str> {
        let slot = field_slot(key);
        debug_assert!(
            slot.is_some(),
            "\"{key}\" has no slot (FIELDS, CONTEXT_COLUMNS)"
        );
        slot.and_then(|i| self.values[i])
    }

    fn contains(&self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    /// The first of `keys` that holds a string (or a number, as its text).
    fn string(&self, keys: &[&str]) -> Result<Option<String>, String> {
        Ok(self.str(keys)?.map(Cow::into_owned))
    }

    /// [`Self::string`], borrowed from the message when it has no escapes.
    #[inline]
    fn str(&self, keys: &[&str]) -> Result<Option<Cow<'a, str>>, String> {
        for key in keys {
            if let Some(s) = string_value(key, self.raw(key), self.unescaped)? {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }

    /// The flat page/device/location field `CONTEXT_COLUMNS[i]` as
    /// [`Self::str`] reads it, found by its slot: nine lookups by name per
    /// track were ~5 % of an import's CPU in `perf`.
    #[inline]
    fn context_str(&self, i: usize) -> Result<Option<Cow<'a, str>>, String> {
        let raw = self.values[FIELDS.len() + i];
        string_value(CONTEXT_COLUMNS[i], raw, self.unescaped)
    }

    /// The object at `key` (absent and null are `None`).
    fn object(&self, key: &str) -> Result<Option<Map<String, Value>>, String> {
        match self.raw(key).map(parse_raw).transpose()? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(other) => Err(format!("\"{key}\" must be an object, got {other}")),
        }
    }

    /// The text of the object at `key` (absent and null are empty).
    fn object_text(&self, key: &str) -> Result<&'a str, String> {
        let Some(raw) = self.raw(key) else {
            return Ok("");
        };
        match raw.as_bytes().first() {
            Some(b'{') => Ok(raw),
            _ => match parse_raw(raw)? {
                Value::Null => Ok(""),
                other => Err(format!("\"{key}\" must be an object, got {other}")),
            },
        }
    }
}

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Fields<'de>, M::Error> {
                let mut values = [None; SLOTS];
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    match field_slot(key.as_str()) {
                        Some(i) => values[i] = Some(map.next_value::<&'de RawValue>()?.get()),
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Fields {
                    values,
                    unescaped: false,
                })
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

fn parse_track<'a>(obj: &Fields<'a>, kind: &str) -> Result<TrackRef<'a>, String> {
    let (user_kind, user) = user_ref(obj)?;
    let properties = obj.object_text("properties")?;
    let event_type = match kind {
        "track" => match obj.raw("event") {
            None => return Err("missing \"event\"".into()),
            Some(raw) => match raw_str(raw, obj.unescaped)? {
                Some(s) if !s.is_empty() => s,
                Some(_) => return Err("\"event\" is empty".into()),
                None => {
                    return Err(format!(
                        "\"event\" must be a string, got {}",
                        parse_raw(raw)?
                    ))
                }
            },
        },
        "screen" => Cow::Borrowed("Screen View"),
        _ => Cow::Borrowed(PAGEVIEW_EVENT),
    };
    let time = message_time(obj)?.ok_or("missing \"time\" (or \"timestamp\")")?;
    let context = event_context(obj, properties, kind)?;
    Ok(TrackRef {
        user_kind,
        user,
        event_type,
        time,
        properties,
        session_id: obj.str(&["session_id", "sessionId"])?,
        event_id: obj.str(&["event_id", "messageId", "idempotency_key"])?,
        context,
    })
}

fn parse_identify(obj: &Fields<'_>) -> Result<Message, String> {
    let traits = match obj.object("traits")? {
        Some(t) => t,
        None => obj.object("properties")?.unwrap_or_default(),
    };
    let time = message_time(obj)?;
    // Segment: identify {userId, anonymousId}; the anonymous user gets the identity.
    if let (Some(identity), Some(anon)) = (obj.string(&["userId"])?, obj.string(&["anonymousId"])?)
    {
        return Ok(Message::Identify {
            user: UserRef::Id(anon),
            identity,
            time,
            traits,
        });
    }
    if let Some(user_id) = obj.string(&["user_id"])? {
        let identity = obj
            .string(&["identity"])?
            .ok_or("identify needs \"identity\"")?;
        return Ok(Message::Identify {
            user: UserRef::Id(user_id),
            identity,
            time,
            traits,
        });
    }
    let identity = obj
        .string(&["identity", "userId"])?
        .ok_or("identify needs \"identity\" (or Segment \"userId\")")?;
    Ok(Message::Identify {
        user: UserRef::Identity(identity.clone()),
        identity,
        time,
        traits,
    })
}

/// Segment `alias {previousId, userId}`: the previous user becomes the identified one.
fn parse_alias(obj: &Fields<'_>) -> Result<Message, String> {
    let previous = obj
        .string(&["previousId", "previous_id"])?
        .ok_or("alias needs \"previousId\"")?;
    let identity = obj
        .string(&["userId", "identity", "user_id"])?
        .ok_or("alias needs \"userId\"")?;
    Ok(Message::Identify {
        user: UserRef::Id(previous),
        identity,
        time: message_time(obj)?,
        traits: Map::new(),
    })
}

fn user_ref<'a>(obj: &Fields<'a>) -> Result<(UserKind, Cow<'a, str>), String> {
    if let Some(id) = obj.str(&["user_id"])? {
        return Ok((UserKind::Id, id));
    }
    if let Some(identity) = obj.str(&["identity", "userId"])? {
        return Ok((UserKind::Identity, identity));
    }
    if let Some(anon) = obj.str(&["anonymousId", "anonymous_id"])? {
        return Ok((UserKind::Id, anon));
    }
    Err("missing user (\"user_id\", \"identity\", \"userId\" or \"anonymousId\")".into())
}

fn message_time(obj: &Fields<'_>) -> Result<Option<i64>, String> {
    for key in ["time", "timestamp", "originalTimestamp", "sentAt"] {
        let Some(raw) = obj.raw(key) else { continue };
        if let Some(s) = raw_str(raw, obj.unescaped)? {
            return parse_timestamp_micros(&s)
                .map(Some)
                .ok_or_else(|| format!("bad timestamp in \"{key}\": {s:?}"));
        }
        match parse_raw(raw)? {
            Value::Null => continue,
            Value::Number(n) => {
                // Epoch milliseconds, as Heap's API accepts them.
                return n
                    .as_i64()
                    .and_then(|ms| ms.checked_mul(1000))
                    .map(Some)
                    .ok_or_else(|| format!("bad timestamp in \"{key}\": {n}"));
            }
            other => return Err(format!("bad timestamp in \"{key}\": {other}")),
        }
    }
    Ok(None)
}

/// The string (or number, as its text) a top-level field holds; null and
/// absent are `None`.
#[inline]
fn string_value<'a>(
    key: &str,
    raw: Option<&'a str>,
    unescaped: bool,
) -> Result<Option<Cow<'a, str>>, String> {
    let Some(raw) = raw else { return Ok(None) };
    if let Some(s) = raw_str(raw, unescaped)? {
        return Ok(Some(s));
    }
    match parse_raw(raw)? {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(Some(Cow::Owned(n.to_string()))),
        other => Err(format!("\"{key}\" must be a string, got {other}")),
    }
}

/// The page, device and location values of a track, in [`CONTEXT_COLUMNS`]
/// order: borrowed from the message when they are its flat fields (the bulk
/// of an import), owned when they come from Segment's nested `context`.
fn event_context<'a>(
    obj: &Fields<'a>,
    properties: &str,
    kind: &str,
) -> Result<[Option<Cow<'a, str>>; CONTEXT_COLUMNS.len()], String> {
    if kind != "page" && obj.raw("context").is_none() {
        let mut values: [Option<Cow<'a, str>>; CONTEXT_COLUMNS.len()] = Default::default();
        for (i, value) in values.iter_mut().enumerate() {
            *value = obj.context_str(i)?;
        }
        return Ok(values);
    }
    let mut ctx = obj.object("context")?.unwrap_or_default();
    let page = take_object(&mut ctx, "page")?.unwrap_or_default();
    let device = take_object(&mut ctx, "device")?.unwrap_or_default();
    let os = take_object(&mut ctx, "os")?.unwrap_or_default();
    let location = take_object(&mut ctx, "location")?.unwrap_or_default();
    let user_agent = string_field(&ctx, &["userAgent"])?;
    // Segment `page` messages carry the page in their properties.
    let page_props = if kind == "page" {
        Properties::from_object_text(properties).to_map()
    } else {
        Map::new()
    };
    // A flat field wins over the nested one, which wins over the page's
    // properties; every candidate is checked, so a malformed one is reported.
    fn pick<'m>(
        obj: &Fields<'m>,
        page_props: &'m Map<String, Value>,
        flat: &str,
        nested: &'m Map<String, Value>,
        key: &str,
    ) -> Result<Option<Cow<'m, str>>, String> {
        Ok(obj
            .str(&[flat])?
            .or(string_field(nested, &[key])?)
            .or(string_field(page_props, &[key])?))
    }
    let pick = |flat, nested, key| pick(obj, &page_props, flat, nested, key);
    let agent = user_agent.as_deref().map(parse_user_agent);
    let from_agent = |pick: fn(UserAgent) -> &'static str| agent.map(|a| Cow::Borrowed(pick(a)));
    let page_name = match kind {
        "page" => obj.str(&["name"])?,
        _ => None,
    };
    let values = [
        pick("page_url", &page, "url")?,
        pick("page_title", &page, "title")?.or(page_name),
        pick("referrer", &page, "referrer")?,
        obj.str(&["device_type"])?
            .or(string_field(&device, &["type"])?)
            .or(from_agent(|a| a.device_type)),
        obj.str(&["browser"])?.or(from_agent(|a| a.browser)),
        obj.str(&["platform"])?
            .or(string_field(&os, &["name"])?)
            .or(from_agent(|a| a.platform)),
        obj.str(&["country"])?
            .or(string_field(&location, &["country"])?),
        obj.str(&["region"])?
            .or(string_field(&location, &["region"])?),
        obj.str(&["city"])?.or(string_field(&location, &["city"])?),
    ];
    Ok(values.map(|v| v.map(|v| Cow::Owned(v.into_owned()))))
}

#[derive(Debug, Clone, Copy)]
struct UserAgent {
    browser: &'static str,
    platform: &'static str,
    device_type: &'static str,
}

/// A coarse user-agent classification: enough for the browser, platform and
/// device columns, not a full UA database.
fn parse_user_agent(ua: &str) -> UserAgent {
    let browser = if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("Firefox/") {
        "Firefox"
    } else if ua.contains("Chrome/") || ua.contains("CriOS/") {
        "Chrome"
    } else if ua.contains("Safari/") {
        "Safari"
    } else {
        "Other"
    };
    let platform = if ua.contains("Android") {
        "Android"
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        "iOS"
    } else if ua.contains("Windows") {
        "Windows"
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        "Mac OS X"
    } else if ua.contains("Linux") {
        "Linux"
    } else {
        "Other"
    };
    let device_type = if ua.contains("iPad") || ua.contains("Tablet") {
        "Tablet"
    } else if ua.contains("Mobile") || ua.contains("iPhone") || ua.contains("Android") {
        "Mobile"
    } else {
        "Desktop"
    };
    UserAgent {
        browser,
        platform,
        device_type,
    }
}

fn string_field<'m>(
    obj: &'m Map<String, Value>,
    keys: &[&str],
) -> Result<Option<Cow<'m, str>>, String> {
    for key in keys {
        match obj.get(*key) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => return Ok(Some(Cow::Borrowed(s))),
            Some(Value::Number(n)) => return Ok(Some(Cow::Owned(n.to_string()))),
            Some(other) => return Err(format!("\"{key}\" must be a string, got {other}")),
        }
    }
    Ok(None)
}

/// Moves the object at `key` out of a nested object (no copies).
fn take_object(
    obj: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<Map<String, Value>>, String> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(format!("\"{key}\" must be an object, got {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Message {
        parse_message(v).unwrap()
    }

    #[test]
    fn slots_follow_the_field_lists() {
        let names: Vec<&str> = FIELDS
            .iter()
            .chain(CONTEXT_COLUMNS.iter())
            .copied()
            .collect();
        for (slot, name) in names.iter().enumerate() {
            assert_eq!(field_slot(name), Some(slot), "{name}");
        }
        assert_eq!(names.len(), SLOTS);
        assert_eq!(field_slot("nope"), None);
    }

    #[test]
    fn trail_track() {
        let Message::Track(t) = parse(json!({"type":"track","user_id":"u1","event":"A",
            "time":"2026-11-20T10:00:00Z","properties":{"plan":"pro"},"country":"US"}))
        else {
            panic!()
        };
        assert_eq!(t.user, UserRef::Id("u1".into()));
        assert_eq!(t.time, 1_795_168_800_000_000);
        assert_eq!(t.context.get("country"), Some("US"));
    }

    /// Strings are unescaped whether or not the message has a backslash
    /// (without one, each string is read as its text between the quotes).
    #[test]
    fn strings_with_and_without_escapes() {
        for (event, country) in [("A \"B\"", "C\\D\n"), ("A 'B'", "C/D é")] {
            let line = json!({"type":"track","user_id":"u1","event":event,
                "time":"2026-11-20T10:00:00Z","country":country})
            .to_string();
            assert_eq!(no_backslash(&line), !event.contains('"'), "{line}");
            let Ok(ParsedMessage::Track(t)) = parse_message_text(&line) else {
                panic!("{line}")
            };
            assert_eq!(t.event_type, event);
            assert_eq!(
                t.context[CONTEXT_COLUMNS
                    .iter()
                    .position(|c| *c == "country")
                    .unwrap()]
                .as_deref(),
                Some(country)
            );
        }
    }

    #[test]
    fn heap_server_side_track() {
        let Message::Track(t) = parse(json!({"identity":"a@x.com","event":"Purchase",
            "timestamp":"2026-11-20T10:00:00","idempotency_key":"k1"}))
        else {
            panic!()
        };
        assert_eq!(t.user, UserRef::Identity("a@x.com".into()));
        assert_eq!(t.event_id.as_deref(), Some("k1"));
    }

    #[test]
    fn segment_page_with_context() {
        let Message::Track(t) = parse(json!({"type":"page","anonymousId":"an1","name":"Home",
            "messageId":"m1","timestamp":"2026-11-20T10:00:00.123Z",
            "properties":{"url":"https://x.io/","referrer":"https://google.com"},
            "context":{"userAgent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile Safari/604.1",
                       "location":{"country":"DE","city":"Berlin"}}}))
        else {
            panic!()
        };
        assert_eq!(t.event_type, PAGEVIEW_EVENT);
        assert_eq!(t.context.get("page_url"), Some("https://x.io/"));
        assert_eq!(t.context.get("page_title"), Some("Home"));
        assert_eq!(t.context.get("browser"), Some("Safari"));
        assert_eq!(t.context.get("platform"), Some("iOS"));
        assert_eq!(t.context.get("device_type"), Some("Mobile"));
        assert_eq!(t.context.get("city"), Some("Berlin"));
    }

    #[test]
    fn segment_identify_and_alias() {
        assert_eq!(
            parse(
                json!({"type":"identify","userId":"u9","anonymousId":"an1","traits":{"plan":"pro"}})
            ),
            Message::Identify {
                user: UserRef::Id("an1".into()),
                identity: "u9".into(),
                time: None,
                traits: json!({"plan":"pro"}).as_object().unwrap().clone()
            }
        );
        assert!(matches!(
            parse(json!({"type":"alias","previousId":"an2","userId":"u9"})),
            Message::Identify { user: UserRef::Id(ref p), ref identity, .. } if p == "an2" && identity == "u9"
        ));
    }

    #[test]
    fn rejections_say_why() {
        let err = |v| parse_message(v).unwrap_err();
        assert!(
            err(json!({"type":"track","event":"A","time":"2026-01-01"})).contains("missing user")
        );
        assert!(
            err(json!({"type":"track","user_id":"u","event":"A","time":"yesterday"}))
                .contains("bad timestamp")
        );
        assert!(err(json!({"type":"bogus","user_id":"u"})).contains("unknown message type"));
        assert!(err(json!([1])).contains("JSON object"));
    }
}
