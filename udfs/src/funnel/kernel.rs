//! The funnel kernel shared by `window_funnel` and `funnel_step_times`: the
//! mode string, and the chain search over one group's sorted events.
//!
//! The search follows ClickHouse's `windowFunnel` step for step (see
//! `AggregateFunctionWindowFunnel.cpp`): every row is expanded into one
//! `(time, step)` pair per TRUE condition, the pairs are ordered by
//! `(time, step)`, and a single pass keeps, for each level, the latest chain
//! that reached it. Trail additionally keeps the time of every step of each
//! chain (for `funnel_step_times`) and applies exclusion steps.

use datafusion::common::{exec_err, plan_err, Result};

use crate::events::Event;

/// At most this many funnel steps (ClickHouse's limit too).
pub(crate) const MAX_STEPS: usize = 32;
/// At most this many exclusion conditions.
pub(crate) const MAX_EXCLUSIONS: usize = 32;
/// `strict_once` keeps every candidate chain; refuse a group that needs more than this.
const MAX_STRICT_ONCE_CHAINS: usize = 1_000_000;

/// "Drop chains with an event matching this condition strictly between step `from` and step `to`."
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Exclusion {
    /// 1-based step after which the excluded event counts.
    pub(crate) from: usize,
    /// 1-based step before which the excluded event counts.
    pub(crate) to: usize,
}

/// The parsed mode string of a funnel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct FunnelModes {
    pub(crate) strict_order: bool,
    pub(crate) strict_deduplication: bool,
    pub(crate) strict_increase: bool,
    pub(crate) strict_once: bool,
    pub(crate) allow_reentry: bool,
    pub(crate) exclusions: Vec<Exclusion>,
}

impl FunnelModes {
    /// Parses `'strict_order, strict_increase, exclude 1-3'`: comma separated,
    /// blanks ignored. `exclude a-b` (or `exclude=a-b`) declares that the next
    /// trailing condition argument is an exclusion between steps `a` and `b`.
    pub(crate) fn parse(modes: &str, fname: &str) -> Result<Self> {
        let mut m = Self::default();
        for token in modes.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match token {
                "strict_order" => m.strict_order = true,
                "strict_deduplication" => m.strict_deduplication = true,
                "strict_increase" => m.strict_increase = true,
                "strict_once" => m.strict_once = true,
                "allow_reentry" => m.allow_reentry = true,
                "strict" => {
                    return plan_err!("{fname}: mode `strict` is replaced with `strict_deduplication`")
                }
                t if t.starts_with("exclude") => {
                    let range = t["exclude".len()..].trim_start().trim_start_matches('=').trim();
                    let parsed = range.split_once('-').and_then(|(a, b)| {
                        Some((a.trim().parse::<usize>().ok()?, b.trim().parse::<usize>().ok()?))
                    });
                    let Some((from, to)) = parsed else {
                        return plan_err!(
                            "{fname}: cannot parse `{t}`: write `exclude a-b`, a and b the steps (1-based) between which the excluded event must not happen"
                        );
                    };
                    if from < 1 || from >= to {
                        return plan_err!("{fname}: `{t}`: need 1 <= a < b");
                    }
                    m.exclusions.push(Exclusion { from, to });
                }
                t => {
                    return plan_err!(
                        "{fname}: unknown mode `{t}`; expected strict_order, strict_deduplication, strict_increase, strict_once, allow_reentry or exclude a-b"
                    )
                }
            }
        }
        if m.allow_reentry && !m.strict_order {
            return plan_err!("{fname}: mode allow_reentry requires strict_order");
        }
        if m.exclusions.len() > MAX_EXCLUSIONS {
            return plan_err!("{fname}: at most {MAX_EXCLUSIONS} exclusions");
        }
        Ok(m)
    }
}

/// Everything the kernel needs to know about one funnel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FunnelSpec {
    /// Window in microseconds, measured from the chain's first step, inclusive.
    pub(crate) window: i64,
    /// Number of steps (conditions that are not exclusions), 1..=32.
    pub(crate) steps: usize,
    pub(crate) modes: FunnelModes,
}

impl FunnelSpec {
    /// Checks the step count against the conditions passed.
    pub(crate) fn new(
        window: i64,
        conditions: usize,
        modes: FunnelModes,
        fname: &str,
    ) -> Result<Self> {
        let exclusions = modes.exclusions.len();
        if conditions <= exclusions {
            return plan_err!(
                "{fname}: {conditions} condition(s) for {exclusions} exclusion(s): need at least one step"
            );
        }
        let steps = conditions - exclusions;
        if steps > MAX_STEPS {
            return plan_err!("{fname}: at most {MAX_STEPS} steps, got {steps}");
        }
        if let Some(e) = modes.exclusions.iter().find(|e| e.to > steps) {
            return plan_err!(
                "{fname}: exclusion {}-{} refers to a step beyond the {steps} steps",
                e.from,
                e.to
            );
        }
        Ok(Self {
            window,
            steps,
            modes,
        })
    }
}

