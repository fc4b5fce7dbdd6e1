//! `trail gen`: deterministic, realistic Heap-like import messages.
//!
//! Users come in archetypes — new, power, casual, churned — on Free, Pro and
//! Enterprise plans; anonymous visitors of whom some identify later (a few
//! on an identity that already has a user, which merges them). Sessions mix
//! page views, `Feature: …` events, carts and purchases with values; new
//! users walk the funnel `Signup Started → Email Verified → Profile
//! Completed → First Purchase`, dropping off on the way.
//!
//! Output is streamed user by user, so any size is generated in constant
//! memory; the same seed, size and end always give the same bytes.

use std::fmt::Write as _;
use std::io::Write;

use crate::time::format_micros;

const MICROS_PER_SEC: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SEC;

/// The funnel every new user starts.
pub const FUNNEL: [&str; 4] = [
    "Signup Started",
    "Email Verified",
    "Profile Completed",
    "First Purchase",
];
const FEATURES: [&str; 8] = [
    "Feature: Dashboards",
    "Feature: Reports",
    "Feature: Export",
    "Feature: Alerts",
    "Feature: Segments",
    "Feature: Advanced Analytics",
    "Feature: Team Invite",
    "Feature: API Keys",
];
const PAGES: [(&str, &str); 6] = [
    ("/", "Home"),
    ("/pricing", "Pricing"),
    ("/features", "Features"),
    ("/docs", "Documentation"),
    ("/blog/product-analytics", "Blog: Product Analytics"),
    ("/app/dashboard", "Dashboard"),
];
const REFERRERS: [&str; 5] = [
    "",
    "https://www.google.com/",
    "https://twitter.com/",
    "https://news.ycombinator.com/",
    "https://www.linkedin.com/",
];
const DEVICES: [(&str, &str, &str); 5] = [
    ("Desktop", "Chrome", "Mac OS X"),
    ("Desktop", "Chrome", "Windows"),
    ("Desktop", "Firefox", "Linux"),
    ("Mobile", "Safari", "iOS"),
    ("Mobile", "Chrome", "Android"),
];
const PLACES: [(&str, &str, &str); 6] = [
    ("United States", "California", "San Francisco"),
    ("United States", "New York", "New York"),
    ("United Kingdom", "England", "London"),
    ("Germany", "Berlin", "Berlin"),
    ("India", "Karnataka", "Bengaluru"),
    ("Brazil", "Sao Paulo", "Sao Paulo"),
];
const COMPANIES: [&str; 6] = [
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark Industries",
];
const INDUSTRIES: [&str; 4] = ["Technology", "Retail", "Finance", "Healthcare"];

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Number of users, when `events` is not given.
    pub users: u64,
    /// Stop after exactly this many events (track messages), if given.
    pub events: Option<u64>,
    /// Days of history before `end`.
    pub days: u32,
    pub seed: u64,
    /// The last moment of the data, µs since the epoch.
    pub end_micros: i64,
}

/// What was generated.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenReport {
    pub users: u64,
    pub events: u64,
    pub messages: u64,
}

/// Writes NDJSON messages to `out`; `progress` is told the events written so far.
pub fn generate(
    options: &GenOptions,
    out: &mut dyn Write,
    progress: &dyn Fn(u64),
) -> std::io::Result<GenReport> {
    let mut report = GenReport::default();
    let mut line = String::with_capacity(512);
    let mut user = 0u64;
    loop {
        let done = match options.events {
            Some(n) => report.events >= n,
            None => user >= options.users,
        };
        if done {
            break;
        }
        let mut buf = String::with_capacity(16 * 1024);
        let budget = options.events.map(|n| n - report.events);
        let events = generate_user(
            options,
            user,
            budget,
            &mut buf,
            &mut line,
            &mut report.messages,
        );
        out.write_all(buf.as_bytes())?;
        report.events += events;
        report.users += 1;
        user += 1;
        if user.is_multiple_of(1024) {
            progress(report.events);
        }
    }
    out.flush()?;
    progress(report.events);
    Ok(report)
}

