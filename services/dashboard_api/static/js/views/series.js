// Turning an API series into chart buckets: every hour (or UTC day) of [start, end), with
// the API's points where it has them and 0 elsewhere (no facts means nothing happened).

import { DAY_MS, HOUR_MS } from "../format.js";

export function stepMs(granularity) {
  return granularity === "day" ? DAY_MS : HOUR_MS;
}

/** {times, index(point) -> bucket} for [start, end) in steps (buckets start on UTC boundaries). */
export function buckets(start, end, granularity) {
  const step = stepMs(granularity);
  const first = Math.floor(start.getTime() / step) * step;
  const times = [];
  for (let t = first; t < end.getTime(); t += step) times.push(new Date(t));
  return { times, index: (date) => Math.round((date.getTime() - first) / step) };
}

/** One chart line per metric key: values per bucket and the buckets the API returned. */
export function seriesLines(points, { times, index }, metrics) {
  return metrics.map((metric, i) => {
    const values = new Array(times.length).fill(0);
    const marked = [];
    for (const point of points) {
      const at = index(new Date(point.start));
      if (at < 0 || at >= times.length) continue;
      values[at] = point.metrics[metric.key];
      marked.push(at);
    }
    return { key: metric.key, label: metric.label, cls: `m${i}`, values, marked };
  });
}

const HOUR_STEPS = [1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720, 1440, 2160];
const DAY_STEPS = [1, 2, 7, 14, 30, 60, 90];

/**
 * The bucket indexes to label on the x axis, at most `maxCount`: whole local hours for
 * hourly charts (every 1, 2, 3, 6 or 12 h, or local midnights), every n-th UTC day for daily.
 */
export function timeTicks(times, granularity, maxCount) {
  if (times.length === 0) return [];
  const steps = granularity === "day" ? DAY_STEPS : HOUR_STEPS;
  const step = steps.find((n) => times.length / n <= maxCount) || Math.ceil(times.length / maxCount);
  const ticks = [];
  times.forEach((t, i) => {
    if (granularity === "day") {
      if (i % step === 0) ticks.push(i);
    } else if (step < 24 ? t.getHours() % step === 0 : t.getHours() === 0) {
      ticks.push(i);
    }
  });
  if (granularity !== "day" && step > 24) {
    const days = step / 24;
    return ticks.filter((_, k) => k % days === 0);
  }
  return ticks.length ? ticks : [0];
}
