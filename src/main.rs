//! `trail`: Heap Connect SQL you can run yourself.
//!
//! ```text
//! trail gen --events 100000 | trail import -     generate and import events
//! trail sql "SELECT COUNT(*) FROM events"          one query, in process
//! trail serve --demo                               PostgreSQL wire protocol on 127.0.0.1:5433
//! trail compact                                    merge small files
//! ```

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use datafusion::arrow::record_batch::RecordBatch;
use indicatif::{ProgressBar, ProgressStyle};
use trail_engine::generator::{generate, GenOptions};
use trail_engine::{ImportOptions, InputFormat, ReadAhead, Trail, TrailOptions};

#[derive(Parser, Debug)]
#[command(
    name = "trail",
    version,
    about = "Heap Connect SQL you can run yourself: product-analytics events, SQL, the PostgreSQL protocol"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the data over the PostgreSQL wire protocol.
    Serve(ServeArgs),
    /// Import Events API messages (NDJSON, CSV or Parquet) from files or stdin (`-`).
    Import(ImportArgs),
    /// Run one SQL query in process and print the result.
    Sql(SqlArgs),
    /// Generate deterministic, realistic Heap-like import messages.
    Gen(GenArgs),
    /// Merge small files (Delta OPTIMIZE) and remove unreferenced ones.
    Compact(DataArgs),
}

#[derive(clap::Args, Debug)]
struct DataArgs {
    /// The data directory.
    #[arg(long, default_value = "./trail-data", env = "TRAIL_DATA")]
    data: PathBuf,
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5433")]
    listen: String,
    /// Fill an empty data directory with the generator's demo data first.
    #[arg(long)]
    demo: bool,
    /// PEM certificate chain; with --tls-key enables TLS (sslmode=require).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Users file: `user:password` per line (SCRAM-SHA-256 authentication).
    #[arg(long)]
    users: Option<PathBuf>,
    /// Connections served at once.
    #[arg(long, default_value_t = 100)]
    max_connections: usize,
    /// Memory all queries may use together (e.g. 2G): sorts and aggregates
    /// spill to disk beyond it, what cannot spill fails with SQLSTATE 53200.
    #[arg(long, env = "TRAIL_MEMORY_LIMIT", value_parser = trail_pgserver::parse_size)]
    memory_limit: Option<usize>,
    /// Default statement timeout in milliseconds (0: none).
    #[arg(long, default_value_t = 0)]
    statement_timeout: u64,
}

#[derive(clap::Args, Debug)]
struct ImportArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Input files; `-` reads standard input.
    #[arg(required = true)]
    files: Vec<String>,
    /// Input format (default: by file extension, NDJSON otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Rejected lines tolerated before the import fails and commits nothing.
    #[arg(long, default_value_t = 0)]
    max_errors: usize,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Format {
    Ndjson,
    Csv,
    Parquet,
}

#[derive(clap::Args, Debug)]
struct SqlArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,
    /// Memory the query may use (e.g. 2G): sorts and aggregates spill to
    /// disk beyond it, what cannot spill fails.
    #[arg(long, env = "TRAIL_MEMORY_LIMIT", value_parser = trail_pgserver::parse_size)]
    memory_limit: Option<usize>,
    /// The query (Heap/BigQuery or PostgreSQL SQL).
    query: String,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum OutputFormat {
    Table,
    Csv,
    Json,
}

#[derive(clap::Args, Debug)]
struct GenArgs {
    /// Number of users.
    #[arg(long, default_value_t = 1000, conflicts_with = "events")]
    users: u64,
    /// Exact number of events to generate (instead of --users).
    #[arg(long)]
    events: Option<u64>,
    /// Days of history up to --end.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Last day of data (YYYY-MM-DD, UTC); default: now.
    #[arg(long)]
    end: Option<String>,
    /// Output file; `-` is standard output.
    #[arg(long, default_value = "-")]
    out: String,
}

