/**
 * `WSL_INTEROP`: the socket through which a started `.exe` reaches its
 * Windows host process. A shell that outlived its WSL session (tmux, screen,
 * a reattached terminal) keeps a path whose server is gone, and every `.exe`
 * it starts then hangs or fails (microsoft/WSL#7252).
 *
 * @module
 */
import { lstat } from "../../runtime/mod.ts";
import { type CheckResult, type DoctorSeam, message, readSystemDir, result } from "./check.ts";

const NAME = "WSL_INTEROP";

/** `WSL_INTEROP` names a socket that accepts a connection. */
export async function checkWslInterop(seam: DoctorSeam): Promise<CheckResult> {
  const path = seam.env("WSL_INTEROP");
  const live = await liveInteropSockets(seam);
  const suggestion = live.length
    ? `export WSL_INTEROP=${live.at(-1)} (a live one)`
    : "open a new WSL terminal, or run wsl.exe --shutdown from Windows";
  if (!path) {
    return result(
      NAME,
      "warn",
      `WSL_INTEROP is not set in this shell (as under sudo, env -i or a systemd unit)${
        live.length ? `; live sockets: ${live.join(", ")}` : ""
      }`,
      suggestion,
    );
  }
  const why = await connectError(seam, path);
  if (why === null) return result(NAME, "ok", `${path} accepts connections`);
  return result(
    NAME,
    "fail",
    `${path} is stale (${why}): every .exe started from this shell fails (microsoft/WSL#7252)`,
    suggestion,
  );
}

/** The sockets under /run/WSL that accept a connection, as real paths. */
async function liveInteropSockets(seam: DoctorSeam): Promise<string[]> {
  const names = ((await readSystemDir(seam, "/run/WSL")) ?? []).filter((n) => /_interop$/.test(n));
  const live: string[] = [];
  for (const n of names.sort((a, b) => parseInt(a) - parseInt(b))) {
    const path = `/run/WSL/${n}`;
    if ((await connectError(seam, seam.root === "/" ? path : seam.root + path)) === null) {
      live.push(path);
    }
  }
  return live;
}

/** Why `path` does not accept a connection, or `null` when it does. */
async function connectError(seam: DoctorSeam, path: string): Promise<string | null> {
  try {
    if (!(await lstat(path)).isSocket) return "not a socket";
  } catch (e) {
    return message(e);
  }
  try {
    const conn = await seam.runtime.connectUnix(path);
    conn.close();
    return null;
  } catch (e) {
    return message(e);
  }
}
