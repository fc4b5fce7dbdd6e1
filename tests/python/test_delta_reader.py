"""The event store is a real Delta table: the `deltalake` package from PyPI,
an independent reader, sees exactly the rows Trail serves."""

from deltalake import DeltaTable

from conftest import trail_sql


def test_independent_reader_sees_the_same_events(generated):
    table = DeltaTable(str(generated / "events")).to_pyarrow_table()
    header, rows = trail_sql(
        generated,
        "SELECT event_id, session_id, event_type, CAST(CAST(time AS BIGINT) AS VARCHAR) FROM events",
    )
    assert header[0] == "event_id"
    ours = sorted(tuple(r) for r in rows)
    theirs = sorted(
        zip(
            table.column("event_id").to_pylist(),
            table.column("session_id").to_pylist(),
            table.column("event_type").to_pylist(),
            (str(t) for t in table.column("time").cast("int64").to_pylist()),
        )
    )
    assert len(ours) > 100_000
    assert ours == theirs


def test_partitions_and_sort_order(generated):
    dt = DeltaTable(str(generated / "events"))
    assert dt.metadata().partition_columns == ["event_date"]
    table = dt.to_pyarrow_table()
    # Every row sits in the partition of its UTC date.
    dates = table.column("time").cast("date32").to_pylist()
    assert dates == table.column("event_date").to_pylist()


def test_users_table_is_readable(generated):
    users = DeltaTable(str(generated / "users")).to_pyarrow_table()
    _, rows = trail_sql(generated, "SELECT COUNT(*) FROM users")
    live = sum(1 for m in users.column("merged_into").to_pylist() if m is None)
    assert int(rows[0][0]) == live
    _, migrations = trail_sql(generated, "SELECT COUNT(*) FROM user_migrations")
    assert int(migrations[0][0]) == users.num_rows - live > 0


def test_every_file_is_sorted_by_user_then_time(generated):
    import pyarrow.parquet as pq

    dt = DeltaTable(str(generated / "events"))
    uris = dt.file_uris()
    assert uris
    for uri in uris:
        t = pq.read_table(uri.removeprefix("file://"), columns=["user_id", "time"])
        keys = list(zip(t.column("user_id").to_pylist(), t.column("time").to_pylist()))
        assert keys == sorted(keys), uri
