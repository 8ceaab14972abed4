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