/// A small, fast, deterministic generator (SplitMix64).
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        let mut r = Self(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Archetype {
    New,
    Power,
    Casual,
    Churned,
}

/// Appends one user's messages to `buf`; returns the number of events.
fn generate_user(
    o: &GenOptions,
    index: u64,
    budget: Option<u64>,
    buf: &mut String,
    line: &mut String,
    messages: &mut u64,
) -> u64 {
    let mut rng = Rng::new(o.seed, index);
    let archetype = match rng.below(100) {
        0..=19 => Archetype::New,
        20..=34 => Archetype::Power,
        35..=79 => Archetype::Casual,
        _ => Archetype::Churned,
    };
    let days = i64::from(o.days.max(1));
    let start = o.end_micros - days * MICROS_PER_DAY;
    // Anonymous visitors identify later; the rest are known from the start.
    let anonymous = rng.chance(0.3);
    let user_id = if anonymous {
        format!("anon_{index}")
    } else {
        format!("user_{index}")
    };
    let identity = format!("user{index}@example.com");
    let (device, browser, platform) = *rng.pick(&DEVICES);
    let (country, region, city) = *rng.pick(&PLACES);
    let plan = match rng.below(10) {
        0..=5 => "Free",
        6..=8 => "Pro",
        _ => "Enterprise",
    };

    // Which days the user is active on.
    let (first_day, last_day, activity) = match archetype {
        Archetype::New => (
            days - 1 - (rng.below(7) as i64).min(days - 1),
            days - 1,
            0.6,
        ),
        Archetype::Power => (0, days - 1, 0.85),
        Archetype::Casual => (rng.below(days as u64 / 2 + 1) as i64, days - 1, 0.25),
        Archetype::Churned => (0, (days / 3).max(1).min(days - 1), 0.4),
    };
    let mut events = 0u64;
    let mut emit = |buf: &mut String, line: &mut String| {
        buf.push_str(line);
        buf.push('\n');
        *messages += 1;
    };
    let exhausted = |events: u64| budget.is_some_and(|b| events >= b);

    if !anonymous {
        line.clear();
        let _ = write!(
            line,
            r#"{{"type":"identify","user_id":"{user_id}","identity":"{identity}","time":"{}"}}"#,
            format_micros(start)
        );
        emit(buf, line);
        line.clear();
        let mrr = match plan {
            "Free" => 0,
            "Pro" => 100 + rng.below(900) as i64,
            _ => 2000 + rng.below(8000) as i64,
        };
        let _ = write!(
            line,
            r#"{{"type":"add_user_properties","user_id":"{user_id}","properties":{{"plan_level":"{plan}","Company":"{}","MRR":{mrr},"Industry":"{}","Email":"{identity}"}}}}"#,
            rng.pick(&COMPANIES),
            rng.pick(&INDUSTRIES)
        );
        emit(buf, line);
    }

    let mut funnel_step = if archetype == Archetype::New {
        0
    } else {
        FUNNEL.len()
    };
    let mut identified = !anonymous;
    'days: for day in first_day..=last_day {
        if day != first_day && !rng.chance(activity) {
            continue;
        }
        let sessions = 1 + rng.below(if archetype == Archetype::Power { 3 } else { 2 });
        let mut t =
            start + day * MICROS_PER_DAY + (rng.below(8 * 3600) as i64 + 7 * 3600) * MICROS_PER_SEC;
        for _ in 0..sessions {
            let session_events = 2 + rng.below(8);
            let referrer = *rng.pick(&REFERRERS);
            for i in 0..session_events {
                if exhausted(events) || t > o.end_micros {
                    break 'days;
                }
                line.clear();
                let (event, props) = if i == 0 || rng.chance(0.3) {
                    let (path, _) = *rng.pick(&PAGES);
                    (
                        crate::message::PAGEVIEW_EVENT.to_string(),
                        format!(r#"{{"path":"{path}"}}"#),
                    )
                } else if funnel_step < FUNNEL.len() {
                    let step = FUNNEL[funnel_step];
                    // Drop-off: each later step is reached with falling probability.
                    let goes_on = rng.chance([1.0, 0.7, 0.6, 0.4][funnel_step]);
                    funnel_step = if goes_on {
                        funnel_step + 1
                    } else {
                        FUNNEL.len()
                    };
                    if !goes_on {
                        continue;
                    }
                    let props = if step == "First Purchase" {
                        format!(
                            r#"{{"amount":{}.{:02},"currency":"USD"}}"#,
                            20 + rng.below(200),
                            rng.below(100)
                        )
                    } else {
                        format!(
                            r#"{{"plan":"{plan}","signup_source":"{}"}}"#,
                            if referrer.is_empty() {
                                "direct"
                            } else {
                                "referral"
                            }
                        )
                    };
                    (step.to_string(), props)
                } else {
                    match rng.below(10) {
                        0..=5 => {
                            let feature = *rng.pick(&FEATURES);
                            (
                                feature.to_string(),
                                format!(
                                    r#"{{"feature_name":"{}","usage_count":{}}}"#,
                                    &feature[9..],
                                    1 + rng.below(20)
                                ),
                            )
                        }
                        6..=7 => (
                            "Add to Cart".to_string(),
                            format!(
                                r#"{{"cart_value":{}.{:02},"product_id":"p_{}","quantity":{}}}"#,
                                5 + rng.below(300),
                                rng.below(100),
                                rng.below(500),
                                1 + rng.below(4)
                            ),
                        ),
                        8 => (
                            "Purchase".to_string(),
                            format!(
                                r#"{{"amount":{}.{:02},"currency":"USD","items":{}}}"#,
                                10 + rng.below(500),
                                rng.below(100),
                                1 + rng.below(5)
                            ),
                        ),
                        _ => (
                            "Search".to_string(),
                            format!(
                                r#"{{"query":"q{}","results":{}}}"#,
                                rng.below(50),
                                rng.below(100)
                            ),
                        ),
                    }
                };
                let (path, title) = *rng.pick(&PAGES);
                let _ = write!(
                    line,
                    r#"{{"type":"track","user_id":"{user_id}","event":"{event}","time":"{}","properties":{props},"page_url":"https://app.example.com{path}","page_title":"{title}","referrer":"{referrer}","device_type":"{device}","browser":"{browser}","platform":"{platform}","country":"{country}","region":"{region}","city":"{city}"}}"#,
                    format_micros(t)
                );
                emit(buf, line);
                events += 1;
                t += (5 + rng.below(300) as i64) * MICROS_PER_SEC;
            }
            // The next session starts after a break longer than 30 minutes.
            t += (31 * 60 + rng.below(4 * 3600) as i64) * MICROS_PER_SEC;

            if anonymous && !identified && rng.chance(0.5) {
                identified = true;
                line.clear();
                // One in five identifies as an existing user: Heap merges the two.
                let target = if index > 0 && rng.chance(0.2) {
                    format!("user{}@example.com", rng.below(index))
                } else {
                    identity.clone()
                };
                let _ = write!(
                    line,
                    r#"{{"type":"identify","user_id":"{user_id}","identity":"{target}","time":"{}"}}"#,
                    format_micros(t.min(o.end_micros))
                );
                emit(buf, line);
                line.clear();
                let _ = write!(
                    line,
                    r#"{{"type":"add_user_properties","user_id":"{user_id}","properties":{{"plan_level":"{plan}","Email":"{target}"}}}}"#
                );
                emit(buf, line);
            }
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(events: u64) -> (GenReport, String) {
        let options = GenOptions {
            users: 0,
            events: Some(events),
            days: 30,
            seed: 7,
            end_micros: 1_795_168_800_000_000,
        };
        let mut out = Vec::new();
        let report = generate(&options, &mut out, &|_| {}).unwrap();
        (report, String::from_utf8(out).unwrap())
    }

    #[test]
    fn deterministic_exact_and_valid() {
        let (a, text) = run(20_000);
        let (_, again) = run(20_000);
        assert_eq!(text, again);
        assert_eq!(a.events, 20_000);
        let mut tracks = 0;
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let message = crate::message::parse_message(v).unwrap();
            if let crate::message::Message::Track(t) = message {
                assert!(t.time <= 1_795_168_800_000_000);
                tracks += 1;
            }
        }
        assert_eq!(tracks, 20_000);
        for step in FUNNEL {
            assert!(text.contains(step), "{step} missing");
        }
        assert!(text.contains("\"type\":\"identify\""));
    }
}
