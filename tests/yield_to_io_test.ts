/**
 * `yieldToIo()` (core/_yield_to_io.ts): a request that reached this
 * process's server while its thread was busy is handed to the handler within
 * a few awaits of it. A microtask or `setImmediate` turn never hands it over
 * on Deno 2.9.6, so an implementation that fell back to either fails here.
 *
 * The client is another process: one in this process could not send while
 * this thread is busy. It and this test meet through files, read with sync
 * calls, so that this thread never turns its event loop while it waits.
 *
 * @module
 */

import { ok } from "node:assert/strict";
import { join } from "node:path";
import { yieldToIo } from "../core/_yield_to_io.ts";

/** The client: one request on a connection, a marker, then a second request on the same connection once told to. */
const CLIENT = `
const [port, dir] = Deno.args;
const connection = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
const request = new TextEncoder().encode("GET / HTTP/1.1\\r\\nhost: test\\r\\n\\r\\n");
const buffer = new Uint8Array(4096);
await connection.write(request);
await connection.read(buffer);
Deno.writeTextFileSync(dir + "/answered", "");
for (;;) {
  try { Deno.statSync(dir + "/go"); break; } catch { await new Promise((resolve) => setTimeout(resolve, 1)); }
}
await connection.write(request);
Deno.writeTextFileSync(dir + "/sent", "");
await connection.read(buffer);
connection.close();
`;

const exists = (path: string): boolean => {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
};

Deno.test("yieldToIo() hands a request that arrived while the thread was busy to its handler", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_yield_" });
  let answered = 0;
  // Read through a call: the compiler would take `answered` for a constant across the awaits.
  const handled = () => answered;
  const first = Promise.withResolvers<void>();
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    answered++;
    first.resolve();
    return new Response("ok");
  });
  const client = new Deno.Command(Deno.execPath(), {
    args: ["eval", CLIENT, String(server.addr.port), dir],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  try {
    await first.promise;
    while (!exists(join(dir, "answered"))) await new Promise((resolve) => setTimeout(resolve, 1));
    // From here this thread is busy, as a swap's compile is: no await until the request is in.
    Deno.writeTextFileSync(join(dir, "go"), "");
    const deadline = performance.now() + 10_000;
    while (!exists(join(dir, "sent"))) ok(performance.now() < deadline, "the client never sent");
    ok(handled() === 1, `the second request was answered before any turn (${handled()} answered)`);
    let turns = 0;
    while (handled() === 1 && turns < 10) {
      turns++;
      await yieldToIo();
    }
    // Measured: in one turn 3 times in 4, in up to 6 turns otherwise.
    ok(handled() === 2, `not handed over after ${turns} turns`);
  } finally {
    await client.status;
    await Deno.remove(dir, { recursive: true });
  }
});
