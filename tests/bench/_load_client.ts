/**
 * The request loops of the in-process benchmarks (`swap_phases.ts`,
 * `swap_ab.ts`): a child process keeps 4 loops on `/` and 2 on
 * `/slow?ms=300` running against the server under test, so that the load
 * does not share the measured thread.
 *
 * @module
 */

const CLIENT = `
const [port, until] = Deno.args.map(Number);
const seen = [];
async function loop(path) {
  while (Date.now() < until) {
    const at = performance.timeOrigin + performance.now();
    try {
      const body = await (await fetch("http://127.0.0.1:" + port + path)).text();
      const version = Number(/v(\\d+)/.exec(body)?.[1]);
      if (path === "/") seen.push([at, performance.timeOrigin + performance.now(), version]);
    } catch { /* the server is stopping */ }
  }
}
await Promise.all([loop("/"), loop("/"), loop("/"), loop("/"), loop("/slow?ms=300"), loop("/slow?ms=300")]);
console.log(JSON.stringify(seen));
`;

/** One `GET /` the client made: when it started and ended (ms since the epoch) and the version that answered. */
export type Answer = [start: number, end: number, version: number];

/**
 * Starts the request loops against `127.0.0.1:port` until `until` (ms since the epoch).
 *
 * @returns Every `GET /` answer, once the loops stop.
 */
export async function loadClient(port: number, until: number): Promise<Answer[]> {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", CLIENT, String(port), String(until)],
    stdout: "piped",
  }).output();
  return JSON.parse(new TextDecoder().decode(stdout));
}
