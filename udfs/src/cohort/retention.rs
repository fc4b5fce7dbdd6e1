//! `retention`: which follow-up conditions a group met, given it met the first.
//!
//! # SQL signature
//!
//! ```text
//! retention(cond1, cond2, ..., condN) -> LIST<BOOLEAN>   (N elements)
//!   condK  BOOLEAN, 2 <= N <= 32
//! ```
//!
//! # Semantics (ClickHouse `retention`)
//!
//! Element 1 is whether `cond1` held on any row of the group; element `k`
//! (k ≥ 2) is whether `cond1` held on some row **and** `condk` held on some
//! row (not necessarily the same row, in any order). A NULL condition counts
//! as FALSE. The state is one 64-bit mask per group, so memory per group is
//! constant.
//!
//! # Example
//!
//! ```sql
//! -- events(user_id, day): u1 on 2024-01-01, 01-02, 01-03; u2 on 01-01, 01-03; u3 on 01-02
//! SELECT user_id,
//!        retention(day = DATE '2024-01-01', day = DATE '2024-01-02',
//!                  day = DATE '2024-01-03') AS r
//! FROM events GROUP BY user_id ORDER BY user_id;
//! -- +---------+----------------------+
//! -- | user_id | r                    |
//! -- +---------+----------------------+
//! -- | u1      | [true, true, true]   |
//! -- | u2      | [true, false, true]  |
//! -- | u3      | [false, false, false]|
//! -- +---------+----------------------+
//! ```

use std::mem::size_of;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, ListArray, UInt64Array};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, UInt64Type};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{format_state_name, AggregateOrderSensitivity};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use crate::args::{coerce_condition, condition_masks};

const NAME: &str = "retention";
const MAX_CONDITIONS: usize = 32;

/// The `retention` aggregate function (see the module docs).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Retention {
    signature: Signature,
}

impl Default for Retention {
    fn default() -> Self {
        Self::new()
    }
}

impl Retention {
    /// A new `retention`.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

fn list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Boolean, false)))
}

/// The result for each group mask: `[c1, c1 && c2, ..., c1 && cN]`.
fn retention_lists(masks: &[u64], n: usize) -> ArrayRef {
    let mut values = Vec::with_capacity(masks.len() * n);
    for &m in masks {
        let first = m & 1 != 0;
        values.push(first);
        values.extend((1..n).map(|k| first && m & (1 << k) != 0));
    }
    let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(n, masks.len()));
    Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(DataType::Boolean, false)),
        offsets,
        Arc::new(BooleanArray::from(values)),
        None,
    ))
}

/// Per-row masks, with filtered-out rows cleared.
fn row_masks(values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<u64>> {
    let n = values.first().map(|a| a.len()).unwrap_or(0);
    let mut masks = condition_masks(values, n, NAME)?;
    if let Some(filter) = opt_filter {
        for (row, m) in masks.iter_mut().enumerate() {
            if !filter.is_valid(row) || !filter.value(row) {
                *m = 0;
            }
        }
    }
    Ok(masks)
}

fn state_masks(states: &[ArrayRef]) -> Result<&UInt64Array> {
    match states.first().map(|a| a.data_type()) {
        Some(DataType::UInt64) => Ok(states[0].as_primitive::<UInt64Type>()),
        _ => exec_err!("{NAME}: unexpected intermediate state type"),
    }
}

impl AggregateUDFImpl for Retention {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() < 2 {
            return plan_err!(
                "{NAME} expects at least 2 conditions, got {}",
                arg_types.len()
            );
        }
        if arg_types.len() > MAX_CONDITIONS {
            return plan_err!(
                "{NAME}: at most {MAX_CONDITIONS} conditions, got {}",
                arg_types.len()
            );
        }
        arg_types
            .iter()
            .enumerate()
            .map(|(k, dt)| coerce_condition(dt, NAME, k + 1))
            .collect()
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(list_type())
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(RetentionAccumulator {
            n: args.exprs.len(),
            mask: 0,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "mask"),
            DataType::UInt64,
            true,
        ))])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(RetentionGroupsAccumulator {
            n: args.exprs.len(),
            masks: Vec::new(),
        }))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
}

/// One group: the OR of the row masks.
#[derive(Debug)]
struct RetentionAccumulator {
    n: usize,
    mask: u64,
}

impl Accumulator for RetentionAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.mask |= row_masks(values, None)?.iter().fold(0, |a, m| a | m);
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        ScalarValue::try_from_array(&retention_lists(&[self.mask], self.n), 0)
    }

    fn size(&self) -> usize {
        size_of::<Self>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::UInt64(Some(self.mask))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let masks = state_masks(states)?;
        self.mask |= masks.iter().flatten().fold(0, |a, m| a | m);
        Ok(())
    }
}

/// All groups: one mask each.
#[derive(Debug)]
struct RetentionGroupsAccumulator {
    n: usize,
    masks: Vec<u64>,
}

impl GroupsAccumulator for RetentionGroupsAccumulator {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.masks.resize(total_num_groups, 0);
        for (&g, m) in group_indices.iter().zip(row_masks(values, opt_filter)?) {
            self.masks[g] |= m;
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(retention_lists(
            &emit_to.take_needed(&mut self.masks),
            self.n,
        ))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![Arc::new(UInt64Array::from(
            emit_to.take_needed(&mut self.masks),
        ))])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.masks.resize(total_num_groups, 0);
        let masks = state_masks(values)?;
        for (row, &g) in group_indices.iter().enumerate() {
            if masks.is_valid(row) {
                self.masks[g] |= masks.value(row);
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        Ok(vec![Arc::new(UInt64Array::from(row_masks(
            values, opt_filter,
        )?))])
    }

    fn size(&self) -> usize {
        self.masks.capacity() * size_of::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists(array: &ArrayRef) -> Vec<Vec<bool>> {
        let l = array.as_list::<i32>();
        (0..l.len())
            .map(|i| l.value(i).as_boolean().iter().map(|b| b.unwrap()).collect())
            .collect()
    }

    #[test]
    fn first_condition_gates_the_rest() {
        let out = retention_lists(&[0b111, 0b101, 0b110, 0], 3);
        assert_eq!(
            lists(&out),
            vec![
                vec![true, true, true],
                vec![true, false, true],
                vec![false, false, false],
                vec![false; 3]
            ]
        );
    }

    #[test]
    fn groups_and_merge() -> Result<()> {
        let c1: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)]));
        let c2: ArrayRef = Arc::new(BooleanArray::from(vec![
            Some(false),
            Some(true),
            Some(true),
        ]));
        let mut acc = RetentionGroupsAccumulator {
            n: 2,
            masks: vec![],
        };
        acc.update_batch(&[c1.clone(), c2.clone()], &[0, 0, 1], None, 2)?;
        let state = acc.state(EmitTo::All)?;
        let mut merged = RetentionGroupsAccumulator {
            n: 2,
            masks: vec![],
        };
        merged.merge_batch(&state, &[1, 0], 2)?;
        assert_eq!(
            lists(&merged.evaluate(EmitTo::All)?),
            vec![vec![false, false], vec![true, true]]
        );
        let filter = BooleanArray::from(vec![false, true, true]);
        let s = acc.convert_to_state(&[c1, c2], Some(&filter))?;
        assert_eq!(
            s[0].as_primitive::<UInt64Type>().values().as_ref(),
            &[0, 2, 2]
        );
        Ok(())
    }
}
