/**
 * The snapshot source of a reference: module paths read from disk, `.hsgen`
 * artifacts opened from their one file. With a trust list, only artifacts
 * that pass every check of SPEC 12 come through, and this source remembers
 * the highest sequence its reference committed, so an older artifact cannot
 * be swapped back in (rollback never asks the source: it needs no signature).
 *
 * @module
 */

import { isArtifactPath } from "./artifact.ts";
import type { DiskReader } from "./_disk_reader.ts";
import type { SignalReads, SnapshotSource } from "./loader.ts";
import { type PathLike, toAbsolutePath } from "./roots.ts";
import { SignatureError } from "./signature.ts";
import type { Snapshot } from "./snapshot.ts";
import { acceptTrustUpdate, parseTrustList, readTrustList, type TrustList } from "./trust.ts";

/** What an {@linkcode ArtifactSource} needs from the reference's options. */
export interface ArtifactSourceOptions {
  /** The `trust` option: a trust list file, the list itself, or nothing. */
  readonly trust: PathLike | TrustList | undefined;
  /** The reference's contract name, which signing keys must be scoped to. */
  readonly contract: string;
  /** Reads module paths and artifact files from disk, within the roots and the size cap. */
  readonly modules: DiskReader;
}

/** Module paths from disk; artifacts verified against the trust list in force. */
export class ArtifactSource implements SnapshotSource {
  readonly #options: ArtifactSourceOptions;
  /** The trust list in force, once read. */
  #list: TrustList | undefined;
  /** Highest sequence of a signed artifact the reference committed. */
  #highest: number | undefined;

  constructor(options: ArtifactSourceOptions) {
    this.#options = options;
  }

  async read(path: string, options: { readonly rollback?: boolean } = {}): Promise<Snapshot> {
    const { trust, modules, contract } = this.#options;
    if (!isArtifactPath(path)) {
      if (trust === undefined) return await modules.read(path);
      throw new SignatureError(
        "unsigned",
        `Cannot load "${path}": unsigned: it is a module, and this host loads only .hsgen artifacts signed by a key of its trust list; pack it with \`hotswap pack ${path} --contract <module>#<export> --key <name>.key --out <file>.hsgen\``,
        { path },
      );
    }
    return await modules.openArtifact(path, {
      trust: trust === undefined ? undefined : await this.#trustInForce(path, trust),
      contract: trust === undefined ? undefined : contract,
      // An explicit rollback may go below the highest sequence; nothing else may.
      minSequence: options.rollback === true ? undefined : this.#highest,
    });
  }

  /** Starts the disk reader's thread, and warms its parser up on the serving generation's files (see `DiskReader.warm`). */
  warm(snapshot: Snapshot): Promise<void> {
    return this.#options.modules.warm(snapshot);
  }

  /**
   * A module path's reads, on the disk reader's thread (see
   * `DiskReader.readOnSignal`). Not an artifact's: its checks depend on the
   * highest sequence committed, so it is read in the order of swaps.
   */
  readOnSignal(signal: Deno.Signal, path: string, reads: SignalReads): (() => void) | undefined {
    if (this.#options.trust !== undefined || isArtifactPath(path)) return undefined;
    return this.#options.modules.readOnSignal(signal, path, reads);
  }

  /** Ends the disk reader's thread, if `warm()` started one. */
  close(): void {
    this.#options.modules.close();
  }

  committed(snapshot: Snapshot): void {
    const provenance = snapshot.provenance;
    if (provenance?.keyid === undefined) return;
    this.#highest = Math.max(this.#highest ?? 0, provenance.manifest.sequence);
  }

  /**
   * The list in force. A file is read again at every swap: a change is taken
   * only as an update the list in force accepts (newer, signed by a key it
   * trusts for every contract), so writing the file is not enough to widen
   * trust. A refused change refuses the swap, and keeps doing so until the
   * file is signed or put back, rather than go unnoticed.
   */
  async #trustInForce(path: string, trust: PathLike | TrustList): Promise<{ list: TrustList; name: string }> {
    if (typeof trust !== "string" && !(trust instanceof URL)) {
      this.#list ??= parseTrustList(trust);
      return { list: this.#list, name: "the trust list" };
    }
    const file = toAbsolutePath(trust);
    const name = `trust list "${file}"`;
    const onDisk = await readTrustList(file);
    if (this.#list === undefined) {
      this.#list = onDisk;
      return { list: onDisk, name };
    }
    try {
      this.#list = await acceptTrustUpdate(this.#list, onDisk);
    } catch (error) {
      if (!(error instanceof SignatureError)) throw error;
      throw new SignatureError(
        error.reason,
        `Cannot load "${path}": ${error.reason}: ${name} changed to version ${onDisk.version}, and the change is refused (${error.message}); version ${this.#list.version} stays in force, so nothing is loaded until the file is signed by a key of that version (\`hotswap trust sign\`) or put back`,
        { path: file, cause: error },
      );
    }
    return { list: this.#list, name };
  }
}
