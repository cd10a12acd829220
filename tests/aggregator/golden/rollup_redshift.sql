SELECT u."root_campaign_id", u."hour",
  sum(u."visits")::bigint AS "visits",
  sum(u."clicks")::bigint AS "clicks",
  sum(u."auths")::bigint AS "auths",
  sum(u."uniq_auths")::bigint AS "uniq_auths",
  sum(u."shown")::bigint AS "shown",
  sum(u."shares")::bigint AS "shares",
  sum(u."audience")::bigint AS "audience",
  sum(u."clickbacks")::bigint AS "clickbacks"
FROM (
  SELECT cp."root_campaign_id", f."hour",
    count(DISTINCT CASE WHEN f."visit_ids" > 0 THEN f."visit_id" END) AS "visits",
    0 AS "clicks",
    0 AS "auths",
    0 AS "uniq_auths",
    0 AS "shown",
    0 AS "shares",
    0 AS "audience",
    0 AS "clickbacks"
  FROM "visit_facts_hourly" f JOIN (SELECT DISTINCT "campaign_id", "root_campaign_id" FROM "campaign_properties") cp ON cp."campaign_id" = f."campaign_id"
  WHERE f."hour" >= $1::timestamptz AND f."hour" < $2::timestamptz
  GROUP BY 1, 2
  UNION ALL
  SELECT cp."root_campaign_id", f."hour",
    0 AS "visits",
    coalesce(sum(f."clicks"), 0) AS "clicks",
    coalesce(sum(f."authorizations"), 0) AS "auths",
    0 AS "uniq_auths",
    0 AS "shown",
    0 AS "shares",
    0 AS "audience",
    coalesce(sum(f."clickbacks"), 0) AS "clickbacks"
  FROM "misc_facts_hourly" f JOIN (SELECT DISTINCT "campaign_id", "root_campaign_id" FROM "campaign_properties") cp ON cp."campaign_id" = f."campaign_id"
  WHERE f."hour" >= $1::timestamptz AND f."hour" < $2::timestamptz
  GROUP BY 1, 2
  UNION ALL
  SELECT cp."root_campaign_id", f."hour",
    0 AS "visits",
    0 AS "clicks",
    0 AS "auths",
    count(DISTINCT CASE WHEN f."fbids_authorized" > 0 THEN f."fbid" END) AS "uniq_auths",
    count(DISTINCT CASE WHEN f."fbids_shown_friends" > 0 THEN f."fbid" END) AS "shown",
    count(DISTINCT CASE WHEN f."fbids_shared" > 0 THEN f."fbid" END) AS "shares",
    0 AS "audience",
    0 AS "clickbacks"
  FROM "fbid_facts_hourly" f JOIN (SELECT DISTINCT "campaign_id", "root_campaign_id" FROM "campaign_properties") cp ON cp."campaign_id" = f."campaign_id"
  WHERE f."hour" >= $1::timestamptz AND f."hour" < $2::timestamptz
  GROUP BY 1, 2
  UNION ALL
  SELECT cp."root_campaign_id", f."hour",
    0 AS "visits",
    0 AS "clicks",
    0 AS "auths",
    0 AS "uniq_auths",
    0 AS "shown",
    0 AS "shares",
    count(DISTINCT CASE WHEN f."friends_shared_with" > 0 THEN f."friend_fbid" END) AS "audience",
    0 AS "clickbacks"
  FROM "friend_fbid_facts_hourly" f JOIN (SELECT DISTINCT "campaign_id", "root_campaign_id" FROM "campaign_properties") cp ON cp."campaign_id" = f."campaign_id"
  WHERE f."hour" >= $1::timestamptz AND f."hour" < $2::timestamptz
  GROUP BY 1, 2
) u
GROUP BY 1, 2
