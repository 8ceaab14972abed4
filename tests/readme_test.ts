/**
 * What README.md tells a user, held to the repository: its length, the tasks
 * and program flags it names, the links between it and the documents beside
 * it, and its signed-generations quick start, run line by line as printed
 * (what the demo downloads is tests/outside_test.ts's). Its TypeScript blocks are doc
 * tests of their own (`deno test --doc README.md`, part of the test task).
 *
 * @module
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { dirname } from "node:path";
import { Child, copyInto, REPO } from "./_child.ts";
import { firstBlock, README, section } from "./_readme.ts";

const DOCUMENTS = ["README.md", "RELIABILITY.md", "SECURITY.md", "FLEET.md"];

/** GitHub's anchor for a heading. */
function slug(heading: string): string {
  return heading.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").trim().replace(/\s/g, "-");
}

/** A printed line as a pattern: exact, except the milliseconds a step took. */
function printed(line: string): RegExp {
  const escaped = line.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/\d+ ms/g, "\\d+ ms");
  return new RegExp(`^${escaped}$`);
}

Deno.test("README.md stays under 300 lines", () => {
  const lines = README.split("\n").length - (README.endsWith("\n") ? 1 : 0);
  ok(lines < 300, `README.md has ${lines} lines`);
});

Deno.test("README.md names only tasks of deno.json", async () => {
  const { tasks } = JSON.parse(await Deno.readTextFile(`${REPO}deno.json`)) as {
    tasks: Record<string, string>;
  };
  const named = new Set([...README.matchAll(/\bdeno(?:@[\d.]+)? task ([\w:-]+)/g)].map((match) => match[1]!));
  for (const name of ["demo", "test", "serve", "hotswap", "bench"]) {
    ok(named.has(name), `"${name}" not shown`);
  }
  deepStrictEqual([...named].filter((name) => !(name in tasks)), []);
});

Deno.test("the gate's `deno doc --lint` covers every export of the package together", async () => {
  // Linted alone, an export's types that another export declares read as private.
  const { exports, tasks } = JSON.parse(await Deno.readTextFile(`${REPO}deno.json`)) as {
    exports: Record<string, string>;
    tasks: Record<string, string>;
  };
  const linted = tasks.check?.match(/deno doc --lint ([^&]+)&&/)?.[1]?.trim().split(/\s+/) ?? [];
  deepStrictEqual(
    linted.toSorted(),
    Object.values(exports).map((path) => path.replace(/^\.\//, "")).toSorted(),
  );
});

for (const [heading, task] of [["The demo", "demo"], ["A hot HTTP server", "serve"]] as const) {
  Deno.test(`README.md section "${heading}" names only flags of \`deno task ${task}\``, async () => {
    const { tasks } = JSON.parse(await Deno.readTextFile(`${REPO}deno.json`)) as {
      tasks: Record<string, string>;
    };
    await using child = Child.spawn(["task", task, "--help"], { env: { NO_COLOR: "1" } });
    strictEqual((await child.status).code, 0);
    const help = `${child.text("out").join("\n")}\n${tasks[task]}`;
    const spans = [...section(heading).join("\n").matchAll(/`([^`]+)`/g)].map((match) => match[1]!);
    const flags = spans.flatMap((span) => span.split(" ")).filter((token) => token.startsWith("--"));
    ok(flags.length > 0, "no flags found");
    for (const flag of flags) ok(help.includes(flag), `${flag} is neither in --help nor in the task`);
  });
}

Deno.test("README.md, RELIABILITY.md and SECURITY.md link to files and headings that exist", async () => {
  const headings = new Map<string, Set<string>>();
  for (const document of DOCUMENTS) {
    const text = await Deno.readTextFile(`${REPO}${document}`);
    headings.set(document, new Set([...text.matchAll(/^#+ (.+)$/gm)].map((match) => slug(match[1]!))));
  }
  for (const document of DOCUMENTS) {
    const text = await Deno.readTextFile(`${REPO}${document}`);
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      const [file, anchor] = target!.split("#") as [string, string | undefined];
      const path = file === "" ? document : file;
      await Deno.stat(`${REPO}${path}`).catch(() => {
        throw new Error(`${document} links to ${target}, which does not exist`);
      });
      if (anchor !== undefined) {
        ok(headings.get(path)?.has(anchor), `${document} links to ${target}, a heading that does not exist`);
      }
    }
  }
});

Deno.test("README.md signed-generations quick start runs as printed", {
  ignore: Deno.build.os !== "linux", // GNU sed, as printed
}, async () => {
  const tmp = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_readme_" }));
  try {
    // The one step the README says in words: so-v2 is a copy of so/ whose MyCode.ts doubles.
    await copyInto(["so/Handles.ts", "so/MyCode.ts"], `${tmp}/so-v2`);
    const code = await Deno.readTextFile(`${tmp}/so-v2/MyCode.ts`);
    const doubled = code.replace("Adding to 10: ${10 + i}", "Adding to 10 and doubling: ${(10 + i) * 2}");
    ok(doubled !== code, "so/MyCode.ts no longer holds the line the README's copy changes");
    await Deno.writeTextFile(`${tmp}/so-v2/MyCode.ts`, doubled);

    // Commands (`$ `, with `\` continuations), what they print, and lines typed into the demo.
    const steps: { command: string; after: string[] }[] = [];
    let continued = false;
    for (const raw of firstBlock(section("Signed generations"))) {
      const line = raw.replaceAll("/tmp/signed", tmp);
      if (continued) steps.at(-1)!.command += ` ${line.trim()}`;
      else if (line.startsWith("$ ")) steps.push({ command: line.slice(2), after: [] });
      else steps.at(-1)!.after.push(line);
      continued = line.endsWith("\\");
      if (continued) steps.at(-1)!.command = steps.at(-1)!.command.slice(0, -1).trimEnd();
    }
    ok(steps.length >= 6, "the quick start lost its commands");

    const env = { NO_COLOR: "1", PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? ""}` };
    for (const { command, after } of steps) {
      await using child = Child.spawn(["-c", command], { program: "sh", env });
      const typed = after.filter((line) => line.startsWith(`${tmp}/`) && !line.includes(" "));
      for (const line of after) {
        if (typed.includes(line)) await child.write(`${line}\n`);
        else await child.waitFor(printed(line), 20_000);
      }
      await child.closeStdin();
      strictEqual((await child.status).code, 0, `${command}\n${child.text("err").join("\n")}`);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
