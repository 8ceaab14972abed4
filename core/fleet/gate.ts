/**
 * The rollout gate: one pure function from a rollout step and the hosts'
 * reports to a verdict, so the decision that sends a fleet back to stable is
 * tested without a fleet.
 *
 * The stable hosts are the baseline (as in Kayenta-style canary analysis):
 * a candidate is blamed only for what it does worse than stable. It fails
 * when its error rate is above `maxErrorRate` and above the stable hosts'
 * rate, or its p99 above `maxP99Ms` and above theirs; any host refusing the
 * candidate (a bad signature, a broken module) fails it at once, bake or not,
 * and so does a host that went silent during the rollout while in the canary
 * or on the candidate (it crashed, hung, or lost the store): a canary that
 * kills its hosts must not pass for want of their reports, so the canary is
 * judged only on reports its hosts made after the bake ended.
 * Canary hosts that have not loaded it make the gate wait, up to the
 * progress deadline (Kubernetes' `progressDeadlineSeconds`).
 *
 * @module
 */

import type { HostReport, RolloutState } from "../store/store.ts";
import { inCanary } from "./canary.ts";

/** What a cohort of hosts did, summed from their reports. */
export interface CohortSummary {
  /** The hosts' ids. */
  readonly hosts: readonly string[];
  /** Calls on the cohort's generation. */
  readonly calls: number;
  /** Calls that threw or rejected. */
  readonly errors: number;
  /** `errors / calls`, 0 without calls. */
  readonly errorRate: number;
  /** The highest p99 among the hosts, in ms. */
  readonly p99: number;
}

/** The gate's verdict on a step. */
export type GateDecision =
  | {
    /** Not yet: hosts still loading, or the bake time not over. */
    readonly verdict: "wait";
    /** Why, for the operator. */
    readonly reason: string;
    /** The canary's figures so far. */
    readonly canary: CohortSummary;
    /** The stable hosts' figures. */
    readonly stable: CohortSummary;
  }
  | {
    /** The step succeeded: next step, or promote after the last. */
    readonly verdict: "pass";
    /** The canary's figures. */
    readonly canary: CohortSummary;
    /** The stable hosts' figures. */
    readonly stable: CohortSummary;
  }
  | {
    /** The candidate failed: every host goes back to stable. */
    readonly verdict: "abort";
    /** Why, for the operator. */
    readonly reason: string;
    /** The canary's figures. */
    readonly canary: CohortSummary;
    /** The stable hosts' figures. */
    readonly stable: CohortSummary;
  };

/**
 * Whether a report is recent enough to count: a host that missed three
 * reports (and two seconds of slack for clocks) is taken to be gone.
 *
 * @param report A host's last report.
 * @param now The current time (epoch ms).
 * @returns `true` while the host counts.
 *
 * @example A host that reports every second is gone after 5 s of silence
 * ```ts
 * import { isLive } from "@hotswap/runtime/fleet";
 * import { strictEqual } from "node:assert/strict";
 *
 * const report = {
 *   host: "h1", generation: 1, digest: "", desired: "", state: "starting" as const,
 *   calls: 0, errors: 0, p50: 0, p99: 0, at: 0, interval: 1_000,
 * };
 * strictEqual(isLive(report, 5_000), true);
 * strictEqual(isLive(report, 5_001), false);
 * ```
 */
export function isLive(report: HostReport, now: number): boolean {
  return report.at + 3 * report.interval + 2_000 >= now;
}

/**
 * Judges the running step of `rollout` from the hosts' reports.
 *
 * @param rollout The rollout, as stored.
 * @param reports Every host's last report on the channel.
 * @param now The current time (epoch ms).
 * @returns Wait, pass, or abort with the reason.
 *
 * @example A canary failing one call in five is stopped
 * ```ts
 * import { judge } from "@hotswap/runtime/fleet";
 * import { strictEqual } from "node:assert/strict";
 *
 * const to = "sha256-" + "B".repeat(43) + "=", from = "sha256-" + "A".repeat(43) + "=";
 * const rollout = {
 *   id: "r1", to, from, steps: [100], step: 0, percent: 100, status: "running" as const, bakeMs: 0,
 *   maxErrorRate: 0.01, progressDeadlineMs: 60_000, startedAt: 0, stepStartedAt: 0,
 * };
 * const report = {
 *   host: "h1", generation: 2, digest: to, desired: to, state: "serving" as const,
 *   calls: 100, errors: 20, p50: 1, p99: 2, at: 1_000, interval: 1_000,
 * };
 * strictEqual(judge(rollout, [report], 1_000).verdict, "abort");
 * ```
 */
