"""Golden SQL for both warehouse dialects (Redshift cannot run here: its SQL is checked
exactly)."""

from services.sync.dialects import (
    RedshiftAuth,
    changed_hours_sql,
    merge_sql,
    postgres_index_renames,
    redshift_copy_sql,
    redshift_create_sql,
    select_sql,
    swap_sql,
)

ROLE = RedshiftAuth(iam_role="arn:aws:iam::123456789012:role/forklift-copy")
KEYS = RedshiftAuth(access_key_id="AKIDEXAMPLE", secret_access_key="s3cr'et")


def test_redshift_copy_with_iam_role() -> None:
    sql = redshift_copy_sql(
        "events__sync_staging",
        ["event_id", "type"],
        "s3://b/sync/events/r1/manifest.json",
        ROLE,
        redact=False,
    )
    assert sql == (
        'COPY "events__sync_staging" ("event_id", "type")\n'
        "FROM 's3://b/sync/events/r1/manifest.json'\n"
        "IAM_ROLE 'arn:aws:iam::123456789012:role/forklift-copy'\n"
        "MANIFEST GZIP CSV TIMEFORMAT 'auto' DATEFORMAT 'auto' ACCEPTINVCHARS"
        " COMPUPDATE OFF STATUPDATE OFF"
    )


def test_redshift_copy_with_keys_redacts_the_secret_for_logs() -> None:
    real = redshift_copy_sql("t", ["a"], "s3://b/m", KEYS, redact=False)
    logged = redshift_copy_sql("t", ["a"], "s3://b/m", KEYS, redact=True)
    assert "ACCESS_KEY_ID 'AKIDEXAMPLE' SECRET_ACCESS_KEY 's3cr''et'" in real
    assert "SECRET_ACCESS_KEY '***'" in logged and "s3cr" not in logged


def test_redshift_create_with_distkey_and_sortkey() -> None:
    sql = redshift_create_sql(
        "events__sync_staging",
        [
            ("event_id", "BIGINT", True),
            ("created", "TIMESTAMPTZ", True),
            ("content", "VARCHAR(65535)", False),
        ],
        ["event_id"],
        distkey="event_id",
        sortkeys=["created"],
    )
    assert sql == (
        'CREATE TABLE "events__sync_staging" (\n'
        '    "event_id" BIGINT NOT NULL,\n'
        '    "created" TIMESTAMPTZ NOT NULL,\n'
        '    "content" VARCHAR(65535),\n'
        '    PRIMARY KEY ("event_id")\n'
        ")\n"
        'DISTSTYLE KEY DISTKEY ("event_id")\n'
        'COMPOUND SORTKEY ("created")'
    )
    assert redshift_create_sql("t", [("a", "INTEGER", False)], []).endswith("DISTSTYLE AUTO")


def test_swap_and_merge_statements() -> None:
    assert swap_sql("visits") == [
        'DROP TABLE "visits"',
        'ALTER TABLE "visits__sync_staging" RENAME TO "visits"',
    ]
    assert merge_sql("user_clients", ["id", "k", "v"], ["id", "k"]) == [
        'DELETE FROM "user_clients" USING "user_clients__sync_delta" d'
        ' WHERE "user_clients"."id" = d."id" AND "user_clients"."k" = d."k"',
        'INSERT INTO "user_clients" ("id", "k", "v") SELECT "id", "k", "v"'
        ' FROM "user_clients__sync_delta"',
        'DROP TABLE "user_clients__sync_delta"',
    ]
    assert "SAVEPOINT" not in " ".join(swap_sql("t") + merge_sql("t", ["a"], ["a"]))


def test_select_sql_with_cursor_range() -> None:
    assert select_sql("events", ["event_id", "updated"], "updated") == (
        'SELECT "event_id", "updated" FROM "events" WHERE "updated" > $1 AND "updated" <= $2'
    )
    assert select_sql('we"ird', ["a"]) == 'SELECT "a" FROM "we""ird"'


def test_index_renames_pair_by_signature() -> None:
    live = [("events_pkey", "1:t:t"), ("events_created_idx", "11:f:f")]
    staged = [
        ("events__sync_staging_created_idx", "11:f:f"),
        ("events__sync_staging_pkey", "1:t:t"),
    ]
    assert postgres_index_renames(live, staged) == [
        'ALTER INDEX "events__sync_staging_created_idx" RENAME TO "events_created_idx"',
        'ALTER INDEX "events__sync_staging_pkey" RENAME TO "events_pkey"',
    ]


def test_changed_hours_full_hashes_binary_values_and_json_as_text() -> None:
    columns = [("id", "bigint"), ("doc", "json"), ("created", "timestamptz")]
    sql = changed_hours_sql("postgres", "full", "events", ["id"], columns, (), "events.created")
    assert sql.count('hash_record_extended(ROW(t."id", t."doc"::text, t."created"), 0)') == 2
    assert 'FROM "events" t GROUP BY 1' in sql and 'FROM "events__sync_staging" t' in sql
    redshift = changed_hours_sql(
        "redshift", "full", "events", ["id"], [("id", "BIGINT")], (), "events.created"
    )
    assert 'strtol(left(md5(coalesce(t."id"::varchar' in redshift


def test_changed_hours_of_events_merge_compare_only_the_columns_read() -> None:
    columns = [("type", "text"), ("created", "timestamptz")]
    sql = changed_hours_sql(
        "postgres", "incremental", "events", ["event_id"], columns, (), "events.created"
    )
    changed = (
        'FROM "events__sync_delta" n LEFT JOIN "events" o ON o."event_id" = n."event_id"'
        ' WHERE o."event_id" IS NULL OR o."type" IS DISTINCT FROM n."type"'
        ' OR o."created" IS DISTINCT FROM n."created"'
    )
    assert sql == (
        "WITH changed AS (SELECT date_trunc('hour', n.\"created\") AS new_hour,"
        f" date_trunc('hour', o.\"created\") AS old_hour {changed})"
        " SELECT new_hour AS hour FROM changed UNION SELECT old_hour FROM changed ORDER BY 1"
    )


def test_changed_hours_of_a_joined_table_follow_the_joins_to_events() -> None:
    path = (("visits", "visit_id", "visit_id"), ("visitors", "visitor_id", "visitor_id"))
    columns = [("fbid", "bigint"), ("visitor_id", "bigint")]
    sql = changed_hours_sql(
        "postgres", "full", "visitors", ["visitor_id"], columns, path, "events.created"
    )
    assert sql == (
        'WITH changed AS (SELECT o."visitor_id" AS old_key, n."visitor_id" AS new_key'
        ' FROM "visitors" o FULL JOIN "visitors__sync_staging" n'
        ' ON o."visitor_id" = n."visitor_id"'
        ' WHERE o."visitor_id" IS NULL OR n."visitor_id" IS NULL'
        ' OR o."fbid" IS DISTINCT FROM n."fbid" OR o."visitor_id" IS DISTINCT FROM n."visitor_id")'
        ' SELECT DISTINCT date_trunc(\'hour\', "events"."created") AS hour FROM "events"'
        ' JOIN "visits" ON "events"."visit_id" = "visits"."visit_id"'
        ' WHERE "visits"."visitor_id" IN'
        " (SELECT old_key FROM changed UNION SELECT new_key FROM changed) ORDER BY 1"
    )
    redshift = changed_hours_sql(
        "redshift", "incremental", "visitors", ["visitor_id"], columns, path, "events.created"
    )
    assert "DISTINCT FROM" not in redshift
    assert 'OR NOT (o."fbid" = n."fbid" OR (o."fbid" IS NULL AND n."fbid" IS NULL))' in redshift
