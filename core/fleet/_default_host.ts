/**
 * The id a fleet host goes by when it is given none (SPEC 5 follows a
 * channel with no `host`): unique among the live hosts of a fleet, on one
 * machine or many, but not kept across restarts, so a restarted host may
 * change sides in a rollout's canary. Give `host` to keep it.
 *
 * @module
 */

/**
 * `<hostname>:<pid>:<8 random hex digits>`, `deno` standing for the
 * hostname when the host may not read it (`--allow-sys=hostname`); never
 * prompts for the permission. The random part tells apart two hosts of one
 * process, and containers that share a hostname and a pid (often 1).
 */
export function defaultHostId(): string {
  let hostname = "";
  try {
    if (Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state === "granted") {
      // A store name is tokens of letters, digits, `_` and `-`, joined by single dots (`checkName`).
      hostname = Deno.hostname().replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/\.{2,}/g, ".")
        .replace(/^\.+|\.+$/g, "").slice(0, 150);
    }
  } catch {
    // No hostname to be had: the random part keeps the id unique.
  }
  const random = Array.from(
    crypto.getRandomValues(new Uint8Array(4)),
    (byte) => byte.toString(16).padStart(2, "0"),
  );
  return `${hostname || "deno"}:${Deno.pid}:${random.join("")}`;
}
