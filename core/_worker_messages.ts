/**
 * Checks every message a generation worker sends before the host reads a
 * field of it. The worker runs code that may be hostile: it can post any
 * structured-cloneable value (`null`, wrong shapes, forged replies, errors
 * with a 2^29-character message). What passes comes back in the protocol's
 * types, with texts cut to a size the host can afford to print; what does not
 * is named, so the host can end that worker (SPEC 6.4).
 *
 * @module
 */

import { aKind, isHotswapErrorCode } from "./errors.ts";
import { escapeControls } from "./_escape_controls.ts";
import {
  MAX_AGGREGATED,
  MAX_ERROR_RECORDS,
  MAX_PROPS,
  MAX_WORKER_RESULT,
  type MemberDescriptor,
  RESERVED_PROPS,
  type SerializedError,
  type WorkerMessage,
} from "./_protocol.ts";

/** Longest message or name the host keeps from the worker; the rest is cut. */
const MAX_TEXT = 16 * 1024;
/** Longest stack the host keeps. */
const MAX_STACK = 64 * 1024;
/** Problems of a contract error the host keeps. */
const MAX_PROBLEMS = 256;
/** Nesting of a handle description, and of an error's causes. */
const MAX_DEPTH = 32;
/** Members of a handle description, all levels together. */
const MAX_MEMBERS = 100_000;

/** A message that passed, or what is wrong with it. */
export type CheckedMessage = { readonly ok: true; readonly message: WorkerMessage } | {
  readonly ok: false;
  readonly problem: string;
};

/**
 * Validates a message from a generation worker.
 *
 * @param data The `data` of the `message` event, as received.
 * @returns The message in the protocol's types, or the problem.
 */
export function checkWorkerMessage(data: unknown): CheckedMessage {
  try {
    return { ok: true, message: check(data) };
  } catch (error) {
    return {
      ok: false,
      problem: error instanceof ProtocolViolation ? error.message : "a message that cannot be read",
    };
  }
}

/**
 * What a generation sent that breaks the protocol; the host ends the
 * generation for it. Its message names what was received, as the
 * predicate of "the generation sent …". Thrown by the checks here and by
 * the hosts' own (`_pending_calls.ts`, `_process_host.ts`).
 */
export class ProtocolViolation extends Error {
  /** @param message What was received. */
  constructor(message: string) {
    super(message);
    this.name = "ProtocolViolation";
  }
}

function check(data: unknown): WorkerMessage {
  const message = record(data, "a message");
  switch (message.t) {
    case "ready":
      return { t: "ready" };
    case "loaded": {
      const hooks = record(message.hooks, "the hooks of a loaded reply");
      if (typeof hooks.handoff !== "boolean" || typeof hooks.dispose !== "boolean") {
        throw new ProtocolViolation("a loaded reply whose hooks are not booleans");
      }
      const budget = { members: 0 };
      return {
        t: "loaded",
        id: id(message.id),
        handle: descriptor(message.handle, 0, budget),
        hooks: { handoff: hooks.handoff, dispose: hooks.dispose },
      };
    }
    case "result":
      if (typeof message.encoded !== "string" || message.encoded.length > MAX_WORKER_RESULT) {
        throw new ProtocolViolation(
          typeof message.encoded === "string"
            ? `a result of ${message.encoded.length} characters, over the channel's ${MAX_WORKER_RESULT}`
            : "a result that is not encoded text",
        );
      }
      return { t: "result", id: id(message.id), encoded: message.encoded };
    case "error":
      return { t: "error", id: id(message.id), error: checkSerializedError(message.error) };
    case "exit":
      return { t: "exit", how: printable(message.how, MAX_TEXT, "the how of an exit message") };
    case "crash":
      return {
        t: "crash",
        what: printable(message.what, MAX_TEXT, "the what of a crash message"),
        where: message.where === undefined
          ? undefined
          : printable(message.where, MAX_TEXT, "the where of a crash message"),
      };
    default:
      throw new ProtocolViolation(`a message of unknown type ${describeType(message.t)}`);
  }
}

