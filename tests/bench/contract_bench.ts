/**
 * `contract.verify()` on the seed's contract and on a nested one: the check
 * every swap runs before a handle can be seen.
 *
 * Run: deno task bench
 */

import { defineContract } from "../../mod.ts";
import { soHandles } from "../../types/mod.ts";

interface Service {
  name: string;
  port: number;
  debug?: boolean;
  limits: { rps: number; burst: number; windows: number[] };
  handle(request: string): string;
  health(): boolean;
}

const service = defineContract<Service>({
  name: "Service",
  version: "1.0.0",
  symbol: "hs_service",
  shape: {
    name: "string",
    port: "number",
    debug: "boolean?",
    limits: { rps: "number", burst: "number", windows: "array" },
    handle: "function",
    health: "function",
  },
});

const seedHandle = { someData: "I live in a shared object", someFn: (_i: number) => {} };
const serviceHandle: Service = {
  name: "api",
  port: 8080,
  limits: { rps: 100, burst: 20, windows: [1, 10, 60] },
  handle: (request) => request,
  health: () => true,
};
const badHandle = { name: 1, port: "x", limits: { rps: "y" } };

Deno.bench("verify SOHandles (2 members)", { group: "contract.verify", baseline: true }, () => {
  soHandles.verify(seedHandle);
});

Deno.bench("verify a nested 8-member shape", { group: "contract.verify" }, () => {
  service.verify(serviceHandle);
});

Deno.bench("check a bad handle (7 problems listed)", { group: "contract.verify" }, () => {
  service.check(badHandle);
});
