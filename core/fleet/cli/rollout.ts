/**
 * `hotswap rollout <channel> --store <url> --to <digest|label> [--steps
 * 10,50,100] [--bake 30s] [--max-error-rate 0.01] [--max-p99-ms N]`: runs a
 * rollout in the foreground until the candidate is stable (exit 0) or the
 * rollout aborts (exit 1, the reason on standard error). Run again on an
 * unfinished rollout, it resumes; Ctrl-C stops the controller and leaves the
 * rollout where it is, to resume.
 *
 * @module
 */

import type { GateDecision } from "../gate.ts";
import type { RolloutState } from "../../store/store.ts";
import { resolveArtifact } from "../publish.ts";
import { runRollout } from "../rollout.ts";
import { resolveSettings, type RolloutEvent, type RolloutOptions } from "../rollout_options.ts";
import { EXIT_FAILURE, EXIT_OK, type Flags, type Io, required, UsageError } from "../../cli/_common.ts";
import { channelCommand, durationFlag, type FleetCommand, numberFlag, short, STORE_HELP } from "./_args.ts";

const USAGE = `Usage: hotswap rollout <channel> --store <url> --to <digest|label> [options]

Moves <channel> from its stable generation to the candidate in steps. At each
step a share of the hosts (chosen by a hash of host id and rollout id, so a
host stays in as the share grows) runs the candidate; after the bake time the
gate compares their reports with the stable hosts'. An error rate or p99 over
the limit, or a host refusing the artifact, aborts: every host returns to
stable. Otherwise the next step starts; the last makes the candidate stable.

Exit 0 once the candidate is stable; exit 1 when the rollout aborts (the
reason on standard error). The rollout's state is in the store: run the same
command again to resume one whose controller stopped (Ctrl-C stops only the
controller); hotswap promote or hotswap abort end it from anywhere.

${STORE_HELP}
  --to <digest|label>   the candidate, published with hotswap publish (a label
                        two artifacts carry is refused: give the digest)
  --steps <list>        percentages of hosts, rising, ending at 100 (default 10,50,100)
  --bake <duration>     how long each step runs before the gate judges it (default 30s)
  --max-error-rate <r>  the canary's highest error rate, 0-1 (default 0.01)
  --max-p99-ms <n>      the canary's highest p99 latency in ms (default: not gated;
                        hosts report it from buckets 19 % wide: leave that margin)
  --progress-deadline <duration>
                        how long a step's hosts have to load the candidate (default 60s)`;

/** The `rollout` command. */
export const rollout: FleetCommand = channelCommand({
  name: "rollout",
  summary: "roll a channel out to a candidate in steps, gated on the hosts' reports",
  usage: USAGE,
  options: {
    to: { type: "string" },
    steps: { type: "string" },
    bake: { type: "string" },
    "max-error-rate": { type: "string" },
    "max-p99-ms": { type: "string" },
    "progress-deadline": { type: "string" },
  },
  read: rolloutFlags,
}, async ({ channel, store, flags: { target, options }, io }) => {
  const { digest } = await resolveArtifact(store, target);
  const stop = new AbortController();
  const onSignal = () => stop.abort(new Interrupted());
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    const outcome = await runRollout(store, channel, digest, {
      ...options,
      signal: stop.signal,
      onProgress: (event) => print(event, io, { channel, given: options }),
    });
    if (outcome.status === "promoted") {
      io.out(`${channel}: ${short(digest)} is stable`);
      return EXIT_OK;
    }
    io.err(
      `hotswap rollout: ${channel}: rollout aborted, every host back on ${
        short(outcome.rollout.from)
      }: ${outcome.rollout.reason}`,
    );
    return EXIT_FAILURE;
  } catch (error) {
    if (!(error instanceof Interrupted)) throw error;
    io.err(
      `hotswap rollout: controller stopped; the rollout of ${channel} stays where it is: run the same command to resume, or hotswap abort ${channel} --store ${store.url}`,
    );
    return 130;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
  }
});