/// Import and query allocate many small objects on several threads; mimalloc
/// is measurably faster than glibc's allocator there (see benches/import.sh).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRAIL_LOG")
                .unwrap_or_else(|_| "warn,buoyant_kernel=off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn run(cli: Cli) -> AnyResult<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Import(args) => import(args).await,
        Command::Sql(args) => sql(args).await,
        Command::Gen(args) => gen(args),
        Command::Compact(args) => {
            let trail = Trail::open(&args.data).await?;
            let r = trail.compact().await?;
            println!(
                "compacted: {} files merged into {}, {} unreferenced files deleted",
                r.files_removed, r.files_added, r.files_deleted
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn progress_bar(label: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {pos} [{elapsed_precise}, {per_sec}]")
            .expect("valid template"),
    );
    bar.set_message(label);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

async fn import(args: ImportArgs) -> AnyResult<ExitCode> {
    let trail = Trail::open(&args.data.data).await?;
    let options = ImportOptions {
        max_errors: args.max_errors,
    };
    let mut failed = false;
    for file in &args.files {
        let format = match args.format {
            Some(Format::Ndjson) => InputFormat::Ndjson,
            Some(Format::Csv) => InputFormat::Csv,
            Some(Format::Parquet) => InputFormat::Parquet,
            None => InputFormat::from_path(file),
        };
        let input: Box<dyn BufRead + Send> = if file == "-" {
            Box::new(BufReader::with_capacity(1 << 20, std::io::stdin()))
        } else {
            let f = std::fs::File::open(file).map_err(|e| format!("{file}: {e}"))?;
            Box::new(BufReader::with_capacity(1 << 20, ReadAhead::new(f)))
        };
        let bar = progress_bar("messages read");
        let started = std::time::Instant::now();
        let result = trail
            .import(input, format, &options, &|n| bar.set_position(n as u64))
            .await;
        bar.finish_and_clear();
        let name = if file == "-" { "stdin" } else { file.as_str() };
        match result {
            Ok(report) => {
                for r in &report.rejected {
                    eprintln!("{name}: rejected {r}");
                }
                let secs = started.elapsed().as_secs_f64();
                println!(
                    "{name}: {} messages, {} events imported, {} duplicates skipped, {} user updates, {} rejected ({:.2}s, {:.0} events/s)",
                    report.messages,
                    report.events,
                    report.duplicates,
                    report.user_updates,
                    report.rejected.len(),
                    secs,
                    report.events as f64 / secs.max(1e-9)
                );
            }
            Err(trail_engine::Error::ImportFailed {
                max_errors,
                rejected,
            }) => {
                for r in &rejected {
                    eprintln!("{name}: rejected {r}");
                }
                eprintln!(
                    "{name}: import failed: {} rejected line(s), more than --max-errors {max_errors}; nothing was imported",
                    rejected.len()
                );
                failed = true;
            }
            Err(e) => return Err(format!("{name}: {e}").into()),
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn sql(args: SqlArgs) -> AnyResult<ExitCode> {
    let options = TrailOptions {
        memory_limit: args.memory_limit,
        ..Default::default()
    };
    let trail = Trail::open_with(&args.data.data, options).await?;
    let batches = trail.sql(&args.query).await?;
    print_batches(&batches, args.format)?;
    Ok(ExitCode::SUCCESS)
}

fn print_batches(batches: &[RecordBatch], format: OutputFormat) -> AnyResult<()> {
    let mut out = std::io::stdout().lock();
    match format {
        OutputFormat::Table => {
            writeln!(
                out,
                "{}",
                datafusion::arrow::util::pretty::pretty_format_batches(batches)?
            )?;
        }
        OutputFormat::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for b in batches {
                writer.write(&nested_as_json(b)?)?;
            }
        }
        OutputFormat::Json => {
            // Explicit nulls: every row object carries every column, in order.
            let mut writer = datafusion::arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, datafusion::arrow::json::writer::JsonArray>(&mut out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            writer.write_batches(&refs)?;
            writer.finish()?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// `batch` with every nested column (list, struct, map) as the JSON text of
/// its values, as `--format json` writes them: CSV cells are text, and
/// Arrow's CSV writer rejects nested types (`ARRAY_AGG` results, say).
fn nested_as_json(batch: &RecordBatch) -> AnyResult<RecordBatch> {
    use datafusion::arrow::array::{ArrayRef, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::json::writer::{make_encoder, EncoderOptions};
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.capacity());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if !field.data_type().is_nested() {
            fields.push(field.clone());
            columns.push(column.clone());
            continue;
        }
        // Struct fields that are NULL are written, as `--format json` writes them.
        let options = EncoderOptions::default().with_explicit_nulls(true);
        let mut encoder = make_encoder(field, column.as_ref(), &options)?;
        let mut text = Vec::new();
        let texts: StringArray = (0..column.len())
            .map(|row| {
                (!encoder.is_null(row)).then(|| {
                    text.clear();
                    encoder.encode(row, &mut text);
                    String::from_utf8_lossy(&text).into_owned()
                })
            })
            .collect();
        fields.push(Arc::new(Field::new(field.name(), DataType::Utf8, true)));
        columns.push(Arc::new(texts));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn end_micros(end: Option<&str>) -> AnyResult<i64> {
    Ok(match end {
        None => chrono::Utc::now().timestamp_micros(),
        Some(day) => {
            let date = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map_err(|e| format!("--end {day:?}: {e}"))?;
            date.and_hms_opt(23, 59, 59)
                .expect("valid time")
                .and_utc()
                .timestamp_micros()
        }
    })
}

fn gen(args: GenArgs) -> AnyResult<ExitCode> {
    let options = GenOptions {
        users: args.users,
        events: args.events,
        days: args.days,
        seed: args.seed,
        end_micros: end_micros(args.end.as_deref())?,
    };
    let bar = progress_bar("events generated");
    let report = if args.out == "-" {
        generate(
            &options,
            &mut std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock()),
            &|n| bar.set_position(n),
        )?
    } else {
        let file = std::fs::File::create(&args.out).map_err(|e| format!("{}: {e}", args.out))?;
        generate(
            &options,
            &mut std::io::BufWriter::with_capacity(1 << 20, file),
            &|n| bar.set_position(n),
        )?
    };
    bar.finish_and_clear();
    eprintln!(
        "generated {} events for {} users ({} messages)",
        report.events, report.users, report.messages
    );
    Ok(ExitCode::SUCCESS)
}

/// Events in the demo data set that `serve --demo` imports into an empty directory.
const DEMO_USERS: u64 = 2000;

async fn serve(args: ServeArgs) -> AnyResult<ExitCode> {
    let options = TrailOptions {
        memory_limit: args.memory_limit,
        ..Default::default()
    };
    let trail = Trail::open_with(&args.data.data, options).await?;
    if args.demo {
        let empty = trail.sql("SELECT COUNT(*) AS n FROM events").await?;
        let n = empty.first().map(|b| b.num_rows()).unwrap_or(0);
        let count = datafusion::arrow::compute::cast(
            empty[0].column(0),
            &datafusion::arrow::datatypes::DataType::Int64,
        )?;
        let has_events = n > 0
            && count
                .as_any()
                .downcast_ref::<datafusion::arrow::array::Int64Array>()
                .is_some_and(|a| a.value(0) > 0);
        if !has_events {
            eprintln!("--demo: generating and importing the demo data set ({DEMO_USERS} users, 30 days up to now)…");
            let mut buf = Vec::new();
            let gen_options = GenOptions {
                users: DEMO_USERS,
                events: None,
                days: 30,
                seed: 42,
                end_micros: end_micros(None)?,
            };
            generate(&gen_options, &mut buf, &|_| {})?;
            let report = trail
                .import(
                    Box::new(std::io::Cursor::new(buf)),
                    InputFormat::Ndjson,
                    &ImportOptions::default(),
                    &|_| {},
                )
                .await?;
            eprintln!(
                "--demo: {} events imported into {}",
                report.events,
                trail.dir().display()
            );
        }
    }
    let config = trail_pgserver::ServerConfig {
        listen: args.listen,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        password: std::env::var("TRAIL_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty()),
        users_file: args.users,
        max_connections: args.max_connections,
        memory_limit: args.memory_limit,
        statement_timeout_ms: args.statement_timeout,
        ..Default::default()
    };
    trail_pgserver::serve(trail, config).await?;
    Ok(ExitCode::SUCCESS)
}
