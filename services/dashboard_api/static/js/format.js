// Numbers and times for people: thousands separators in the viewer's locale, times in the
// viewer's time zone with the UTC time beside them (the API speaks UTC only).

const intFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const localFormat = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  timeZoneName: "short",
});
const localSecondsFormat = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  second: "2-digit", timeZoneName: "short",
});
const localDayFormat = new Intl.DateTimeFormat(undefined, {
  weekday: "short", year: "numeric", month: "short", day: "numeric",
});

export const TIME_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
export const HOUR_MS = 3600 * 1000;
export const DAY_MS = 24 * HOUR_MS;

export function fmtInt(n) {
  return n === null || n === undefined ? "–" : intFormat.format(n);
}

export function fmtNumber(n, digits = 3) {
  if (n === null || n === undefined) return "–";
  return new Intl.NumberFormat(undefined, { maximumFractionDigits: digits }).format(n);
}

/** "2026-11-20T14:00:00Z": what the API takes. */
export function isoUtc(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** "2026-11-20 14:00 UTC" (with seconds: "2026-11-20 14:00:05 UTC"). */
export function fmtUtc(date, seconds = false) {
  return `${isoUtc(date).slice(0, seconds ? 19 : 16).replace("T", " ")} UTC`;
}

/** "Nov 20, 2026, 09:00 AM EST" (with seconds: "Nov 20, 2026, 09:00:05 AM EST"). */
export function fmtLocal(date, seconds = false) {
  return (seconds ? localSecondsFormat : localFormat).format(date);
}

/** "Nov 20, 2026, 09:00 AM EST (2026-11-20 14:00 UTC)". */
export function fmtBoth(date) {
  return `${fmtLocal(date)} (${fmtUtc(date)})`;
}

/** A UTC day (the API's daily buckets): "Fri, Nov 20, 2026 (UTC day)". */
export function fmtUtcDay(date) {
  const noon = new Date(date.getTime() + 12 * HOUR_MS);
  const day = new Intl.DateTimeFormat(undefined, {
    weekday: "short", year: "numeric", month: "short", day: "numeric", timeZone: "UTC",
  });
  return `${day.format(noon)} (UTC day)`;
}

export function fmtLocalDay(date) {
  return localDayFormat.format(date);
}

/** Seconds as "45 s", "3 min 20 s", "2 h 5 min", "3 d 4 h". */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${fmtInt(Math.floor(s / 86400))} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** A Date from the API's ISO text or epoch seconds; null for null. */
export function toDate(value) {
  if (value === null || value === undefined || value === "") return null;
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** "2026-11-20" of a date in the viewer's zone (the value of an <input type=date>). */
export function localDateValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** Local midnight of an <input type=date> value, `addDays` days later; null if invalid. */
export function localMidnight(value, addDays = 0) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || "");
  if (!m) return null;
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + addDays);
}

/** "2026-11-20T09:00" in the viewer's zone (the value of an <input type=datetime-local>). */
export function localDateTimeValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${localDateValue(date)}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** The last `days` days including today: [local midnight days-1 ago, next local midnight). */
export function lastDays(days, now = new Date()) {
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  return {
    start: new Date(today.getFullYear(), today.getMonth(), today.getDate() - (days - 1)),
    end: new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1),
  };
}
