/**
 * The program a generation worker runs: a {@linkcode Guest} (shared with
 * process isolation) imports the generation's minted snapshot, resolves,
 * verifies and describes the handle, and invokes its members; this program
 * is the worker transport around it, answering calls from the shared-memory
 * ring and from messages, in the order the host sent them.
 *
 * It runs with only the permissions granted to the generation and imports
 * nothing host-only.
 *
 * @module
 */

import { Guest, uncopiedResult } from "./_guest.ts";
import { guardErrorListeners } from "./_error_listeners.ts";
import { encodeWithin } from "./_codec_encoder.ts";
import { type HostMessage, MAX_WORKER_RESULT, type PostedWorkerMessage } from "./_protocol.ts";
import { OP_MESSAGE, OP_RESULT, RingReader, RingWriter } from "./_rpc_channel.ts";
import { lockDown, lockNodeBuiltins } from "./_worker_lockdown.ts";
import { nameFiles, nameFrames } from "./_stack_format.ts";

/** The parts of the worker global scope this program uses. */
interface WorkerScope {
  postMessage(message: PostedWorkerMessage): void;
  addEventListener(type: "message", listener: (event: MessageEvent<HostMessage>) => void): void;
  close(): void;
}

/**
 * How long the worker spins on the request ring before it sleeps. A sleeping
 * worker costs the caller a thread wake-up (tens of microseconds); a caller
 * that sends its next call right after an answer finds it still spinning.
 * Between rounds the worker yields to microtasks, so calls that finish
 * asynchronously answer without waiting for the spin to end. In all about
 * 20 µs of one core per burst of calls.
 */
const SPIN_ROUNDS = 8;
const SPIN_CHECKS = 500;

const scope = globalThis as unknown as WorkerScope;
// Captured before the generation loads, which then finds postMessage locked
// (see `lockDown`): its messages could only be forged ones, or a flood.
const post: WorkerScope["postMessage"] = scope.postMessage.bind(scope);
/** Ends the worker; captured before `reportExits` makes `close()` announce itself. */
const end: () => void = scope.close.bind(scope);
/** A timer of the runtime's own: a generation may replace the global one. */
const afterATurn = setTimeout;
/** Whether an uncaught error or unhandled rejection is ending the worker. */
let crashed = false;
let requests: RingReader | undefined;
let responses: RingWriter | undefined;
/** Messages that arrived before their marker record; handled when the ring reaches it. */
const posted = new Map<number, HostMessage>();
let messageArrived: PromiseWithResolvers<void> | undefined;
const guest = new Guest(
  { succeed, fail: (id, error) => post({ t: "error", id, error }) },
  (value) => {
    // Copied as the codec's text, which counts a string once per reference to
    // it, as cloning would copy it: a data member of a few MiB could be
    // gigabytes by the time it is copied. What is measured here is what is sent.
    encodeWithinChannel(value, "it");
  },
);

scope.addEventListener("message", (event) => {
  const message = event.data;
  if (message.t === "init") {
    requests = new RingReader(message.buffer, "request");
    responses = new RingWriter(message.buffer, "response");
    reportExits();
    reportCrashes();
    // Before any generation code: what would reach the host is taken away.
    lockDown();
    post({ t: "ready" });
    serve().catch((error) => {
      // A generation that wrote over the shared ring (it lives in this realm) lands here, as would a bug of
      // this program: reported as a crash, which the host names, then ended, not as the generation's close().
      crashed = true;
      try {
        post({
          t: "crash",
          what: `the runtime's call loop failed (the generation may have written over its call channel): ${
            String(error).slice(0, CRASH_TEXT)
          }`,
          where: undefined,
        });
      } catch { /* the host learns it from the missing answers then */ }
      end();
    });
    return;
  }
  posted.set(message.id, message);
  messageArrived?.resolve();
});

/** Handles requests for the life of the worker, sleeping when there are none. */
async function serve(): Promise<void> {
  const ring = requests!;
  for (;;) {
    if (!drain(ring)) {
      // The ring's next record stands for a message still in transit.
      messageArrived = Promise.withResolvers<void>();
      await messageArrived.promise;
      messageArrived = undefined;
      continue;
    }
    let arrived = false;
    for (let round = 0; round < SPIN_ROUNDS && !arrived; round++) {
      await null;
      arrived = ring.spin(SPIN_CHECKS);
    }
    if (arrived) continue;
    const sleep = ring.sleep();
    if (sleep !== undefined) await sleep;
  }
}

