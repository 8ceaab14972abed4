import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { dirname, join } from "node:path";
import { Child, copyInto, replaceFile, REPO } from "./_child.ts";
import { packArtifact } from "../core/artifact.ts";
import { generateSigningKey } from "../core/signature.ts";
import { publish } from "../core/fleet/publish.ts";
import { openStore } from "../core/store/store.ts";
import { httpApp } from "../types/mod.ts";

const APP = ["so/app.ts", "so/app_logic.ts"];
const ignore = Deno.build.os === "windows"; // SIGHUP and SIGTERM cannot be sent there

/** so/app_logic.ts with another version string: a real edit of the generation. */
function logic(version: string): string {
  return `export const VERSION = ${JSON.stringify(version)};
export function greet(generation: number, served: number): string {
  return \`Hello from \${VERSION}, generation \${generation} (request #\${served})\\n\`;
}
`;
}

/**
 * A generation wrapping the sample app with a gate the test holds: `GET
 * /gate` says on stdout that it runs (a with() call on its generation, in
 * flight), then waits until the test writes to the server's stdin, and
 * answers as `GET /json` does. Inline isolation shares the server's stdio:
 * the test both sees the request start and ends it, and no timer decides.
 */
const GATED_APP = `import { handoff, hs_httpApp as app } from "./app.ts";
export { handoff };
export function hs_httpApp(ctx: Parameters<typeof app>[0]) {
  const inner = app(ctx);
  return {
    name: inner.name,
    async handle(request: Parameters<typeof inner.handle>[0]) {
      const url = new URL(request.url);
      if (url.pathname !== "/gate") return inner.handle(request);
      console.log(\`gate held on generation \${ctx.generation}\`);
      await Deno.stdin.read(new Uint8Array(64));
      return inner.handle({ ...request, url: new URL("/json", url).href });
    },
  };
}
`;

/** The app with a `dispose()` that waits for a line on stdin: a shutdown held after SIGHUP reloads stopped. */
const HELD_DISPOSE_APP = `export { handoff, hs_httpApp } from "./app.ts";
export async function dispose() {
  console.log("dispose held");
  await Deno.stdin.read(new Uint8Array(64));
}
`;

/** The app, whose `/stray` leaves a rejection nobody handles and a timer that throws. */
const STRAY_APP = `import { handoff, hs_httpApp as app } from "./app.ts";
export { handoff };
export function hs_httpApp(ctx: Parameters<typeof app>[0]) {
  const inner = app(ctx);
  return {
    name: inner.name,
    handle(request: Parameters<typeof inner.handle>[0]) {
      if (new URL(request.url).pathname === "/stray") {
        Promise.reject(new Error("stray background failure"));
        setTimeout(() => { throw new Error("throw in timer"); }, 0);
      }
      return inner.handle(request);
    },
  };
}
`;

interface Served {
  readonly child: Child;
  readonly base: string;
  readonly dir: string;
}

/**
 * Copies the app (and {@linkcode GATED_APP} as gated.ts, {@linkcode HELD_DISPOSE_APP} as held_dispose.ts) into a temp dir and
 * serves `entry` from there on a free port; removes the dir afterwards.
 */
