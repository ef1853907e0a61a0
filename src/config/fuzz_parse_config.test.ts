import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  checkParseConfigText,
  fuzzParseConfig,
  validConfigArbitrary,
} from "./fuzz_parse_config.ts";
import { parseConfig } from "./parse_config.ts";
import { ENV, FILE } from "./_test_env.ts";

describe("parseConfig properties", () => {
  // About 1 ms a case; the generous timeout is for slow CI machines (Bun's default is 5 s).
  test(
    "parseConfig - never throws anything but a well-formed ConfigError on 2,000 random or mutated files",
    {
      timeout: 60_000,
    },
    () => {
      fuzzParseConfig({ numRuns: 2000 });
    },
  );

  test("parseConfig - accepts 300 generated valid configs in any YAML style", () => {
    fc.assert(
      fc.property(validConfigArbitrary(), ({ text, sockets }) => {
        assert.equal(parseConfig(text, FILE, ENV, 1000).sockets.length, sockets);
      }),
      { numRuns: 300 },
    );
  });

  test("parseConfig - survives deeply nested and alias-heavy YAML quickly", () => {
    checkParseConfigText("[".repeat(5000));
    checkParseConfigText("sockets: " + "[".repeat(2000) + "]".repeat(2000));
    const aliases = ["a: &x [1]", ...Array.from({ length: 200 }, (_, i) => `k${i}: *x`)].join("\n");
    checkParseConfigText(aliases);
    checkParseConfigText("sockets: &s [*s, *s]");
    assert.throws(() => checkParseConfigText("log_level: [", undefined, -1), /parseConfig took/);
  });
});
