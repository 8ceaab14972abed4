/**
 * README.md as the tests that run its commands read it: its sections and
 * their fenced blocks.
 *
 * @module
 */

import { ok } from "node:assert/strict";
import { REPO } from "./_child.ts";

/** The text of README.md. */
export const README: string = await Deno.readTextFile(`${REPO}README.md`);

/** The lines of the section under `## heading`, up to the next `## `. */
export function section(heading: string): string[] {
  const lines = README.split("\n");
  const start = lines.indexOf(`## ${heading}`);
  ok(start >= 0, `README.md has no "## ${heading}" section`);
  const end = lines.findIndex((line, index) => index > start && line.startsWith("## "));
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

/** The lines of the first fenced block in `lines`. */
export function firstBlock(lines: readonly string[]): string[] {
  const open = lines.findIndex((line) => line.startsWith("```"));
  const close = lines.findIndex((line, index) => index > open && line === "```");
  ok(open >= 0 && close > open, "no fenced block");
  return lines.slice(open + 1, close);
}
