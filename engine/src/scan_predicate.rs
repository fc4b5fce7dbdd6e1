//! Each filter once in a Parquet scan's predicate.
//!
//! The Delta scan puts the pushed-down filters into its Parquet source, and
//! DataFusion 55.2's `FilterPushdown` physical rule then appends the same
//! filters again without checking what the predicate already holds (once
//! per pass, and the events view plans its inner scan before the outer plan
//! is optimized). `event_type LIKE 'Feature:%'` ended up three times in the
//! events scan of the feature-adoption query: the row filter decoded and
//! evaluated it three times, and file pruning checked it three times.
//! [`DedupScanPredicate`] runs last and keeps the first of each conjunct.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::Result;
use datafusion::datasource::physical_plan::{FileScanConfig, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_expr::{conjunction, split_conjunction, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct DedupScanPredicate;

impl PhysicalOptimizerRule for DedupScanPredicate {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|plan| {
            Ok(match deduplicated(&plan) {
                Some(scan) => Transformed::yes(scan),
                None => Transformed::no(plan),
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "trail_dedup_scan_predicate"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `plan` with its Parquet predicate deduplicated, if it is a Parquet scan
/// whose predicate repeats a conjunct.
fn deduplicated(plan: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    let exec = plan.downcast_ref::<DataSourceExec>()?;
    let config = exec.data_source().downcast_ref::<FileScanConfig>()?;
    let parquet = config.file_source().downcast_ref::<ParquetSource>()?;
    let predicate = datafusion::datasource::physical_plan::FileSource::filter(parquet)?;
    let unique = unique_conjuncts(&predicate);
    if unique.len() == split_conjunction(&predicate).len() {
        return None;
    }
    let source = parquet.with_predicate(conjunction(unique));
    let config = FileScanConfigBuilder::from(config.clone())
        .with_source(Arc::new(source))
        .build();
    Some(DataSourceExec::from_data_source(config))
}

/// The conjuncts of `predicate`, each once, in their first order.
fn unique_conjuncts(predicate: &Arc<dyn PhysicalExpr>) -> Vec<Arc<dyn PhysicalExpr>> {
    let mut unique: Vec<Arc<dyn PhysicalExpr>> = Vec::new();
    for conjunct in split_conjunction(predicate) {
        if !unique.iter().any(|seen| seen == conjunct) {
            unique.push(Arc::clone(conjunct));
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::logical_expr::Operator;
    use datafusion::physical_expr::expressions::{binary, col, lit};

    #[test]
    fn repeated_conjuncts_are_kept_once_in_order() {
        let schema = Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Int64, true),
        ]);
        let cmp = |name: &str, v: i64| {
            binary(col(name, &schema).unwrap(), Operator::Gt, lit(v), &schema).unwrap()
        };
        let predicate = conjunction([
            cmp("a", 1),
            cmp("b", 2),
            cmp("a", 1),
            cmp("b", 3),
            cmp("b", 2),
        ]);
        let unique = unique_conjuncts(&predicate);
        let text: Vec<String> = unique.iter().map(|e| e.to_string()).collect();
        assert_eq!(text, ["a@0 > 1", "b@1 > 2", "b@1 > 3"]);
    }
}
