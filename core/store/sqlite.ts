/**
 * The embedded store, `sqlite:<file>`: one SQLite database (`node:sqlite`,
 * no flag needed, WAL mode so readers never wait for the writer) shared by
 * the processes of one machine.
 *
 * SQLite tells no other process about a commit. A channel write therefore
 * also rewrites a notify file beside the database (`<file>-notify`), which
 * every watching process follows with `Deno.watchFs` (measured: 0.59 ms p50
 * across processes). Should an event be lost (a file system without
 * inotify, a watcher that overflowed), `PRAGMA data_version`, which changes
 * when another connection commits, is polled every 100 ms as a fallback
 * (2.3 µs a poll); and every watch re-reads its channel every 5 s whatever
 * happens.
 *
 * @module
 */

import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { dirname, resolve } from "node:path";
import { shellQuoted } from "../_shell_quote.ts";
import { HotswapError } from "../errors.ts";
import { type ArtifactInfo, type ChannelEntry, type ChannelState, checkDigest, checkName } from "./schema.ts";
import type { HostReport, Store, WatchChannelOptions } from "./store.ts";
import {
  closedError,
  parseArtifactInfo,
  parseChannelState,
  parseReport,
  storeError,
  unreadableChannelError,
} from "./_records.ts";
import { ChannelWatches, type WakeSource } from "./_watches.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS artifacts (
  digest TEXT PRIMARY KEY, label TEXT, size INTEGER NOT NULL, published_at INTEGER NOT NULL, bytes BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS channels (name TEXT PRIMARY KEY, revision INTEGER NOT NULL, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reports (
  channel TEXT NOT NULL, host TEXT NOT NULL, report TEXT NOT NULL, PRIMARY KEY (channel, host)
);
`;

const POLL_MS = 100;
/** How long a statement waits for another process's write lock. */
const BUSY_MS = 5_000;
/** How long a host's report waits for it (see `putReport`). */
const REPORT_BUSY_MS = 50;
const RECHECK_MS = 5_000;

/** A store in one SQLite file; open it with `openStore("sqlite:<file>")`. */
export class SqliteStore implements Store {
  /** The URL it was opened with. */
  readonly url: string;
  readonly #db: DatabaseSync;
  readonly #notifyPath: string;
  readonly #closed = new AbortController();
  readonly #statements = new Map<string, StatementSync>();
  /** The file watcher and the poll run only while a watch does. */
  readonly #watches: ChannelWatches;
  #watcher: Deno.FsWatcher | undefined;
  #watching: Promise<void> | undefined;
  #poll: ReturnType<typeof setInterval> | undefined;
  #dataVersion = 0;

  private constructor(file: string, db: DatabaseSync) {
    this.url = `sqlite:${file}`;
    this.#db = db;
    this.#notifyPath = `${file}-notify`;
    const source: WakeSource = {
      start: () => Promise.resolve(this.#startNotifications()),
      stop: () => this.#stopNotifications(),
    };
    this.#watches = new ChannelWatches(this.url, source, RECHECK_MS, this.#closed.signal);
  }

  /**
   * Opens (and creates when missing) the database at `file`.
   *
   * @throws {HotswapError} `E_STORE` when it cannot be opened.
   */
  static open(file: string): SqliteStore {
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(file);
      // busy_timeout first: a process opening the file while another writes
      // waits instead of failing (switching to WAL takes a lock too). WAL:
      // readers see the last commit while a writer writes.
      db.exec(`PRAGMA busy_timeout = ${BUSY_MS}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;`);
      db.exec(SCHEMA);
      const store = new SqliteStore(file, db);
      Deno.writeTextFileSync(store.#notifyPath, "", { append: true });
      return store;
    } catch (error) {
      db?.close();
      throw storeError(`sqlite:${file}`, "open the database", error, missingDirectory(file));
    }
  }

  async putArtifact(
    bytes: Uint8Array,
    meta: { digest: string; label?: string | undefined },
  ): Promise<ArtifactInfo> {
    checkDigest(meta.digest);
    await Promise.resolve();
    this.#use("publish an artifact", () => {
      this.#run(
        // The same files published again (signed anew, another label or sequence) replace the artifact.
        "INSERT INTO artifacts (digest, label, size, published_at, bytes) VALUES (?, ?, ?, ?, ?) ON CONFLICT (digest) DO UPDATE SET label = excluded.label, size = excluded.size, published_at = excluded.published_at, bytes = excluded.bytes",
        meta.digest,
        meta.label ?? null,
        bytes.byteLength,
        Date.now(),
        bytes,
      );
    });
    const info = (await this.listArtifacts()).find((artifact) => artifact.digest === meta.digest);
    if (info === undefined) throw storeError(this.url, "publish an artifact", "it was not stored");
    return info;
  }

  async getArtifact(digest: string): Promise<Uint8Array | undefined> {
    checkDigest(digest);
    await Promise.resolve();
    const row = this.#use(
      "read an artifact",
      () => this.#get("SELECT bytes FROM artifacts WHERE digest = ?", digest),
    );
    if (row === undefined) return undefined;
    const bytes = row.bytes;
    if (!(bytes instanceof Uint8Array)) {
      throw storeError(this.url, "read an artifact", "its bytes are not a blob");
    }
    return bytes;
  }

  async listArtifacts(): Promise<ArtifactInfo[]> {
    await Promise.resolve();
    return this.#use("list artifacts", () => {
      const rows = this.#all(
        "SELECT digest, label, size, published_at AS publishedAt FROM artifacts ORDER BY published_at, digest",
      );
      return rows.map(parseArtifactInfo);
    });
  }

  async getChannel(channel: string): Promise<ChannelEntry | undefined> {
    checkName("channel", channel);
    await Promise.resolve();
    return this.#readChannel(channel);
  }

  async setChannel(channel: string, state: ChannelState, revision: number): Promise<number | undefined> {
    checkName("channel", channel);
    await Promise.resolve();
    const text = JSON.stringify(state);
    const written = this.#use("write the channel", () => {
      // One statement each: SQLite runs it atomically, so of two writers naming
      // the same revision exactly one changes the row.
      const row = revision === 0
        ? this.#get(
          "INSERT INTO channels (name, revision, state) VALUES (?, 1, ?) ON CONFLICT (name) DO NOTHING RETURNING revision",
          channel,
          text,
        )
        : this.#get(
          "UPDATE channels SET state = ?, revision = revision + 1 WHERE name = ? AND revision = ? RETURNING revision",
          text,
          channel,
          revision,
        );
      return row === undefined ? undefined : Number(row.revision);
    });
    if (written !== undefined) {
      this.#watches.pulse.notify();
      // Wakes the watchers of other processes (see the module documentation).
      await Deno.writeTextFile(this.#notifyPath, `${channel} ${written}\n`).catch(() => {});
    }
    return written;
  }

  async putReport(channel: string, report: HostReport): Promise<void> {
    checkName("channel", channel);
    checkName("host", report.host);
    await Promise.resolve();
    this.#use("write a report", () => {
      // A host writes its report on its serving thread (node:sqlite is
      // synchronous): while another process holds the write lock (a long
      // transaction, a backup) it gives up soon and reports at the next
      // interval, instead of holding every request for the 5 s others wait.
      this.#db.exec(`PRAGMA busy_timeout = ${REPORT_BUSY_MS}`);
      try {
        this.#run(
          "INSERT INTO reports (channel, host, report) VALUES (?, ?, ?) ON CONFLICT (channel, host) DO UPDATE SET report = excluded.report",
          channel,
          report.host,
          JSON.stringify(report),
        );
      } finally {
        this.#db.exec(`PRAGMA busy_timeout = ${BUSY_MS}`);
      }
    });
  }

  async deleteReport(channel: string, host: string): Promise<void> {
    checkName("channel", channel);
    checkName("host", host);
    await Promise.resolve();
    this.#use(
      "remove a report",
      () => this.#run("DELETE FROM reports WHERE channel = ? AND host = ?", channel, host),
    );
  }

  async listReports(channel: string): Promise<HostReport[]> {
    checkName("channel", channel);
    await Promise.resolve();
    const rows = this.#use(
      "list reports",
      () => this.#all("SELECT host, report FROM reports WHERE channel = ? ORDER BY host", channel),
    );
    const reports: HostReport[] = [];
    for (const row of rows) {
      // One host's malformed report must not hide the others'; one filed under
      // another host's id (a hand edit) must not count twice.
      try {
        const report = parseReport(JSON.parse(String(row.report)));
        if (report.host === row.host) reports.push(report);
      } catch {
        continue;
      }
    }
    return reports;
  }

  watch(channel: string, options: WatchChannelOptions = {}): AsyncIterableIterator<ChannelEntry | undefined> {
    checkName("channel", channel);
    return this.#watches.watch(() => Promise.resolve(this.#readChannel(channel)), options);
  }

  /** Closes the database and ends every watch. Idempotent. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort();
    // Before the database closes: the poll reads it.
    await this.#watches.close();
    this.#db.close();
  }

  #startNotifications(): void {
    this.#dataVersion = this.#readDataVersion();
    this.#poll = setInterval(() => {
      const version = this.#readDataVersion();
      if (version === this.#dataVersion) return;
      this.#dataVersion = version;
      this.#watches.pulse.notify();
    }, POLL_MS);
    try {
      const watcher = Deno.watchFs(this.#notifyPath, { recursive: false });
      this.#watcher = watcher;
      this.#watching = (async () => {
        for await (const _event of watcher) this.#watches.pulse.notify();
      })().catch(() => {
        // A watcher that fails leaves the poll to notice commits.
      });
    } catch {
      // No permission or no inotify: the poll notices commits within POLL_MS.
    }
  }

  async #stopNotifications(): Promise<void> {
    clearInterval(this.#poll);
    this.#poll = undefined;
    const watcher = this.#watcher;
    this.#watcher = undefined;
    if (watcher !== undefined) {
      try {
        watcher.close();
      } catch {
        // Already closed.
      }
    }
    const watching = this.#watching;
    this.#watching = undefined;
    await watching;
  }

  #readDataVersion(): number {
    try {
      return Number(this.#get("PRAGMA data_version")?.data_version ?? 0);
    } catch {
      return this.#dataVersion;
    }
  }

  #readChannel(channel: string): ChannelEntry | undefined {
    const row = this.#use("read the channel", () => {
      return this.#get("SELECT revision, state FROM channels WHERE name = ?", channel);
    });
    if (row === undefined) return undefined;
    const revision = row.revision;
    // SQLite stores what it is given: a row edited by hand may hold any revision.
    if (typeof revision !== "number" || !Number.isSafeInteger(revision) || revision < 1) {
      throw new HotswapError(
        "E_STORE",
        `Cannot read channel "${channel}" in store "${this.url}": its revision (${
          JSON.stringify(revision)
        }) is not a whole number from 1, as only a hand edit of the database leaves it; set it to one (UPDATE channels SET revision = 1 WHERE name = '${channel}'), then run the command again`,
      );
    }
    try {
      return { revision, state: parseChannelState(JSON.parse(String(row.state))) };
    } catch (error) {
      throw unreadableChannelError(this.url, channel, Number(row.revision), error);
    }
  }

  /** Runs a database call, turning what it throws into `E_STORE` (and refusing after close). */
  #use<R>(action: string, fn: () => R): R {
    if (this.#closed.signal.aborted) throw closedError(this.url, action);
    try {
      return fn();
    } catch (error) {
      throw storeError(this.url, action, error);
    }
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) this.#statements.set(sql, statement = this.#db.prepare(sql));
    return statement;
  }

  #run(sql: string, ...values: SQLInputValue[]): void {
    this.#statement(sql).run(...values);
  }

  #get(sql: string, ...values: SQLInputValue[]): Record<string, unknown> | undefined {
    return this.#statement(sql).get(...values) as Record<string, unknown> | undefined;
  }

  #all(sql: string, ...values: SQLInputValue[]): Record<string, unknown>[] {
    return this.#statement(sql).all(...values) as Record<string, unknown>[];
  }
}

/** The fix for a database whose directory does not exist (SQLite says only "unable to open database file"). */
function missingDirectory(file: string): string | undefined {
  const directory = dirname(resolve(file));
  try {
    Deno.statSync(directory);
    return undefined;
  } catch (error) {
    return error instanceof Deno.errors.NotFound
      ? `its directory "${directory}" does not exist: create it (mkdir -p ${
        shellQuoted(directory)
      }), or fix the path`
      : undefined;
  }
}
