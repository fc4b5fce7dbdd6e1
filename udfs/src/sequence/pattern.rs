//! ClickHouse's sequence pattern language and its two matchers, ported from
//! `AggregateFunctionSequenceMatch.h` so that results agree event for event.
//!
//! ```text
//! (?N)        an event where condition N holds (1-based)
//! .           any one event (an event = a row where at least one condition holds)
//! .*          any number of events
//! (?t op S)   time since the previous matched event, op one of <= < >= > ==,
//!             S in seconds; must follow an event or `.*`
//! ```
//!
//! A pattern may match anywhere (it starts with an implicit `.*`). Patterns
//! without time conditions run on a small NFA; with them, on ClickHouse's
//! backtracking matcher, including its iteration limit.

use datafusion::common::{exec_err, plan_err, Result};

use crate::args::MICROS_PER_SECOND;
use crate::events::Event;

/// ClickHouse gives up on a pattern after this many matcher steps.
const MAX_ITERATIONS: usize = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Action {
    /// Condition index (0-based).
    Specific(u32),
    Any,
    Kleene,
    TimeLe(i64),
    TimeLt(i64),
    TimeGe(i64),
    TimeGt(i64),
    TimeEq(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Transition {
    None,
    Any,
    Specific(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct State {
    has_kleene: bool,
    transition: Transition,
}

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Pattern {
    actions: Vec<Action>,
    states: Vec<State>,
    has_time: bool,
    /// Conditions the pattern refers to: a group that never met one cannot match.
    conditions: u64,
}

impl Pattern {
    /// Parses `pattern` for a call with `n_conditions` conditions.
    pub(crate) fn parse(pattern: &str, n_conditions: usize, fname: &str) -> Result<Self> {
        let mut p = Pattern {
            actions: vec![Action::Kleene],
            states: vec![State {
                has_kleene: true,
                transition: Transition::None,
            }],
            has_time: false,
            conditions: 0,
        };
        let bytes = pattern.as_bytes();
        let mut pos = 0;
        let err = |pos: usize, msg: &str| -> Result<Self> {
            plan_err!(
                "{fname}: {msg} '{}' at position {pos} of pattern '{pattern}'",
                &pattern[pos..]
            )
        };
        let eat = |pos: &mut usize, s: &str| {
            if bytes[*pos..].starts_with(s.as_bytes()) {
                *pos += s.len();
                true
            } else {
                false
            }
        };
        let number = |pos: &mut usize| -> Option<u64> {
            let start = *pos;
            while *pos < bytes.len() && bytes[*pos].is_ascii_digit() {
                *pos += 1;
            }
            pattern[start..*pos].parse().ok()
        };
        while pos < bytes.len() {
            if eat(&mut pos, "(?") {
                if eat(&mut pos, "t") {
                    let op: fn(i64) -> Action = if eat(&mut pos, "<=") {
                        Action::TimeLe
                    } else if eat(&mut pos, "<") {
                        Action::TimeLt
                    } else if eat(&mut pos, ">=") {
                        Action::TimeGe
                    } else if eat(&mut pos, ">") {
                        Action::TimeGt
                    } else if eat(&mut pos, "==") {
                        Action::TimeEq
                    } else {
                        return err(pos, "unknown time condition");
                    };
                    let Some(seconds) = number(&mut pos) else {
                        return err(pos, "could not parse number");
                    };
                    let Some(micros) = i64::try_from(seconds)
                        .ok()
                        .and_then(|s| s.checked_mul(MICROS_PER_SECOND))
                    else {
                        return err(pos, "duration too large");
                    };
                    if !matches!(
                        p.actions.last(),
                        Some(Action::Specific(_) | Action::Any | Action::Kleene)
                    ) {
                        return plan_err!("{fname}: a time condition must follow an event condition in pattern '{pattern}'");
                    }
                    p.has_time = true;
                    p.actions.push(op(micros));
                } else {
                    let Some(event) = number(&mut pos) else {
                        return err(pos, "could not parse number");
                    };
                    if event == 0 || event as usize > n_conditions {
                        return plan_err!("{fname}: event number {event} is out of range (1..={n_conditions}) in pattern '{pattern}'");
                    }
                    let c = (event - 1) as u32;
                    p.actions.push(Action::Specific(c));
                    p.states.last_mut().expect("non-empty").transition = Transition::Specific(c);
                    p.states.push(State {
                        has_kleene: false,
                        transition: Transition::None,
                    });
                    p.conditions |= 1 << c;
                }
                if !eat(&mut pos, ")") {
                    return err(pos, "expected closing parenthesis, found");
                }
            } else if eat(&mut pos, ".*") {
                p.actions.push(Action::Kleene);
                p.states.last_mut().expect("non-empty").has_kleene = true;
            } else if eat(&mut pos, ".") {
                p.actions.push(Action::Any);
                p.states.last_mut().expect("non-empty").transition = Transition::Any;
                p.states.push(State {
                    has_kleene: false,
                    transition: Transition::None,
                });
            } else {
                return err(pos, "could not parse pattern, unexpected starting symbol");
            }
        }
        Ok(p)
    }

    /// Whether every condition the pattern names held at least once.
    pub(crate) fn could_match(&self, conditions_met: u64) -> bool {
        self.conditions & conditions_met == self.conditions
    }

    /// `sequence_match` on time-sorted events.
    pub(crate) fn matches(&self, events: &[Event]) -> Result<bool> {
        if self.has_time {
            let mut pos = 0;
            self.backtracking_match(events, &mut pos)
        } else {
            Ok(self.nfa_match(events))
        }
    }

    /// `sequence_count` on time-sorted events: non-overlapping matches, left to right.
    pub(crate) fn count(&self, events: &[Event]) -> Result<u64> {
        let mut pos = 0;
        let mut count = 0;
        while pos < events.len() && self.backtracking_match(events, &mut pos)? {
            count += 1;
        }
        Ok(count)
    }

    fn nfa_match(&self, events: &[Event]) -> bool {
        let n = self.states.len();
        let mut active = vec![false; n];
        let mut next = vec![false; n];
        active[0] = true;
        let mut n_active = 1;
        for e in events {
            if n_active == 0 || active[n - 1] {
                break;
            }
            n_active = 0;
            next.iter_mut().for_each(|s| *s = false);
            for (s, state) in self.states.iter().enumerate() {
                if !active[s] {
                    continue;
                }
                match state.transition {
                    Transition::None => {}
                    Transition::Any => {
                        next[s + 1] = true;
                        n_active += 1;
                    }
                    Transition::Specific(c) => {
                        if e.mask & (1 << c) != 0 {
                            next[s + 1] = true;
                            n_active += 1;
                        }
                    }
                }
                if state.has_kleene {
                    next[s] = true;
                    n_active += 1;
                }
            }
            std::mem::swap(&mut active, &mut next);
        }
        active[n - 1]
    }

    /// ClickHouse's backtracking matcher, starting at `*pos`; leaves `*pos`
    /// after the match (or one past the start when nothing was consumed).
    fn backtracking_match(&self, events: &[Event], pos: &mut usize) -> Result<bool> {
        let actions = &self.actions;
        let n = events.len();
        let begin = *pos;
        let (mut a, mut e, mut base) = (0usize, *pos, *pos);
        let mut stack: Vec<(usize, usize, usize)> = Vec::new();
        let backtrack = |stack: &mut Vec<(usize, usize, usize)>,
                         a: &mut usize,
                         e: &mut usize,
                         base: &mut usize| {
            while let Some((sa, se, sb)) = stack.pop() {
                *a = sa;
                *e = se + 1;
                *base = sb;
                if *e != n {
                    return true;
                }
            }
            false
        };
        let mut iterations = 0usize;
        while a < actions.len() && e < n {
            let ts = events[e].ts;
            let base_ts = events[base].ts;
            match actions[a] {
                Action::Specific(c) => {
                    if events[e].mask & (1 << c) != 0 {
                        base = e;
                        a += 1;
                        e += 1;
                    } else if !backtrack(&mut stack, &mut a, &mut e, &mut base) {
                        break;
                    }
                }
                Action::Any => {
                    base = e;
                    a += 1;
                    e += 1;
                }
                Action::Kleene => {
                    stack.push((a, e, base));
                    base = e;
                    a += 1;
                }
                Action::TimeLe(d) | Action::TimeLt(d) => {
                    let ok = match actions[a] {
                        Action::TimeLe(_) => ts <= base_ts.saturating_add(d),
                        _ => ts < base_ts.saturating_add(d),
                    };
                    if ok {
                        stack.push((a, e, base));
                        base = e;
                        a += 1;
                    } else if !backtrack(&mut stack, &mut a, &mut e, &mut base) {
                        break;
                    }
                }
                Action::TimeGe(d) | Action::TimeGt(d) | Action::TimeEq(d) => {
                    let limit = base_ts.saturating_add(d);
                    let ok = match actions[a] {
                        Action::TimeGe(_) => ts >= limit,
                        Action::TimeGt(_) => ts > limit,
                        _ => ts == limit,
                    };
                    if ok {
                        stack.push((a, e, base));
                        base = e;
                        a += 1;
                    } else {
                        e += 1;
                        if e == n && !backtrack(&mut stack, &mut a, &mut e, &mut base) {
                            break;
                        }
                    }
                }
            }
            iterations += 1;
            if iterations > MAX_ITERATIONS {
                return exec_err!(
                    "sequence pattern too difficult to apply, exceeding max iterations ({MAX_ITERATIONS})"
                );
            }
        }
        // trailing actions that can match nothing
        while a < actions.len()
            && matches!(
                actions[a],
                Action::Kleene | Action::TimeLe(_) | Action::TimeLt(_) | Action::TimeGe(0)
            )
        {
            a += 1;
        }
        if e == begin {
            e += 1;
        }
        *pos = e;
        Ok(a == actions.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(seconds, [conditions])` → events
    fn ev(rows: &[(i64, &[u32])]) -> Vec<Event> {
        rows.iter()
            .map(|(t, c)| Event {
                ts: t * MICROS_PER_SECOND,
                mask: c.iter().fold(0, |m, k| m | 1 << (k - 1)),
            })
            .collect()
    }

    fn m(p: &str, rows: &[(i64, &[u32])]) -> bool {
        Pattern::parse(p, 3, "t")
            .unwrap()
            .matches(&ev(rows))
            .unwrap()
    }

    fn c(p: &str, rows: &[(i64, &[u32])]) -> u64 {
        Pattern::parse(p, 3, "t").unwrap().count(&ev(rows)).unwrap()
    }

    #[test]
    fn parse_errors() {
        for bad in [
            "(?0)",
            "(?4)",
            "(?1",
            "x",
            "(?t>1)(?1)(?t>)",
            "(?1)(?t~1)",
            "(?1)(?t>1)(?t<2)",
        ] {
            assert!(Pattern::parse(bad, 3, "t").is_err(), "{bad}");
        }
        assert!(
            Pattern::parse("(?t>1)", 3, "t").is_ok(),
            "leading .* counts as an event"
        );
        assert!(Pattern::parse("", 3, "t").is_ok());
    }

    #[test]
    fn subsequence_and_adjacency() {
        let rows: &[(i64, &[u32])] = &[(1, &[1]), (2, &[3]), (3, &[2])];
        assert!(m("(?1).*(?2)", rows));
        assert!(!m("(?1)(?2)", rows));
        assert!(m("(?1).(?2)", rows));
        assert!(!m("(?2).*(?1)", rows));
        assert!(m("(?1)(?t>=2)(?2)", rows));
        assert!(!m("(?1)(?t>=3)(?2)", rows));
        assert!(m("(?1)(?t<=1)(?3)", rows));
        assert!(!m("(?1)(?t<1)(?3)", rows));
        assert!(m("(?1)(?t==2)(?2)", rows));
        // after `.*` the time is measured from where the star started (as ClickHouse)
        assert!(!m("(?1).*(?t==2)(?2)", rows));
    }

    #[test]
    fn counting() {
        let rows: &[(i64, &[u32])] = &[(1, &[1]), (2, &[2]), (3, &[1]), (4, &[1]), (5, &[2])];
        assert_eq!(c("(?1)(?2)", rows), 2);
        assert_eq!(c("(?1).*(?2)", rows), 2);
        assert_eq!(c("(?1)", rows), 3);
        assert_eq!(c("(?1)(?t>1)(?2)", rows), 1);
        assert_eq!(c("(?3)", rows), 0);
    }
}
