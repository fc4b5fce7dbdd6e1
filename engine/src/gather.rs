//! Gathering rows of several arrays into one, a run of rows at a time.
//!
//! The import copies each row once, from the parsed pieces of every chunk
//! straight into its file's `(user_id, time)` order. The rows come in runs:
//! a user's session is consecutive lines of one date, and sorted by user and
//! time those lines stay in input order. Arrow's `interleave` copies value
//! by value (its per-value copies were ~13 % of a 1M import in `perf`);
//! copying each run as one slice with [`MutableArrayData`] touches the same
//! bytes in a few large copies. Where runs are short (an input of many users
//! interleaved in time, sorted by user) `interleave` is kept: it is faster
//! row by row.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Capacities, MutableArrayData};
use datafusion::arrow::compute::interleave;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;

/// Rows per run below which gathering row by row is faster.
const MIN_MEAN_RUN: usize = 4;

/// Where each output row comes from, `(array, row)`, as runs of consecutive
/// rows of one array.
pub(crate) struct Gather {
    indices: Vec<(usize, usize)>,
    /// `(array, first row, rows)`.
    runs: Vec<(usize, usize, usize)>,
}

impl Gather {
    /// The output rows, in order, as `(array, row)`.
    pub(crate) fn new(indices: Vec<(usize, usize)>) -> Self {
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        for &(array, row) in &indices {
            match runs.last_mut() {
                Some((a, start, len)) if *a == array && *start + *len == row => *len += 1,
                _ => runs.push((array, row, 1)),
            }
        }
        Self { indices, runs }
    }

    /// The output rows of `arrays` (all of one type).
    pub(crate) fn gather(&self, arrays: &[&dyn Array]) -> Result<ArrayRef, ArrowError> {
        if self.runs.len() * MIN_MEAN_RUN > self.indices.len() || arrays.is_empty() {
            return interleave(arrays, &self.indices);
        }
        let data: Vec<_> = arrays.iter().map(|a| a.to_data()).collect();
        let rows = self.indices.len();
        let capacities = match arrays[0].data_type() {
            // The exact value bytes, so the buffer is never regrown.
            DataType::Utf8 => {
                let offsets: Vec<&[i32]> = arrays
                    .iter()
                    .map(|a| a.as_string::<i32>().value_offsets())
                    .collect();
                let bytes = self
                    .runs
                    .iter()
                    .map(|&(a, start, len)| (offsets[a][start + len] - offsets[a][start]) as usize)
                    .sum();
                Capacities::Binary(rows, Some(bytes))
            }
            _ => Capacities::Array(rows),
        };
        let use_nulls = arrays.iter().any(|a| a.null_count() > 0);
        let mut out =
            MutableArrayData::with_capacities(data.iter().collect(), use_nulls, capacities);
        for &(array, start, len) in &self.runs {
            out.try_extend(array, start, start + len)?;
        }
        Ok(datafusion::arrow::array::make_array(out.freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};

    /// Whatever the runs, the output is `interleave`'s: values, nulls and
    /// order, for strings and numbers, on the run path and the row path.
    #[test]
    fn gathers_what_interleave_gathers() {
        let strings: Vec<StringArray> = (0..3)
            .map(|a| {
                (0..50)
                    .map(|r| (r % 7 != a).then(|| format!("{a}-{r}-{}", "x".repeat(r % 5))))
                    .collect()
            })
            .collect();
        let numbers: Vec<Int64Array> = (0..3)
            .map(|a| {
                (0..50)
                    .map(|r| (r % 5 != a).then_some(a * 100 + r))
                    .collect()
            })
            .collect();
        let mut seed = 7u64;
        let mut next = move |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        for case in 0..200 {
            // Long runs in the even cases (the run path), single rows in the odd ones.
            let mut indices = Vec::new();
            while indices.len() < 120 {
                let (array, start) = (next(3), next(50));
                let len = if case % 2 == 0 { 1 + next(12) } else { 1 };
                indices.extend((start..(start + len).min(50)).map(|r| (array, r)));
            }
            let gather = Gather::new(indices.clone());
            assert_eq!(
                case % 2 == 0,
                gather.runs.len() * MIN_MEAN_RUN <= indices.len()
            );
            for arrays in [
                strings.iter().map(|a| a as &dyn Array).collect::<Vec<_>>(),
                numbers.iter().map(|a| a as &dyn Array).collect(),
            ] {
                let expected = interleave(&arrays, &indices).unwrap();
                let got = gather.gather(&arrays).unwrap();
                assert_eq!(got.as_ref(), expected.as_ref(), "case {case}");
            }
        }
    }
}