export function judge(rollout: RolloutState, reports: readonly HostReport[], now: number): GateDecision {
  const live = reports.filter((report) => isLive(report, now));
  const canaryReports = live.filter((report) => inCanary(report.host, rollout.id, rollout.percent));
  const stableReports = live.filter((report) =>
    !inCanary(report.host, rollout.id, rollout.percent) && report.digest === rollout.from
  );
  const onCandidate = canaryReports.filter((report) => report.digest === rollout.to);
  const canary = summarize(onCandidate);
  const stable = summarize(stableReports);

  // A refusal reported before this rollout began (of an earlier one, to the same digest) is no
  // verdict on this one: the host tries the candidate again, perhaps published again, signed anew.
  const refusal = live.find((report) =>
    report.refused?.digest === rollout.to && report.at >= rollout.startedAt
  );
  if (refusal !== undefined) {
    const { code, message } = refusal.refused!;
    return {
      verdict: "abort",
      reason: `host "${refusal.host}" refused the candidate: ${code}: ${message}`,
      canary,
      stable,
    };
  }

  const silent = reports.find((report) =>
    !isLive(report, now) && report.at >= rollout.startedAt &&
    (report.digest === rollout.to || inCanary(report.host, rollout.id, rollout.percent))
  );
  if (silent !== undefined) {
    return {
      verdict: "abort",
      reason: `host "${silent.host}" stopped reporting ${Math.round((now - silent.at) / 1000)} s ago, ${
        silent.digest === rollout.to
          ? "serving the candidate (it crashed, hung or lost the store)"
          : silent.at < rollout.stepStartedAt
          ? "serving the stable generation, before this step put it in the canary (it ended, perhaps on loading the candidate before it could report, or lost the store)"
          : "in the canary (it crashed, hung or lost the store)"
      }; a candidate is not passed without its canary's reports`,
      canary,
      stable,
    };
  }

  const pending = canaryReports.filter((report) => report.digest !== rollout.to).map((report) => report.host);
  if (pending.length > 0) {
    const waited = now - rollout.stepStartedAt;
    const names = list(pending);
    if (waited > rollout.progressDeadlineMs) {
      return {
        verdict: "abort",
        reason:
          `${names} did not load the candidate within the progress deadline (${rollout.progressDeadlineMs} ms)`,
        canary,
        stable,
      };
    }
    return { verdict: "wait", reason: `waiting for ${names} to load the candidate`, canary, stable };
  }

  const bakeEnd = rollout.stepStartedAt + rollout.bakeMs;
  const bakeLeft = bakeEnd - now;
  if (bakeLeft > 0) {
    return { verdict: "wait", reason: `baking: ${Math.ceil(bakeLeft / 1000)} s left`, canary, stable };
  }
  // Judged on what each canary host did through the whole bake: a report made
  // after it. A host that died on its first call has only the report it made
  // on loading the candidate (no calls yet), and may not count as silent yet
  // when a short bake ends; waiting for a report it never sends lets it.
  const behind = onCandidate.filter((report) => report.at < bakeEnd).map((report) => report.host);
  if (behind.length > 0) {
    return {
      verdict: "wait",
      reason: `waiting for ${
        list(behind)
      } to report since the bake ended: the canary is judged on a whole bake`,
      canary,
      stable,
    };
  }

  if (canary.calls > 0 && canary.errorRate > rollout.maxErrorRate && canary.errorRate > stable.errorRate) {
    return {
      verdict: "abort",
      reason: `the canary's error rate ${
        percent(canary.errorRate)
      } (${canary.errors} of ${canary.calls} calls) is above the limit ${
        percent(rollout.maxErrorRate)
      } and the stable hosts' ${percent(stable.errorRate)}`,
      canary,
      stable,
    };
  }
  const maxP99 = rollout.maxP99Ms;
  if (maxP99 !== undefined && canary.calls > 0 && canary.p99 > maxP99 && canary.p99 > stable.p99) {
    return {
      verdict: "abort",
      reason: `the canary's p99 ${
        canary.p99.toFixed(1)
      } ms is above the limit ${maxP99} ms and the stable hosts' ${stable.p99.toFixed(1)} ms`,
      canary,
      stable,
    };
  }
  return { verdict: "pass", canary, stable };
}

function summarize(reports: readonly HostReport[]): CohortSummary {
  let calls = 0;
  let errors = 0;
  let p99 = 0;
  for (const report of reports) {
    calls += report.calls;
    errors += report.errors;
    if (report.calls > 0) p99 = Math.max(p99, report.p99);
  }
  return {
    hosts: reports.map((report) => report.host),
    calls,
    errors,
    errorRate: calls === 0 ? 0 : errors / calls,
    p99,
  };
}

function list(hosts: readonly string[]): string {
  const shown = hosts.slice(0, 5).map((host) => `"${host}"`).join(", ");
  const more = hosts.length > 5 ? ` and ${hosts.length - 5} more` : "";
  return `${hosts.length === 1 ? "host" : "hosts"} ${shown}${more}`;
}

function percent(rate: number): string {
  return `${(rate * 100).toFixed(rate < 0.01 ? 2 : 1)} %`;
}
