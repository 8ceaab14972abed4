/**
 * The program of the off-thread reader (see `_off_thread_reader.ts`): it
 * reads generations from disk (module paths, and `.hsgen` artifacts, which
 * it verifies) as `_disk_reader.ts` reads them without a reader, and warms
 * its own import scanner, on a thread of its own so the serving thread goes
 * on answering meanwhile. Only the runtime's code runs here, with the host's
 * permissions; nothing of a generation is ever evaluated.
 *
 * @module
 */

import { openArtifactFile, readModuleGraph } from "./_disk_reader.ts";
import { isStackOverflow } from "./_graph_reader.ts";
import { serializeError } from "./_protocol.ts";
import { SignatureError } from "./signature.ts";
import { warmScanner } from "./_scanner_warmup.ts";
import type { ReaderReply, ReaderRequest } from "./_off_thread_reader.ts";

/** The parts of the worker global scope this program uses. */
interface ReaderScope {
  postMessage(message: ReaderReply): void;
  onmessage: ((event: MessageEvent<ReaderRequest>) => void) | null;
}

const scope = self as unknown as ReaderScope;

scope.onmessage = async ({ data: request }) => {
  try {
    if (request.t === "read") {
      const { modules, bytes } = await readModuleGraph(request.entry, request.roots, request.maxBytes);
      scope.postMessage({ id: request.id, modules, bytes });
    } else if (request.t === "artifact") {
      const { entry, modules, bytes, provenance } = await openArtifactFile(request.path, request);
      scope.postMessage({ id: request.id, entry, modules, bytes, provenance });
    } else {
      await warmScanner(request.modules);
      scope.postMessage({ id: request.id });
    }
  } catch (error) {
    // How deep a chain overflows depends on how far V8 optimised the walk
    // (measured: from 1,260 to 2,266 modules, on either thread): a graph too
    // deep here is read again on the host's thread, so that using a reader
    // never refuses a graph that reading there accepts.
    if (error instanceof Error && isStackOverflow(error.cause)) {
      scope.postMessage({ id: request.id, tooDeep: true });
      return;
    }
    // SerializedError carries no reason: sent beside it, so the host rebuilds the SignatureError.
    const signatureReason = error instanceof SignatureError ? error.reason : undefined;
    scope.postMessage({ id: request.id, error: serializeError(error), signatureReason });
  }
};
