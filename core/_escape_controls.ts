/**
 * Control characters a generation may put in what the host prints (its
 * console output, its errors' messages and stacks), written out as `\xNN`
 * so that they cannot drive the host's terminal: move the cursor, switch
 * screens, set the window title, or ask the terminal to type an answer into
 * the host's stdin.
 *
 * Imports nothing host-only.
 *
 * @module
 */

// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/**
 * Escapes C0 and C1 control characters other than tab and line feed.
 *
 * @param text What a generation would have the host print.
 * @returns The same text, each such character written as `\xNN`.
 */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`);
}
