/**
 * A word as a POSIX shell reads it back: left as it is when it holds nothing
 * the shell would split or expand, else in single quotes. For the commands
 * messages print to be pasted (`mkdir -p …`, a `deno run` line).
 *
 * @module
 */

/** `word`, quoted for a POSIX shell when it needs to be. */
export function shellQuoted(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
