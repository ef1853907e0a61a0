/**
 * Copying the Windows agent executable onto the Windows drive.
 *
 * Windows will not overwrite or delete an `.exe` that is running, and another
 * WSL distribution (sharing the same `%LOCALAPPDATA%`) may be running any
 * version of it. So every copy gets its own name, made of the version and the
 * content hash, an existing copy is only ever reused or replaced by an atomic
 * rename, and pruning other copies is best effort.
 *
 * A file only ever gets its name by that rename, after it read back with the
 * hash in the name. So a copy of the right size under the right name is
 * reused without reading it: reading ~120 MB back over DrvFS (and hashing
 * it) on every start of the daemon would buy nothing but a slow first shell.
 * A truncated copy has the wrong size and is replaced.
 *
 * @module
 */

import { join } from "node:path";
import { AgentPlacementError } from "../errors.ts";
import {
  fileSize,
  getRuntime,
  mkdir,
  readDirNames,
  readFile,
  readFileChunks,
  rename,
  unlink,
  writeFileFromStream,
} from "../runtime/mod.ts";
import { errnoCode } from "../runtime/errno.ts";

/** Matches the names {@linkcode agentFileName} produces (and nothing else, e.g. not temp files). */
export const AGENT_FILE_PATTERN: RegExp = /^wsl2proxy-agent-.+-[0-9a-f]{12}\.exe$/;

/**
 * Where the agent comes from: its bytes, a file to copy, or an agent whose
 * checksum and size are known up front (the embedded one): its bytes are
 * then only read, as a stream, when no copy is in place yet.
 */
export type AgentSource =
  | { bytes: Uint8Array }
  | { sourcePath: string }
  | { sha256: string; size: number; open: () => ReadableStream<Uint8Array> };

/** Options for {@linkcode placeAgent}. */
export type PlaceAgentOptions = AgentSource & {
  /** The agent's version; part of the file name. */
  version: string;
  /** Absolute Linux path of the directory to place it in, e.g. `<LOCALAPPDATA>/wsl2proxy`. Its parent must exist. */
  destDir: string;
  /** Delete other agent copies in `destDir` that are not running. @default {true} */
  prune?: boolean;
};

/**
 * Make sure the agent is in `destDir` under its versioned, content-addressed
 * name and return that file's absolute path. A file already there is reused
 * when it has the right size (see the module doc) and replaced (write to a
 * temp name, verify, rename) when it does not. `destDir` is created if
 * missing, but not its parents: a missing `%LOCALAPPDATA%` means a wrong
 * path, not one to create.
 *
 * @throws {AgentPlacementError} `AGENT_PLACE` when reading the source or
 * writing the copy fails, `AGENT_CHECKSUM` when the written copy reads back
 * different or a known agent's bytes do not match their recorded checksum.
 */
export async function placeAgent(options: PlaceAgentOptions): Promise<string> {
  const bytes = "bytes" in options
    ? options.bytes
    : "sourcePath" in options
    ? await readSource(options.sourcePath)
    : undefined;
  const hash = bytes ? await sha256Hex(bytes) : (options as { sha256: string }).sha256;
  const size = bytes ? bytes.byteLength : (options as { size: number }).size;
  const name = agentFileName(options.version, hash);
  const dest = join(options.destDir, name);
  await createDestDir(options.destDir);
  if (!(await hasSize(dest, size))) {
    const source = bytes ? new Blob([bytes as Uint8Array<ArrayBuffer>]).stream() : (options as {
      open: () => ReadableStream<Uint8Array>;
    }).open();
    await writeVerified(dest, source, hash, size);
  }
  if (options.prune ?? true) await pruneOtherAgents(options.destDir, name);
  return dest;
}

/**
 * The file name of an agent: `wsl2proxy-agent-<version>-<first 12 hex of sha256>.exe`.
 * Characters Windows forbids in names (and any other than letters, digits and
 * `.+_-`) in the version become `_`.
 */
export function agentFileName(version: string, sha256: string): string {
  const safeVersion = version.replace(/[^0-9A-Za-z.+_-]/g, "_");
  return `wsl2proxy-agent-${safeVersion}-${sha256.slice(0, 12)}.exe`;
}

