/**
 * The commands README.md shows that tests/readme_test.ts does not run: the
 * "Fleet rollout" block, run as printed as one `sh` script (its variable and
 * background hosts span lines), and a smoke run of each benchmark task
 * (README.md's and BENCHMARKS.md's), with the smallest arguments the script
 * takes, to show that it starts, runs and prints its table.
 *
 * Each runs in a session of its own (`setsid`): whatever happens, the test
 * kills the whole process group before it returns, so no host, server or
 * load client it started outlives it.
 *
 * @module
 */

import { match, ok, strictEqual } from "node:assert/strict";
import { dirname } from "node:path";
import { Child } from "./_child.ts";
import { firstBlock, section } from "./_readme.ts";

const ENV = { NO_COLOR: "1", PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? ""}` };
/** `setsid` and GNU `sed -i`, as the block prints it. */
const ignore = Deno.build.os !== "linux";

/** Settles as `promise` does, or fails after `ms` milliseconds. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `argv` in a new session (`setsid`, so its pid is its process group's
 * id), hands it to `body`, then kills the group if anything of it still runs
 * and reaps the child: a failing or timed-out run leaves no process behind.
 */
async function inSession(argv: string[], body: (child: Child) => Promise<void>): Promise<void> {
  const child = Child.spawn(argv, { program: "setsid", env: ENV });
  let ended = false;
  const ending = child.status.then(() => {
    ended = true;
  });
  try {
    await body(child);
  } finally {
    // The output ends when the last process of the group holding the pipes has exited.
    if (!ended) {
      try {
        Deno.kill(-child.pid, "SIGKILL");
      } catch {
        // The group is gone already.
      }
    }
    await ending;
    await child[Symbol.asyncDispose]();
  }
}

/** The tail of what a child printed, for an assertion's message. */
function tail(child: Child): string {
  return child.lines.slice(-40).map((line) => `  ${line.stream}| ${line.text}`).join("\n");
}

/** Runs `deno task <args>` to its end; each pattern must match a line, in order. */
async function smoke(args: string[], patterns: RegExp[], timeout: number): Promise<void> {
  await inSession([Deno.execPath(), "task", ...args], async (child) => {
    for (const pattern of patterns) await child.waitFor(pattern, timeout);
    const { code } = await within(child.status, timeout, `deno task ${args.join(" ")} exiting`);
    strictEqual(code, 0, tail(child));
  });
}

Deno.test("README.md fleet rollout runs as printed: three hosts on the SQLite store end on v2", {
  ignore,
}, async () => {
  const tmp = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_readme_fleet_" }));
  try {
    const block = firstBlock(section("Fleet rollout")).join("\n");
    ok(block.includes("--port 800$i"), "the block no longer starts its hosts on --port 800$i");
    match(block, /^S=sqlite:\/tmp\/fleet\/fleet\.db /m, "the block's store is no longer sqlite:/tmp/fleet/…");
    // The temporary directory for /tmp/fleet, and free ports (0: each host picks one) for 8001-8003.
    const commands = block.replaceAll("/tmp/fleet", tmp).replaceAll("--port 800$i", "--port 0");
    const jobs = `${tmp}/.jobs`;
    // A command that fails ends the script (set -e); on any exit, the hosts
    // still running are stopped (SIGTERM: they leave the store and exit 0)
    // and awaited, and the script's code is the first failure's, a host's included.
    const script = `set -e