/**
 * Handles every published request in order.
 *
 * @returns `false` when stopped at a marker whose message has not arrived.
 */
function drain(ring: RingReader): boolean {
  while (ring.available) {
    const id = ring.id();
    const op = ring.op();
    if (op === OP_MESSAGE) {
      const message = posted.get(id);
      if (message === undefined) return false;
      posted.delete(id);
      ring.advance();
      handle(message);
    } else {
      const args = ring.payload();
      ring.advance();
      guest.invoke(id, op, args as readonly unknown[]);
    }
  }
  return true;
}

function handle(message: HostMessage): void {
  switch (message.t) {
    case "call":
      guest.invoke(message.id, message.member, message.args);
      return;
    case "load":
      load(message).catch((error) => guest.fail(message.id, error));
      return;
    case "hook":
      guest.hook(message.id, message.name);
      return;
    case "abort":
      guest.abort(message.reason);
      succeed(message.id, undefined);
      return;
    case "init":
      return;
  }
}

function succeed(id: number, value: unknown): void {
  if (responses!.write(id, OP_RESULT, value)) return;
  let encoded: string;
  try {
    encoded = encodeWithinChannel(value, "The call's result");
  } catch (error) {
    // A result that cannot be copied rejects the call with the error that says why.
    guest.fail(id, uncopiedResult(error));
    return;
  }
  post({ t: "result", id, encoded });
}

/**
 * `value` as the codec's text (as `encodeValue` in `_codec.ts` writes it,
 * without importing the decoder, which only the host needs).
 *
 * @throws {RangeError} When it is longer than the channel carries, naming `what`:
 *   measured before it is encoded when its strings and buffers alone are.
 */
function encodeWithinChannel(value: unknown, what: string): string {
  const encoded = value === undefined ? "" : encodeWithin(value, MAX_WORKER_RESULT);
  if (typeof encoded === "string" && encoded.length <= MAX_WORKER_RESULT) return encoded;
  const size = typeof encoded === "string"
    ? `${Math.ceil(encoded.length / 1024 / 1024)} MiB`
    : `at least ${Math.floor(encoded / 1024 / 1024)} MiB`;
  throw new RangeError(
    `${what} is ${size} encoded, over the worker channel's limit of ${
      MAX_WORKER_RESULT / 1024 / 1024
    } MiB; return less, or return it in parts over several calls`,
  );
}

async function load(message: Extract<HostMessage, { t: "load" }>): Promise<void> {
  const files = new Map(message.files);
  // Before any of its code runs: stacks it logs name its files, not blob: URLs; and what it
  // imports from outside could reach Node's process without reading globalThis.process.
  nameFrames(files, new Map(message.shifts));
  if (message.externals) lockNodeBuiltins();
  const loaded = await guest.load({ ...message, files });
  // One turn of the event loop before the answer: a rejection the load left
  // unhandled, or a 0 ms timer it set that throws, ends the worker now (see
  // `reportCrashes`), and the swap is refused; answered at once, the host
  // would commit a generation whose worker is about to end.
  await new Promise((resolve) => afterATurn(resolve, 0));
  if (crashed) return;
  post({
    t: "loaded",
    id: message.id,
    encoded: encodeWithinChannel({ handle: loaded.handle, hooks: loaded.hooks }, "The handle's description"),
  });
}

/** Longest text of a crash the worker sends: the host cuts its messages to this too. */
const CRASH_TEXT = 16 * 1024;

/**
 * An error nobody caught, or a rejection nobody handled, ends the worker as
 * Deno would end it, but the host hears of it from this program: Deno would
 * also print it on the host's stderr, as if the host had crashed, with its
 * frames at `blob:` URLs. Listening first, before any generation code, and
 * for the worker's whole life.
 */
