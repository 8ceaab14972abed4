/**
 * ProcessOutput (core/_process_output.ts): the stderr tail a process leaves
 * for the message of its death, files named and cut, whatever names the
 * process reported.
 *
 * @module
 */

import { ok, strictEqual } from "node:assert/strict";
import { ProcessOutput } from "../core/_process_output.ts";

Deno.test("ProcessOutput.stderrTail() names files and stays short, whatever the process named", () => {
  const output = new ProcessOutput();
  const url = "blob:null/6c1b0f1e-4d2b-4c8e-9f2a-0123456789ab";
  output.files = [[url, "/srv/app/main.ts"]];
  output.keepStderr(new TextEncoder().encode(`error: Uncaught Error: boom\n    at ${url}:3:9\x1b[2J`));
  strictEqual(output.stderrTail(), "error: Uncaught Error: boom\n    at /srv/app/main.ts:3:9\\x1b[2J");
  // A name met many times, replaced by a long one, pair after pair: the text would grow with each.
  const flood = new ProcessOutput();
  flood.files = Array.from({ length: 50 }, () => ["a", "a".repeat(4096)] as const);
  flood.keepStderr(new TextEncoder().encode("a".repeat(8192)));
  const tail = flood.stderrTail();
  ok(tail.length <= 1_501, `${tail.length} characters`);
});