trap 'code=$?; set +e; jobs -p >"${jobs}"; kill $(cat "${jobs}") 2>/dev/null
for pid in $(cat "${jobs}"); do wait "$pid" || { c=$?; [ "$code" -eq 0 ] && code=$c; }; done
echo "readme block: exit $code"; exit $code' EXIT
${commands}
`;
    await inSession(["sh", "-c", script], async (child) => {
      // Each host says which channel it follows and where it serves.
      const ports = new Set<string>();
      for (const host of ["web-1", "web-2", "web-3"]) {
        const serving = new RegExp(
          `^serve +http://127\\.0\\.0\\.1:(\\d+)/ +channel app/prod .* host ${host}, pid \\d+$`,
        );
        ports.add((await child.waitForAnywhere(serving, 30_000))[1]!);
      }
      strictEqual(ports.size, 3, `three hosts, three ports: ${[...ports]}`);
      // The rollout (core/fleet/cli/rollout.ts): two steps of 5 s bake, each passing, then stable.
      await child.waitFor(/^[\d:.]+ rollout \S+: sha256-\S+ -> sha256-\S+, steps 34,100$/, 30_000);
      await child.waitFor(/^[\d:.]+ step 1\/2: 34 % of hosts$/, 1_000);
      await child.waitFor(/^[\d:.]+ {3}gate: pass /, 20_000);
      await child.waitFor(/^[\d:.]+ step 2\/2: 100 % of hosts$/, 1_000);
      await child.waitFor(/^[\d:.]+ {3}gate: pass /, 20_000);
      await child.waitFor(/^app\/prod: sha256-\S+ is stable$/, 1_000);
      // `status`: v2 stable, the rollout promoted, and all three hosts serving it.
      await child.waitFor(/^channel app\/prod \(revision \d+\)$/, 10_000);
      await child.waitFor(/^ {2}stable {3}sha256-\S+ \(v2\)$/, 1_000);
      await child.waitFor(
        /^ {2}rollout {2}\S+ promoted: sha256-\S+ \(v1\) -> sha256-\S+ \(v2\), step 2\/2/,
        1_000,
      );
      await child.waitFor(/^ {2}hosts {4}3 live of 3$/, 1_000);
      const hosts: string[] = [];
      for (let i = 0; i < 3; i++) {
        const row = await child.waitFor(/^ {4}(web-\d)\s+(\S+)\s+gen \d+\s+(.*)$/, 1_000);
        strictEqual(row[2], "serving", row[0]);
        match(row[3]!, /^sha256-\S+ \(v2\) {2}\d+\/\d+ errors/, `${row[1]} is not on v2 (or wants another)`);
        hosts.push(row[1]!);
      }
      strictEqual(hosts.sort().join(" "), "web-1 web-2 web-3");
      // Then the script's trap stops the hosts: each exits 0, as every command did.
      await child.waitFor(/^readme block: exit \d+$/, 15_000);
      const { code } = await within(child.status, 5_000, "the script exiting");
      strictEqual(code, 0, tail(child));
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("README.md `deno task bench` runs, filtered to one benchmark, and prints its table", {
  ignore,
}, async () => {
  // Every bench file is loaded, whatever the filter (with_bench.ts's "direct call" is the one run).
  await smoke(["bench", "--filter", "/^direct call$/"], [
    /^\| benchmark +\| time\/iter \(avg\) \| +iter\/s \|/,
    /^\| direct call +\| +[\d.,]+ [nµm]?s \|/,
  ], 30_000);
});

Deno.test(
  "BENCHMARKS.md `deno task bench:growth` runs 20 imports and prints its table",
  { ignore },
  async () => {
    await smoke(["bench:growth", "--imports", "20", "--step", "10"], [
      /^Deno [\d.]+: 20 imports of a fresh two-module graph \(blob-ts\)$/,
      /^imports {2}ms\/import {2}RSS MiB {2}heap MiB$/,
      /^ +10 +[\d.]+ +[\d.]+ +[\d.]+$/,
      /^ +20 +[\d.]+ +[\d.]+ +[\d.]+$/,
    ], 15_000);
  },
);

Deno.test(
  "README.md `deno task bench:load` runs the hotswap runner through an edit in two rounds and tallies them",
  {
    ignore,
  },
  async () => {
    // 1 s of warm-up, edits every 100 ms, a quiet last second: 2,100 ms fits one or two edits.
    await smoke([
      "bench:load",
      "--only",
      "hotswap",
      "--duration",
      "2100",
      "--memory-edits",
      "2",
      "--rounds",
      "2",
    ], [
      /^ {2}\(--duration 2100 leaves room for about 2 of the 22 edits\)$/,
      /^round 1 of 2$/,
      /^running hotswap…$/,
      /^\| runner +\| requests \| failed \| steady p50\/p99 ms \|/,
      // No failed request; at least one edit written (the last may fall in the quiet second).
      /^\| hotswap +\| \d+ +\| 0 +\| [\d.]+ \/ [\d.]+ +\| [^|]+\| \d \/ [12] +\|/,
      /^round 2 of 2$/,
      /^Over 2 rounds /,
      /^- hotswap \(2 rounds\): after-edit p99 within 1\.5x the steady p99 in [012] of 2, .*; 0 failed requests; /,
    ], 45_000);
  },
);

