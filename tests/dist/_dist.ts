/**
 * Helpers for the tests of the release files: getting them built (through
 * scripts/build.ts, cached by source hash), running a program in a given
 * directory, and serving a directory over HTTP on loopback.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import { readFile } from "node:fs/promises";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import process from "node:process";
import { Builder, publish, type Target } from "../../scripts/build.ts";

/** One builder for the whole test file: each artifact is made (or found in the cache) once. */
export const builder: Builder = new Builder();

/** This machine's Linux target. */
export const HOST_TARGET: Target = process.arch === "arm64" ? "linux-arm64" : "linux-x64";

/** True when the tests run a binary given by `WSL2PROXY_TEST_BIN` instead of our Bun build. */
export const GIVEN_BIN: string | undefined = process.env.WSL2PROXY_TEST_BIN || undefined;

/** The compiled Linux binary under test: `WSL2PROXY_TEST_BIN`, or the Bun build for this CPU in dist/. */
export async function linuxBinary(): Promise<string> {
  if (GIVEN_BIN) return resolve(GIVEN_BIN);
  return await publish(await builder.binary("bun", HOST_TARGET));
}

/** What a finished program did. */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `argv` in `cwd` with exactly `env` (nothing inherited); settles at its exit and stdout's end. */
export function runIn(
  argv: string[],
  options: { cwd: string; env: Record<string, string>; timeoutMs?: number },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${argv.join(" ")} did not finish in time; stderr so far:\n${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    // Not "close": a daemon started by the program may hold its stderr open.
    const stdoutEnded = new Promise((ok) => child.stdout.once("close", ok));
    child.once("exit", (code) => {
      stdoutEnded.then(() => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  });
}

/** A fresh temp directory, removed by `dispose()`. */
export async function tempDir(prefix: string): Promise<{ path: string; dispose(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, dispose: () => rm(path, { recursive: true, force: true }) };
}

/** A directory served over HTTP on 127.0.0.1. */
export interface FileServer {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** Paths requested so far, in order. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * Serve the files of `dir` the way GitHub serves release assets:
 * `/releases/download/<tag>/<name>` redirects (302) to `/assets/<name>`,
 * which answers with `Content-Type: application/octet-stream`.
 */
export async function serveLikeGitHubReleases(dir: string): Promise<FileServer> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    requests.push(url.pathname);
    const release = /^\/releases\/download\/[^/]+\/([^/]+)$/.exec(url.pathname);
    if (release) {
      res.writeHead(302, { location: `/assets/${release[1]}` }).end();
      return;
    }
    const asset = /^\/assets\/([^/]+)$/.exec(url.pathname);
    if (!asset) {
      res.writeHead(404).end();
      return;
    }
    readFile(join(dir, basename(asset[1]))).then(
      (body) => res.writeHead(200, { "content-type": "application/octet-stream" }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", ok);
  });
  const port = (server.address() as { port: number }).port;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}
