/**
 * The program of the off-thread reader (see `_off_thread_reader.ts`): it
 * reads generations from disk (module paths, and `.hsgen` artifacts, which
 * it verifies) as `_disk_reader.ts` reads them without a reader, and warms
 * its own import scanner, on a thread of its own so the serving thread goes
 * on answering meanwhile; and, asked to, reads a graph at each delivery of a
 * signal, as soon as the signal arrives. Only the runtime's code runs here,
 * with the host's permissions; nothing of a generation is ever evaluated.
 *
 * @module
 */

import { openArtifactFile, readModuleGraph } from "./_disk_reader.ts";
import { isStackOverflow } from "./_graph_reader.ts";
import { serializeError } from "./_protocol.ts";
import { readOnEachSignal } from "./_signal_reads.ts";
import { SignatureError } from "./signature.ts";
import { warmScanner } from "./_scanner_warmup.ts";
import type { ReaderReply, ReaderRequest } from "./_off_thread_reader.ts";

/** The parts of the worker global scope this program uses. */
interface ReaderScope {
  postMessage(message: ReaderReply): void;
  onmessage: ((event: MessageEvent<ReaderRequest>) => void) | null;
}

const scope = self as unknown as ReaderScope;

/** The signal listeners `listen` requests started, by request id. */
const listening = new Map<number, () => void>();

scope.onmessage = async ({ data: request }) => {
  if (request.t === "listen") {
    // Each delivery reads the graph at once, here, and posts the finished
    // read under the listen request's id; see `OffThreadReader.listen`.
    const stop = readOnEachSignal(
      request.signal,
      () => answer({ ...request, t: "read" }),
      async (reply) => {
        // Said first, so that the host reads again itself should this thread end before the read's answer.
        scope.postMessage({ id: request.id, taken: true });
        scope.postMessage(await reply);
      },
    );
    listening.set(request.id, stop);
    scope.postMessage({ id: request.id, listening: true });
  } else if (request.t === "unlisten") {
    listening.get(request.id)?.();
    listening.delete(request.id);
  } else {
    scope.postMessage(await answer(request));
  }
};

/** What a read or warm-up request comes to; never rejects. */
async function answer(request: Exclude<ReaderRequest, { t: "listen" | "unlisten" }>): Promise<ReaderReply> {
  try {
    if (request.t === "read") {
      const { modules, bytes } = await readModuleGraph(request.entry, request.roots, request.maxBytes);
      return { id: request.id, modules, bytes };
    }
    if (request.t === "artifact") {
      const { entry, modules, bytes, provenance } = await openArtifactFile(request.path, request);
      return { id: request.id, entry, modules, bytes, provenance };
    }
    if (request.read !== undefined) {
      const { entry, roots, maxBytes } = request.read;
      // Nothing to report: the swap that reads these files says what is wrong with them.
      await readModuleGraph(entry, roots, maxBytes).catch(() => {});
    }
    await warmScanner(request.modules);
    return { id: request.id };
  } catch (error) {
    // How deep a chain overflows depends on how far V8 optimised the walk
    // (measured: from 1,260 to 2,266 modules, on either thread): a graph too
    // deep here is read again on the host's thread, so that using a reader
    // never refuses a graph that reading there accepts.
    if (error instanceof Error && isStackOverflow(error.cause)) return { id: request.id, tooDeep: true };
    // SerializedError carries no reason: sent beside it, so the host rebuilds the SignatureError.
    const signatureReason = error instanceof SignatureError ? error.reason : undefined;
    return { id: request.id, error: serializeError(error), signatureReason };
  }
}
