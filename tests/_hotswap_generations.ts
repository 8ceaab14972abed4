/**
 * The generations the Hotswap property test (tests/hotswap_property_test.ts)
 * swaps between, and what its calls ask of them. Every good variant's handle
 * answers `run` with a label naming variant, generation number and handed-off
 * state, in the way the call asks (at once, thrown, through a promise or a
 * thenable held until the test settles it, or a value whose `then` throws);
 * each bad variant is refused with one code.
 *
 * @module
 */

import type { HotswapErrorCode } from "../mod.ts";
import type { Echo } from "./_fixtures.ts";

/** How a call asks the generation to answer. */
export type CallKind = "sync" | "throw" | "async" | "thenable" | "hostile";

/**
 * What the test passes to `run`: the kind, and a gate for the async kinds.
 * Worker mode cannot pass a promise: a held call is kept in the worker under
 * an id, and settled by calling `release(id, ok)` on the handle it started on.
 */
export interface CallInput {
  readonly kind: CallKind | "hold";
  readonly gate?: Promise<void>;
  readonly id?: number;
}

/** The handle of the test's generations: Echo plus the worker-mode release. */
export interface Held extends Echo {
  release(id: number, ok: boolean): unknown;
}

/** A generation module the program can swap to. */
export interface Variant {
  readonly name: string;
  readonly source: string | undefined;
  /** `undefined`: loads and commits; otherwise the code it is refused with. */
  readonly fails: HotswapErrorCode | undefined;
  /** Swapped to with this integrity pin. */
  readonly integrity?: string;
}

/** Handle factory of the good variants: the label names variant, number and handed-off state. */
function goodSource(name: string, wait: string, dispose: string): string {
  return `let number = 0;
const held = new Map<number, (ok: boolean) => void>();
export async function hs_echo(ctx: { generation: number; previous: unknown }) {
  ${wait}
  number = ctx.generation;
  const label = ${JSON.stringify(name)} + ":" + ctx.generation + ":" + String(ctx.previous);
  return {
    label,
    release(id: number, ok: boolean) {
      held.get(id)!(ok);
      held.delete(id);
    },
    run(input: { kind: string; gate?: Promise<void>; id?: number }) {
      switch (input.kind) {
        case "sync": return label;
        case "hold": return new Promise((resolve, reject) => {
          held.set(input.id!, (ok) => ok ? resolve(label) : reject(new Error(label)));
        });
        case "throw": throw new Error(label);
        case "async": return input.gate!.then(() => label, () => { throw new Error(label); });
        case "thenable": return {
          then(resolve: (v: unknown) => void, reject: (e: unknown) => void) {
            input.gate!.then(() => resolve(label), () => reject(new Error(label)));
          },
        };
        default: return { label, get then() { throw new Error("hostile then"); } };
      }
    },
  };
}
export function handoff() { return number; }
${dispose}`;
}

export const VARIANTS: readonly Variant[] = [
  { name: "sync", source: goodSource("sync", "", ""), fails: undefined },
  {
    name: "slow",
    source: goodSource("slow", "await new Promise((resolve) => setTimeout(resolve, 0));", ""),
    fails: undefined,
  },
  {
    name: "micro",
    source: goodSource(
      "micro",
      "await Promise.resolve();",
      "export async function dispose() { await Promise.resolve(); }",
    ),
    fails: undefined,
  },
  { name: "missing", source: undefined, fails: "E_NOT_FOUND" },
  { name: "syntax", source: `export const hs_echo = { label: "BAD", run: ( };`, fails: "E_IMPORT" },
  {
    name: "throws",
    source: `throw new Error("top level");\nexport const hs_echo = { label: "BAD", run: () => 0 };`,
    fails: "E_IMPORT",
  },
  { name: "symbol", source: `export const hs_ecco = { label: "BAD", run: () => 0 };`, fails: "E_SYMBOL" },
  { name: "contract", source: `export const hs_echo = { label: "BAD" };`, fails: "E_CONTRACT" },
  {
    name: "init",
    source: `export async function hs_echo() {
  await new Promise((resolve) => setTimeout(resolve, 0));
  throw new Error("factory");
}`,
    fails: "E_INIT",
  },
  {
    name: "pollutes",
    source: `export function hs_echo() {
  (Object.prototype as Record<string, unknown>).label = "BAD";
  return { run: () => 0 };
}`,
    fails: "E_INIT",
  },
  {
    name: "pinned",
    source: goodSource("pinned", "", ""),
    fails: "E_INTEGRITY",
    integrity: `sha256-${"A".repeat(43)}=`,
  },
];
