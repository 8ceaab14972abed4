/**
 * Refuses options nobody reads. TypeScript catches a misspelt option only
 * in an object literal; elsewhere (JavaScript, options built at run time or
 * read from a file) `trsut` or `isolaton` would be ignored, and the load
 * would go ahead unsigned or in the host's isolate: failing open. So an
 * unknown key is a `TypeError`, naming the option it most likely meant.
 *
 * @module
 */

/**
 * Throws unless `options` is an object whose own keys are all in `known`
 * (or set to `undefined`).
 *
 * @param options What the caller passed.
 * @param known The options the callee reads.
 * @param subject How the message begins: `Cannot register`, `Cannot swap`.
 * @throws {TypeError} Naming the unknown key, the closest known one, and the list.
 */
export function refuseUnknownOptions(options: unknown, known: readonly string[], subject: string): void {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError(
      `${subject}: the options must be an object, got ${
        options === null ? "null" : Array.isArray(options) ? "an array" : typeof options
      }`,
    );
  }
  for (const key of Object.keys(options)) {
    // A key set to undefined asks for nothing, as a left-out one (config mapped onto options).
    if (known.includes(key) || (options as Record<string, unknown>)[key] === undefined) continue;
    const closest = closestOf(key, known);
    throw new TypeError(
      `${subject}: unknown option ${JSON.stringify(key)}${
        closest === undefined ? "" : ` (did you mean ${JSON.stringify(closest)}?)`
      }; the options are ${known.join(", ")}`,
    );
  }
}

/** The known name within 2 edits of `key` (case aside), if one is. */
function closestOf(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const name of known) {
    const distance = editDistance(key.toLowerCase(), name.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [name, distance];
  }
  return best;
}

/** Levenshtein distance, a swap of two neighbours counting one (`isolaton`, `trsut`). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows[i] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[i]![j] = j;
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      }
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}
