import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DialError, SystemCallError } from "../errors.ts";
import { ResetCode } from "../mux/mod.ts";
import { type DialTarget, errorCodeOf, toDialError } from "./to_dial_error.ts";

const PIPE: DialTarget = { kind: "pipe", display: "\\\\.\\pipe\\openssh-ssh-agent" };
const UNIX: DialTarget = { kind: "unix", display: "C:\\Users\\me\\app.sock" };
const TCP: DialTarget = { kind: "tcp", display: "localhost:41112" };

/** An error shaped like the ones node:net, Bun and Deno raise (code and/or errno). */
function osError(fields: { code?: unknown; errno?: unknown; cause?: unknown }): Error {
  return Object.assign(new Error("(message text is never looked at)"), fields);
}

function mapped(target: DialTarget, error: unknown): [number, string] {
  const e = toDialError(target, error);
  return [e.resetCode, e.message];
}

describe("toDialError", () => {
  test("toDialError - maps errno names to reset codes with a reason naming the target", () => {
    const cases: [DialTarget, string, number, string][] = [
      [PIPE, "ENOENT", ResetCode.NOT_FOUND, "pipe not found: \\\\.\\pipe\\openssh-ssh-agent"],
      [UNIX, "ENOENT", ResetCode.NOT_FOUND, "socket not found: C:\\Users\\me\\app.sock"],
      [TCP, "ENOTFOUND", ResetCode.NOT_FOUND, "host not found: localhost:41112"],
      [TCP, "ECONNREFUSED", ResetCode.CONNECTION_REFUSED, "connection refused: localhost:41112"],
      [
        UNIX,
        "EAGAIN",
        ResetCode.CONNECTION_REFUSED,
        "connection refused: C:\\Users\\me\\app.sock (its listen queue is full)",
      ],
      [TCP, "EHOSTUNREACH", ResetCode.CONNECTION_REFUSED, "no route to localhost:41112"],
      [
        PIPE,
        "EACCES",
        ResetCode.PERMISSION_DENIED,
        "permission denied: \\\\.\\pipe\\openssh-ssh-agent",
      ],
      [UNIX, "EPERM", ResetCode.PERMISSION_DENIED, "permission denied: C:\\Users\\me\\app.sock"],
      [TCP, "ETIMEDOUT", ResetCode.TIMEOUT, "timed out connecting to localhost:41112"],
      [
        PIPE,
        "EBUSY",
        ResetCode.TIMEOUT,
        "all pipe instances are busy: \\\\.\\pipe\\openssh-ssh-agent",
      ],
      [
        UNIX,
        "EAFNOSUPPORT",
        ResetCode.BAD_TARGET,
        "AF_UNIX sockets are not supported here: C:\\Users\\me\\app.sock",
      ],
      [
        UNIX,
        "ENAMETOOLONG",
        ResetCode.BAD_TARGET,
        "cannot connect to C:\\Users\\me\\app.sock: invalid address (ENAMETOOLONG)",
      ],
      [TCP, "EMFILE", ResetCode.INTERNAL, "cannot connect to localhost:41112: EMFILE"],
    ];
    for (const [target, code, reset, reason] of cases) {
      assert.deepEqual(mapped(target, osError({ code })), [reset, reason], code);
    }
  });

  test("toDialError - reads raw Windows and libuv numbers when there is no errno name", () => {
    const cases: [number, number][] = [
      [2, ResetCode.NOT_FOUND], // ERROR_FILE_NOT_FOUND
      [5, ResetCode.PERMISSION_DENIED], // ERROR_ACCESS_DENIED
      [231, ResetCode.TIMEOUT], // ERROR_PIPE_BUSY
      [10061, ResetCode.CONNECTION_REFUSED], // WSAECONNREFUSED
      [10013, ResetCode.PERMISSION_DENIED], // WSAEACCES
      [10047, ResetCode.BAD_TARGET], // WSAEAFNOSUPPORT
      [-4058, ResetCode.NOT_FOUND], // UV_ENOENT on Windows
    ];
    for (const [errno, reset] of cases) {
      assert.equal(toDialError(PIPE, osError({ errno })).resetCode, reset, String(errno));
      assert.equal(toDialError(PIPE, osError({ code: errno })).resetCode, reset, `code ${errno}`);
    }
  });

  test("toDialError - looks through cause and prefers the name over the number", () => {
    assert.equal(errorCodeOf(osError({ cause: osError({ code: "EACCES" }) })), "EACCES");
    assert.equal(errorCodeOf(osError({ code: "ECONNREFUSED", errno: 2 })), "ECONNREFUSED");
    assert.equal(
      errorCodeOf(new SystemCallError("ECONNREFUSED", 10061, "connect", "refused")),
      "ECONNREFUSED",
    );
    assert.equal(errorCodeOf("not an error"), undefined);
  });

  test("toDialError - an error without any code is INTERNAL and keeps its message", () => {
    const e = new Error("failed to lookup address information: Name or service not known");
    assert.deepEqual(mapped(TCP, e), [
      ResetCode.INTERNAL,
      "cannot connect to localhost:41112: failed to lookup address information: Name or service not known",
    ]);
    assert.equal(toDialError(TCP, e).cause, e);
  });

  test("toDialError - passes a DialError through unchanged", () => {
    const original = new DialError(ResetCode.TIMEOUT, "already explained");
    assert.equal(toDialError(TCP, original), original);
  });
});
