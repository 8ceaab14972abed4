/**
 * The logic of the sample HTTP app generation: edit it, then send the server
 * SIGHUP (or run it with --watch) and the next request sees the change.
 *
 * @module
 */

/** The app's version, shown in every answer. */
export const VERSION = "v1";

/** The greeting `GET /` answers with. */
export function greet(generation: number, served: number): string {
  return `Hello from ${VERSION}, generation ${generation} (request #${served})\n`;
}