/**
 * Validates an error record and cuts its texts; also for records that come
 * by other channels than a message.
 *
 * @throws {ProtocolViolation} When it is not a valid record (the message names why).
 */
export function checkSerializedError(data: unknown): SerializedError {
  return serializedError(data, 0, { records: 0 });
}

/** Files a loaded process may name; more are ignored (they only improve messages). */
const MAX_FILES = 10_000;
/** Longest minted URL or file path of a loaded process's file list. */
const MAX_PATH = 4096;
/** A minted `blob:` URL (its UUID and all), or the `file:` URL of a module's file. */
const MINTED_NAME = /^(?:blob:\S+\/[0-9a-f-]{36}|file:\/\/\/.+)$/;

/** A process's `LOADED` payload, checked: the handle and hooks as in a worker's loaded reply, and its files. */
export interface CheckedLoadedPayload {
  readonly handle: MemberDescriptor;
  readonly hooks: { readonly handoff: boolean; readonly dispose: boolean };
  /** `[minted URL, file path]` pairs, at most 10,000. */
  readonly files: (readonly [string, string])[];
}

/**
 * Validates the decoded payload of a process's `LOADED` frame (see
 * `_process_protocol.ts`), answering request `id`.
 *
 * @throws {ProtocolViolation} When it is not a valid payload.
 */
export function checkLoadedPayload(data: unknown, id: number): CheckedLoadedPayload {
  const payload = record(data, "a loaded reply");
  const message = check({ t: "loaded", id, handle: payload.handle, hooks: payload.hooks });
  if (message.t !== "loaded") throw new ProtocolViolation("a loaded reply of another kind");
  if (!Array.isArray(payload.files)) throw new ProtocolViolation("a loaded reply without its file list");
  const files: [string, string][] = [];
  for (const pair of payload.files.slice(0, MAX_FILES)) {
    if (
      !Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" ||
      typeof pair[1] !== "string" ||
      pair[0].length === 0 || pair[0].length > MAX_PATH || pair[1].length > MAX_PATH
    ) {
      throw new ProtocolViolation("a loaded reply whose file list is not pairs of texts");
    }
    // What the process mints: a blob: URL, or a module's file: URL. Names are replaced by paths
    // in the texts the host shows, and a name that is not a URL would make those texts balloon.
    if (!MINTED_NAME.test(pair[0])) {
      throw new ProtocolViolation("a loaded reply whose file list names something other than a minted URL");
    }
    files.push([pair[0], pair[1]]);
  }
  return { handle: message.handle, hooks: message.hooks, files };
}

function serializedError(data: unknown, depth: number, budget: { records: number }): SerializedError {
  if (depth > MAX_DEPTH) throw new ProtocolViolation("an error whose causes nest too deep");
  // Aggregated errors make a tree, and structured cloning may share one record
  // among many places: counted, or a small message would take exponential time.
  if (++budget.records > MAX_ERROR_RECORDS) {
    throw new ProtocolViolation("an error record with too many causes or aggregated errors");
  }
  const fields = record(data, "an error record");
  const code = fields.code;
  if (code !== undefined && !isHotswapErrorCode(code)) {
    throw new ProtocolViolation("an error record with an unknown code");
  }
  const problems = fields.problems;
  if (problems !== undefined && !(Array.isArray(problems) && problems.every((p) => typeof p === "string"))) {
    throw new ProtocolViolation("an error record whose problems are not strings");
  }
  return {
    name: printable(fields.name, 256, "the name of an error record"),
    message: printable(fields.message, MAX_TEXT, "the message of an error record"),
    stack: fields.stack === undefined
      ? undefined
      : printable(fields.stack, MAX_STACK, "the stack of an error record"),
    code,
    path: fields.path === undefined
      ? undefined
      : printable(fields.path, MAX_TEXT, "the path of an error record"),
    problems: problems === undefined
      ? undefined
      : (problems as string[]).slice(0, MAX_PROBLEMS).map((problem) =>
        escapeControls(cut(problem, MAX_TEXT))
      ),
    cause: fields.cause === undefined ? undefined : serializedError(fields.cause, depth + 1, budget),
    errors: fields.errors === undefined ? undefined : aggregatedErrors(fields.errors, depth, budget),
    props: fields.props === undefined ? undefined : errorProps(fields.props),
    // Cut like every text: a cut one no longer parses, and the host falls back to the message.
    thrown: fields.thrown === undefined
      ? undefined
      : text(fields.thrown, MAX_TEXT, "the value of an error record"),
  };
}

