//! A fast, validating scan of one JSON object's fields, with `serde_json` as
//! the judge of anything unusual.
//!
//! Import reads every message's top-level fields and every event's property
//! object. [`scan_object`] walks the text once, byte by byte, validating it
//! and handing back each field's key and value text, and declines (`None`)
//! whenever the input is not plainly valid: any syntax error, a key with an
//! escape, a `\u` escape anywhere, nesting deeper than [`MAX_DEPTH`].
//! Callers then parse with `serde_json`, which accepts or rejects it and
//! words the error. So the scan never accepts text that `serde_json` would
//! reject, and never changes what an accepted message means: a value's text
//! is exactly the span `serde_json` would give as a `RawValue` (the test
//! `agrees_with_serde_json` checks both on thousands of mutated messages).

use std::ops::Range;

/// Nesting beyond this is left to `serde_json` (whose own limit is 128).
const MAX_DEPTH: usize = 64;

/// Scans `text`, which must hold exactly one JSON object (whitespace around
/// it allowed), calling `field(key, value_text)` for each field in order.
/// `None`: not scanned, parse with `serde_json` instead (`field` may have
/// been called for the fields before the point it gave up).
pub(crate) fn scan_object<'a>(
    text: &'a str,
    mut field: impl FnMut(&'a str, &'a str),
) -> Option<()> {
    let b = text.as_bytes();
    let start = skip_ws(b, 0);
    if b.get(start) != Some(&b'{') {
        return None;
    }
    let end = scan_members(b, start, 0, b'}', |key, value| {
        field(&text[key], &text[value]);
    })?;
    (skip_ws(b, end) == b.len()).then_some(())
}

/// JSON whitespace, as `serde_json` skips it.
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\t' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// The end (after the closing quote) of the string starting at `b[i]`, and
/// whether it has escapes. Declines control characters (which JSON forbids
/// raw in strings) and `\u` escapes (whose validity `serde_json` judges).
fn scan_string(b: &[u8], i: usize) -> Option<(usize, bool)> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut escaped = false;
    let mut j = i + 1;
    loop {
        j = skip_plain(b, j);
        match *b.get(j)? {
            b'"' => return Some((j + 1, escaped)),
            b'\\' => {
                match b.get(j + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    _ => return None,
                }
                escaped = true;
                j += 2;
            }
            0..=0x1f => return None,
            _ => j += 1,
        }
    }
}

/// Whether the text of a valid JSON string (quotes included) has escapes:
/// the first quote or backslash after the opening quote is a backslash.
/// Eight bytes at a time, where `str::contains` went byte by byte through
/// the short strings most values are.
pub(crate) fn has_escape(string: &str) -> bool {
    let b = string.as_bytes();
    let mut i = 1;
    loop {
        // The last few bytes are left to this loop, one at a time.
        i = skip_plain(b, i);
        match b.get(i) {
            Some(b'\\') => return true,
            Some(b'"') | None => return false,
            Some(_) => i += 1,
        }
    }
}

