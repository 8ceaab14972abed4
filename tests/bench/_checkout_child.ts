/**
 * How the benches that compare checkouts (`swap_ab.ts`, `class_enum_swaps.ts`)
 * run each measurement: the bench file again, in a child `deno run -A`, as
 * our runners serve (`--no-code-cache`, `DENO_EMIT_CACHE_MODE=disable`), so
 * that every checkout starts from a fresh process.
 *
 * @module
 */

/**
 * Runs `file` with `--child`, `args` and the checkout's path.
 *
 * @param flags Further `deno run` flags, such as `--v8-flags=--expose-gc`.
 * @returns The JSON the child printed on its last line.
 * @throws {Error} With the child's stderr, when it failed.
 */
export async function measureInChild<T>(
  file: string,
  checkout: string,
  args: readonly string[],
  flags: readonly string[] = [],
): Promise<T> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-code-cache", ...flags, file, "--child", ...args, checkout],
    env: { DENO_EMIT_CACHE_MODE: "disable" },
  }).output();
  if (code !== 0) throw new Error(`${checkout}: ${new TextDecoder().decode(stderr)}`);
  return JSON.parse(new TextDecoder().decode(stdout).trim().split("\n").at(-1)!) as T;
}
