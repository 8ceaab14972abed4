/**
 * The host's end of a generation process's pipes (core/_process_channel.ts),
 * against real child processes: frames both ways, stderr handed on, and the
 * bounds held against a process that writes what no honest one writes or
 * stops reading its stdin (SPEC 6.5).
 *
 * @module
 */

import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { payloadText } from "../core/_frames.ts";
import { ProcessChannel, type ProcessChannelEvents } from "../core/_process_channel.ts";
import { ProtocolViolation } from "../core/_worker_messages.ts";

const FRAMES = JSON.stringify(new URL("../core/_frames.ts", import.meta.url).href);

/** The start of every child program: a frame writer on stdout. */
const PRELUDE = `import { FrameReader, FrameWriter } from ${FRAMES};
const out = Deno.stdout.writable.getWriter();
const frames = new FrameWriter((bytes) => out.write(bytes), () => {});
`;

interface Frame {
  readonly type: number;
  readonly id: number;
  readonly arg: number;
  readonly text: string;
}

/** A child running `program` after the prelude, and a channel to it that records what it reports. */
function spawn(program: string, onFrame?: (frame: Frame) => void): {
  channel: ProcessChannel;
  child: Deno.ChildProcess;
  frames: Frame[];
  violations: string[];
  stderr: () => string;
  ended: Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
} {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", PRELUDE + program],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const frames: Frame[] = [];
  const violations: string[] = [];
  const errors: Uint8Array[] = [];
  const ended = Promise.withResolvers<void>();
  const events: ProcessChannelEvents = {
    frame(type, id, arg, payload) {
      const frame = { type, id, arg, text: payloadText(payload) };
      onFrame?.(frame);
      frames.push(frame);
    },
    violation: (what) => violations.push(what),
    end: ended.resolve,
    stderr: (chunk) => errors.push(chunk.slice()),
  };
  const channel = new ProcessChannel(child, events);
  return {
    channel,
    child,
    frames,
    violations,
    stderr: () => new TextDecoder().decode(new Uint8Array(errors.flatMap((chunk) => [...chunk]))),
    ended: ended.promise,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch {
        // It has exited already.
      }
      await child.status;
      await channel.close();
    },
  };
}

Deno.test("ProcessChannel delivers the frames a process writes, in order, and its stderr", async () => {
  await using run = spawn(`frames.frame(17, 1, 2, "first");
frames.frame(18, 4294967295, 0, "");
frames.frame(20, 3, 1, "x".repeat(200000));
console.error("on stderr");`);
  await run.ended;
  await run.channel.drained;
  deepStrictEqual(run.frames.map(({ type, id, arg }) => [type, id, arg]), [
    [17, 1, 2],
    [18, 4294967295, 0],
    [20, 3, 1],
  ]);
  strictEqual(run.frames[0]!.text, "first");
  strictEqual(run.frames[2]!.text.length, 200000, "a frame larger than one read arrives whole");
  match(run.stderr(), /on stderr/);
  deepStrictEqual(run.violations, []);
  strictEqual((await run.child.status).code, 0);
});

Deno.test("ProcessChannel.send() writes frames the process reads in order", async () => {
  // The child echoes every frame back, then exits after the third.
  await using run = spawn(`let count = 0;
const reader = new FrameReader(1 << 20, (type, id, arg, payload) => {
  frames.frame(type, id, arg, new TextDecoder().decode(payload));
  count++;
});
for await (const chunk of Deno.stdin.readable) {
  reader.push(chunk);
  if (count === 3) break;
}`);
  run.channel.send(3, 1, 0, "[1]");
  run.channel.send(3, 2, 1, "é".repeat(70000));
  run.channel.send(4, 3, 0, "");
  await run.ended;
  deepStrictEqual(run.frames.map(({ type, id, arg }) => [type, id, arg]), [[3, 1, 0], [3, 2, 1], [4, 3, 0]]);
  strictEqual(run.frames[1]!.text, "é".repeat(70000));
});

Deno.test("ProcessChannel reports a frame out of bounds and reads nothing after it", async () => {
  await using run = spawn(`frames.frame(17, 1, 0, "before");
await out.write(new Uint8Array([255, 255, 255, 255, 1, 0, 0, 0]));
frames.frame(17, 2, 0, "after");`);
  await run.ended;
  deepStrictEqual(run.frames.map((frame) => frame.text), ["before"]);
  strictEqual(run.violations.length, 1);
  match(run.violations[0]!, /^A frame declared 4294967295 bytes, outside 12-/);
});

Deno.test("ProcessChannel reports a frame its handler refuses, and reads nothing after it", async () => {
  await using refused = spawn(`frames.frame(99, 1, 0, ""); frames.frame(17, 2, 0, "");`, (frame) => {
    if (frame.type === 99) throw new ProtocolViolation("a frame of unknown type 99");
  });
  await refused.ended;
  deepStrictEqual(refused.violations, ["a frame of unknown type 99"]);
  strictEqual(refused.frames.length, 0);
  await using broken = spawn(`frames.frame(19, 1, 0, "{not json");`, (frame) => {
    JSON.parse(frame.text);
  });
  await broken.ended;
  strictEqual(broken.violations.length, 1);
  match(broken.violations[0]!, /^a frame the host cannot read \(SyntaxError: /);
});

Deno.test("ProcessChannel.stop() reads no more frames from a process", async () => {
  await using run = spawn(`await new Promise((resolve) => setTimeout(resolve, 0));
frames.frame(17, 1, 0, "ignored");`);
  run.channel.stop();
  await run.ended;
  strictEqual(run.frames.length, 0);
});

Deno.test("ProcessChannel.backlog() reports bytes queued for a process that does not read its stdin", async () => {
  // The child never reads its stdin and stays alive until killed.
  await using run = spawn(`setInterval(() => {}, 1000);`);
  strictEqual(run.channel.backlog(), undefined);
  const mebibyte = "x".repeat(1 << 20);
  let sent = 0;
  while (run.channel.backlog() === undefined && sent < 100) {
    run.channel.send(3, ++sent, 0, mebibyte);
  }
  const queued = run.channel.backlog();
  ok(queued !== undefined && queued > 64 * 1024 * 1024, `backlog ${queued} after ${sent} MiB`);
  ok(sent <= 66, `refused from 64 MiB on, not ${sent}`);
});

Deno.test("ProcessChannel.close() ends the reads of a process that keeps its pipes open", async () => {
  const run = spawn(`setInterval(() => {}, 1000);`);
  await run.channel.close();
  await run.channel.drained;
  run.child.kill("SIGKILL");
  strictEqual((await run.child.status).signal, "SIGKILL");
});