async function withServer(
  args: readonly string[],
  body: (server: Served) => Promise<void>,
  entry: "app.ts" | "gated.ts" | "held_dispose.ts" | "stray.ts" = "app.ts",
): Promise<void> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_server_" }));
  try {
    await copyInto(APP, dir);
    await Deno.writeTextFile(`${dir}/gated.ts`, GATED_APP);
    await Deno.writeTextFile(`${dir}/held_dispose.ts`, HELD_DISPOSE_APP);
    await Deno.writeTextFile(`${dir}/stray.ts`, STRAY_APP);
    await using child = Child.spawn([
      "run",
      `--allow-read=${dir}`,
      "--allow-net=127.0.0.1",
      "demo/server.ts",
      "--port",
      "0",
      ...args,
      `${dir}/${entry}`,
    ]);
    const [, base] = await child.waitFor(/^serve +(http:\/\/127\.0\.0\.1:\d+\/) /);
    await body({ child, base: base!, dir });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Fetches and reads the whole body, so no response stream is left open. */
async function get(url: string): Promise<{ status: number; generation: number; body: string }> {
  const response = await fetch(url);
  const body = await response.text();
  return { status: response.status, generation: Number(response.headers.get("x-hotswap-generation")), body };
}

/** In-flight calls on `generation`, from the server's own status route. */
async function inflightOn(base: string, generation: number): Promise<number> {
  const status = await (await fetch(`${base}_hotswap`)).json() as {
    stats: { generations: { generation: number; inflight: number }[] };
  };
  return status.stats.generations.find((entry) => entry.generation === generation)?.inflight ?? 0;
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test(
  "server: 2,000+ requests over 4 clients while the app is edited and SIGHUP sent every 150 ms, none fails",
  {
    ignore,
  },
  async () => {
    await withServer([], async ({ child, base, dir }) => {
      const TARGET_REQUESTS = 2_000;
      const TARGET_GENERATIONS = 6; // the first one and at least 5 changes
      const deadline = Date.now() + 15_000;
      let done = false;
      let requests = 0;
      const failures: string[] = [];
      const seen = new Set<number>();

      async function client(id: number): Promise<void> {
        let last = 0;
        while (!done && Date.now() < deadline) {
          try {
            const { status, generation, body } = await get(base);
            const bodyGeneration = Number(body.match(/generation (\d+)/)?.[1]);
            if (status !== 200) failures.push(`client ${id}: status ${status}: ${body.trim()}`);
            else if (generation !== bodyGeneration) {
              failures.push(`client ${id}: header says generation ${generation}, body ${bodyGeneration}`);
            } else if (generation < last) {
              // Each client waits for its response before asking again, so it can never go back.
              failures.push(`client ${id}: generation went back from ${last} to ${generation}`);
            }
            last = Math.max(last, generation);
            seen.add(generation);
          } catch (error) {
            failures.push(`client ${id}: ${String(error)}`);
          }
          requests++;
          if (requests >= TARGET_REQUESTS && seen.size >= TARGET_GENERATIONS) done = true;
        }
      }

      async function editor(): Promise<number> {
        let edits = 0;
        while (!done && Date.now() < deadline) {
          await pause(150);
          await replaceFile(`${dir}/app_logic.ts`, logic(`v${++edits + 1}`));
          child.kill("SIGHUP");
        }
        return edits;
      }

      const [edits] = await Promise.all([editor(), client(1), client(2), client(3), client(4)]);
      console.log(
        `${requests} requests, ${failures.length} failed, ${seen.size} generations served, ${edits} edits + SIGHUPs`,
      );
      deepStrictEqual(failures, []);
      ok(requests >= TARGET_REQUESTS, `only ${requests} requests before the deadline`);
      ok(seen.size >= TARGET_GENERATIONS, `the serving generation changed ${seen.size - 1} times, not 5`);

      child.kill("SIGTERM");
      await child.waitFor(/^closed +bye$/);
      strictEqual((await child.status).code, 0);
      // Edits were written atomically, so every reload committed: no refusal, no error line.
      deepStrictEqual(child.text("out").filter((line) => line.startsWith("error")), []);
      deepStrictEqual(child.text("err"), []);
    });
  },
);

Deno.test(
  "server: a request in flight at a swap completes on the old generation",
  { ignore },
  async () => {
    await withServer([], async ({ child, base, dir }) => {
      const held = get(`${base}gate`);
      // The gate's line is printed from inside the call: generation 1 is pinned until the test releases it.
      await child.waitFor(/^gate held on generation 1$/);

      await replaceFile(`${dir}/app_logic.ts`, logic("v2"));
      child.kill("SIGHUP");
      await child.waitFor(/^swap +gen 1 → 2 {2}sha256-\S{8} {2}\S+gated\.ts {2}\(SIGHUP\)$/);

      // New requests already run on generation 2 while the held one keeps generation 1.
      const fresh = await get(base);
      strictEqual(fresh.generation, 2);
      match(fresh.body, /^Hello from v2, generation 2/);
      strictEqual(await inflightOn(base, 1), 1);

      await child.write("release\n");
      const old = await held;
      strictEqual(old.status, 200);
      strictEqual(old.generation, 1);
      deepStrictEqual(JSON.parse(old.body).version, "v1");
      await child.waitForAnywhere(/^retire +gen 1 {2}drained after \d+ ms$/);

      child.kill("SIGTERM");
      strictEqual((await child.status).code, 0);
    }, "gated.ts");
  },
);

Deno.test("server: SIGTERM finishes the requests in flight, then exits 0", { ignore }, async () => {
  await withServer([], async ({ child, base }) => {
    const held = get(`${base}gate`);
    await child.waitFor(/^gate held on generation 1$/);
    child.kill("SIGTERM");
    await child.waitFor(/^stop +SIGTERM: no new connections; finishing 1 request\(s\) in flight$/);
    await child.write("release\n");
    const answer = await held;
    strictEqual(answer.status, 200);
    strictEqual(answer.generation, 1);
    await child.waitFor(/^closed +bye$/);
    strictEqual((await child.status).code, 0);
  }, "gated.ts");
});

Deno.test("server: a SIGHUP once reloads stopped, during the shutdown, is ignored and the exit is 0", {
  ignore,
}, async () => {
  await withServer([], async ({ child }) => {
    child.kill("SIGTERM");
    // The last generation's dispose() runs in hot.close(), after SIGHUP reloads stopped.
    await child.waitFor(/^dispose held$/);
    child.kill("SIGHUP");
    await child.waitFor(/^hup +SIGHUP ignored: shutting down$/);
    await child.write("release\n");
    await child.waitFor(/^closed +bye$/);
    strictEqual((await child.status).code, 0);
  }, "held_dispose.ts");
});

Deno.test(
  "server: a broken edit is refused on SIGHUP and the old generation keeps serving",
  { ignore },
  async () => {
    await withServer([], async ({ child, base, dir }) => {
      await replaceFile(`${dir}/app_logic.ts`, "export const VERSION = ;\n");
      child.kill("SIGHUP");
      await child.waitFor(
        /^error +E_IMPORT {2}.*app_logic\.ts.*\(generation 1 stays active\) {2}\(SIGHUP\)$/,
      );
      const answer = await get(base);
      strictEqual(answer.status, 200);
      strictEqual(answer.generation, 1);
      match(answer.body, /^Hello from v1, generation 1/);
      child.kill("SIGTERM");
      strictEqual((await child.status).code, 0);
    });
  },
);

Deno.test("server: a generation's stray rejection or timer throw is printed, and the server serves on", {
  ignore,
}, async () => {
  await withServer([], async ({ child, base }) => {
    // The app has no /stray route: a 404, after the handler left its stray work behind.
    strictEqual((await get(`${base}stray`)).status, 404);
    await child.waitForAnywhere(
      /^error +Error {2}.*stray background failure.* {2}\(a rejection nobody handled, while generation 1 served\)$/,
    );
    await child.waitForAnywhere(
      /^error +Error {2}.*throw in timer.* {2}\(an uncaught error, while generation 1 served\)$/,
    );
    const after = await get(base);
    strictEqual(after.status, 200);
    match(after.body, /^Hello from v1, generation 1/);
    child.kill("SIGTERM");
    strictEqual((await child.status).code, 0);
  }, "stray.ts");
});

Deno.test("server: --watch swaps when a file of the app changes", { ignore }, async () => {
  await withServer(["--watch"], async ({ child, base, dir }) => {
    await replaceFile(`${dir}/app_logic.ts`, logic("watched"));
    await child.waitFor(/^swap +gen 1 → 2 {2}sha256-\S{8} {2}\S+app\.ts {2}\(watch: \S+app_logic\.ts\)$/);
    const answer = await get(base);
    strictEqual(answer.generation, 2);
    match(answer.body, /^Hello from watched, generation 2 \(request #1\)/);
    child.kill("SIGTERM");
    strictEqual((await child.status).code, 0);
  });
});

Deno.test(
  "server: the request count travels to the next generation through handoff()",
  { ignore },
  async () => {
    await withServer([], async ({ child, base }) => {
      await get(base);
      await get(base);
      child.kill("SIGHUP");
      await child.waitFor(/^swap +gen 1 → 2 /);
      match((await get(base)).body, /generation 2 \(request #3\)/);
      child.kill("SIGTERM");
      strictEqual((await child.status).code, 0);
    });
  },
);

Deno.test("server: HEAD answers with the headers of GET and no body", { ignore }, async () => {
  await withServer([], async ({ child, base }) => {
    const got = await fetch(base);
    const length = Number(got.headers.get("content-length"));
    strictEqual(length, new TextEncoder().encode(await got.text()).length);
    const head = await fetch(base, { method: "HEAD" });
    strictEqual(head.status, 200);
    // The greeting counts requests: #2 is as long as #1.
    strictEqual(head.headers.get("content-length"), String(length));
    strictEqual(head.headers.get("content-type"), got.headers.get("content-type"));
    strictEqual(await head.text(), "");
    child.kill("SIGTERM");
    strictEqual((await child.status).code, 0);
  });
});

Deno.test("server: `deno task serve --store …` without the grants a fleet host needs prints the whole command, which serves when pasted", async () => {
  // A space in the path: the printed command quotes what the shell would split.
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap server " }));
  try {
    const key = await generateSigningKey();
    await Deno.writeTextFile(
      `${dir}/trust.json`,
      JSON.stringify({ version: 1, keys: [{ keyid: key.keyid, publicKey: key.publicKey }], revoked: [] }),
    );
    const packed = await packArtifact(join(REPO, "so/app.ts"), { contract: httpApp, key, label: "v1" });
    {
      await using store = await openStore(`sqlite:${dir}/fleet.db`);
      await publish(store, "app/prod", packed.bytes, { digest: packed.manifest.digest });
    }
    const args = ["--port", "0", "--store", `sqlite:${dir}/fleet.db`, "--channel", "app/prod"];
    await using task = Child.spawn([
      "task",
      "-q",
      "serve",
      ...args,
      "--trust",
      `${dir}/trust.json`,
      "--host",
      "web-1",
    ], {
      env: { NO_COLOR: "1" },
    });
    strictEqual((await task.status).code, 1);
    const said = task.text("out").concat(task.text("err")).join("\n");
    match(said, /E_PERMISSION {2}a fleet host needs read of .*write of .*run it as: deno run --no-prompt /);
    const command = said.slice(said.indexOf("run it as: ") + "run it as: ".length).trim();
    ok(command.includes(`--cache '${dir}/cache-web-1'`), command);
    // exec: the signal below reaches the host, not a shell waiting for it.
    await using host = Child.spawn(["-c", `exec ${command}`], {
      program: "sh",
      env: { NO_COLOR: "1", PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? ""}` },
    });
    const [, base] = await host.waitFor(/^serve +(http:\/\/127\.0\.0\.1:\d+\/) +channel app\/prod +gen 1 /);
    match((await get(base!)).body, /Hello from v1/);
    host.kill("SIGTERM");
    strictEqual((await host.status).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server: --help lists every flag; a bad port exits 2", async () => {
  {
    await using child = Child.spawn(["run", "demo/server.ts", "--help"]);
    strictEqual((await child.status).code, 0);
    const help = child.text("out").join("\n");
    for (const flag of ["--port <n>", "--isolation <mode>", "--root <dir>", "--watch", "--help", "SIGHUP"]) {
      ok(help.includes(flag), `--help does not mention ${flag}`);
    }
  }
  {
    await using child = Child.spawn(["run", "demo/server.ts", "--port", "70000"]);
    strictEqual((await child.status).code, 2);
    match(child.text("err").join("\n"), /--port must be a whole number from 0 to 65535/);
  }
});

Deno.test(
  "server, process isolation: a SIGTERM to the whole process group still finishes the requests in flight",
  { ignore },
  async () => {
    // systemd (KillMode=control-group), GNU timeout and `kill -- -<pgid>` signal the generations' processes
    // too: they must leave the ending to the host, which drains them first.
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_server_" }));
    try {
      await copyInto(APP, dir);
      // setsid makes the server lead a process group of its own, as a service manager would.
      await using child = Child.spawn([
        Deno.execPath(),
        "run",
        `--allow-read=${dir}`,
        "--allow-net=127.0.0.1",
        `--allow-run=${Deno.execPath()}`,
        "demo/server.ts",
        "--port",
        "0",
        "--isolation",
        "process",
        `${dir}/app.ts`,
      ], { program: "setsid" });
      const [, base] = await child.waitFor(/^serve +(http:\/\/127\.0\.0\.1:\d+\/) /);
      const slow = get(`${base}slow?ms=1500`);
      while ((await inflightOn(base!, 1)) === 0) await pause(10);
      Deno.kill(-child.pid, "SIGTERM");
      const answer = await slow;
      strictEqual(answer.status, 200, answer.body);
      strictEqual(answer.generation, 1);
      await child.waitFor(/^closed +bye$/);
      strictEqual((await child.status).code, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
