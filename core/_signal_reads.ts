/**
 * A read started by each delivery of a signal, never two at once: signals
 * that arrive during a read fold into one more read after it, which sees
 * every write made before them. Used where a signal is taken on a thread
 * that is free to read at once (the reader's), so that a `SIGHUP` reload
 * does not first wait for the serving thread to get to the signal.
 *
 * @module
 */

/**
 * Listens for `signal` on this thread and starts `read` at each delivery.
 *
 * @param signal The signal, as `Deno.addSignalListener` takes it.
 * @param read Starts one read.
 * @param onRead Given each read as it starts.
 * @returns Stops listening (a read under way still reaches `onRead`'s promise). Idempotent.
 * @throws {TypeError} When Deno refuses to listen for `signal`.
 */
export function readOnEachSignal<R>(
  signal: Deno.Signal,
  read: () => Promise<R>,
  onRead: (read: Promise<R>) => void,
): () => void {
  let reading = false;
  let again = false;
  let stopped = false;
  const start = (): void => {
    reading = true;
    const started = read();
    onRead(started);
    started.then(done, done);
  };
  const done = (): void => {
    reading = false;
    if (!again || stopped) return;
    again = false;
    start();
  };
  const listener = (): void => {
    if (reading) again = true;
    else start();
  };
  Deno.addSignalListener(signal, listener);
  return () => {
    if (stopped) return;
    stopped = true;
    Deno.removeSignalListener(signal, listener);
  };
}