/** The candidate and the rollout's settings, from the flags. */
function rolloutFlags(values: Flags): { target: string; options: RolloutOptions } {
  const target = required(values, "to", "<digest|label>: the candidate to roll out");
  const steps = stepsFlag(values.steps);
  const bakeMs = durationFlag(values, "bake");
  const maxErrorRate = numberFlag(values, "max-error-rate", 0, 1);
  const maxP99Ms = numberFlag(values, "max-p99-ms", 0, Number.MAX_SAFE_INTEGER);
  const progressDeadlineMs = durationFlag(values, "progress-deadline");
  const options = {
    ...(steps === undefined ? {} : { steps }),
    ...(bakeMs === undefined ? {} : { bakeMs }),
    ...(maxErrorRate === undefined ? {} : { maxErrorRate }),
    ...(maxP99Ms === undefined ? {} : { maxP99Ms }),
    ...(progressDeadlineMs === undefined ? {} : { progressDeadlineMs }),
  };
  try {
    // Settings the rollout would refuse are a mistake in the command line, said before anything runs.
    resolveSettings(options);
  } catch (error) {
    if (error instanceof RangeError || error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
  return { target, options };
}

class Interrupted extends Error {
  constructor() {
    super("interrupted");
    this.name = "Interrupted";
  }
}

function stepsFlag(value: unknown): number[] | undefined {
  if (value === undefined) return undefined;
  const steps = typeof value === "string" ? value.split(",").map((step) => Number(step.trim())) : [];
  if (steps.length === 0 || steps.some((step) => !Number.isFinite(step))) {
    throw new UsageError(
      `--steps must be percentages separated by commas, such as 10,50,100; got "${String(value)}"`,
    );
  }
  return steps;
}

/** Prints a rollout's progress; `given` are the settings on this command line, which a resumed rollout keeps its own of. */
function print(
  event: RolloutEvent,
  io: Io,
  { channel, given }: { channel: string; given: RolloutOptions },
): void {
  const time = new Date().toISOString().slice(11, 23);
  const r = event.rollout;
  switch (event.type) {
    case "start":
      io.out(`${time} rollout ${r.id}: ${short(r.from)} -> ${short(r.to)}, steps ${r.steps.join(",")}`);
      io.out(`${time} step 1/${r.steps.length}: ${r.percent} % of hosts`);
      return;
    case "resume": {
      io.out(
        `${time} resuming rollout ${r.id} at step ${r.step + 1}/${r.steps.length} (${r.percent} % of hosts)`,
      );
      const ignored = ignoredSettings(r, given);
      if (ignored.length > 0) {
        io.err(
          `${time} resuming with the settings the rollout was started with; ignored: ${
            ignored.join(", ")
          } (to change them, hotswap abort ${channel} and start the rollout again)`,
        );
      }
      return;
    }
    case "step":
      io.out(`${time} step ${r.step + 1}/${r.steps.length}: ${r.percent} % of hosts`);
      return;
    case "gate":
      io.out(`${time}   gate: ${verdict(event.decision)}`);
      return;
    case "store": {
      const said = event.error === undefined
        ? "answering again; hosts get their reporting window again"
        : `${event.error.message}; asking again every 0.5 s (Ctrl-C stops the controller)`;
      (event.error === undefined ? io.out : io.err)(`${time}   store: ${said}`);
    }
  }
}

function verdict(decision: GateDecision): string {
  const { canary, stable } = decision;
  const figures = `canary ${canary.hosts.length} hosts, ${canary.errors}/${canary.calls} errors, p99 ${
    canary.p99.toFixed(1)
  } ms; stable ${stable.hosts.length} hosts, ${stable.errors}/${stable.calls} errors, p99 ${
    stable.p99.toFixed(1)
  } ms`;
  // A gate with nothing to judge passes: say so, so that nobody takes it for a healthy canary.
  return decision.verdict === "pass"
    ? `pass (${figures})${canary.calls === 0 ? "; no call reached the canary, so nothing was judged" : ""}`
    : `${decision.verdict}: ${decision.reason} (${figures})`;
}

/**
 * Runs `hotswap rollout`.
 *
 * @param args The arguments after `rollout`.
 * @returns The exit code.
 */
export function run(args: string[]): Promise<number> {
  return rollout.run(args);
}

/** The flags given now that differ from the settings a resumed rollout keeps, as `--flag given (kept)`. */
function ignoredSettings(rollout: RolloutState, given: RolloutOptions): string[] {
  const ignored: string[] = [];
  const differs = (flag: string, now: unknown, kept: unknown, show: (value: unknown) => string = String) => {
    if (now !== undefined && JSON.stringify(now) !== JSON.stringify(kept)) {
      ignored.push(`--${flag} ${show(now)} (kept: ${kept === undefined ? "none" : show(kept)})`);
    }
  };
  const list = (value: unknown) => (value as number[]).join(",");
  const seconds = (value: unknown) => `${Number(value) / 1000}s`;
  differs("steps", given.steps, rollout.steps, list);
  differs("bake", given.bakeMs, rollout.bakeMs, seconds);
  differs("max-error-rate", given.maxErrorRate, rollout.maxErrorRate);
  differs("max-p99-ms", given.maxP99Ms, rollout.maxP99Ms);
  differs("progress-deadline", given.progressDeadlineMs, rollout.progressDeadlineMs, seconds);
  return ignored;
}
