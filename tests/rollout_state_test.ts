/** The pure transitions of a rollout: start, resume, advance, promote, abort. */

import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import {
  aborted,
  afterGate,
  existingStart,
  newRollout,
  pickId,
  promoted,
  runningRollout,
} from "../core/fleet/_rollout_state.ts";
import { inCanary } from "../core/fleet/canary.ts";
import type { GateDecision } from "../core/fleet/gate.ts";
import type { Settings } from "../core/fleet/rollout_options.ts";

const A = `sha256-${"A".repeat(43)}=`;
const B = `sha256-${"B".repeat(43)}=`;
const C = `sha256-${"C".repeat(43)}=`;
const SETTINGS: Settings = {
  steps: [10, 50, 100],
  bakeMs: 0,
  maxErrorRate: 0.01,
  maxP99Ms: undefined,
  progressDeadlineMs: 60_000,
};
const NOBODY = { hosts: [], calls: 0, errors: 0, errorRate: 0, p99: 0 };
const PASS: GateDecision = { verdict: "pass", canary: NOBODY, stable: NOBODY };

Deno.test("newRollout() starts at the first step, running, without a p99 limit unless set", () => {
  const rollout = newRollout(A, B, SETTINGS, "r1");
  strictEqual(rollout.step, 0);
  strictEqual(rollout.percent, 10);
  strictEqual(rollout.status, "running");
  ok(!("maxP99Ms" in rollout));
  strictEqual(newRollout(A, B, { ...SETTINGS, maxP99Ms: 50 }, "r1").maxP99Ms, 50);
});

Deno.test("existingStart() wants a new rollout on a stable channel, and refuses one without", () => {
  strictEqual(existingStart({ revision: 1, state: { stable: A } }, "app", B, SETTINGS), undefined);
  throws(() => existingStart(undefined, "app", B, SETTINGS), { code: "E_NOT_FOUND" });
  throws(() => existingStart({ revision: 1, state: {} }, "app", B, SETTINGS), { code: "E_NOT_FOUND" });
});

Deno.test("existingStart() resumes a rollout to the same candidate, refuses one to another", () => {
  const entry = { revision: 4, state: { stable: A, rollout: newRollout(A, B, SETTINGS, "r1") } };
  strictEqual(existingStart(entry, "app", B, SETTINGS), entry);
  throws(() => existingStart(entry, "app", C, SETTINGS), RangeError);
});

Deno.test("existingStart() sees a candidate already stable as a finished rollout", () => {
  const found = existingStart({ revision: 2, state: { stable: B } }, "app", B, SETTINGS);
  strictEqual(found?.revision, 2);
  strictEqual(found?.state.rollout?.status, "promoted");
  strictEqual(found?.state.rollout?.id, "already-stable");
});

Deno.test("afterGate() takes the next step, promotes after the last, aborts on an abort", () => {
  const rollout = newRollout(A, B, SETTINGS, "r1");
  const state = { stable: A, rollout };
  const next = afterGate(state, rollout, PASS, 5);
  deepStrictEqual([next.rollout?.step, next.rollout?.percent, next.rollout?.stepStartedAt], [1, 50, 5]);
  const last = { ...rollout, step: 2, percent: 100 };
  deepStrictEqual(afterGate(state, last, PASS, 6), promoted(last, "every step passed", 6));
  const abort: GateDecision = { verdict: "abort", reason: "too many errors", canary: NOBODY, stable: NOBODY };
  deepStrictEqual(afterGate(state, rollout, abort, 7), aborted(state, rollout, "too many errors", 7));
});

Deno.test("promoted() makes the candidate stable; aborted() keeps stable and sends the share to 0", () => {
  const rollout = newRollout(A, B, SETTINGS, "r1");
  const up = promoted(rollout, "by hand", 9);
  deepStrictEqual([up.stable, up.rollout?.status, up.rollout?.endedAt, up.rollout?.reason], [
    B,
    "promoted",
    9,
    "by hand",
  ]);
  const down = aborted({ stable: A, rollout }, rollout, "slow", 9);
  deepStrictEqual([down.stable, down.rollout?.status, down.rollout?.percent], [A, "aborted", 0]);
});

Deno.test("runningRollout() finds the running rollout, or says what the last one was", () => {
  const rollout = newRollout(A, B, SETTINGS, "r1");
  strictEqual(runningRollout({ rollout }, "app", "abort"), rollout);
  throws(() => runningRollout({}, "app", "abort"), /Cannot abort on "app": no rollout is running$/);
  throws(
    () => runningRollout({ rollout: { ...rollout, status: "promoted" } }, "app", "promote"),
    /was promoted\)/,
  );
});

Deno.test("pickId() draws an id whose first step has some live hosts in and some out", () => {
  const hosts = ["h1", "h2", "h3", "h4", "h5", "h6"];
  for (let i = 0; i < 20; i++) {
    const id = pickId(hosts, 34);
    const inside = hosts.filter((host) => inCanary(host, id, 34)).length;
    ok(inside > 0 && inside < hosts.length, `${inside} of ${hosts.length}`);
  }
});