/// The deepest step reached and the time of each step of the chain that reached it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FunnelResult {
    /// 0..=steps.
    pub(crate) level: usize,
    /// `times[..level]` are the step times (µs).
    pub(crate) times: [i64; MAX_STEPS],
}

impl FunnelResult {
    const NONE: Self = Self {
        level: 0,
        times: [0; MAX_STEPS],
    };

    /// Step times of the reached steps.
    pub(crate) fn step_times(&self) -> &[i64] {
        &self.times[..self.level]
    }
}

/// A `strict_once` candidate chain: the time and the row of each step.
#[derive(Debug, Clone, Copy)]
struct Chain {
    times: [i64; MAX_STEPS],
    rows: [u32; MAX_STEPS],
}

/// Buffers reused across the groups of one evaluation.
#[derive(Debug, Default)]
pub(crate) struct FunnelScratch {
    /// `(time, code, row)`: code 0 = no step matched (strict_order), 1..=steps = step,
    /// steps+1+j = exclusion j.
    expanded: Vec<(i64, u8, u32)>,
    chains: Vec<[i64; MAX_STEPS]>,
    candidates: Vec<Vec<Chain>>,
}

impl FunnelSpec {
    /// Evaluates one group. Reorders `events`.
    pub(crate) fn evaluate(
        &self,
        events: &mut [Event],
        scratch: &mut FunnelScratch,
    ) -> Result<FunnelResult> {
        if events.is_empty() {
            return Ok(FunnelResult::NONE);
        }
        // (time, mask) is a total order on rows: the outcome never depends on input order.
        events.sort_unstable();
        self.expand(events, &mut scratch.expanded);
        if self.modes.strict_once {
            self.search_strict_once(scratch)
        } else {
            Ok(self.search(scratch))
        }
    }

    fn expand(&self, events: &[Event], expanded: &mut Vec<(i64, u8, u32)>) {
        expanded.clear();
        let steps = self.steps as u32;
        let step_bits = (1u64 << steps) - 1; // steps <= 32
        for (row, e) in events.iter().enumerate() {
            let row = row as u32;
            let mut step_mask = e.mask & step_bits;
            if step_mask == 0 {
                if self.modes.strict_order {
                    expanded.push((e.ts, 0, row));
                }
            } else {
                while step_mask != 0 {
                    let bit = step_mask.trailing_zeros();
                    expanded.push((e.ts, (bit + 1) as u8, row));
                    step_mask &= step_mask - 1;
                }
            }
            let mut ex_mask = e.mask >> steps;
            while ex_mask != 0 {
                let bit = ex_mask.trailing_zeros();
                expanded.push((e.ts, (steps + 1 + bit) as u8, row));
                ex_mask &= ex_mask - 1;
            }
        }
        // Rows are sorted by time; this only reorders pairs that share a time.
        expanded.sort_unstable();
    }

    fn within(&self, first: i64, ts: i64) -> bool {
        ts <= first.saturating_add(self.window)
    }

