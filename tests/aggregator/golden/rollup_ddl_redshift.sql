CREATE TABLE "dashboard_rollup_hourly" (
    "root_campaign_id" BIGINT NOT NULL,
    "hour" TIMESTAMPTZ NOT NULL,
    "visits" BIGINT NOT NULL,
    "clicks" BIGINT NOT NULL,
    "auths" BIGINT NOT NULL,
    "uniq_auths" BIGINT NOT NULL,
    "shown" BIGINT NOT NULL,
    "shares" BIGINT NOT NULL,
    "audience" BIGINT NOT NULL,
    "clickbacks" BIGINT NOT NULL,
    "visits_ids" VARBYTE(1024000),
    "uniq_auths_ids" VARBYTE(1024000),
    "shown_ids" VARBYTE(1024000),
    "shares_ids" VARBYTE(1024000),
    "audience_ids" VARBYTE(1024000),
    PRIMARY KEY ("root_campaign_id", "hour")
)
DISTSTYLE KEY DISTKEY ("root_campaign_id")
COMPOUND SORTKEY ("root_campaign_id", "hour");

CREATE TABLE "dashboard_rollup_daily" (
    "root_campaign_id" BIGINT NOT NULL,
    "day" TIMESTAMPTZ NOT NULL,
    "visits" BIGINT NOT NULL,
    "clicks" BIGINT NOT NULL,
    "auths" BIGINT NOT NULL,
    "uniq_auths" BIGINT NOT NULL,
    "shown" BIGINT NOT NULL,
    "shares" BIGINT NOT NULL,
    "audience" BIGINT NOT NULL,
    "clickbacks" BIGINT NOT NULL,
    "visits_ids" VARBYTE(1024000),
    "uniq_auths_ids" VARBYTE(1024000),
    "shown_ids" VARBYTE(1024000),
    "shares_ids" VARBYTE(1024000),
    "audience_ids" VARBYTE(1024000),
    PRIMARY KEY ("root_campaign_id", "day")
)
DISTSTYLE KEY DISTKEY ("root_campaign_id")
COMPOUND SORTKEY ("root_campaign_id", "day");

CREATE TABLE "dashboard_data_version" (
    "id" SMALLINT NOT NULL,
    "version" BIGINT NOT NULL,
    "updated" TIMESTAMPTZ NOT NULL,
    PRIMARY KEY ("id")
)
DISTSTYLE AUTO;

INSERT INTO "dashboard_data_version" ("id", "version", "updated") VALUES (1, 0, getdate());