/** The aggregated errors of an error record. */
function aggregatedErrors(data: unknown, depth: number, budget: { records: number }): SerializedError[] {
  if (!Array.isArray(data) || data.length > MAX_AGGREGATED) {
    throw new ProtocolViolation(`an error record whose errors are not a list of at most ${MAX_AGGREGATED}`);
  }
  return data.map((each) => serializedError(each, depth + 1, budget));
}

/** The own properties of an error record: primitives under names that change nothing, texts cut. */
function errorProps(data: unknown): Record<string, string | number | boolean | null> {
  const fields = record(data, "the properties of an error record");
  const keys = Object.keys(fields);
  if (keys.length > MAX_PROPS) throw new ProtocolViolation("an error record with too many properties");
  const props: Record<string, string | number | boolean | null> = {};
  for (const key of keys) {
    const value = fields[key];
    if (key.length > 256 || (RESERVED_PROPS.has(key) && key !== "code")) {
      throw new ProtocolViolation("an error record with a property it may not carry");
    }
    if (typeof value === "string") props[key] = escapeControls(cut(value, MAX_TEXT));
    else if (value === null || typeof value === "number" || typeof value === "boolean") props[key] = value;
    else throw new ProtocolViolation("an error record whose properties are not primitives");
  }
  return props;
}

function descriptor(data: unknown, depth: number, budget: { members: number }): MemberDescriptor {
  if (depth > MAX_DEPTH) throw new ProtocolViolation("a handle description that nests too deep");
  if (++budget.members > MAX_MEMBERS) {
    throw new ProtocolViolation("a handle description with too many members");
  }
  const member = record(data, "a member of a handle description");
  switch (member.kind) {
    case "value":
      return { kind: "value", value: member.value };
    case "function": {
      const index = member.index;
      if (typeof index !== "number" || !Number.isSafeInteger(index) || index < 0 || index >= MAX_MEMBERS) {
        throw new ProtocolViolation("a function member without a valid index");
      }
      return { kind: "function", index };
    }
    case "object": {
      const source = record(member.members, "the members of an object member");
      const members: Record<string, MemberDescriptor> = {};
      for (const key of Object.keys(source)) {
        // defineProperty, as "__proto__" must stay an own property.
        Object.defineProperty(members, key, {
          value: descriptor(source[key], depth + 1, budget),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return { kind: "object", members };
    }
    default:
      throw new ProtocolViolation(`a handle member of unknown kind ${describeType(member.kind)}`);
  }
}

/** A plain object (structured cloning makes every object plain; arrays do not count). */
function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProtocolViolation(
      `${what} that is ${aKind(value === null ? "null" : Array.isArray(value) ? "array" : typeof value)}`,
    );
  }
  return value as Record<string, unknown>;
}

function id(value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 0xffffffff) {
    throw new ProtocolViolation("a reply without a valid call id");
  }
  return value;
}

function text(value: unknown, limit: number, what: string): string {
  if (typeof value !== "string") throw new ProtocolViolation(`${what} that is not a string`);
  return cut(value, limit);
}

/** A text of an error record, cut, its control characters escaped: the host may print it. */
function printable(value: unknown, limit: number, what: string): string {
  return escapeControls(text(value, limit, what));
}

/**
 * Cuts a text the host keeps from a worker; a cut one says so, and how long it was.
 *
 * @param value The text.
 * @param limit Characters kept; 16 KiB, as for every text of a message, unless given.
 */
export function cut(value: string, limit: number = MAX_TEXT): string {
  return value.length <= limit
    ? value
    : `${value.slice(0, limit)}… (${value.length - limit} more characters cut)`;
}

function describeType(value: unknown): string {
  return typeof value === "string"
    ? JSON.stringify(cut(value, 64))
    : `(a ${value === null ? "null" : typeof value})`;
}