/// The first index from `i` whose byte may end or escape a string or is
/// not allowed in one (`"`, `\`, a control character), eight bytes at a
/// time: most of a message's bytes are inside plain strings.
fn skip_plain(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Per byte: the high bit set where the byte is zero.
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        // Bytes below 0x20 (a byte of 0x80 or more has its high bit set
        // and is plain: `!x` masks it out).
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        let special =
            control | zero(x ^ (ONES * u64::from(b'"'))) | zero(x ^ (ONES * u64::from(b'\\')));
        if special != 0 {
            // The lowest flagged byte is a real match: borrows only carry
            // upward from a byte that is itself flagged.
            return i + (special.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i
}

/// The end of the value starting at `b[i]`.
fn scan_value(b: &[u8], i: usize, depth: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => scan_string(b, i).map(|(end, _)| end),
        b'{' => scan_nested(b, i, depth, b'}'),
        b'[' => scan_nested(b, i, depth, b']'),
        b't' => literal(b, i, b"true"),
        b'f' => literal(b, i, b"false"),
        b'n' => literal(b, i, b"null"),
        b'-' | b'0'..=b'9' => scan_number(b, i),
        _ => None,
    }
}

/// A nested object (`close` = `}`) or array (`]`) starting at `b[i]`.
fn scan_nested(b: &[u8], i: usize, depth: usize, close: u8) -> Option<usize> {
    scan_members(b, i, depth, close, |_, _| {})
}

/// The end of the object (`close` = `}`) or array (`]`) starting at `b[i]`,
/// at nesting `depth`, calling `member(key, value)` with the byte ranges of
/// each member (an array's keys are empty). Keys with escapes are declined.
fn scan_members(
    b: &[u8],
    i: usize,
    depth: usize,
    close: u8,
    mut member: impl FnMut(Range<usize>, Range<usize>),
) -> Option<usize> {
    if depth >= MAX_DEPTH {
        return None;
    }
    let mut j = skip_ws(b, i + 1);
    if b.get(j) == Some(&close) {
        return Some(j + 1);
    }
    loop {
        let mut key = 0..0;
        if close == b'}' {
            let (key_end, escaped) = scan_string(b, j)?;
            if escaped {
                return None;
            }
            key = j + 1..key_end - 1;
            j = skip_ws(b, key_end);
            if b.get(j) != Some(&b':') {
                return None;
            }
            j = skip_ws(b, j + 1);
        }
        let value_end = scan_value(b, j, depth + 1)?;
        member(key, j..value_end);
        j = skip_ws(b, value_end);
        match *b.get(j)? {
            b',' => j = skip_ws(b, j + 1),
            c if c == close => return Some(j + 1),
            _ => return None,
        }
    }
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    b.get(i..i + word.len())
        .filter(|w| *w == word)
        .map(|_| i + word.len())
}

/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, the JSON grammar.
fn scan_number(b: &[u8], mut i: usize) -> Option<usize> {
    let digits = |b: &[u8], mut i: usize| -> Option<usize> {
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i > start).then_some(i)
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    i = match b.get(i)? {
        b'0' => i + 1,
        b'1'..=b'9' => digits(b, i)?,
        _ => return None,
    };
    if b.get(i) == Some(&b'.') {
        i = digits(b, i + 1)?;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        i = digits(b, i)?;
    }
    // A number runs into nothing but a delimiter: `01` or `1x` are errors.
    match b.get(i) {
        None | Some(b',' | b'}' | b']' | b' ' | b'\n' | b'\t' | b'\r') => Some(i),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    /// The fields `serde_json` sees, in order with duplicates, as
    /// (key, raw value text); `None` if it rejects the text.
    fn serde_fields(text: &str) -> Option<Vec<(String, String)>> {
        struct Fields(Vec<(String, String)>);
        impl<'de> serde::Deserialize<'de> for Fields {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = Fields;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("an object")
                    }
                    fn visit_map<M: serde::de::MapAccess<'de>>(
                        self,
                        mut m: M,
                    ) -> Result<Fields, M::Error> {
                        let mut out = Vec::new();
                        while let Some(k) = m.next_key::<String>()? {
                            let v = m.next_value::<&RawValue>()?;
                            out.push((k, v.get().to_string()));
                        }
                        Ok(Fields(out))
                    }
                }
                d.deserialize_map(V)
            }
        }
        serde_json::from_str::<Fields>(text).ok().map(|f| f.0)
    }

    fn scanned(text: &str) -> Option<Vec<(String, String)>> {
        let mut out = Vec::new();
        scan_object(text, |k, v| out.push((k.to_string(), v.to_string())))?;
        Some(out)
    }

    const MESSAGES: &[&str] = &[
        r#"{"type":"track","user_id":"anon_0","event":"Page View","time":"2026-10-31T11:25:07.000Z","properties":{"path":"/app/dashboard"},"page_url":"https://app.example.com/","country":"India"}"#,
        r#"{"type":"track","user_id":"u1","event":"Add to Cart","time":"2026-11-20T10:00:00Z","properties":{"quantity":4, "cart_value":235.890, "tags":["a","b"],"note":"caf\u00e9"}}"#,
        r#" { "identity" : "a@x.com" , "event" : "Purchase", "timestamp": 1795168800000, "properties": {"v": -0.5e-3, "ok": true, "n": null, "o": {"deep": [[], {}, [1, {"x": false}]]}} } "#,
        r#"{"type":"page","anonymousId":"an1","name":"Home","messageId":"m1","timestamp":"2026-11-20T10:00:00.123Z","properties":{"url":"https://x.io/a\/b","referrer":"https://google.com"},"context":{"userAgent":"Mozilla/5.0 (iPhone) \"Mobile\" Safari/604.1","location":{"country":"DE","city":"Berlin"}}}"#,
        r#"{"type":"identify","user_id":"u1","identity":"a@x.com","traits":{"plan":"pro","seats":12,"tab":"a\tb\\c"}}"#,
        r#"{"k":1,"k":2,"empty":{},"arr":[],"zero":0,"neg":-0,"big":18446744073709551616,"exp":1E+9}"#,
        "{}",
        "{\"a\":\"\u{e9}\u{1f600}\"}\n",
    ];

    /// Every message above is scanned (the fast path is taken), with the
    /// fields and value spans `serde_json` gives.
    /// `has_escape` agrees with a byte search for a backslash, wherever the
    /// escape falls (in or after the eight-byte blocks) and in multibyte text.
    #[test]
    fn has_escape_finds_every_escape() {
        for len in 0..20 {
            for content in [
                "x".repeat(len),
                "é".repeat(len),
                format!("{}\\n", "y".repeat(len)),
                format!("\\\"{}", "z".repeat(len)),
                format!("{}\\u00e9{}", "a".repeat(len), "b".repeat(len % 9)),
            ] {
                let text = format!("\"{content}\"");
                assert!(serde_json::from_str::<String>(&text).is_ok(), "{text}");
                assert_eq!(has_escape(&text), content.contains('\\'), "{text}");
            }
        }
    }

    #[test]
    fn scans_plain_messages_like_serde_json() {
        for text in MESSAGES {
            if text.contains("\\u") {
                assert_eq!(scanned(text), None, "declines \\u escapes: {text}");
                continue;
            }
            assert_eq!(scanned(text), serde_fields(text), "{text}");
            assert!(scanned(text).is_some(), "{text}");
        }
    }

    /// The eight-bytes-at-a-time skip stops exactly where a byte-by-byte
    /// search for `"`, `\` or a control character would, at every offset.
    #[test]
    fn skip_plain_stops_at_the_first_special_byte() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        const PLAIN: &[u8] = b"az09 ~/:.-_\x7f\x80\xc3\xa9\xff\x21\x23\x5b\x5d\x1f\x20";
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| PLAIN[(next() % PLAIN.len() as u64) as usize])
                .collect();
            if len > 0 && next() % 2 == 0 {
                let at = (next() % len as u64) as usize;
                bytes[at] = [b'"', b'\\', 0x00, 0x1f, 0x0a][(next() % 5) as usize];
            }
            for start in 0..=bytes.len() {
                let expected = (start..bytes.len())
                    .find(|&i| matches!(bytes[i], b'"' | b'\\' | 0..=0x1f))
                    .unwrap_or(bytes.len().max(start));
                let got = skip_plain(&bytes, start);
                // The skip may stop early only at the last partial chunk.
                assert!(
                    got == expected || (got <= expected && got + 8 > bytes.len()),
                    "{bytes:?} from {start}: {got} vs {expected}"
                );
            }
        }
    }

    /// Whatever the scan accepts, `serde_json` accepts with the same fields
    /// and spans: thousands of single-byte mutations of the messages above.
    #[test]
    fn agrees_with_serde_json() {
        const BYTES: &[u8] = b"\"\\{}[],: \t0123456789-+.eEtrufalsn/\x01\x7fxu";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let (mut accepted, mut declined) = (0, 0);
        for text in MESSAGES {
            for _ in 0..2_000 {
                let mut bytes = text.as_bytes().to_vec();
                for _ in 0..1 + next(2) {
                    let at = next(bytes.len() + 1);
                    match next(3) {
                        0 if at < bytes.len() => {
                            bytes.remove(at);
                        }
                        1 if at < bytes.len() => bytes[at] = BYTES[next(BYTES.len())],
                        _ => bytes.insert(at, BYTES[next(BYTES.len())]),
                    }
                }
                let Ok(mutated) = String::from_utf8(bytes) else {
                    continue;
                };
                match scanned(&mutated) {
                    Some(fields) => {
                        accepted += 1;
                        assert_eq!(Some(fields), serde_fields(&mutated), "{mutated}");
                    }
                    None => declined += 1,
                }
            }
        }
        // Both sides were exercised.
        assert!(
            accepted > 1_000 && declined > 1_000,
            "{accepted} / {declined}"
        );
    }
}
