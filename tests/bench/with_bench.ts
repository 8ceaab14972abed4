/**
 * with() against a direct call (sync) and a bare await (async), each pair in
 * one group so `deno bench` prints the ratio. The handle does a small piece
 * of real work (a rule lookup over a few fields), as a request handler would.
 *
 * Run: deno task bench
 */

import { defineContract, registerHotswap } from "../../mod.ts";

interface Rules {
  decide(order: { amount: number; country: string; tier: string }): string;
  decideAsync(order: { amount: number; country: string; tier: string }): Promise<string>;
}

const rules = defineContract<Rules>({
  name: "Rules",
  version: "1.0.0",
  symbol: "hs_rules",
  shape: { decide: "function", decideAsync: "function" },
});

const dir = await Deno.makeTempDir({ prefix: "hotswap_bench_" });
const entry = `${dir}/rules.ts`;
await Deno.writeTextFile(
  entry,
  `const limits: Record<string, number> = { gold: 5000, silver: 1000, bronze: 200 };
const blocked = new Set(["XX", "YY"]);
function decide(order: { amount: number; country: string; tier: string }): string {
  if (blocked.has(order.country)) return "deny";
  return order.amount <= (limits[order.tier] ?? 0) ? "allow" : "review";
}
export const hs_rules = { decide, decideAsync: async (order: { amount: number; country: string; tier: string }) => decide(order) };`,
);
const hot = await registerHotswap(rules, entry);
const handle = hot.with((h) => h);
const orders = Array.from({ length: 64 }, (_, i) => ({
  amount: (i * 137) % 6000,
  country: i % 9 === 0 ? "XX" : "FR",
  tier: ["gold", "silver", "bronze"][i % 3]!,
}));
let i = 0;
let sink = "";

Deno.bench("direct call", { group: "sync", baseline: true }, () => {
  sink = handle.decide(orders[i++ & 63]!);
});

Deno.bench("hot.with()", { group: "sync" }, () => {
  sink = hot.with((h) => h.decide(orders[i++ & 63]!));
});

Deno.bench("bare await", { group: "async", baseline: true }, async () => {
  sink = await handle.decideAsync(orders[i++ & 63]!);
});

Deno.bench("await hot.with()", { group: "async" }, async () => {
  sink = await hot.with((h) => h.decideAsync(orders[i++ & 63]!));
});

globalThis.addEventListener("unload", () => {
  if (sink === "never") console.log(sink);
  Deno.removeSync(dir, { recursive: true });
});
