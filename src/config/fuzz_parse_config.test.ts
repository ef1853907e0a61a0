import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { checkParseConfigText, fuzzParseConfig } from "./fuzz_parse_config.ts";

describe("parseConfig properties", () => {
  // About 1 ms a case; the generous timeout is for slow CI machines (Bun's default is 5 s).
  test("parseConfig - never throws anything but a well-formed ConfigError on 2,000 random or mutated files", {
    timeout: 60_000,
  }, () => {
    fuzzParseConfig({ numRuns: 2000 });
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
