/** hostReport(): what a follower reports, and the state it names. */

import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { type FollowerView, hostReport } from "../core/fleet/_host_report.ts";
import { NO_METRICS } from "../core/fleet/follower_options.ts";

const A = `sha256-${"A".repeat(43)}=`;
const B = `sha256-${"B".repeat(43)}=`;
const VIEW: FollowerView = {
  host: "h1",
  serving: A,
  wanted: A,
  refused: undefined,
  loading: false,
  metrics: { generation: 2, calls: 10, errors: 1, p50: 1, p99: 3 },
  interval: 1_000,
};

Deno.test("hostReport() carries the serving generation's figures", () => {
  deepStrictEqual(hostReport(VIEW, 42), {
    host: "h1",
    generation: 2,
    digest: A,
    desired: A,
    state: "serving",
    calls: 10,
    errors: 1,
    p50: 1,
    p99: 3,
    at: 42,
    interval: 1_000,
  });
});

Deno.test("hostReport() names the state: refused, loading, starting or serving", () => {
  const refused = { digest: B, code: "E_SIGNATURE", message: "unknown key" };
  strictEqual(hostReport({ ...VIEW, wanted: B, refused }, 0).state, "refused");
  strictEqual(hostReport({ ...VIEW, wanted: B, refused }, 0).refused, refused);
  strictEqual(hostReport({ ...VIEW, loading: true }, 0).state, "loading");
  strictEqual(hostReport({ ...VIEW, wanted: B }, 0).state, "loading");
  strictEqual(hostReport({ ...VIEW, serving: "", metrics: NO_METRICS }, 0).state, "starting");
  strictEqual(hostReport({ ...VIEW, wanted: undefined }, 0).desired, "");
  strictEqual(hostReport({ ...VIEW, wanted: undefined }, 0).state, "serving");
});
