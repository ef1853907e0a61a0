/**
 * Finding gpg-agent's socket files for `gpg://agent`, `gpg://extra` and
 * `gpg://browser`: ask the user's own `gpgconf --list-dirs`, which knows
 * GnuPG's version (2.3+ keeps them in `%LOCALAPPDATA%\gnupg`, 2.2 in
 * `%APPDATA%\gnupg`), a `GNUPGHOME` and the registry's `HomeDir`. The answer
 * is cached for the agent's session; only a failure is asked again.
 *
 * @module
 */
import type { GpgSocket } from "../config/types.ts";
import { DialError } from "../errors.ts";
import { ResetCode } from "../mux/mod.ts";
import type { Runtime } from "../runtime/types.ts";

/** The `gpgconf --list-dirs` name of each socket. */
const DIR_NAMES: Readonly<Record<GpgSocket, string>> = {
  agent: "agent-socket",
  extra: "agent-extra-socket",
  browser: "agent-browser-socket",
};

/** A hung gpgconf must not hold a stream open for ever. */
const GPGCONF_TIMEOUT_MS = 10_000;

const INSTALL_HINT = "install Gpg4win (or GnuPG for Windows) so that gpgconf is on PATH, " +
  "or name the socket file with assuan://C:/Users/YOU/AppData/Local/gnupg/S.gpg-agent";

/** Options for {@linkcode GpgconfLocator}. */
export interface GpgconfLocatorOptions {
  /** The gpgconf program to try first. @default "gpgconf" (through PATH) */
  command?: string;
  /** How long one gpgconf run may take, in ms. @default 10000 */
  timeoutMs?: number;
}

/** Asks gpgconf where gpg-agent's socket files are, once per socket per session. */
export class GpgconfLocator {
  #rt: Runtime;
  #options: GpgconfLocatorOptions;
  #cache = new Map<GpgSocket, Promise<string>>();

  constructor(rt: Runtime, options: GpgconfLocatorOptions = {}) {
    this.#rt = rt;
    this.#options = options;
  }

  /**
   * The socket file's path as gpgconf prints it.
   *
   * @throws {DialError} NOT_FOUND when gpgconf cannot be run or fails, with a
   * reason that says what to install or configure.
   */
  locate(socket: GpgSocket): Promise<string> {
    let answer = this.#cache.get(socket);
    if (answer === undefined) {
      answer = this.#ask(socket);
      this.#cache.set(socket, answer);
      answer.catch(() => this.#cache.delete(socket));
    }
    return answer;
  }

  async #ask(socket: GpgSocket): Promise<string> {
    const name = DIR_NAMES[socket];
    let lastMissing: unknown;
    for (const program of this.#candidates()) {
      let child;
      try {
        child = this.#rt.spawn([program, "--list-dirs", name], {
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        });
      } catch (error) {
        lastMissing = error;
        continue;
      }
      const ms = this.#options.timeoutMs ?? GPGCONF_TIMEOUT_MS;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), ms);
      });
      const run = Promise.all([
        new Response(child.stdout).text(),
        new Response(child.stderr).text(),
        child.status,
      ]);
      const outcome = await Promise.race([run, timedOut]).catch((error) => ({ error }));
      clearTimeout(timer);
      if (outcome === "timeout") {
        child.kill("SIGKILL");
        throw new DialError(
          ResetCode.TIMEOUT,
          `gpgconf --list-dirs ${name} did not answer within ${ms} ms`,
        );
      }
      if ("error" in outcome) {
        lastMissing = outcome.error;
        continue;
      }
      const [out, err, status] = outcome;
      if (status.code !== 0) {
        const detail = err.trim().split(/\r?\n/)[0] || `exit ${status.code ?? status.signal}`;
        throw new DialError(ResetCode.NOT_FOUND, `gpgconf --list-dirs ${name} failed: ${detail}`);
      }
      const path = out.split(/\r?\n/)[0].trim();
      if (path === "") {
        throw new DialError(
          ResetCode.NOT_FOUND,
          `gpgconf --list-dirs ${name} printed nothing: is ${program} GnuPG's gpgconf?`,
        );
      }
      return path;
    }
    throw new DialError(
      ResetCode.NOT_FOUND,
      `gpgconf not found on ${
        this.#rt.os === "windows" ? "Windows" : this.#rt.os
      }: ${INSTALL_HINT}`,
      { cause: lastMissing },
    );
  }

  /** gpgconf through PATH, then where Gpg4win installs it (its installer may not have set PATH for this process). */
  #candidates(): string[] {
    const first = this.#options.command ?? "gpgconf";
    if (this.#rt.os !== "windows" || this.#options.command !== undefined) return [first];
    const dirs = [this.#rt.env("ProgramFiles(x86)"), this.#rt.env("ProgramFiles")]
      .filter((d): d is string => d !== undefined && d !== "");
    return [first, ...dirs.map((d) => `${d}\\GnuPG\\bin\\gpgconf.exe`)];
  }
}
