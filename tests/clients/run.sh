#!/usr/bin/env bash
# Runs every real-driver client against a Trail server that is already
# started (this script installs and starts nothing):
#   TRAIL_PG_PORT=55433 tests/clients/run.sh          # all clients
#   TRAIL_PG_PORT=55433 tests/clients/run.sh psql jdbc  # some
# Optional: TRAIL_PG_HOST (127.0.0.1), TRAIL_PG_USER (trail), PGPASSWORD.
set -u
: "${TRAIL_PG_PORT:?set TRAIL_PG_PORT to the port of a running trail server}"
cd "$(dirname "$0")"
JDBC_JAR=${JDBC_JAR:-/usr/share/java/postgresql.jar}
clients=("$@")
[ ${#clients[@]} -eq 0 ] && clients=(psql psycopg sqlalchemy asyncpg odbc jdbc node r)
failed=()
for client in "${clients[@]}"; do
  echo "== $client"
  case "$client" in
    psql) python3 psql_client.py ;;
    psycopg) python3 psycopg_client.py ;;
    sqlalchemy) python3 sqlalchemy_client.py ;;
    asyncpg) python3 asyncpg_client.py ;;
    odbc) python3 odbc_client.py ;;
    jdbc) java -cp "$JDBC_JAR" jdbc/JdbcClient.java cases.json ;;
    node) node node/pg_client.js ;;
    r) Rscript rpostgresql_client.R ;;
    *) echo "unknown client $client"; false ;;
  esac || failed+=("$client")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all clients passed"
