/**
 * The books of a reference: the generation serving now, those still
 * draining, the snapshots `rollback()` steps back through, the history
 * `info()` and `history` describe, and the counters `stats()` reports. The
 * reference decides what to commit and when; recording it all in one place
 * keeps the history, the counters and the events from disagreeing.
 *
 * @module
 */

import type { Generation, RetireReport } from "./generation.ts";
import type { Isolation } from "./isolation.ts";
import type { Snapshot } from "./snapshot.ts";
import type { GenerationInfo, GenerationStats, HotswapStats } from "./stats.ts";
import type { Emit } from "./_listeners.ts";

/** History entries kept: `history` is for people and dashboards, not an archive. */
const HISTORY_LIMIT = 100;

/** What the books need to know of the reference's options. */
export interface LineageOptions {
  readonly isolation: Isolation;
  /** Snapshots kept: `rollbackDepth` plus the current one. */
  readonly rollbackDepth: number;
  readonly drainTimeout: number;
}

/** The counters of {@linkcode HotswapStats} the books keep. */
export type LineageCounts = Pick<HotswapStats, "calls" | "swaps" | "rollbacks" | "generations">;

/** The generations of one reference, in commit order; see the module doc. */
export class Lineage<T> {
  readonly #options: LineageOptions;
  readonly #emit: Emit;
  /** The last committed generation, also after close. */
  #current: Generation<T> | undefined;
  /** Generations committed and not yet retired (the current one and any draining). */
  readonly #live = new Set<Generation<T>>();
  readonly #retiring = new Set<Promise<RetireReport>>();
  /** Snapshots to roll back through; the current generation's is last. */
  readonly #snapshots: Snapshot[] = [];
  readonly #history: GenerationInfo[] = [];
  /** Calls of generations already retired, so `stats().calls` never goes down. */
  #retiredCalls = 0;
  #swaps = 0;
  #rollbacks = 0;

  /** @param emit Announces `swap`, `drain-timeout` and `retire`. */
  constructor(options: LineageOptions, emit: Emit) {
    this.#options = options;
    this.#emit = emit;
  }

  /** The last committed generation (also after close); `undefined` before the first. */
  get current(): Generation<T> | undefined {
    return this.#current;
  }

  /** The snapshot `rollback()` recommits: the one before the current generation's. */
  get previous(): Snapshot | undefined {
    return this.#snapshots.at(-2);
  }

  /** How many snapshots are kept, the current one's included. */
  get kept(): number {
    return this.#snapshots.length;
  }

  /** Records `incoming` as current, and announces the swap (not the first commit). */
  commit(incoming: Generation<T>, via: GenerationInfo["via"]): void {
    const outgoing = this.#current;
    this.#current = incoming;
    this.#live.add(incoming);
    if (via === "rollback") {
      // The generation rolled back from is dropped, so a second rollback goes further back.
      this.#snapshots.pop();
      this.#rollbacks++;
    } else {
      this.#snapshots.push(incoming.snapshot);
      if (this.#snapshots.length > this.#options.rollbackDepth) this.#snapshots.shift();
    }
    const { snapshot } = incoming;
    this.#history.push({
      generation: incoming.number,
      digest: incoming.digest,
      path: snapshot.entry,
      files: snapshot.files,
      isolation: this.#options.isolation,
      via,
      committedAt: incoming.loadedAt,
      ...(snapshot.provenance === undefined ? {} : { provenance: snapshot.provenance }),
    });
    if (this.#history.length > HISTORY_LIMIT) this.#history.shift();
    if (outgoing === undefined) return;
    this.#swaps++;
    this.#emit("swap", {
      from: outgoing.number,
      to: incoming.number,
      digest: incoming.digest,
      path: snapshot.entry,
      via: via === "rollback" ? "rollback" : "swap",
    });
  }

  /**
   * Drains, disposes and unloads `generation`, then records it as retired
   * and announces it. Never rejects.
   */
  retire(generation: Generation<T>): Promise<RetireReport> {
    const { drainTimeout } = this.#options;
    const retired = generation.retire(drainTimeout, () => {
      this.#emit("drain-timeout", {
        generation: generation.number,
        inflight: generation.inflight,
        drainTimeout,
      });
    }).then((report) => {
      this.#live.delete(generation);
      this.#retiredCalls += generation.calls;
      const entry = this.#history.find((info) => info.generation === generation.number);
      if (entry !== undefined) Object.assign(entry, { retiredAt: Date.now(), drained: report.drained });
      this.#emit("retire", report);
      return report;
    });
    this.#retiring.add(retired);
    const forget = () => this.#retiring.delete(retired);
    retired.then(forget, forget);
    return retired;
  }

  /** Retires the current generation, and settles once every retirement has. */
  async retireAll(): Promise<void> {
    const current = this.#current;
    if (current !== undefined && this.#live.has(current)) await this.retire(current);
    await Promise.all(this.#retiring);
  }

  /** Committed generations, oldest first, as copies. */
  history(): GenerationInfo[] {
    return this.#history.map((entry) => ({ ...entry }));
  }

  /** The current generation's entry, as a copy. */
  info(): GenerationInfo {
    return { ...this.#history.at(-1)! };
  }

  /** Calls of every generation so far, commits, and the live generations' counters. */
  counts(): LineageCounts {
    let calls = this.#retiredCalls;
    const generations: GenerationStats[] = [];
    for (const generation of this.#live) {
      calls += generation.calls;
      generations.push(generation.stats());
    }
    return { calls, swaps: this.#swaps, rollbacks: this.#rollbacks, generations };
  }
}
