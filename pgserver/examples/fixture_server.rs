//! Serves the test fixture on a port, for trying clients by hand and for
//! `tests/clients/run.sh`:
//!
//! ```text
//! cargo run --example fixture_server -- 55433        # then: psql -h 127.0.0.1 -p 55433
//! ```
//!
//! `TRAIL_PASSWORD` turns on SCRAM authentication.

#[path = "../tests/fixture/mod.rs"]
mod fixture;

#[tokio::main]
async fn main() {
    tracing_subscriber_init();
    let port = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "55433".to_owned());
    let dir = std::env::temp_dir().join(format!("trail-fixture-{port}"));
    let trail = trail_engine::Trail::open(&dir).await.expect("open trail");
    fixture::register(&trail).await;
    let config = trail_pgserver::ServerConfig {
        listen: format!("127.0.0.1:{port}"),
        password: std::env::var("TRAIL_PASSWORD").ok(),
        ..Default::default()
    };
    if let Err(e) = trail_pgserver::serve(trail, config).await {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

fn tracing_subscriber_init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}
