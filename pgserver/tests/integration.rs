//! Server integration tests over real sockets with `tokio-postgres`, one
//! `mod` per area.

#[allow(dead_code)]
mod fixture;

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};
use trail_pgserver::ServerConfig;

/// A server on a free loopback port, serving the fixture.
struct Server {
    port: u16,
    _dir: tempfile::TempDir,
}

async fn start(config: ServerConfig) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = trail_engine::Trail::open(dir.path()).await.expect("open");
    fixture::register(&trail).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let _ = trail_pgserver::serve_listener(trail, config, listener).await;
    });
    Server { port, _dir: dir }
}

async fn start_default() -> Server {
    start(ServerConfig::default()).await
}

impl Server {
    fn conninfo(&self, extra: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=trail dbname=trail {extra}",
            self.port
        )
    }

    async fn connect_with(&self, extra: &str) -> Result<Client, tokio_postgres::Error> {
        let (client, connection) = tokio_postgres::connect(&self.conninfo(extra), NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }

    async fn connect(&self) -> Client {
        self.connect_with("").await.expect("connect")
    }
}

fn code(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_owned())
        .unwrap_or_else(|| format!("no SQLSTATE: {e}"))
}

const LONG_QUERY: &str = "SELECT sum(value % 7) FROM range(0, 20000000000)";

mod protocol {
    use super::*;
    use chrono::{DateTime, NaiveDate, Utc};
    use tokio_postgres::types::Type;

    #[tokio::test]
    async fn simple_and_extended_queries_with_types() {
        let server = start_default().await;
        let client = server.connect().await;

        let rows = client
            .simple_query("SELECT 1 AS one; SELECT count(*) AS n FROM events")
            .await
            .unwrap();
        let values: Vec<String> = rows
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                _ => None,
            })
            .collect();
        assert_eq!(values, ["1", "8"]);

        // Extended protocol, binary results (tokio-postgres asks for binary).
        let stmt = client
            .prepare("SELECT b, i2, i4, i8, f4, f8, d, ts, t, event_properties, tags FROM typed ORDER BY i4")
            .await
            .unwrap();
        let types: Vec<Type> = stmt.columns().iter().map(|c| c.type_().clone()).collect();
        assert_eq!(
            types,
            [
                Type::BOOL,
                Type::INT2,
                Type::INT4,
                Type::INT8,
                Type::FLOAT4,
                Type::FLOAT8,
                Type::DATE,
                Type::TIMESTAMPTZ,
                Type::TEXT,
                Type::JSON,
                Type::TEXT_ARRAY
            ]
        );
        let rows = client.query(&stmt, &[]).await.unwrap();
        let r = &rows[0];
        assert!(r.get::<_, bool>(0));
        assert_eq!(r.get::<_, i16>(1), 2);
        assert_eq!(r.get::<_, i32>(2), 4);
        assert_eq!(r.get::<_, i64>(3), 8_000_000_000);
        assert_eq!(r.get::<_, f32>(4), 1.5);
        assert_eq!(r.get::<_, f64>(5), 2.25);
        assert_eq!(r.get::<_, NaiveDate>(6).to_string(), "2025-11-25");
        let ts: DateTime<Utc> = r.get(7);
        assert_eq!(ts.timestamp(), 1_795_687_200);
        assert_eq!(r.get::<_, &str>(8), "hello");
        assert_eq!(
            r.get::<_, serde_json::Value>(9),
            serde_json::json!({"k": 1})
        );
        assert_eq!(r.get::<_, Vec<String>>(10), ["a", "b,c"]);
        let nulls = &rows[1];
        assert_eq!(nulls.get::<_, Option<i32>>(2), None);
        assert_eq!(nulls.get::<_, Option<Vec<String>>>(10), None);
    }

    #[tokio::test]
    async fn parameters_named_statements_and_portals() {
        let server = start_default().await;
        let mut client = server.connect().await;
        let stmt = client
            .prepare("SELECT count(*) FROM events WHERE user_id = $1 AND event_id > $2")
            .await
            .unwrap();
        for _ in 0..10 {
            let n: i64 = client
                .query_one(&stmt, &[&"u1", &0i64])
                .await
                .unwrap()
                .get(0);
            assert_eq!(n, 3);
        }
        // A portal fetched two rows at a time (Execute with max_rows).
        let tx = client.transaction().await.unwrap();
        let portal = tx
            .bind("SELECT event_id FROM events ORDER BY event_id", &[])
            .await
            .unwrap();
        let first = tx.query_portal(&portal, 3).await.unwrap();
        let rest = tx.query_portal(&portal, 100).await.unwrap();
        assert_eq!(first.len(), 3);
        assert_eq!(rest.len(), 5);
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn session_commands() {
        let server = start_default().await;
        let client = server.connect().await;
        client
            .batch_execute("SET application_name = 'tests'; BEGIN; SAVEPOINT a; ROLLBACK TO SAVEPOINT a; COMMIT; DISCARD ALL; SET TIME ZONE 'UTC'")
            .await
            .unwrap();
        let row = client.query_one("SHOW server_version", &[]).await.unwrap();
        assert_eq!(row.get::<_, &str>(0), "15.6");
        client
            .batch_execute("SET statement_timeout TO '5s'")
            .await
            .unwrap();
        let rows = client.simple_query("SHOW statement_timeout").await.unwrap();
        let shown: Vec<_> = rows
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                _ => None,
            })
            .collect();
        assert_eq!(shown, ["5s"]);
    }

    #[tokio::test]
    async fn copy_to_stdout_csv() {
        use futures::StreamExt;
        let server = start_default().await;
        let client = server.connect().await;
        let stream = client
            .copy_out("COPY (SELECT user_id, event_type FROM events WHERE event_id <= 2 ORDER BY event_id) TO STDOUT WITH (FORMAT csv, HEADER)")
            .await
            .unwrap();
        let chunks: Vec<_> = stream.collect().await;
        let text: String = chunks
            .into_iter()
            .map(|c| String::from_utf8(c.unwrap().to_vec()).unwrap())
            .collect();
        assert_eq!(
            text,
            "user_id,event_type\nu1,View Page\nu1,Signup Started\n"
        );
    }
}

