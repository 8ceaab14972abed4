/**
 * A decoded `"__proto__"` key under `--unsafe-proto`. Deno removes the
 * `Object.prototype.__proto__` accessor by default, so there a decoder that
 * assigned `record[key] = value` would still make an own property, and no
 * in-process test can tell it from one that defines the property. A host run
 * with `--unsafe-proto` has the accessor back, and assigning would set the
 * decoded record's prototype to an object the generation chose. So these
 * tests run the decoders in a child Deno with the flag: the text codec
 * (core/_codec.ts, whose decoder defines every key) and the shared-memory
 * ring (`RingReader` of core/_rpc_channel.ts, whose record decoder defines
 * `"__proto__"` and assigns the other keys).
 *
 * @module
 */

import { deepStrictEqual, strictEqual } from "node:assert/strict";

const CODEC = new URL("../core/_codec.ts", import.meta.url).href;
const RING = new URL("../core/_rpc_channel.ts", import.meta.url).href;

/** What the child prints: for each case, whether the key stayed own and the prototype untouched. */
const SCRIPT = `
import { decodeValue, encodeValue } from ${JSON.stringify(CODEC)};
import { createChannelBuffer, OP_RESULT, RingReader, RingWriter } from ${JSON.stringify(RING)};

function report(value) {
  return {
    own: Object.hasOwn(value, "__proto__"),
    prototype: Object.getPrototypeOf(value) === Object.prototype,
    polluted: "polluted" in value,
    inner: Object.hasOwn(value, "__proto__") ? JSON.stringify(value.__proto__) : null,
  };
}

// Proof that the flag took effect: with the accessor, assignment sets the prototype.
const probe = {};
probe["__proto__"] = { polluted: true };
const accessor = Object.getPrototypeOf(probe) !== Object.prototype;

const hostile = '{"__proto__":{"polluted":true},"x":1}';
// An undefined member is not JSON: the encoder sends the object as a tagged tree.
const tagged = JSON.parse(hostile);
tagged.u = undefined;

const buffer = createChannelBuffer();
new RingWriter(buffer, "response").write(1, OP_RESULT, JSON.parse(hostile));

console.log(JSON.stringify({
  accessor,
  json: report(decodeValue(hostile)),
  encoded: report(decodeValue(encodeValue(tagged))),
  written: report(decodeValue('~["O","__proto__",["O","polluted",true],"x",1]')),
  ring: report(new RingReader(buffer, "response").payload()),
}));
`;

Deno.test("decodeValue() and RingReader keep a __proto__ key an own property under --unsafe-proto", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/decode.mjs`;
    await Deno.writeTextFile(script, SCRIPT);
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--no-lock", "--unsafe-proto", script],
      cwd: dir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    strictEqual(output.code, 0, stderr);
    const result = JSON.parse(new TextDecoder().decode(output.stdout));
    strictEqual(result.accessor, true, "--unsafe-proto gives back the __proto__ accessor");
    const kept = { own: true, prototype: true, polluted: false, inner: '{"polluted":true}' };
    deepStrictEqual(result, { accessor: true, json: kept, encoded: kept, written: kept, ring: kept });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
