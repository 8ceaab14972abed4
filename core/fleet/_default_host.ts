/**
 * The id a fleet host goes by when it is given none (SPEC 5 follows a
 * channel with no `host`): unique among the live hosts of a fleet, on one
 * machine or many, but not kept across restarts, so a restarted host may
 * change sides in a rollout's canary. Give `host` to keep it.
 *
 * @module
 */

/**
 * `<hostname>:<pid>` when the host may read its hostname
 * (`--allow-sys=hostname`), else `deno:<pid>:<8 random hex digits>`; never
 * prompts for the permission.
 */
export function defaultHostId(): string {
  let hostname: string | undefined;
  try {
    if (Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state === "granted") {
      // A store name's parts are letters, digits, `_` and `-` (`checkName`).
      hostname = Deno.hostname().replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^[.-]+|[.-]+$/g, "").slice(
        0,
        150,
      );
    }
  } catch {
    // No hostname to be had: the random part keeps the id unique.
  }
  if (hostname) return `${hostname}:${Deno.pid}`;
  const random = crypto.getRandomValues(new Uint8Array(4));
  return `deno:${Deno.pid}:${Array.from(random, (byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}
