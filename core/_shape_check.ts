/**
 * Checking a candidate handle against a contract's shape (SPEC 3): every
 * mismatch is listed, not just the first, and nothing the handle does
 * (throwing getters, revoked Proxies) escapes as an exception, since the
 * handle is a generation's code running inside the host.
 *
 * @module
 */

import { describeThrown } from "./errors.ts";
import { fitsKind, parseKind, type ShapeDefinition, type ShapeKind, type ShapeMember } from "./_shape.ts";

/**
 * Appends one line per member of `shape` that `value` lacks or holds with
 * the wrong kind, nested shapes included.
 *
 * @param value The object whose members are checked.
 * @param shape What they must be.
 * @param prefix The member path of `value`; `""` for the handle itself.
 * @param problems Where mismatches are appended.
 */
export function checkMembers(
  value: Record<PropertyKey, unknown>,
  shape: ShapeDefinition,
  prefix: string,
  problems: string[],
): void {
  for (const key of Object.keys(shape)) {
    const member = shape[key] as ShapeMember;
    const path = prefix ? `${prefix}.${key}` : key;
    let actual: unknown;
    try {
      actual = value[key];
    } catch (error) {
      problems.push(`${path}: reading it threw ${describeThrown(error)}`);
      continue;
    }
    try {
      checkMember(value, key, actual, member, path, problems);
    } catch (error) {
      // Array.isArray throws on a revoked Proxy: blame this member and check the others.
      problems.push(`${path}: inspecting it threw ${describeThrown(error)}`);
    }
  }
}

function checkMember(
  owner: Record<PropertyKey, unknown>,
  key: string,
  actual: unknown,
  member: ShapeMember,
  path: string,
  problems: string[],
): void {
  if (typeof member !== "string") {
    if (typeof actual === "object" && actual !== null && !Array.isArray(actual)) {
      checkMembers(actual as Record<PropertyKey, unknown>, member, path, problems);
    } else {
      problems.push(`${path}: expected object, got ${describeMember(owner, key, actual)}`);
    }
    return;
  }
  const { kind, optional } = parseKind(member);
  if (optional && actual === undefined) return;
  if (!fitsKind(actual, kind as ShapeKind)) {
    problems.push(`${path}: expected ${kind}, got ${describeMember(owner, key, actual)}`);
  }
}

/** Like {@linkcode describeValue}, but tells a missing member from one set to `undefined`. */
function describeMember(
  owner: Record<PropertyKey, unknown>,
  key: string,
  actual: unknown,
): string {
  if (actual !== undefined) return describeValue(actual);
  try {
    return key in owner ? "undefined" : "undefined (missing)";
  } catch {
    return "undefined";
  }
}

/** The kind a value has, in the words of a shape (`null` and `array` apart from `object`). */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}
