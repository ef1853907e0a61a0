/**
 * Saying who holds a socket path the daemon could not take. The usual case
 * for a gpg-agent socket is the pitfall users of every gpg bridge hit: a
 * local gpg-agent that gpg autostarted onto the very path the bridge should
 * serve. The socket is never replaced (that agent is alive and someone's);
 * the hint says how to stop it for good.
 *
 * @module
 */
import type { Runtime } from "../runtime/types.ts";

/** How long the held socket may take to greet us. */
const GREETING_TIMEOUT_MS = 1000;

/** What to do when a local gpg-agent holds the path. */
export const GPG_AGENT_HINT = "a local gpg-agent is listening there: stop it with " +
  "`gpgconf --kill gpg-agent`, add `no-autostart` to ~/.gnupg/gpg.conf so that gpg " +
  "does not start it again, then run `wsl2proxy restart`";

/**
 * The hint for a live listener at `path`, or `undefined` when it is not
 * recognised. An Assuan server (gpg-agent, and only such servers) speaks
 * first, with a line that starts `OK `; reading that greeting costs the
 * server one connection it is built to take.
 */
export async function heldSocketHint(rt: Runtime, path: string): Promise<string | undefined> {
  let conn;
  try {
    conn = await rt.connectUnix(path);
  } catch {
    return undefined;
  }
  const reader = conn.readable.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const first = await Promise.race([
      reader.read(),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), GREETING_TIMEOUT_MS);
      }),
    ]);
    const bytes = first?.value;
    if (bytes === undefined) return undefined;
    return new TextDecoder().decode(bytes.subarray(0, 3)) === "OK " ? GPG_AGENT_HINT : undefined;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
    conn.close();
  }
}
