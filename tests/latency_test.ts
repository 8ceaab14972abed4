/**
 * `LatencyHistogram` (core/_latency.ts): a log-scale histogram with four
 * buckets per doubling, whose quantiles are a bucket's upper bound, and the
 * sampler that widens or narrows the stride between timed calls around
 * {@linkcode SAMPLE_SPACING_MS}.
 *
 * @module
 */

import { ok, strictEqual } from "node:assert/strict";
import { LatencyHistogram, SAMPLE_SPACING_MS } from "../core/_latency.ts";

/** Width of one bucket: four per doubling. */
const STEP = 2 ** (1 / 4);

Deno.test("LatencyHistogram.count counts recorded latencies; quantile() is 0 before any", () => {
  const histogram = new LatencyHistogram();
  strictEqual(histogram.count, 0);
  strictEqual(histogram.quantile(0.5), 0);
  strictEqual(histogram.quantile(0.99), 0);
  histogram.record(1);
  histogram.record(2);
  strictEqual(histogram.count, 2);
});

Deno.test("LatencyHistogram.quantile() of one latency is its bucket's upper bound, within one bucket", () => {
  for (const ms of [0.0015, 0.01, 0.1, 0.5, 1, 3.3, 10, 250, 1_000, 30_000]) {
    const histogram = new LatencyHistogram();
    histogram.record(ms);
    const reported = histogram.quantile(0.5);
    ok(reported >= ms, `${ms} ms is reported as ${reported} ms, below it`);
    ok(reported < ms * STEP, `${ms} ms is reported as ${reported} ms, more than one bucket above`);
  }
});

Deno.test("LatencyHistogram.record() puts 1 µs and less (zero, negative) in the first bucket", () => {
  for (const ms of [0.001, 0.0005, 0, -3]) {
    const histogram = new LatencyHistogram();
    histogram.record(ms);
    strictEqual(histogram.quantile(1), STEP / 1000, `${ms} ms`);
  }
});

Deno.test("LatencyHistogram.record() clamps latencies past the last bucket into it", () => {
  const histogram = new LatencyHistogram();
  histogram.record(10 * 60_000);
  histogram.record(Infinity);
  // 4 × 27 buckets: the last one's upper bound is 2^27 µs.
  strictEqual(histogram.quantile(0.5), 2 ** 27 / 1000);
  strictEqual(histogram.quantile(1), 2 ** 27 / 1000);
  strictEqual(histogram.count, 2);
});

Deno.test("LatencyHistogram.quantile() ranks by count: p50 and p99 of 99 fast calls and one slow one", () => {
  const histogram = new LatencyHistogram();
  for (let i = 0; i < 99; i++) histogram.record(1);
  histogram.record(100);
  const fast = histogram.quantile(0.5);
  ok(fast >= 1 && fast < STEP);
  strictEqual(histogram.quantile(0.99), fast, "the 99th of 100 is still a fast call");
  const slowest = histogram.quantile(1);
  ok(slowest >= 100 && slowest < 100 * STEP);
  strictEqual(histogram.quantile(0), fast, "q = 0 reports the fastest bucket, not 0");
});

Deno.test("LatencyHistogram.sampled() keeps a stride of 1 while timed calls come slower than the spacing", () => {
  const histogram = new LatencyHistogram();
  let now = 1_000;
  strictEqual(histogram.sampled(1, now), 2);
  now += 3 * SAMPLE_SPACING_MS;
  strictEqual(histogram.sampled(2, now), 3, "the stride never goes below 1");
});

Deno.test("LatencyHistogram.sampled() doubles the stride while timed calls come faster than the spacing", () => {
  const histogram = new LatencyHistogram();
  let now = 1_000;
  strictEqual(histogram.sampled(1, now), 2);
  now += SAMPLE_SPACING_MS / 4;
  strictEqual(histogram.sampled(2, now), 4);
  now += SAMPLE_SPACING_MS / 4;
  strictEqual(histogram.sampled(4, now), 8);
  // Between one and two spacings: the stride holds.
  now += 1.5 * SAMPLE_SPACING_MS;
  strictEqual(histogram.sampled(8, now), 12);
  // Slower than two spacings: it halves.
  now += 3 * SAMPLE_SPACING_MS;
  strictEqual(histogram.sampled(12, now), 14);
});

Deno.test("LatencyHistogram.sampled() caps the stride at 2^20 calls", () => {
  const histogram = new LatencyHistogram();
  let next = 0;
  for (let i = 0; i < 40; i++) next = histogram.sampled(0, 5);
  strictEqual(next, 2 ** 20);
});
