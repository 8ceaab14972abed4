/**
 * The model of the Hotswap property test (tests/hotswap_property_test.ts):
 * what a reference must do, kept beside the real one. It learns nothing from
 * the runtime except when a queued swap is decided: the `swap` and `reject`
 * events, which the runtime dispatches in the same synchronous step as the
 * commit or refusal, and which are checked against the model's prediction
 * for the swap at the head of its queue. {@linkcode World.checkQuiescent}
 * holds the invariants that hold whenever the program pauses.
 *
 * @module
 */

import { ok, strictEqual } from "node:assert/strict";
import {
  type Hotswap,
  HotswapError,
  type HotswapErrorCode,
  type Isolation,
  type RetireReport,
  type SwapResult,
} from "../mod.ts";
import type { Echo } from "./_fixtures.ts";
import type { Variant } from "./_hotswap_generations.ts";

/** A promise the runtime handed out, and whether it has settled. */
export class Tracked<T> {
  settled = false;
  constructor(readonly promise: Promise<T>) {
    promise.then(() => this.settled = true, () => this.settled = true);
  }
}

/** A swap or rollback the model has queued, until its event decides it. */
export interface QueuedSwap {
  readonly kind: "swap" | "rollback";
  readonly variant: Variant | undefined;
  readonly tracked: Tracked<SwapResult>;
  /** Set by the event that decided it. */
  outcome?: { readonly generation: number; readonly digest: string } | { readonly code: HotswapErrorCode };
}

/** A call the program settles later. */
export interface OpenCall {
  readonly generation: number;
  readonly label: string;
  /** Lets the call resolve (or reject) with its label. */
  readonly release: (ok: boolean) => void;
  readonly result: Tracked<unknown>;
}

export interface Config {
  readonly isolation: Isolation;
  /** 1e6: drains are exact; 0 (inline only): a drain times out whenever a call is in flight. */
  readonly drainTimeout: number;
  readonly rollbackDepth: number | undefined;
}

/** The model and the real reference, side by side (fast-check's model and real are this one object). */
export class World {
  readonly hot: Hotswap<Echo>;
  readonly config: Config;
  readonly paths: ReadonlyMap<string, string>;
  /** Model: the generation serving and its variant. */
  current = 1;
  variant = "sync";
  /** Model: variant of each rollback snapshot, the current one last. */
  readonly stack: string[] = ["sync"];
  readonly digests = new Map<string, string>();
  closed = false;
  closing: Tracked<void> | undefined;
  nextCallId = 0;
  readonly queue: QueuedSwap[] = [];
  readonly decided: QueuedSwap[] = [];
  readonly pending = new Map<number, number>();
  readonly open: OpenCall[] = [];
  readonly results: Tracked<unknown>[] = [];
  readonly retired = new Map<number, Tracked<RetireReport>>();
  readonly drainTimeouts = new Set<number>();
  readonly reports = new Map<number, RetireReport>();
  calls = 0;
  swaps = 0;
  rejects = 0;
  rollbacks = 0;
  /** The first broken invariant seen inside an event listener (listeners cannot throw into the test). */
  broken: Error | undefined;