Deno.test("BENCHMARKS.md `deno task bench:phases` runs 2 edits per mode and prints its table", {
  ignore,
}, async () => {
  // Each mode's fresh DENO_DIR downloads @babel/parser (4 packages) from the npm registry.
  await smoke(["bench:phases", "--edits", "2"], [
    /^Swap phases under load, 2 edits per mode /,
    /^\| mode +\| signal +\| read +\| script +\| mint +\| import +\| swap +\| first +\| hup commit +\| hup first +\| DENO_DIR per import +\|$/,
    /^\| deno defaults +\| [\d.]+ \/ [\d.]+ +\|/,
    /^\| --no-code-cache, DENO_EMIT_CACHE_MODE=disable \| [\d.]+ \/ [\d.]+ +\|/,
  ], 30_000);
});

Deno.test("BENCHMARKS.md `deno task bench:cpu` measures 3 changes of the inline server and prints its line", {
  ignore,
}, async () => {
  await smoke(["bench:cpu", "--only", "hotswap", "--changes", "3"], [
    /^CPU per change, no load: 3 changes and 3 windows without, 150 ms each$/,
    /^- hotswap: -?[\d.]+ ms \(.*main thread -?[\d.]+.*\)$/,
  ], 60_000);
});

Deno.test("BENCHMARKS.md `deno task bench:first` runs 2 fresh hosts through 2 swaps and prints their times", {
  ignore,
}, async () => {
  await smoke(["bench:first", "--processes", "2", "--swaps", "2"], [
    /^First swaps after warm\(\), 2 fresh hosts, a swap every 100 ms \(ms, median \/ max\):$/,
    /^swap 1: [\d.]+ \/ [\d.]+; swap 2: [\d.]+ \/ [\d.]+$/,
  ], 60_000);
});

Deno.test("BENCHMARKS.md `deno task bench:hold` runs 2 swaps of 2 modules and prints its table", {
  ignore,
}, async () => {
  await smoke(["bench:hold", "--modules", "2", "--swaps", "2"], [
    /^\| modules \| reads on \| swap \| longest event-loop block during the swap \|$/,
    /^\| 2 \| serving thread \| [\d.]+ \| [\d.]+ \|$/,
    /^\| 2 \| reader \(after warm\(\)\) \| [\d.]+ \| [\d.]+ \|$/,
  ], 30_000);
});

Deno.test("BENCHMARKS.md `deno task bench:heap` runs two rounds of 3 swaps and prints what grew", {
  ignore,
}, async () => {
  await smoke(["bench:heap", "--isolation", "inline", "--swaps", "3", "--warm-up", "2"], [
    /^Host heap, inline isolation \(Deno [\d.]+\): 2 swaps of warm-up, then rounds of 3$/,
    /^round 1: -?\d+ KiB in all, -?\d+ B per swap; grew most:$/,
    /^round 2: -?\d+ KiB in all, -?\d+ B per swap; grew most:$/,
  ], 30_000);
});

Deno.test("README.md `deno task bench:fleet` runs 2 hosts for 1 round and prints its figures", {
  ignore,
}, async () => {
  // With 2 hosts the gate trip's canary may be empty (its figures then read -Infinity): any figure passes.
  await smoke(["bench:fleet", "--hosts", "2", "--rounds", "1"], [
    /^sqlite: 2 hosts, 1 rounds: publish -> all serving: median \d+ ms, max \d+ ms; gate trip -> all on stable: /,
    /^nats: (2 hosts, 1 rounds: publish -> all serving: median \d+ ms|skipped \()/,
  ], 30_000);
});
