import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { defaultSocket } from "../config/default_config.ts";
import { socketKey } from "./socket_forwarder.ts";

describe("socketKey", () => {
  test("socketKey - a reload replaces a socket whose protocol changed, and keeps an identical one", () => {
    const agent = defaultSocket("/run/user/1000/wsl2proxy");
    assert.equal(socketKey(agent), socketKey({ ...agent }));
    assert.notEqual(socketKey(agent), socketKey({ ...agent, protocol: "raw" }));
    assert.notEqual(socketKey(agent), socketKey({ ...agent, envName: "OTHER_AUTH_SOCK" }));
  });
});
