/**
 * The requests a host has sent to one generation (in a worker or a process)
 * and not yet seen answered: their ids, which answer each may get, the
 * `callTimeout` deadline of calls, and rejecting them all when the
 * generation ends.
 *
 * One table for both isolation modes, because the rules are the same and
 * are security rules (SPEC 6.4, 6.5): an answer nobody waits for, or of the
 * wrong kind, is a protocol violation for which the host ends the
 * generation, while the late answer to a call that timed out is dropped.
 * What differs is only what a timeout does (a worker goes on, a process is
 * killed), which each host passes in. The table stays bounded: entries leave
 * when answered, timed out or rejected, and the ids of timed-out calls are
 * capped.
 *
 * @module
 */

import { describeThrown, type HotswapError } from "./errors.ts";
import { GUEST_CODES, rebuildThrown, type SerializedError } from "./_protocol.ts";
import { ProtocolViolation } from "./_worker_messages.ts";

/** Call ids whose caller gave up (callTimeout) and whose late answer is still welcome. */
const MAX_LATE_IDS = 10_000;

/** What a request asks for: a load, a call of a handle member, or a control message (hook, abort). */
export type RequestKind = "load" | "call" | "control";

/** What an answer is: a loaded handle answers a load only; a result a call or control request; an error any. */
export type AnswerKind = "loaded" | "result" | "error";

/** How a request's answer settles the caller's promise. */
export interface Settle {
  resolve(value: unknown): void;
  reject(reason: unknown): void;
}

/**
 * A request waiting for its answer. It holds the settling functions, not
 * the promise: the caller keeps that (measured: a record that also held
 * the promise cost pipelined process calls about 15% more host CPU).
 */
export interface Pending extends Settle {
  readonly id: number;
  readonly kind: RequestKind;
  /** `performance.now()` past which a call times out; `Infinity` for no deadline. */
  readonly deadline: number;
}

/** The requests a host waits on, for one generation. */
export class PendingCalls {
  /** Calls, in the order they started: they share one timeout, so the first has the next deadline. */
  readonly #calls = new Map<number, Pending>();
  /** Loads and control requests: no deadline here (the Hotswap bounds them). */
  readonly #requests = new Map<number, Pending>();
  /** Ids of calls that timed out: their late answers are dropped, not violations. */
  readonly #late = new Set<number>();
  readonly #callTimeout: number | undefined;
  readonly #onTimeout: (call: Pending) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #nextId = 1;

  /**
   * @param callTimeout Milliseconds a call may take, or `undefined` for no limit.
   * @param onTimeout Settles a call that ran past it (already removed from the table).
   */
  constructor(callTimeout: number | undefined, onTimeout: (call: Pending) => void) {
    this.#callTimeout = callTimeout;
    this.#onTimeout = onTimeout;
  }

  /** Requests waiting, of every kind. */
  get size(): number {
    return this.#calls.size + this.#requests.size;
  }

  /**
   * Registers a new request under a fresh id.
   *
   * @param kind What it asks for; only calls get the callTimeout deadline.
   * @param settle Settles the caller's promise with the answer (`Promise.withResolvers()`).
   * @returns The request's id.
   */
  open(kind: RequestKind, settle: Settle): number {
    const id = this.#nextId;
    this.#nextId = id === 0xffffffff ? 1 : id + 1;
    const { resolve, reject } = settle;
    if (kind !== "call") {
      this.#requests.set(id, { id, kind, resolve, reject, deadline: Infinity });
      return id;
    }
    const timeout = this.#callTimeout;
    const deadline = timeout === undefined ? Infinity : performance.now() + timeout;
    this.#calls.set(id, { id, kind, resolve, reject, deadline });
    // One timer for all calls rather than one each: a call answered in
    // microseconds should not cost a timer, and the oldest call is the
    // next to expire. The timer may outlive the calls; it then does nothing.
    if (timeout !== undefined && this.#timer === undefined) this.#arm(timeout);
    return id;
  }

  /** Forgets a request that could not be sent, without settling it. */
  cancel(id: number): void {
    if (!this.#calls.delete(id)) this.#requests.delete(id);
  }

  /**
   * Takes the request an answer is for out of the table.
   *
   * @param id The id the answer names.
   * @param answer What kind of answer it is.
   * @param what How to name the answer in a violation ("a result").
   * @returns The request, or `undefined` for the late answer to a timed-out call (drop it).
   * @throws {ProtocolViolation} When nobody waits for `id`, or the request asked for another kind of answer.
   */
  take(id: number, answer: AnswerKind, what: string): Pending | undefined {
    const pending = this.#calls.get(id) ?? this.#requests.get(id);
    if (pending === undefined) {
      if (this.#late.delete(id)) return undefined;
      throw new ProtocolViolation(`${what} for request ${id}, which nobody is waiting for`);
    }
    if (answer === "loaded" ? pending.kind !== "load" : answer === "result" && pending.kind === "load") {
      throw new ProtocolViolation(`${what} for request ${id}, which asked for something else`);
    }
    (pending.kind === "call" ? this.#calls : this.#requests).delete(id);
    return pending;
  }

  /**
   * Resolves the call or control request a result answers.
   *
   * @throws {ProtocolViolation} As {@linkcode take}.
   */
  resolve(id: number, value: unknown, what: string): void {
    this.take(id, "result", what)?.resolve(value);
  }

  /**
   * Rejects the request an error answers, with the error rebuilt in this
   * realm. Rebuilt before the request is taken, so an error that cannot be
   * rebuilt leaves the request for the generation's end to reject.
   *
   * @param id The id the answer names.
   * @param fields The error as sent, already checked for shape.
   * @throws {ProtocolViolation} As {@linkcode take}, and when the error cannot be rebuilt.
   */
  reject(id: number, fields: SerializedError): void {
    const kind = (this.#calls.get(id) ?? this.#requests.get(id))?.kind;
    let error: unknown;
    try {
      error = rebuildThrown(fields, GUEST_CODES[kind ?? "value"]);
    } catch (failure) {
      throw new ProtocolViolation(`an error record the host cannot rebuild (${describeThrown(failure)})`);
    }
    this.take(id, "error", "an error")?.reject(error);
  }

  /** Rejects every request waiting with `reason` and forgets the late ids: the generation ended. */
  rejectAll(reason: HotswapError): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const pending = [...this.#calls.values(), ...this.#requests.values()];
    this.#calls.clear();
    this.#requests.clear();
    this.#late.clear();
    for (const request of pending) request.reject(reason);
  }

  #arm(delay: number): void {
    this.#timer = setTimeout(() => this.#expire(), delay);
  }

  /** Times out every call past its deadline, oldest first, then waits for the next one. */
  #expire(): void {
    this.#timer = undefined;
    for (;;) {
      const oldest = this.#calls.values().next();
      if (oldest.done) return;
      const call = oldest.value;
      const left = call.deadline - performance.now();
      if (left > 0) {
        this.#arm(left);
        return;
      }
      this.#calls.delete(call.id);
      if (this.#late.size < MAX_LATE_IDS) this.#late.add(call.id);
      // May end the generation (a process is killed), which empties the table and ends the loop.
      this.#onTimeout(call);
    }
  }
}
