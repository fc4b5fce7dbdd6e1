//! Per-row lookups of user ids, done once per run of equal ids.
//!
//! Event files are sorted by user id, so a batch's ids come in runs. A
//! lookup keyed by an id ([`crate::canonical_user`], [`crate::users_lookup`])
//! is remembered for the last id's Utf8View view: equal views are equal
//! ids (the reverse need not hold — a repeat stored elsewhere is only
//! looked up again).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringViewArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result};

/// `ids` as a Utf8View array (Utf8 and LargeUtf8 are cast); `function`
/// names the caller in the error for any other type.
pub(crate) fn as_views(ids: &ArrayRef, function: &str) -> Result<ArrayRef> {
    match ids.data_type() {
        DataType::Utf8View => Ok(Arc::clone(ids)),
        DataType::Utf8 | DataType::LargeUtf8 => Ok(cast(ids, &DataType::Utf8View)?),
        other => exec_err!("{function}: expected a string user id, got {other}"),
    }
}

/// The last view looked up and what it gave.
pub(crate) struct PerRun<'a, T> {
    ids: &'a StringViewArray,
    last: Option<(u128, T)>,
}

impl<'a, T: Copy> PerRun<'a, T> {
    pub(crate) fn new(ids: &'a StringViewArray) -> Self {
        Self { ids, last: None }
    }

    /// `lookup` of the (non-null) id at row `i`, reused while the view repeats.
    pub(crate) fn get(&mut self, i: usize, lookup: impl FnOnce(&'a str) -> T) -> T {
        let view = self.ids.views()[i];
        match self.last {
            Some((v, found)) if v == view => found,
            _ => {
                let found = lookup(self.ids.value(i));
                self.last = Some((view, found));
                found
            }
        }
    }
}