/** Lower-case hex SHA-256 of `bytes`. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Delete every agent copy in `dir` except `keep`. A copy that cannot be
 * deleted (on Windows: one that is running) is left alone. Returns the names
 * deleted.
 */
export async function pruneOtherAgents(dir: string, keep: string): Promise<string[]> {
  const deleted: string[] = [];
  try {
    for (const name of await readDirNames(dir)) {
      if (name === keep || !AGENT_FILE_PATTERN.test(name)) continue;
      try {
        await unlink(join(dir, name));
        deleted.push(name);
      } catch {
        // Running, or otherwise locked: keep it, it does no harm.
      }
    }
  } catch {
    // Pruning is only tidying up; placement already succeeded.
  }
  return deleted;
}

async function readSource(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new AgentPlacementError(
      "AGENT_PLACE",
      `cannot read the agent ${path}: ${message(error)}`,
      {
        cause: error,
      },
    );
  }
}

async function createDestDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o755 });
  } catch (error) {
    const why = errnoCode(error) === "ENOENT"
      ? "its parent directory does not exist"
      : message(error);
    throw new AgentPlacementError("AGENT_PLACE", `cannot create ${dir}: ${why}`, { cause: error });
  }
}

/**
 * A SHA-256 hasher. node:crypto is imported on first use: the daemon loads this
 * module to resolve the agent's command, and never hashes anything.
 */
async function sha256() {
  const { createHash } = await import("node:crypto");
  return createHash("sha256");
}

/** Whether `path` is a file of `size` bytes (false when it is missing). */
async function hasSize(path: string, size: number): Promise<boolean> {
  try {
    return (await fileSize(path)) === size;
  } catch {
    return false;
  }
}

/** Whether `path` holds bytes with this SHA-256 (false when it is missing or unreadable). */
async function hasHash(path: string, hash: string): Promise<boolean> {
  try {
    const h = await sha256();
    for await (const chunk of readFileChunks(path)) h.update(chunk);
    return h.digest("hex") === hash;
  } catch {
    return false;
  }
}

/**
 * Stream `source` into a temp file beside `dest`, hashing it on the way,
 * check it had `size` bytes with `hash` and that the file reads back with
 * `hash`, then rename it to `dest`. Only the rename gives the file its name,
 * so a failure at any point leaves no copy that a later start would trust.
 */
async function writeVerified(
  dest: string,
  source: ReadableStream<Uint8Array>,
  hash: string,
  size: number,
): Promise<void> {
  const temp = `${dest}.${getRuntime().pid}-${crypto.randomUUID().slice(0, 8)}.tmp`;
  const h = await sha256();
  let written = 0;
  const hashed = source.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        h.update(chunk);
        written += chunk.byteLength;
        controller.enqueue(chunk);
      },
    }),
  );
  try {
    await writeFileFromStream(temp, hashed, { mode: 0o755 });
    if (written !== size || h.digest("hex") !== hash) {
      throw new AgentPlacementError(
        "AGENT_CHECKSUM",
        `the agent does not match its recorded SHA-256 ${hash} and size ${size}; ` +
          "the executable carrying it is damaged: download it again",
      );
    }
    if (!(await hasHash(temp, hash))) {
      throw new AgentPlacementError(
        "AGENT_CHECKSUM",
        `the agent copy ${temp} does not read back with SHA-256 ${hash}; is the disk full or failing?`,
      );
    }
    try {
      await rename(temp, dest);
    } catch (error) {
      // Another daemon may have placed the same file meanwhile and started it,
      // which makes it impossible to replace on Windows; that copy is as good.
      if (!(await hasHash(dest, hash))) throw error;
      await unlink(temp).catch(() => {});
    }
  } catch (error) {
    await unlink(temp).catch(() => {});
    if (error instanceof AgentPlacementError) throw error;
    throw new AgentPlacementError(
      "AGENT_PLACE",
      `cannot write the agent to ${dest}: ${message(error)}`,
      {
        cause: error,
      },
    );
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