mod errors {
    use super::*;

    #[tokio::test]
    async fn sqlstates_and_connection_survives() {
        let server = start_default().await;
        let client = server.connect().await;
        let cases = [
            ("SELECT * FROM nope", SqlState::UNDEFINED_TABLE),
            ("SELECT nope FROM events", SqlState::UNDEFINED_COLUMN),
            ("SELEC 1", SqlState::SYNTAX_ERROR),
            (
                "INSERT INTO events (event_id) VALUES (1)",
                SqlState::READ_ONLY_SQL_TRANSACTION,
            ),
            (
                "CREATE TABLE t (x int)",
                SqlState::READ_ONLY_SQL_TRANSACTION,
            ),
            ("DELETE FROM events", SqlState::READ_ONLY_SQL_TRANSACTION),
            (
                "COPY events FROM STDIN",
                SqlState::READ_ONLY_SQL_TRANSACTION,
            ),
        ];
        for (sql, state) in cases {
            let simple = client.simple_query(sql).await.unwrap_err();
            assert_eq!(code(&simple), state.code(), "{sql} (simple)");
            let extended = client.query(sql, &[]).await.unwrap_err();
            assert_eq!(code(&extended), state.code(), "{sql} (extended)");
            let n: i64 = client
                .query_one("SELECT count(*) FROM events", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(n, 8, "connection unusable after {sql}");
        }
    }
}

mod catalog {
    use super::*;

    async fn texts(client: &Client, sql: &str) -> Vec<String> {
        client
            .query(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect()
    }

    #[tokio::test]
    async fn tables_columns_and_functions() {
        let server = start_default().await;
        let client = server.connect().await;
        assert_eq!(
            texts(&client, "SELECT c.relname::text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY 1").await,
            ["events", "typed"]
        );
        assert_eq!(
            texts(&client, "SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a WHERE a.attrelid = 'typed'::regclass AND a.attnum > 0 ORDER BY a.attnum").await,
            ["boolean", "smallint", "integer", "bigint", "real", "double precision", "numeric", "date", "timestamp with time zone", "text", "json", "text[]"]
        );
        assert_eq!(
            texts(&client, "SELECT c.relname::text FROM pg_catalog.pg_class c WHERE c.relname OPERATOR(pg_catalog.~) '^(ev.*)$' COLLATE pg_catalog.default AND pg_catalog.pg_table_is_visible(c.oid) AND c.relnamespace = 2200").await,
            ["events"]
        );
        assert_eq!(
            texts(&client, "SELECT table_name::text FROM information_schema.tables WHERE table_schema = ANY(ARRAY['heap_export'])").await,
            ["events"]
        );
        assert_eq!(texts(&client, "SELECT current_schema()").await, ["public"]);
        assert!(texts(&client, "SELECT version()").await[0].starts_with("PostgreSQL 15"));
        // RowDescription carries the table OID and column number.
        let stmt = client
            .prepare("SELECT user_id, time FROM events")
            .await
            .unwrap();
        let table: i64 = client
            .query_one("SELECT 'events'::regclass::oid", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(stmt.columns()[0].table_oid(), Some(table as u32));
        assert_eq!(stmt.columns()[1].column_id(), Some(4));
    }
}

mod security {
    use super::*;
    use pgwire::tokio::tokio_rustls::{rustls, TlsConnector};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn fixture_path(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixture")
            .join(name)
    }

    #[tokio::test]
    async fn scram_password() {
        let server = start(ServerConfig {
            password: Some("s3cret".into()),
            ..Default::default()
        })
        .await;
        let wrong = server.connect_with("password=nope").await.unwrap_err();
        assert_eq!(code(&wrong), SqlState::INVALID_PASSWORD.code());
        let client = server.connect_with("password=s3cret").await.unwrap();
        let n: i64 = client
            .query_one("SELECT count(*) FROM events", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 8);
    }

    #[derive(Debug)]
    struct AcceptAny;

    impl rustls::client::danger::ServerCertVerifier for AcceptAny {
        fn verify_server_cert(
            &self,
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            rustls::crypto::ring::default_provider()
                .signature_verification_algorithms
                .supported_schemes()
        }
    }

    #[tokio::test]
    async fn tls_handshake_then_scram() {
        let server = start(ServerConfig {
            tls_cert: Some(fixture_path("server.crt")),
            tls_key: Some(fixture_path("server.key")),
            password: Some("s3cret".into()),
            ..Default::default()
        })
        .await;
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .unwrap();
        // SSLRequest: length 8, code 80877103.
        tcp.write_all(&[0, 0, 0, 8, 4, 210, 22, 47]).await.unwrap();
        let mut answer = [0u8; 1];
        tcp.read_exact(&mut answer).await.unwrap();
        assert_eq!(answer[0], b'S');
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny))
        .with_no_client_auth();
        let tls = TlsConnector::from(Arc::new(config))
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .expect("TLS handshake");
        let config: tokio_postgres::Config = server
            .conninfo("password=s3cret sslmode=disable")
            .parse()
            .unwrap();
        let (client, connection) = config
            .connect_raw(tls, NoTls)
            .await
            .expect("startup over TLS");
        tokio::spawn(connection);
        let n: i64 = client
            .query_one("SELECT count(*) FROM events", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 8);
    }
}

mod limits {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn healthy(server: &Server) {
        let client = server.connect().await;
        let n: i64 = client
            .query_one("SELECT count(*) FROM events", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 8);
    }

