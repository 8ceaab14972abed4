/**
 * Which of the permissions a sandbox asks for the host holds itself: a
 * worker or a process can only be given permissions its host has, and the
 * refusal must name the flag to add (`--allow-net=example.com`), not the
 * whole permission set.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Permission kinds a sandbox may be granted. */
export type GrantKind = "env" | "ffi" | "import" | "net" | "read" | "run" | "sys" | "write";

const PATH_KINDS: ReadonlySet<GrantKind> = new Set(["ffi", "read", "write"]);

/** `item` as the host's permissions name it: a path made absolute (a `run` item only when it is a path). */
export function absoluteGrant(kind: GrantKind, item: string): string {
  const pathLike = PATH_KINDS.has(kind) || (kind === "run" && /[\\/]/.test(item));
  return pathLike && !isAbsolute(item) ? resolve(item) : item;
}

/** The host's flag for `kind` (and `item`): `--allow-net` or `--allow-net=example.com`. */
export function grantFlag(kind: GrantKind, item: string | undefined): string {
  return item === undefined ? `--allow-${kind}` : `--allow-${kind}=${item}`;
}

/**
 * Whether the host holds `kind` (for `item`, or entirely), asked without a
 * prompt. `import` always counts as held: the host's own state of it cannot
 * be queried as granted.
 */
export function hostHolds(kind: GrantKind, item: string | undefined): boolean {
  if (kind === "import") return true;
  try {
    return Deno.permissions.querySync(descriptorOf(kind, item)).state === "granted";
  } catch {
    return false; // a name Deno cannot take (a `sys` kind it does not know): not held
  }
}

/**
 * The flags the host lacks for a worker's permission set (`true` for a kind,
 * or a list of items, as `Deno.PermissionOptionsObject` gives them), in
 * kind order; empty when the host holds them all.
 */
export function missingGrants(permissions: Deno.PermissionOptionsObject): string[] {
  const missing: string[] = [];
  for (const [kind, value] of Object.entries(permissions) as [GrantKind, unknown][]) {
    if (value === true || value === "inherit") {
      if (!hostHolds(kind, undefined)) missing.push(grantFlag(kind, undefined));
    } else if (Array.isArray(value)) {
      for (const item of value) {
        if (typeof item !== "string" && !(item instanceof URL)) continue;
        const text = item instanceof URL
          ? (item.protocol === "file:" ? fileURLToPath(item) : item.href)
          : item;
        const name = absoluteGrant(kind, text);
        if (!hostHolds(kind, name)) missing.push(grantFlag(kind, name));
      }
    }
  }
  return missing;
}

function descriptorOf(
  kind: Exclude<GrantKind, "import">,
  item: string | undefined,
): Deno.PermissionDescriptor {
  switch (kind) {
    case "env":
      return item === undefined ? { name: "env" } : { name: "env", variable: item };
    case "net":
      return item === undefined ? { name: "net" } : { name: "net", host: item };
    case "run":
      return item === undefined ? { name: "run" } : { name: "run", command: item };
    case "sys":
      return item === undefined
        ? { name: "sys" }
        : { name: "sys", kind: item as NonNullable<Deno.SysPermissionDescriptor["kind"]> };
    case "read":
    case "write":
    case "ffi":
      return item === undefined ? { name: kind } : { name: kind, path: item };
  }
}
