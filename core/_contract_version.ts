/**
 * Version compatibility between a host's contract and a handle (SPEC 3): the
 * contract's semver version, and the brand `implement` puts on a handle to
 * say which version it was built for. A brand of another major version, or
 * of a lower minor, is refused; an unbranded handle is checked by shape
 * alone. The public symbols are re-exported from `contract.ts`.
 *
 * @module
 */

import { describeThrown } from "./errors.ts";

/** The brand {@linkcode implement} puts on a handle. */
export interface ContractBrand {
  /** The contract name the handle was built for. */
  readonly name: string;
  /** The contract version the handle was built for. */
  readonly version: string;
}

/**
 * The property key of a handle's brand. It is a registered symbol, so a
 * generation may also brand a handle without importing this package.
 */
export const CONTRACT_BRAND: unique symbol = Symbol.for(
  "@hotswap/runtime/contract",
) as never;

/** The parts of a semver version that decide compatibility. */
export interface Semver {
  readonly major: number;
  readonly minor: number;
}

const NUMBER = "0|[1-9]\\d*";
const PRE_RELEASE_PART = `(?:${NUMBER}|\\d*[a-zA-Z-][0-9a-zA-Z-]*)`;
/** semver.org's grammar: no leading zeros in numbers, no empty identifiers. */
const SEMVER = new RegExp(
  `^(${NUMBER})\\.(${NUMBER})\\.(${NUMBER})(?:-${PRE_RELEASE_PART}(?:\\.${PRE_RELEASE_PART})*)?(?:\\+[0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*)?$`,
);

/**
 * Reads a `MAJOR.MINOR.PATCH` version, with optional pre-release and build.
 *
 * @param version The version, of any type: a brand's comes from a generation.
 * @param contractName For the message.
 * @throws {TypeError} When `version` is not semver.
 */
export function parseSemver(version: unknown, contractName: string): Semver {
  const match = typeof version === "string" ? SEMVER.exec(version) : null;
  if (match === null) {
    throw new TypeError(
      `Cannot define contract "${contractName}": version ${
        JSON.stringify(version)
      } is not semver; use "MAJOR.MINOR.PATCH" such as "1.0.0"`,
    );
  }
  return { major: Number(match[1]), minor: Number(match[2]) };
}

/**
 * Appends a problem when `value` carries a brand of another contract, of
 * another major version, or of a lower minor than the host's. Reading the
 * brand may run a generation's getter or Proxy trap: what it throws is
 * reported as a problem too.
 *
 * @param value The candidate handle.
 * @param name The host contract's name.
 * @param host The host contract's version.
 * @param problems Where problems are appended.
 */
export function checkBrand(
  value: Record<PropertyKey, unknown>,
  name: string,
  host: Semver,
  problems: string[],
): void {
  let brand: unknown;
  try {
    brand = value[CONTRACT_BRAND];
  } catch (error) {
    problems.push(`(brand): reading it threw ${describeThrown(error)}`);
    return;
  }
  if (brand === undefined) return;
  try {
    const { name: brandName, version } = brand as ContractBrand;
    if (brandName !== name) {
      problems.push(`(brand): built for contract "${String(brandName)}", expected "${name}"`);
      return;
    }
    const built = parseSemver(version, name);
    if (built.major !== host.major) {
      problems.push(
        `(brand): built for ${name}@${version}, major version differs from host's ${host.major}.x`,
      );
    } else if (built.minor < host.minor) {
      problems.push(
        `(brand): built for ${name}@${version}, older than host's ${host.major}.${host.minor}`,
      );
    }
  } catch (error) {
    problems.push(`(brand): malformed brand: ${describeThrown(error)}`);
  }
}