    /// The single-chain-per-level search (every mode but strict_once).
    fn search(&self, scratch: &mut FunnelScratch) -> FunnelResult {
        let n = self.steps;
        let m = &self.modes;
        let chains = &mut scratch.chains;
        chains.resize(n, [0; MAX_STEPS]);
        // bit l set: chains[l] holds a chain that reached step l+1
        let mut reached: u64 = 0;
        let mut first_event = false;
        let result = |reached: u64, chains: &[[i64; MAX_STEPS]]| {
            let level = (64 - reached.leading_zeros()) as usize;
            match level {
                0 => FunnelResult::NONE,
                l => FunnelResult {
                    level: l,
                    times: chains[l - 1],
                },
            }
        };
        for &(ts, code, _) in scratch.expanded.iter() {
            let code = code as usize;
            if code > n {
                let ex = m.exclusions[code - n - 1];
                for l in ex.from - 1..ex.to - 1 {
                    let chain = chains[l];
                    let bit = 1u64 << l;
                    if reached & bit == 0 || chain[ex.from - 1] >= ts || !self.within(chain[0], ts)
                    {
                        continue;
                    }
                    // the attempt is discarded whole: its shorter prefixes too
                    reached &= !bit;
                    for (j, prefix) in chains[..ex.from - 1].iter().enumerate() {
                        if prefix[..=j] == chain[..=j] {
                            reached &= !(1u64 << j);
                        }
                    }
                }
                continue;
            }
            if m.strict_order && code == 0 {
                if first_event {
                    break;
                }
                continue;
            }
            let idx = code - 1;
            if idx == 0 {
                chains[0][0] = ts;
                reached |= 1;
                first_event = true;
                if n == 1 {
                    break;
                }
            } else if m.strict_deduplication && reached & (1 << idx) != 0 {
                return result(reached, chains);
            } else if m.strict_order && first_event && reached & (1 << (idx - 1)) == 0 {
                if m.allow_reentry {
                    continue;
                }
                let level = reached.trailing_ones() as usize;
                return result(reached & ((1u64 << level) - 1), chains);
            } else if reached & (1 << (idx - 1)) != 0 {
                let prev = chains[idx - 1];
                let mut matched = self.within(prev[0], ts);
                if m.strict_increase {
                    matched = matched && prev[idx - 1] < ts;
                }
                if matched {
                    chains[idx] = prev;
                    chains[idx][idx] = ts;
                    reached |= 1 << idx;
                    if idx + 1 == n {
                        break;
                    }
                }
            }
        }
        result(reached, chains)
    }

