/**
 * What a follower reports of its host: what it serves, what the channel
 * wants of it, and the serving generation's figures.
 *
 * @module
 */

import type { HostReport, HostState, Refusal } from "../store/store.ts";
import type { ServingMetrics } from "./follower_options.ts";

/** Where a follower is, as its report tells it. */
export interface FollowerView {
  /** The host's id. */
  readonly host: string;
  /** The digest served ("" before the first load). */
  readonly serving: string;
  /** The digest the channel wants this host to run, if any. */
  readonly wanted: string | undefined;
  /** The refusal of `wanted`, if this host refused it. */
  readonly refused: Refusal | undefined;
  /** Whether a load runs now. */
  readonly loading: boolean;
  /** The serving generation's figures. */
  readonly metrics: ServingMetrics;
  /** Milliseconds until the next report. */
  readonly interval: number;
}

/** The report of a follower at `at` (epoch ms). */
export function hostReport(view: FollowerView, at: number): HostReport {
  const { metrics, refused } = view;
  return {
    host: view.host,
    generation: metrics.generation,
    digest: view.serving,
    desired: view.wanted ?? "",
    state: stateOf(view),
    calls: metrics.calls,
    errors: metrics.errors,
    p50: metrics.p50,
    p99: metrics.p99,
    at,
    interval: view.interval,
    ...(refused === undefined ? {} : { refused }),
  };
}

function stateOf(view: FollowerView): HostState {
  if (view.refused !== undefined) return "refused";
  if (view.loading) return "loading";
  if (view.serving === "") return "starting";
  return view.wanted === undefined || view.wanted === view.serving ? "serving" : "loading";
}
