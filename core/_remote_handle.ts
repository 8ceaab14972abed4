/**
 * The handle of a generation on the far side of a boundary (worker or
 * process), rebuilt in the host from its description: function members
 * become functions that call across and return promises, data members are
 * the values copied at load, nested objects are rebuilt member by member.
 *
 * @module
 */

import type { MemberDescriptor } from "./_protocol.ts";

/** What a rebuilt function member calls: the member's index and its arguments. */
export type RemoteCall = (member: number, args: unknown[]) => Promise<unknown>;

/**
 * Rebuilds a handle from its description.
 *
 * @param descriptor What the generation's side described.
 * @param call Sends a call of a function member across.
 * @returns The handle, as `with()` callbacks receive it.
 */
export function buildRemoteHandle(descriptor: MemberDescriptor, call: RemoteCall): unknown {
  switch (descriptor.kind) {
    case "value":
      return descriptor.value;
    case "function": {
      const member = descriptor.index;
      return (...args: unknown[]): Promise<unknown> => call(member, args);
    }
    case "object": {
      const object: Record<string, unknown> = {};
      for (const [key, member] of Object.entries(descriptor.members)) {
        const value = buildRemoteHandle(member, call);
        if (typeof value === "function") Object.defineProperty(value, "name", { value: key });
        // defineProperty, as "__proto__" must stay an own property.
        Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
      }
      return object;
    }
  }
}

/**
 * The calls a rebuilt handle made that have not settled, awaited by their
 * caller or not. A function member called without `await` (a `void`
 * method, `JSON.stringify` meeting a `toJSON`) is still running on its
 * generation: the drain waits for it, as it waits for the `with()` calls,
 * instead of ending the worker or process under it. Each call's promise is
 * also observed here, so one nobody awaits never becomes an unhandled
 * rejection in the host, which would end it (SPEC 7).
 */
export class RemoteCalls {
  #pending = 0;
  #idle: PromiseWithResolvers<void> | undefined;
  readonly #settled = (): void => {
    if (--this.#pending === 0 && this.#idle !== undefined) {
      this.#idle.resolve();
      this.#idle = undefined;
    }
  };

  /** `call`, with every call it makes counted until it settles. */
  track(call: RemoteCall): RemoteCall {
    return (member, args) => {
      const result = call(member, args);
      this.#pending++;
      result.then(this.#settled, this.#settled);
      return result;
    };
  }

  /** Resolves once no call is pending. */
  idle(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    this.#idle ??= Promise.withResolvers<void>();
    return this.#idle.promise;
  }
}