    /// strict_once: a row counts once per chain, so every candidate chain is kept.
    fn search_strict_once(&self, scratch: &mut FunnelScratch) -> Result<FunnelResult> {
        let n = self.steps;
        let m = &self.modes;
        let levels = &mut scratch.candidates;
        levels.resize_with(n, Vec::new);
        levels.iter_mut().for_each(Vec::clear);
        let result = |levels: &[Vec<Chain>]| match levels.iter().rposition(|l| !l.is_empty()) {
            None => FunnelResult::NONE,
            Some(l) => FunnelResult {
                level: l + 1,
                times: levels[l].last().expect("non-empty").times,
            },
        };
        let mut has_first = false;
        let mut total = 0usize;
        for &(ts, code, row) in scratch.expanded.iter() {
            let code = code as usize;
            if code > n {
                let ex = m.exclusions[code - n - 1];
                let mut discarded: Vec<Chain> = Vec::new();
                for level in &mut levels[ex.from - 1..ex.to - 1] {
                    level.retain(|c| {
                        let hit = c.times[ex.from - 1] < ts && self.within(c.times[0], ts);
                        if hit {
                            discarded.push(*c);
                        }
                        !hit
                    });
                }
                // the attempts are discarded whole: their shorter prefixes too
                for (j, level) in levels[..ex.from - 1].iter_mut().enumerate() {
                    level.retain(|c| !discarded.iter().any(|d| d.rows[..=j] == c.rows[..=j]));
                }
                continue;
            }
            if m.strict_order && code == 0 {
                if has_first {
                    break;
                }
                continue;
            }
            let idx = code - 1;
            if idx == 0 {
                let mut chain = Chain {
                    times: [0; MAX_STEPS],
                    rows: [0; MAX_STEPS],
                };
                chain.times[0] = ts;
                chain.rows[0] = row;
                levels[0].push(chain);
                total += 1;
                has_first = true;
                if n == 1 {
                    break;
                }
            } else if m.strict_deduplication && !levels[idx].is_empty() {
                return Ok(result(levels));
            } else if m.strict_order && has_first && levels[idx - 1].is_empty() {
                if m.allow_reentry {
                    continue;
                }
                let first_empty = levels.iter().position(|l| l.is_empty()).unwrap_or(n);
                return Ok(result(&levels[..first_empty]));
            } else if !levels[idx - 1].is_empty() {
                let (lower, upper) = levels.split_at_mut(idx);
                let prev = &mut lower[idx - 1];
                let next = &mut upper[0];
                let mut i = 0;
                while i < prev.len() {
                    let c = prev[i];
                    let mut matched = self.within(c.times[0], ts);
                    if !matched && prev.len() > 1 {
                        // expired: drop it, but keep at least one chain per level (as ClickHouse)
                        prev.remove(i);
                        continue;
                    }
                    if matched {
                        matched = !c.rows[..idx].contains(&row);
                    }
                    if matched && m.strict_increase {
                        matched = c.times[idx - 1] < ts;
                    }
                    if matched {
                        let mut extended = c;
                        extended.times[idx] = ts;
                        extended.rows[idx] = row;
                        next.push(extended);
                        total += 1;
                        if total > MAX_STRICT_ONCE_CHAINS {
                            return exec_err!(
                                "window_funnel: strict_once needs more than {MAX_STRICT_ONCE_CHAINS} candidate chains for one group"
                            );
                        }
                        if idx + 1 == n {
                            return Ok(FunnelResult {
                                level: n,
                                times: extended.times,
                            });
                        }
                    }
                    i += 1;
                }
            }
        }
        Ok(result(levels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(seconds, [conditions that hold])` → events.
    fn events(rows: &[(i64, &[usize])]) -> Vec<Event> {
        rows.iter()
            .map(|(t, conds)| Event {
                ts: t * 1_000_000,
                mask: conds.iter().fold(0, |m, c| m | 1 << (c - 1)),
            })
            .collect()
    }

    fn run(
        window_s: i64,
        modes: &str,
        conds: usize,
        rows: &[(i64, &[usize])],
    ) -> (usize, Vec<i64>) {
        let spec = FunnelSpec::new(
            window_s * 1_000_000,
            conds,
            FunnelModes::parse(modes, "t").unwrap(),
            "t",
        )
        .unwrap();
        let mut ev = events(rows);
        let r = spec
            .evaluate(&mut ev, &mut FunnelScratch::default())
            .unwrap();
        (
            r.level,
            r.step_times().iter().map(|t| t / 1_000_000).collect(),
        )
    }

    #[test]
    fn basic_levels() {
        let rows: &[(i64, &[usize])] = &[(0, &[1]), (1, &[2]), (2, &[3])];
        assert_eq!(run(10, "", 3, rows), (3, vec![0, 1, 2]));
        assert_eq!(run(1, "", 3, rows), (2, vec![0, 1]));
        assert_eq!(run(10, "", 3, &[]), (0, vec![]));
        // window inclusive from the first step
        assert_eq!(run(2, "", 3, rows).0, 3);
    }

    #[test]
    fn order_of_input_does_not_matter() {
        let rows: &[(i64, &[usize])] = &[(2, &[3]), (0, &[1]), (1, &[2])];
        assert_eq!(run(10, "", 3, rows), (3, vec![0, 1, 2]));
    }

    #[test]
    fn repeated_first_step_restarts() {
        // A(0) B(1) A(100) C(101): the chain A(0)B(1) cannot reach C within 10s.
        let rows: &[(i64, &[usize])] = &[(0, &[1]), (1, &[2]), (100, &[1]), (101, &[3])];
        assert_eq!(run(10, "", 3, rows), (2, vec![0, 1]));
        // A(0) A(5) B(12): B is within 10s of the restarted A(5).
        let rows: &[(i64, &[usize])] = &[(0, &[1]), (5, &[1]), (12, &[2])];
        assert_eq!(run(10, "", 2, rows), (2, vec![5, 12]));
    }

    #[test]
    fn same_timestamp_and_one_row_many_steps() {
        // One row matching steps 1 and 2 counts for both (ClickHouse), but not with strict_increase/strict_once.
        let rows: &[(i64, &[usize])] = &[(0, &[1, 2])];
        assert_eq!(run(10, "", 2, rows).0, 2);
        assert_eq!(run(10, "strict_increase", 2, rows).0, 1);
        assert_eq!(run(10, "strict_once", 2, rows).0, 1);
        // Two rows at the same time: steps are ordered by step number within a timestamp.
        let rows: &[(i64, &[usize])] = &[(0, &[2]), (0, &[1])];
        assert_eq!(run(10, "", 2, rows).0, 2);
        assert_eq!(run(10, "strict_increase", 2, rows).0, 1);
        assert_eq!(run(10, "strict_once", 2, rows).0, 2);
    }

    #[test]
    fn strict_order() {
        // A B (other) C → 2
        let rows: &[(i64, &[usize])] = &[(0, &[1]), (1, &[2]), (2, &[]), (3, &[3])];
        assert_eq!(run(10, "strict_order", 3, rows).0, 2);
        // A C B → stops at C: 1
        let rows: &[(i64, &[usize])] = &[(0, &[1]), (1, &[3]), (2, &[2])];
        assert_eq!(run(10, "strict_order", 3, rows).0, 1);
        assert_eq!(run(10, "", 3, rows).0, 2);
        // allow_reentry skips the early C
        let rows: &[(i64, &[usize])] = &[(0, &[1]), (1, &[3]), (2, &[2]), (3, &[3])];
        assert_eq!(run(10, "strict_order, allow_reentry", 3, rows).0, 3);
    }

    #[test]
    fn strict_deduplication() {
        // A B B C → the repeated B stops the search at level 2
        let rows: &[(i64, &[usize])] = &[(0, &[1]), (1, &[2]), (2, &[2]), (3, &[3])];
        assert_eq!(run(10, "strict_deduplication", 3, rows).0, 2);
        assert_eq!(run(10, "", 3, rows).0, 3);
    }

    #[test]
    fn strict_once_counts_a_row_once() {
        // A, then one row that is both B and C, then D: B and C cannot share the row.
        let rows: &[(i64, &[usize])] = &[(0, &[1]), (1, &[2, 3]), (2, &[4])];
        assert_eq!(run(10, "", 4, rows).0, 4);
        assert_eq!(run(10, "strict_once", 4, rows).0, 2);
    }

    #[test]
    fn exclusions() {
        // steps A B C, exclusion X between 1 and 3 (the 4th condition)
        let base: &[(i64, &[usize])] = &[(0, &[1]), (1, &[2]), (3, &[3])];
        assert_eq!(run(10, "exclude 1-3", 4, base).0, 3);
        let rows: &[(i64, &[usize])] = &[(0, &[1]), (1, &[2]), (2, &[4]), (3, &[3])];
        assert_eq!(run(10, "exclude 1-3", 4, rows), (0, vec![]));
        // X outside the steps' span does not matter
        let rows: &[(i64, &[usize])] = &[(0, &[4]), (1, &[1]), (2, &[2]), (3, &[3]), (4, &[4])];
        assert_eq!(run(10, "exclude 1-3", 4, rows).0, 3);
        // X at the same time as step 1 is not after it
        let rows: &[(i64, &[usize])] = &[(0, &[1, 4]), (1, &[2]), (3, &[3])];
        assert_eq!(run(10, "exclude 1-3", 4, rows).0, 3);
        // a later clean attempt still converts
        let rows: &[(i64, &[usize])] = &[(0, &[1]), (1, &[4]), (50, &[1]), (51, &[2]), (52, &[3])];
        assert_eq!(run(10, "exclude=1-2", 4, rows), (3, vec![50, 51, 52]));
        // exclusion between 2 and 3 only: X between 1 and 2 is fine
        let rows: &[(i64, &[usize])] = &[(0, &[1]), (1, &[4]), (2, &[2]), (3, &[3])];
        assert_eq!(run(10, "exclude 2-3", 4, rows).0, 3);
        // ... X between 2 and 3 discards the whole attempt, its step 1 included
        let rows: &[(i64, &[usize])] = &[(0, &[1]), (1, &[2]), (2, &[4]), (3, &[3])];
        assert_eq!(run(10, "exclude 2-3", 4, rows).0, 0);
        assert_eq!(run(10, "strict_once, exclude 2-3", 4, rows).0, 0);
        // ... but not another attempt's first step
        let rows: &[(i64, &[usize])] = &[(0, &[1]), (1, &[2]), (2, &[1]), (3, &[4]), (4, &[3])];
        assert_eq!(run(10, "exclude 2-3", 4, rows), (1, vec![2]));
        assert_eq!(run(10, "strict_once, exclude 2-3", 4, rows), (1, vec![2]));
    }

    #[test]
    fn mode_errors() {
        assert!(FunnelModes::parse("strict", "t").is_err());
        assert!(FunnelModes::parse("bogus", "t").is_err());
        assert!(FunnelModes::parse("allow_reentry", "t").is_err());
        assert!(FunnelModes::parse("exclude 3-1", "t").is_err());
        assert!(FunnelModes::parse("exclude x", "t").is_err());
        assert!(FunnelModes::parse(" strict_order ,, strict_once", "t").is_ok());
        let m = FunnelModes::parse("exclude 1-2", "t").unwrap();
        assert!(FunnelSpec::new(1, 1, m.clone(), "t").is_err());
        assert!(FunnelSpec::new(1, 2, m.clone(), "t").is_err()); // step 2 does not exist
        assert!(FunnelSpec::new(1, 3, m, "t").is_ok());
        assert!(FunnelSpec::new(1, 33, FunnelModes::default(), "t").is_err());
    }

    #[test]
    fn thirty_two_steps() {
        let rows: Vec<(i64, Vec<usize>)> = (1..=32).map(|s| (s as i64, vec![s])).collect();
        let rows: Vec<(i64, &[usize])> = rows.iter().map(|(t, c)| (*t, c.as_slice())).collect();
        assert_eq!(run(100, "", 32, &rows).0, 32);
        assert_eq!(run(100, "strict_once", 32, &rows).0, 32);
        assert_eq!(run(10, "", 32, &rows).0, 11);
    }
}