    #[tokio::test]
    async fn cancel_request_stops_a_long_query() {
        let server = start_default().await;
        let client = server.connect().await;
        let token = client.cancel_token();
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            token.cancel_query(NoTls).await.unwrap();
        });
        let started = std::time::Instant::now();
        let err = client.simple_query(LONG_QUERY).await.unwrap_err();
        canceller.await.unwrap();
        assert_eq!(code(&err), SqlState::QUERY_CANCELED.code());
        assert!(started.elapsed() < Duration::from_secs(20));
        let rows = client.simple_query("SELECT 1").await.unwrap();
        assert!(!rows.is_empty());
    }

    #[tokio::test]
    async fn statement_timeout() {
        let server = start(ServerConfig {
            statement_timeout_ms: 300,
            ..Default::default()
        })
        .await;
        let client = server.connect().await;
        let err = client.query(LONG_QUERY, &[]).await.unwrap_err();
        assert_eq!(code(&err), SqlState::QUERY_CANCELED.code());
        client
            .batch_execute("SET statement_timeout = 0")
            .await
            .unwrap();
        client
            .batch_execute("SET statement_timeout = '200ms'")
            .await
            .unwrap();
        let err = client.simple_query(LONG_QUERY).await.unwrap_err();
        assert_eq!(code(&err), SqlState::QUERY_CANCELED.code());
        healthy(&server).await;
    }

    #[tokio::test]
    async fn memory_limit() {
        let server = start(ServerConfig {
            memory_limit: Some(16 << 20),
            ..Default::default()
        })
        .await;
        let client = server.connect().await;
        let err = client
            .query("SELECT array_agg(value) FROM range(0, 50000000)", &[])
            .await
            .unwrap_err();
        assert_eq!(code(&err), SqlState::OUT_OF_MEMORY.code(), "{err}");
        healthy(&server).await;
    }

    #[tokio::test]
    async fn garbage_and_oversized_messages() {
        let server = start_default().await;
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
        healthy(&server).await;

        // A valid startup, then a Query claiming 512 MiB.
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .unwrap();
        let mut startup = vec![0, 3, 0, 0];
        startup.extend(b"user\0trail\0database\0trail\0\0");
        let mut msg = ((startup.len() + 4) as u32).to_be_bytes().to_vec();
        msg.extend(startup);
        tcp.write_all(&msg).await.unwrap();
        tcp.write_all(&[b'Q', 0x20, 0, 0, 0]).await.unwrap();
        tcp.write_all(&[b'x'; 1024]).await.unwrap();
        let mut buf = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
        assert!(
            closed.is_ok(),
            "server kept an oversized message's connection open"
        );
        healthy(&server).await;
    }

    #[tokio::test]
    async fn dropped_client_mid_query() {
        let server = start_default().await;
        {
            let (client, connection) = tokio_postgres::connect(&server.conninfo(""), NoTls)
                .await
                .unwrap();
            let conn = tokio::spawn(connection);
            let query = tokio::spawn(async move { client.simple_query(LONG_QUERY).await });
            tokio::time::sleep(Duration::from_millis(300)).await;
            query.abort();
            conn.abort();
        }
        healthy(&server).await;
    }

    #[tokio::test]
    async fn max_connections() {
        let server = start(ServerConfig {
            max_connections: 2,
            ..Default::default()
        })
        .await;
        let a = server.connect().await;
        let _b = server.connect().await;
        let err = server.connect_with("").await.unwrap_err();
        assert_eq!(code(&err), SqlState::TOO_MANY_CONNECTIONS.code());
        drop(a);
        tokio::time::sleep(Duration::from_millis(200)).await;
        healthy(&server).await;
    }
}