  constructor(hot: Hotswap<Echo>, config: Config, paths: ReadonlyMap<string, string>) {
    this.hot = hot;
    this.config = config;
    this.paths = paths;
    this.digests.set("sync", hot.digest);
    hot.addEventListener("swap", (event) => this.#guard(() => this.#onSwap(event.detail)));
    hot.addEventListener("reject", (event) => this.#guard(() => this.#onReject(event.detail.error)));
    hot.addEventListener("drain-timeout", (event) =>
      this.#guard(() => {
        const { generation, inflight } = event.detail;
        strictEqual(this.config.drainTimeout, 0, "a drain timed out with a huge drainTimeout");
        strictEqual(inflight, this.pendingOn(generation), `in flight on ${generation} at drain-timeout`);
        ok(inflight > 0);
        this.drainTimeouts.add(generation);
      }));
    hot.addEventListener("retire", (event) =>
      this.#guard(() => {
        const report = event.detail;
        ok(!this.reports.has(report.generation), `generation ${report.generation} retired twice`);
        ok(report.generation !== this.current || this.closed, "the serving generation retired");
        if (report.drained) strictEqual(this.pendingOn(report.generation), 0, "drained with calls in flight");
        else ok(this.drainTimeouts.has(report.generation), "not drained, yet no drain-timeout event");
        this.reports.set(report.generation, report);
      }));
  }

  pendingOn(generation: number): number {
    return this.pending.get(generation) ?? 0;
  }

  /** The label a call on the current generation must see. */
  expectedLabel(): string {
    return `${this.variant}:${this.current}:${this.current === 1 ? "undefined" : this.current - 1}`;
  }

  #guard(check: () => void): void {
    try {
      check();
    } catch (error) {
      this.broken ??= error as Error;
    }
  }

  #onSwap(detail: { from: number; to: number; digest: string; via: "swap" | "rollback" }): void {
    const head = this.queue.shift();
    ok(head !== undefined, `swap to ${detail.to} that nobody asked for`);
    strictEqual(detail.from, this.current);
    strictEqual(detail.to, this.current + 1, "generation numbers rise by one per commit");
    strictEqual(detail.via, head.kind);
    let variant: string;
    if (head.kind === "rollback") {
      ok(this.stack.length >= 2, "rollback committed with nothing to go back to");
      this.stack.pop();
      variant = this.stack.at(-1)!;
      this.rollbacks++;
    } else {
      ok(head.variant!.fails === undefined, `bad variant ${head.variant!.name} committed`);
      variant = head.variant!.name;
      this.stack.push(variant);
      if (this.stack.length > (this.config.rollbackDepth ?? 16) + 1) this.stack.shift();
    }
    const known = this.digests.get(variant);
    if (known === undefined) this.digests.set(variant, detail.digest);
    else strictEqual(detail.digest, known, `digest of ${variant}`);
    ok(!this.closed, "a generation committed after close()");
    this.current = detail.to;
    this.variant = variant;
    this.swaps++;
    head.outcome = { generation: detail.to, digest: detail.digest };
    this.decided.push(head);
  }

  #onReject(error: HotswapError): void {
    const head = this.queue.shift();
    ok(head !== undefined, `reject ${error.code} that nobody asked for`);
    // A rollback with nothing to go back to refuses no generation: no event (see enqueue).
    ok(head.kind === "swap", `a rollback fired a reject event: ${error.message}`);
    const expected = head.variant!.fails;
    ok(expected !== undefined, `good variant ${head.variant?.name} refused: ${error.message}`);
    strictEqual(error.code, expected, error.message);
    strictEqual(error.activeGeneration, this.current, "the error names the generation still active");
    this.rejects++;
    head.outcome = { code: error.code };
    this.decided.push(head);
  }

  /** Starts a swap (or rollback) the model predicts when its event comes. */
  enqueue(kind: "swap" | "rollback", variant: Variant | undefined): QueuedSwap {
    const promise = kind === "rollback" ? this.hot.rollback() : this.hot.swap(
      this.paths.get(variant!.name)!,
      variant!.integrity === undefined ? {} : { integrity: variant!.integrity },
    );
    const entry: QueuedSwap = { kind, variant, tracked: new Tracked(promise) };
    this.queue.push(entry);
    promise.then((result) => {
      // The old generation's retired promise, known once the swap resolves.
      this.retired.set(result.generation - 1, new Tracked(result.retired));
    }, (error) => {
      if (entry.outcome === undefined && kind === "rollback" && error?.code === "E_NOT_FOUND") {
        // Nothing to go back to: decided now, in queue order, with no event and no count.
        this.#guard(() => {
          strictEqual(this.queue[0], entry, "a rollback refused out of order");
          ok(this.stack.length < 2, "rollback refused with a snapshot to go back to");
          strictEqual(error.activeGeneration, this.current, "the error names the generation still active");
        });
        entry.outcome = { code: error.code };
        this.decided.push(entry);
      }
      // Refused as closed, with no event: it leaves the queue here (settleSwap checks the code).
      const at = this.queue.indexOf(entry);
      if (at !== -1 && (entry.outcome === undefined || "code" in entry.outcome)) this.queue.splice(at, 1);
    });
    return entry;
  }

  /** Checks a swap's settlement against what its event decided. */
  async settleSwap(entry: QueuedSwap): Promise<void> {
    try {
      const result = await entry.tracked.promise;
      const outcome = entry.outcome;
      ok(outcome !== undefined && "generation" in outcome, "swap resolved without its commit event");
      strictEqual(result.generation, outcome.generation);
      strictEqual(result.digest, outcome.digest);
    } catch (error) {
      ok(error instanceof HotswapError, `swap rejected with ${String(error)}`);
      if (entry.outcome === undefined) {
        strictEqual(error.code, "E_CLOSED", `undecided swap rejected with ${error.code}: ${error.message}`);
        ok(this.closed, "E_CLOSED before close()");
        strictEqual(error.activeGeneration, undefined);
        const at = this.queue.indexOf(entry);
        if (at !== -1) this.queue.splice(at, 1);
      } else {
        ok("code" in entry.outcome, "swap rejected after its commit event");
        strictEqual(error.code, entry.outcome.code);
      }
    }
  }

  /** Checks that hold whenever the program pauses between commands. */
  checkQuiescent(): void {
    if (this.broken) throw this.broken;
    strictEqual(this.hot.generation, this.current);
    strictEqual(this.hot.digest, this.digests.get(this.variant));
    const stats = this.hot.stats();
    strictEqual(stats.calls, this.calls, "calls");
    strictEqual(stats.swaps, this.swaps, "swaps");
    strictEqual(stats.rejects, this.rejects, "rejects");
    strictEqual(stats.rollbacks, this.rollbacks, "rollbacks");
    for (const live of stats.generations) {
      if (this.config.drainTimeout !== 0 || !this.reports.has(live.generation)) {
        strictEqual(live.inflight, this.pendingOn(live.generation), `in flight on ${live.generation}`);
      }
    }
    if (this.config.drainTimeout !== 0) {
      // Exact drains: a generation's retired settles exactly when its last call
      // has. Inline, within the same event-loop turn; a worker's retirement
      // also waits for dispose() and the end of the worker, so there only
      // "never before" is checked here, and "eventually" at the end.
      for (const [generation, retired] of this.retired) {
        const pending = this.pendingOn(generation);
        if (pending > 0) {
          strictEqual(retired.settled, false, `retired of ${generation} with ${pending} calls in flight`);
        } else if (this.config.isolation === "inline") {
          ok(retired.settled, `retired of ${generation} drained, not settled`);
        }
      }
    }
    if (this.closing?.settled) {
      // close() drains for up to drainTimeout, like any retire.
      if (this.config.drainTimeout !== 0) {
        strictEqual(this.open.length, 0, "close() settled with calls in flight");
      }
      strictEqual(this.queue.length, 0, "close() settled with swaps undecided");
    }
  }
}
