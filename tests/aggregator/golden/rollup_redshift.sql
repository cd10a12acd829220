-- fbid_facts_hourly
SELECT cp."root_campaign_id", f."hour", f."fbid" AS "id", f."fbids_authorized" > 0 AS "uniq_auths", f."fbids_shown_friends" > 0 AS "shown", f."fbids_shared" > 0 AS "shares"
FROM "fbid_facts_hourly" f JOIN (SELECT DISTINCT "campaign_id", "root_campaign_id" FROM "campaign_properties") cp ON cp."campaign_id" = f."campaign_id"
WHERE f."hour" >= $1::timestamptz AND f."hour" < $2::timestamptz AND (f."fbids_authorized" > 0 OR f."fbids_shown_friends" > 0 OR f."fbids_shared" > 0);

-- friend_fbid_facts_hourly
SELECT cp."root_campaign_id", f."hour", f."friend_fbid" AS "id", f."friends_shared_with" > 0 AS "audience"
FROM "friend_fbid_facts_hourly" f JOIN (SELECT DISTINCT "campaign_id", "root_campaign_id" FROM "campaign_properties") cp ON cp."campaign_id" = f."campaign_id"
WHERE f."hour" >= $1::timestamptz AND f."hour" < $2::timestamptz AND (f."friends_shared_with" > 0);

-- visit_facts_hourly
SELECT cp."root_campaign_id", f."hour", f."visit_id" AS "id", f."visit_ids" > 0 AS "visits"
FROM "visit_facts_hourly" f JOIN (SELECT DISTINCT "campaign_id", "root_campaign_id" FROM "campaign_properties") cp ON cp."campaign_id" = f."campaign_id"
WHERE f."hour" >= $1::timestamptz AND f."hour" < $2::timestamptz AND (f."visit_ids" > 0);

-- misc_facts_hourly
SELECT cp."root_campaign_id", f."hour",
  coalesce(sum(f."clicks"), 0)::bigint AS "clicks",
  coalesce(sum(f."authorizations"), 0)::bigint AS "auths",
  coalesce(sum(f."clickbacks"), 0)::bigint AS "clickbacks"
FROM "misc_facts_hourly" f JOIN (SELECT DISTINCT "campaign_id", "root_campaign_id" FROM "campaign_properties") cp ON cp."campaign_id" = f."campaign_id"
WHERE f."hour" >= $1::timestamptz AND f."hour" < $2::timestamptz
GROUP BY 1, 2;
