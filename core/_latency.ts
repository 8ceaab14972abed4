/**
 * Call latency per generation, cheap enough for `with()`: a log-scale
 * histogram (four buckets per doubling, 1 µs to about 134 s; a bucket is 19 %
 * wide, so a quantile is within about 9 % of its midpoint), and a sampler that decides which calls to time.
 *
 * Reading the clock costs about 100 ns here (`performance.now()`, measured on
 * Deno 2.9.6), several times a whole `with()` call, so calls are sampled:
 * `Generation.call` (under `with()`) times a call when the generation's call
 * count reaches the number {@linkcode LatencyHistogram.sampled} returned at
 * the last timed call, which spaces timed calls about
 * {@linkcode SAMPLE_SPACING_MS} apart: every call at a few hundred calls a
 * second, one in thousands under a benchmark loop. The hot path pays one
 * comparison.
 *
 * @module
 */

/** The spacing the sampler aims at between two timed calls. */
export const SAMPLE_SPACING_MS = 2;
const BUCKETS = 4 * 27;

/** A latency histogram; percentiles in milliseconds. */
export class LatencyHistogram {
  readonly #counts = new Uint32Array(BUCKETS);
  #total = 0;
  #stride = 1;
  #lastAt = 0;

  /** Latencies recorded. */
  get count(): number {
    return this.#total;
  }

  /** Records one latency, in milliseconds. */
  record(ms: number): void {
    const micros = ms * 1000;
    const bucket = micros <= 1 ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log2(micros) * 4));
    this.#counts[bucket]!++;
    this.#total++;
  }

  /**
   * Called as a timed call starts, with its call number and start time:
   * widens the stride while timed calls come faster than the spacing, and
   * narrows it while they come slower.
   *
   * @returns The call number to time next.
   */
  sampled(calls: number, now: number): number {
    const elapsed = now - this.#lastAt;
    this.#lastAt = now;
    if (elapsed < SAMPLE_SPACING_MS) this.#stride = Math.min(this.#stride * 2, 1 << 20);
    else if (elapsed > 2 * SAMPLE_SPACING_MS) this.#stride = Math.max(1, this.#stride >> 1);
    return calls + this.#stride;
  }

  /**
   * The latency below which `q` of the recorded calls fall (the bucket's upper bound).
   *
   * @param q A quantile, 0-1.
   * @returns Milliseconds; 0 when nothing was recorded.
   */
  quantile(q: number): number {
    if (this.#total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#total));
    let seen = 0;
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      seen += this.#counts[bucket]!;
      if (seen >= rank) return 2 ** ((bucket + 1) / 4) / 1000;
    }
    return 2 ** (BUCKETS / 4) / 1000;
  }
}
