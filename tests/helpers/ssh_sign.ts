/**
 * An `ssh-keygen -Y` signature made through an agent, then verified: the
 * round trip several end-to-end tests use to show an agent reached through
 * the bridge really signs.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runProcess } from "./process.ts";

/** Options for {@linkcode signAndVerify}. */
export interface SignOptions {
  /** The public key: only it is named, so `ssh-keygen` asks the agent to sign. */
  pub: string;
  /** A directory for the message, the signature and the allowed-signers file. */
  dir: string;
  /** The environment, with `SSH_AUTH_SOCK` pointing at the agent (the bridge). */
  env: Record<string, string | undefined>;
  /** Names the files, so several signatures can share `dir`. @default "msg" */
  tag?: string;
  /** The principal written into the allowed-signers file. @default "tester@example" */
  identity?: string;
}

/** Sign a message through the agent and verify it; resolves with the signing time in ms. */
export async function signAndVerify(o: SignOptions): Promise<number> {
  const tag = o.tag ?? "msg";
  const identity = o.identity ?? "tester@example";
  const msg = join(o.dir, `${tag}.txt`);
  writeFileSync(msg, `signed through wsl2proxy (${tag})\n`);
  const started = performance.now();
  const sign = await runProcess(["ssh-keygen", "-Y", "sign", "-f", o.pub, "-n", "file", msg], {
    env: o.env,
    timeoutMs: 60_000,
  });
  const ms = performance.now() - started;
  assert.equal(sign.code, 0, `sign ${tag}: ${sign.stderr}`);
  const allowed = join(o.dir, `${tag}.allowed_signers`);
  writeFileSync(allowed, `${identity} ${readFileSync(o.pub, "utf8")}`);
  const verify = await runProcess(
    ["ssh-keygen", "-Y", "verify", "-f", allowed, "-I", identity, "-n", "file", "-s", `${msg}.sig`],
    { env: o.env, input: readFileSync(msg), timeoutMs: 60_000 },
  );
  const out = new TextDecoder().decode(verify.stdout);
  assert.equal(verify.code, 0, `verify ${tag}: ${verify.stderr}${out}`);
  assert.match(out, new RegExp(`Good "file" signature for ${identity.replace(/[.@]/g, "\\$&")}`));
  return ms;
}
