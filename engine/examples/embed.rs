//! Embedding Trail: open a data directory, send events, query them.
//!
//! `cargo build --workspace --examples && target/debug/examples/embed` (writes to a temporary directory).

use datafusion::arrow::util::pretty::print_batches;
use trail_engine::Trail;

#[tokio::main]
async fn main() -> trail_engine::Result<()> {
    let dir = std::env::temp_dir().join(format!("trail-embed-{}", std::process::id()));
    let trail = Trail::open(&dir).await?;

    let props = serde_json::json!({"plan_level": "Pro"});
    trail
        .add_user_properties("u_1", props.as_object().cloned().unwrap_or_default())
        .await?;
    trail
        .track(
            "u_1",
            "Signup Started",
            "2026-11-20T10:00:00Z",
            serde_json::json!({}),
        )
        .await?;
    trail
        .track(
            "u_1",
            "Email Verified",
            "2026-11-20T10:05:00Z",
            serde_json::json!({}),
        )
        .await?;
    trail
        .track(
            "anon_9",
            "Signup Started",
            "2026-11-20T11:00:00Z",
            serde_json::json!({}),
        )
        .await?;
    trail.identify("u_1", "alice@example.com").await?;
    // anon_9 turns out to be alice: Heap merges the two users.
    trail.identify("anon_9", "alice@example.com").await?;

    let batches = trail
        .sql(
            "SELECT user_id, user_properties.plan_level, COUNT(*) AS events, \
             window_funnel(INTERVAL '1 hour', time, event_type = 'Signup Started', event_type = 'Email Verified') AS depth \
             FROM events GROUP BY 1, 2",
        )
        .await?;
    print_batches(&batches)?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
