import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { generateSigningKey, packArtifact } from "../mod.ts";
import { soHandles } from "../types/mod.ts";
import { Child, copyInto, replaceFile, REPO } from "./_child.ts";

const SEED = ["so/Handles.ts", "so/MyCode.ts"];
/** A tick line: label, digest prefix, someData. */
const TICK = (generation: number) =>
  new RegExp(`^gen ${generation} +sha256-\\S{8}  I live in a shared object$`);

const EDITED_CODE = `export function myFunction(i: number): void {
  console.log(\`Adding to 100: \${100 + i}\`);
}
`;
const BROKEN_CODE = `export function myFunction(i: number): void {
  console.log(i +;
}
`;

/** The demo as `deno task demo` runs it, with the read grant widened to `grants`. */
function demo(grants: readonly string[], args: readonly string[]): Child {
  return Child.spawn([
    "run",
    `--allow-read=${[`${REPO}so`, ...grants].join(",")}`,
    "demo/main.ts",
    "--interval",
    "50",
    ...args,
  ]);
}

Deno.test("demo: swaps to an edited copy from stdin, reports refused swaps while it keeps running, exits 0 at EOF", async () => {
  const tmp = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_demo_" }));
  try {
    await copyInto(SEED, `${tmp}/edited`);
    await Deno.writeTextFile(`${tmp}/edited/MyCode.ts`, EDITED_CODE);
    await copyInto(SEED, `${tmp}/broken`);
    await Deno.writeTextFile(`${tmp}/broken/MyCode.ts`, BROKEN_CODE);
    // A valid copy the demo is not allowed to read: refused, with the flag that would allow it.
    await copyInto(SEED, `${tmp}/outside`);

    await using child = demo([`${tmp}/edited`, `${tmp}/broken`], ["so/Handles.ts"]);
    await child.waitFor(TICK(1));
    await child.waitFor(/^Adding to 10: 17$/);
    await child.waitFor(/^Next module to use:$/);

    await child.write(`${tmp}/edited/Handles.ts\n`);
    await child.waitFor(
      /^swap +gen 1 → 2 {2}sha256-\S{8} {2}\S+\/edited\/Handles\.ts {2}\d+ ms {2}\(stdin\)$/,
    );
    await child.waitFor(TICK(2));
    await child.waitFor(/^Adding to 100: 107$/);
    await child.waitForAnywhere(/^retire +gen 1 {2}drained after \d+ ms$/);

    // Each refusal names its code; the ticks that follow prove generation 2 runs on.
    const refusals: Array<[string, RegExp]> = [
      [
        `${tmp}/edited/Missing.ts`,
        /^error +E_NOT_FOUND {2}Cannot load .*Missing\.ts.*\(generation 2 stays active\) {2}\(stdin\)$/,
      ],
      [
        `${tmp}/broken/Handles.ts`,
        /^error +E_IMPORT {2}.*broken\/MyCode\.ts.*\(generation 2 stays active\) {2}\(stdin\)$/,
      ],
      [
        `${tmp}/outside/Handles.ts`,
        new RegExp(`^error +E_PERMISSION  .*--allow-read=${tmp}/outside .*\\(stdin\\)$`),
      ],
    ];
    for (const [path, refusal] of refusals) {
      await child.write(`${path}\n`);
      await child.waitFor(refusal);
      await child.waitFor(TICK(2));
      await child.waitFor(/^Adding to 100: 107$/);
    }

    await child.closeStdin();
    await child.waitFor(/^stop +end of input: letting calls on generation 2 drain$/);
    await child.waitFor(/^retire +gen 2 {2}drained after \d+ ms$/);
    await child.waitFor(/^closed +bye$/);
    strictEqual((await child.status).code, 0);
    deepStrictEqual(child.text("err"), []);
    // stdout is a pipe here, not a terminal: no colour codes.
    ok(child.lines.every((line) => !line.text.includes("\x1b")));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("demo: a someFn that never returns stops the ticks of its generation only; a fix swapped in ticks on", async () => {
  const tmp = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_demo_" }));
  try {
    await copyInto(SEED, `${tmp}/hung`);
    await Deno.writeTextFile(
      `${tmp}/hung/MyCode.ts`,
      "export function myFunction(_i: number): Promise<void> {\n  return new Promise(() => {});\n}\n",
    );
    await copyInto(SEED, `${tmp}/edited`);
    await Deno.writeTextFile(`${tmp}/edited/MyCode.ts`, EDITED_CODE);
    await using child = demo([`${tmp}/hung`, `${tmp}/edited`], ["so/Handles.ts"]);
    await child.waitFor(TICK(1));
    await child.write(`${tmp}/hung/Handles.ts\n`);
    await child.waitFor(TICK(2));
    await child.waitFor(
      /^gen 2 +someFn\(7\) has not returned after 50 ms: no more ticks on this generation; swap in a fix$/,
    );
    await child.write(`${tmp}/edited/Handles.ts\n`);
    await child.waitFor(TICK(3));
    await child.waitFor(/^Adding to 100: 107$/);
    await child.waitFor(TICK(3));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("demo: SIGINT closes gracefully and exits 0", { ignore: Deno.build.os === "windows" }, async () => {
  await using child = demo([], ["so/Handles.ts"]);
  await child.waitFor(TICK(1));
  child.kill("SIGINT");
  await child.waitFor(/^stop +SIGINT: letting calls on generation 1 drain$/);
  await child.waitFor(/^closed +bye$/);
  strictEqual((await child.status).code, 0);
});

Deno.test("demo: one Ctrl-C delivered twice (as under deno task) still drains and exits 0", {
  ignore: Deno.build.os === "windows",
}, async () => {
  await using child = demo([], ["so/Handles.ts"]);
  await child.waitFor(TICK(1));
  // The terminal signals the process group and `deno task` forwards its own copy.
  child.kill("SIGINT");
  child.kill("SIGINT");
  await child.waitFor(/^closed +bye$/);
  strictEqual((await child.status).code, 0);
  ok(!child.text("out").some((line) => line.includes("exiting without waiting")));
});

Deno.test("demo: --watch swaps when a file of the generation changes and survives a broken save", async () => {
  const tmp = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_demo_" }));
  try {
    await copyInto(SEED, tmp);
    await using child = demo([tmp], ["--watch", `${tmp}/Handles.ts`]);
    await child.waitFor(/^demo +\S+Handles\.ts {2}gen 1 {2}sha256-\S{8} {2}inline, every 50 ms, watching$/);
    await child.waitFor(/^Adding to 10: 17$/);

    await replaceFile(`${tmp}/MyCode.ts`, EDITED_CODE);
    await child.waitFor(/^swap +gen 1 → 2 {2}sha256-\S{8} {2}\S+Handles\.ts {2}\(watch: \S+MyCode\.ts\)$/);
    await child.waitFor(/^Adding to 100: 107$/);

    await replaceFile(`${tmp}/MyCode.ts`, BROKEN_CODE);
    await child.waitFor(/^error +E_IMPORT {2}.*\(generation 2 stays active\) {2}\(watch: \S+MyCode\.ts\)$/);
    await child.waitFor(TICK(2));
    await child.waitFor(/^Adding to 100: 107$/);

    await child.closeStdin();
    strictEqual((await child.status).code, 0);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("demo: --root confines where generations may load from", async () => {
  const tmp = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_demo_" }));
  try {
    await copyInto(SEED, `${tmp}/elsewhere`);
    await using child = demo([tmp], ["--root", `${REPO}so`, "so/Handles.ts"]);
    await child.waitFor(TICK(1));
    await child.write(`${tmp}/elsewhere/Handles.ts\n`);
    await child.waitFor(/^error +E_OUTSIDE_ROOTS {2}.*\(generation 1 stays active\) {2}\(stdin\)$/);
    await child.waitFor(TICK(1));
    await child.closeStdin();
    strictEqual((await child.status).code, 0);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("demo: --help lists every flag and exits 0", async () => {
  await using child = demo([], ["--help"]);
  strictEqual((await child.status).code, 0);
  const help = child.text("out").join("\n");
  for (const flag of ["--interval <ms>", "--isolation <mode>", "--root <dir>", "--watch", "--help"]) {
    ok(help.includes(flag), `--help does not mention ${flag}`);
  }
  match(help, /--allow-read=so/);
});

Deno.test("demo: a bad command line exits 2 and says what is wrong", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["--interval", "0", "so/Handles.ts"], /--interval must be a whole number from 1/],
    [["--isolation", "thread", "so/Handles.ts"], /--isolation must be "inline", "worker" or "process"/],
    [["--bogus", "so/Handles.ts"], /Unknown option '--bogus'/],
    [[], /Missing <module>/],
  ];
  for (const [args, message] of cases) {
    await using child = demo([], args);
    strictEqual((await child.status).code, 2, args.join(" "));
    match(child.text("err").join("\n"), message);
  }
});

Deno.test("demo: a first module that cannot load exits 1 with its code", async () => {
  await using child = demo([], ["so/Nope.ts"]);
  strictEqual((await child.status).code, 1);
  match(child.text("err").join("\n"), /^error +E_NOT_FOUND {2}Cannot load "\S+so\/Nope\.ts": no such file/);
});

/** Copies what `deno task demo` needs into `dir`, as a fresh clone has it. */
async function cloneInto(dir: string): Promise<void> {
  const copy = async (path: string): Promise<void> => {
    const info = await Deno.stat(`${REPO}${path}`);
    if (info.isFile) {
      await Deno.mkdir(`${dir}/${path}`.replace(/\/[^/]*$/, ""), { recursive: true });
      await Deno.copyFile(`${REPO}${path}`, `${dir}/${path}`);
      return;
    }
    for await (const entry of Deno.readDir(`${REPO}${path}`)) await copy(`${path}/${entry.name}`);
  };
  for (const top of ["deno.json", "mod.ts", "core", "types", "so", "demo"]) await copy(top);
}

/** A generation whose someFn reads a file it was never granted. */
const READER = `import type { SOHandles } from "../types/mod.ts";
export const hs_soHandles: SOHandles = {
  someData: "I read files",
  someFn(): void {
    Deno.readTextFileSync("/etc/hostname");
  },
};
`;

Deno.test("demo: `deno task demo --isolation worker` swaps on stdin, and an ungranted read is denied, not prompted, at a terminal", async () => {
  const clone = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_clone_" }));
  try {
    await cloneInto(clone);
    await Deno.writeTextFile(`${clone}/so/Reader.ts`, READER);
    // `script` gives the task a terminal: without --no-prompt, Deno would ask the operator there.
    const task = `${Deno.execPath()} task demo --interval 50 --isolation worker`;
    await using child = Child.spawn(["-qec", task, "/dev/null"], {
      program: "script",
      cwd: clone,
      env: { NO_COLOR: "1" },
    });
    await child.waitFor(/^demo +so\/Handles\.ts +gen 1 +sha256-\S+ +worker, every 50 ms$/);
    await child.waitFor(TICK(1));
    await child.waitFor(/^Adding to 10: 17$/);
    await child.write("so/Reader.ts\n");
    await child.waitFor(/^swap +gen 1 → 2 .*so\/Reader\.ts .*\(stdin\)$/);
    await child.waitFor(/^error +NotCapable .*Requires read access to "\/etc\/hostname".*\(tick\)$/);
    await child.closeStdin();
    strictEqual((await child.status).code, 0);
    const output = child.lines.map((line) => line.text).join("\n");
    ok(!/Deno requests|Allow\?/.test(output), `no permission prompt:\n${output}`);
  } finally {
    await Deno.remove(clone, { recursive: true });
  }
});

Deno.test("demo: --isolation worker without worker-options is refused with E_UNSUPPORTED and exits 1", async () => {
  // --no-config: the repository's deno.json, which enables worker-options, is not read.
  await using child = Child.spawn([
    "run",
    "--no-config",
    "--no-prompt",
    `--allow-read=${REPO}`,
    "demo/main.ts",
    "--isolation",
    "worker",
    "so/Handles.ts",
  ]);
  strictEqual((await child.status).code, 1);
  match(child.text("err").join("\n"), /^error +E_UNSUPPORTED +Cannot run .* --unstable-worker-options/m);
});

Deno.test("demo: --trust loads only signed artifacts: swaps to a good one, refuses a tampered one and a module", async () => {
  const tmp = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_demo_signed_" }));
  try {
    const key = await generateSigningKey();
    const trust = { version: 1, keys: [{ keyid: key.keyid, publicKey: key.publicKey }], revoked: [] };
    await Deno.writeTextFile(`${tmp}/trust.json`, JSON.stringify(trust));
    await copyInto(SEED, `${tmp}/edited`);
    await Deno.writeTextFile(`${tmp}/edited/MyCode.ts`, EDITED_CODE);
    for (
      const [name, entry, sequence] of [["v1", `${REPO}so/Handles.ts`, 1], [
        "v2",
        `${tmp}/edited/Handles.ts`,
        2,
      ]] as const
    ) {
      const packed = await packArtifact(entry, { contract: soHandles, key, label: name, sequence });
      await Deno.writeFile(`${tmp}/${name}.hsgen`, packed.bytes);
    }
    // One byte of v2's first file (MyCode.ts), changed after signing.
    const text = await Deno.readTextFile(`${tmp}/v2.hsgen`);
    const at = text.indexOf('"bytes":"') + 12;
    await Deno.writeTextFile(
      `${tmp}/bad.hsgen`,
      text.slice(0, at) + (text[at] === "A" ? "B" : "A") + text.slice(at + 1),
    );

    // Read access to the artifacts and the trust list, not to their directory.
    const files = ["trust.json", "v1.hsgen", "v2.hsgen", "bad.hsgen"].map((name) => `${tmp}/${name}`);
    await using child = demo(files, ["--trust", `${tmp}/trust.json`, `${tmp}/v1.hsgen`]);
    await child.waitFor(TICK(1));
    await child.waitFor(/^Adding to 10: 17$/);
    await child.write(`${tmp}/v2.hsgen\n`);
    await child.waitFor(
      /^swap +gen 1 → 2 {2}sha256-\S{8} {2}\S+\/v2\.hsgen\/Handles\.ts {2}\d+ ms {2}\(stdin\)$/,
    );
    await child.waitFor(/^Adding to 100: 107$/);
    await child.write(`${tmp}/bad.hsgen\n`);
    await child.waitFor(
      /^error +E_SIGNATURE {2}Cannot load ".*bad\.hsgen": tampered: .*\(generation 2 stays active\)/,
    );
    await child.write("so/Handles.ts\n");
    await child.waitFor(/^error +E_SIGNATURE {2}Cannot load ".*so\/Handles\.ts": unsigned: /);
    await child.waitFor(TICK(2));
    await child.waitFor(/^Adding to 100: 107$/);
    await child.closeStdin();
    strictEqual((await child.status).code, 0);
    deepStrictEqual(child.text("err"), []);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
