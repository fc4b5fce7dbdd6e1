//! Gathering rows of several arrays into one, a run of rows at a time.
//!
//! The import copies each row once, from the parsed pieces of every chunk
//! straight into its file's `(user_id, time)` order. The rows come in runs:
//! a user's session is consecutive lines of one date, and sorted by user and
//! time those lines stay in input order. Arrow's `interleave` copies value
//! by value (its per-value copies were ~13 % of a 1M import in `perf`);
//! copying each run as one slice touches the same bytes in a few large
//! copies. Where runs are short (an input of many users interleaved in time,
//! sorted by user) `interleave` is kept (see [`MIN_MEAN_RUN`]).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, BooleanBufferBuilder,
    PrimitiveArray, StringArray,
};
use datafusion::arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::compute::interleave;
use datafusion::arrow::datatypes::{
    DataType, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};
use datafusion::arrow::error::ArrowError;

/// Rows per run below which gathering row by row (`interleave`) was faster
/// than copying runs through `MutableArrayData`; not re-measured against the
/// direct copies below, which cost less per run.
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
    ///
    /// Strings, 64-bit numbers and booleans are copied a run at a time
    /// straight into exactly sized buffers. Arrow's `MutableArrayData` does
    /// the same copies through a boxed closure per array and checked pushes
    /// per value, which cost more than the copies themselves at runs of a
    /// few rows (a session's events).
    pub(crate) fn gather(&self, arrays: &[&dyn Array]) -> Result<ArrayRef, ArrowError> {
        if self.runs.len() * MIN_MEAN_RUN > self.indices.len() || arrays.is_empty() {
            return interleave(arrays, &self.indices);
        }
        match arrays[0].data_type() {
            DataType::Utf8 => self.strings(arrays),
            DataType::Int64 => Ok(self.primitives::<Int64Type>(arrays)),
            DataType::Float64 => Ok(self.primitives::<Float64Type>(arrays)),
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                Ok(self.primitives::<TimestampMicrosecondType>(arrays))
            }
            DataType::Boolean => Ok(self.booleans(arrays)),
            _ => interleave(arrays, &self.indices),
        }
    }

    fn strings(&self, arrays: &[&dyn Array]) -> Result<ArrayRef, ArrowError> {
        let arrays: Vec<&StringArray> = arrays.iter().map(|a| a.as_string::<i32>()).collect();
        let bytes: usize = self
            .runs
            .iter()
            .map(|&(a, start, len)| {
                let offsets = arrays[a].value_offsets();
                (offsets[start + len] - offsets[start]) as usize
            })
            .sum();
        if i32::try_from(bytes).is_err() {
            return Err(ArrowError::InvalidArgumentError(format!(
                "{bytes} bytes of strings do not fit one string array"
            )));
        }
        let mut offsets: Vec<i32> = Vec::with_capacity(self.indices.len() + 1);
        offsets.push(0);
        let mut values: Vec<u8> = Vec::with_capacity(bytes);
        for &(a, start, len) in &self.runs {
            let run = &arrays[a].value_offsets()[start..=start + len];
            // Fits: the total was checked above.
            let shift = values.len() as i32 - run[0];
            offsets.extend(run[1..].iter().map(|o| o + shift));
            values.extend_from_slice(&arrays[a].value_data()[run[0] as usize..run[len] as usize]);
        }
        let nulls = self.nulls(&arrays);
        // SAFETY: the values are whole values of valid UTF-8 string arrays,
        // back to back, and the offsets mark exactly their boundaries, so
        // every value is valid UTF-8 and the offsets ascend within `values`.
        // (Checking it all again was measurable on a 1M import.)
        let array = unsafe {
            StringArray::new_unchecked(
                OffsetBuffer::new_unchecked(ScalarBuffer::from(offsets)),
                Buffer::from_vec(values),
                nulls,
            )
        };
        Ok(Arc::new(array))
    }

    fn primitives<T: ArrowPrimitiveType>(&self, arrays: &[&dyn Array]) -> ArrayRef {
        let arrays: Vec<&PrimitiveArray<T>> =
            arrays.iter().map(|a| a.as_primitive::<T>()).collect();
        let mut values: Vec<T::Native> = Vec::with_capacity(self.indices.len());
        for &(a, start, len) in &self.runs {
            values.extend_from_slice(&arrays[a].values()[start..start + len]);
        }
        let nulls = self.nulls(&arrays);
        Arc::new(
            PrimitiveArray::<T>::new(ScalarBuffer::from(values), nulls)
                .with_data_type(arrays[0].data_type().clone()),
        )
    }

    fn booleans(&self, arrays: &[&dyn Array]) -> ArrayRef {
        let arrays: Vec<&BooleanArray> = arrays.iter().map(|a| a.as_boolean()).collect();
        let mut values = BooleanBufferBuilder::new(self.indices.len());
        for &(a, start, len) in &self.runs {
            let bits = arrays[a].values();
            values.append_packed_range(
                bits.offset() + start..bits.offset() + start + len,
                bits.values(),
            );
        }
        Arc::new(BooleanArray::new(values.finish(), self.nulls(&arrays)))
    }

    /// The output's validity, if any of the arrays has nulls.
    fn nulls<A: Array>(&self, arrays: &[&A]) -> Option<NullBuffer> {
        if arrays.iter().all(|a| a.null_count() == 0) {
            return None;
        }
        let mut valid = BooleanBufferBuilder::new(self.indices.len());
        for &(a, start, len) in &self.runs {
            match arrays[a].nulls() {
                Some(nulls) => valid.append_packed_range(
                    nulls.offset() + start..nulls.offset() + start + len,
                    nulls.validity(),
                ),
                None => valid.append_n(len, true),
            }
        }
        Some(NullBuffer::new(valid.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, Int64Array, TimestampMicrosecondArray};

    /// Whatever the runs, the output is `interleave`'s: values, nulls, type
    /// and order, for every stored column type, on the run path and the row
    /// path, from sliced arrays (offsets into their buffers) with and
    /// without nulls.
    #[test]
    fn gathers_what_interleave_gathers() {
        // Array `a` of each type: rows 0..50 of a 60-row array sliced at 7;
        // array 2 has no nulls.
        let valid = |a: usize, r: usize, every: usize| a == 2 || (r + 7) % every != a;
        // Three arrays of one type, each `make(array)` sliced to rows 7..57.
        let three = |make: &dyn Fn(usize) -> ArrayRef| -> Vec<ArrayRef> {
            (0..3).map(|a| make(a).slice(7, 50)).collect()
        };
        let typed: Vec<Vec<ArrayRef>> = vec![
            three(&|a| {
                Arc::new(StringArray::from_iter((0..60).map(|r| {
                    valid(a, r, 7).then(|| format!("{a}-{r}-{}", "x".repeat(r % 5)))
                })))
            }),
            three(&|a| {
                Arc::new(Int64Array::from_iter(
                    (0..60).map(|r| valid(a, r, 5).then_some((a * 100 + r) as i64)),
                ))
            }),
            three(&|a| {
                Arc::new(Float64Array::from_iter(
                    (0..60).map(|r| valid(a, r, 3).then_some(a as f64 + r as f64 / 4.0)),
                ))
            }),
            three(&|a| {
                let t = TimestampMicrosecondArray::from_iter(
                    (0..60).map(|r| valid(a, r, 4).then_some((a * 1000 + r) as i64)),
                );
                Arc::new(t.with_timezone("UTC"))
            }),
            three(&|a| {
                Arc::new(BooleanArray::from_iter(
                    (0..60).map(|r| valid(a, r, 6).then_some((r * (a + 1)) % 3 == 0)),
                ))
            }),
        ];
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
            for arrays in &typed {
                let arrays: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
                let expected = interleave(&arrays, &indices).unwrap();
                let got = gather.gather(&arrays).unwrap();
                assert_eq!(got.as_ref(), expected.as_ref(), "case {case}");
            }
        }
    }
}