function reportCrashes(): void {
  const crash = (what: string, where: string | undefined) => {
    // One report: a listener's throw while an error is dispatched would make a second.
    if (crashed) return;
    crashed = true;
    try {
      post({ t: "crash", what: what.slice(0, CRASH_TEXT), where: where?.slice(0, CRASH_TEXT) });
    } catch { /* the host learns it from the missing answers then */ }
    end();
  };
  globalThis.addEventListener("error", (event) => {
    if (handledByGeneration(event)) return;
    const where = typeof event.filename === "string" && event.filename !== ""
      ? nameFiles(`${event.filename}:${event.lineno}:${event.colno}`)
      : undefined;
    const what = `Uncaught ${uncaughtText(event.error, event.message)}`;
    queueMicrotask(() => {
      if (!generationHandled.has(event)) crash(what, where);
    });
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    if (handledByGeneration(event)) return;
    const what = `Uncaught (in promise) ${uncaughtText(event.reason, undefined)}`;
    const where = thrownAt(event.reason);
    queueMicrotask(() => {
      if (!generationHandled.has(event)) crash(what, where);
    });
  });
  // Listened first, guarded after: the generation's own listeners that throw are crashes too (see `_error_listeners.ts`).
  guardErrorListeners((thrown) => crash(`Uncaught ${uncaughtText(thrown, undefined)}`, thrownAt(thrown)));
}

/** Events a listener of the generation's cancelled: it handled the error itself, as Deno lets it. */
const generationHandled = new WeakSet<Event>();

/**
 * Cancels Deno's report of `event` (this listener runs first), and notes
 * whether a listener of the generation cancels it too, by the same call,
 * while the event is dispatched: it then handled the error, and the worker
 * goes on as it would without the runtime. `false` unless already cancelled.
 */
function handledByGeneration(event: Event): boolean {
  if (event.defaultPrevented) return true;
  const cancel = Event.prototype.preventDefault;
  cancel.call(event);
  try {
    Object.defineProperty(event, "preventDefault", {
      value: () => {
        generationHandled.add(event);
        cancel.call(event);
      },
      configurable: true,
    });
  } catch { /* not replaceable: every uncaught error then ends the worker */ }
  return false;
}

/**
 * `Name: message` of what a generation threw, read defensively (its getters
 * are the generation's), the whole message cut before anything is built
 * from it (`errors.ts`'s `describeThrown` keeps a first line of any length).
 */
function uncaughtText(thrown: unknown, fallback: string | undefined): string {
  try {
    if (thrown instanceof Error) {
      const message = String(thrown.message).slice(0, CRASH_TEXT);
      return message === "" ? String(thrown.name) : `${String(thrown.name)}: ${message}`;
    }
    if (thrown === undefined && fallback !== undefined) return fallback.replace(/^Uncaught /, "");
    return String(thrown).slice(0, CRASH_TEXT);
  } catch {
    return fallback ?? "a value that cannot be described";
  }
}

/** Where an error was thrown: its stack's first frame, as `file:line:column`. */
function thrownAt(thrown: unknown): string | undefined {
  try {
    if (!(thrown instanceof Error)) return undefined;
    const frame = /\n\s+at (?:.*\()?(.+?:\d+:\d+)\)?$/m.exec(String(thrown.stack))?.[1];
    return frame === undefined ? undefined : nameFiles(frame);
  } catch {
    return undefined;
  }
}

/**
 * `close()` and `Deno.exit()` end a worker without any event on the host:
 * tell the host first, so calls pending there reject instead of hanging.
 */
function reportExits(): void {
  const close = scope.close.bind(scope);
  const announce = (how: string) => {
    try {
      post({ t: "exit", how: how.slice(0, CRASH_TEXT) });
    } catch { /* the host learns it from the missing answers then */ }
  };
  try {
    Object.defineProperty(globalThis, "close", {
      value: () => {
        announce("close()");
        close();
      },
      // Not configurable: a generation must not silence its own exit.
      configurable: false,
      writable: false,
    });
  } catch { /* not replaceable: the drain timeout still bounds the wait */ }
  const exit = Deno.exit.bind(Deno);
  try {
    Object.defineProperty(Deno, "exit", {
      value: (code?: number) => {
        // A code that is no number is named by its type: its own text could be anything, of any size.
        announce(`Deno.exit(${typeof code === "number" ? code : code === undefined ? "" : typeof code})`);
        return exit(code);
      },
      configurable: false,
      writable: false,
    });
  } catch { /* as above */ }
}
