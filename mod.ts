/**
 * Hot-swap runtime for Deno: load new generations of a module graph while
 * the program keeps serving. Each generation is read once into an in-memory
 * snapshot (every file of its graph, hashed), checked against roots and a
 * contract, and swapped in atomically; calls already running finish on the
 * old generation, which is then drained, disposed and unloaded.
 *
 * ```ts
 * import { defineContract, registerHotswap } from "@hotswap/runtime";
 * import { strictEqual } from "node:assert/strict";
 *
 * interface Greeter { greet(name: string): string }
 * const greeter = defineContract<Greeter>({
 *   name: "Greeter", version: "1.0.0", symbol: "hs_greeter", shape: { greet: "function" },
 * });
 *
 * const dir = await Deno.makeTempDir();
 * const entry = `${dir}/greeter.ts`;
 * await Deno.writeTextFile(entry, `export const hs_greeter = { greet: (n: string) => "hello " + n };`);
 * await using hot = await registerHotswap(greeter, entry);
 * strictEqual(hot.with((h) => h.greet("ada")), "hello ada");
 *
 * await Deno.writeTextFile(entry, `export const hs_greeter = { greet: (n: string) => "hi " + n };`);
 * const { generation, retired } = await hot.swap(entry);
 * strictEqual(generation, 2);
 * strictEqual(hot.with((h) => h.greet("ada")), "hi ada");
 * strictEqual((await retired).drained, true);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

export {
  type ArtifactManifest,
  type ContractIdentity,
  packArtifact,
  type PackedArtifact,
  type PackOptions,
  type Provenance,
  verifyArtifact,
  type VerifyArtifactOptions,
} from "./core/artifact.ts";
export {
  Contract,
  CONTRACT_BRAND,
  type ContractBrand,
  type ContractDefinition,
  ContractError,
  defineContract,
  implement,
  type IsOptional,
  type KindOf,
  type NestedShapeOf,
  type Shape,
  type ShapeDefinition,
  type ShapeKind,
  type ShapeMember,
} from "./core/contract.ts";
export { HotswapError, type HotswapErrorCode, type HotswapErrorOptions } from "./core/errors.ts";
export type {
  DrainTimeoutEventDetail,
  HotswapEventMap,
  HotswapListener,
  RejectEventDetail,
  RestartEventDetail,
  SwapEventDetail,
} from "./core/events.ts";
export type { GenerationContext, GenerationState, RetireReport } from "./core/generation.ts";
export {
  type GenerationInfo,
  type GenerationStats,
  Hotswap,
  type HotswapStats,
  type SwapOptions,
  type SwapResult,
} from "./core/hotswap.ts";
export type { HandleOf, Isolation, IsolationOf, Remote } from "./core/isolation.ts";
export type { CheckedOptions, HotswapOptions, OptionsRefusedIn, WorkerPermissions } from "./core/options.ts";
export { registerHotswap } from "./core/register.ts";
export type { SignalSwapOptions, SignalSwapOutcome, SignalSwaps } from "./core/signal_swap.ts";
export type { FleetHostOptions } from "./core/fleet/host.ts";
export type {
  ArtifactInfo,
  ChannelEntry,
  ChannelState,
  HostReport,
  HostState,
  Refusal,
  RolloutState,
  RolloutStatus,
  Store,
  WatchChannelOptions,
} from "./core/store/store.ts";
export type { PathLike } from "./core/roots.ts";
export {
  type EnvelopeSignature,
  generateSigningKey,
  keyIdOf,
  SignatureError,
  type SignatureReason,
  type SigningKey,
} from "./core/signature.ts";
export {
  acceptTrustUpdate,
  readTrustList,
  signTrustList,
  type TrustedKey,
  type TrustList,
  type TrustUpdateOptions,
} from "./core/trust.ts";
export { GraphWatcher, watchGraph, type WatchOptions, type WatchOutcome } from "./core/watch.ts";
