/**
 * The Windows drive the agent lives on: where `/etc/wsl.conf` says drives
 * are mounted, whether C: is mounted there, and whether its options let a
 * `.exe` start (`noexec`, or an `fmask`/`umask` that takes away the execute
 * bit, as `fmask=111` does: mame/wsl2-ssh-agent#15).
 *
 * @module
 */
import { parseAutomountRoot, windowsDriveDir, WSL_CONF_PATH } from "../../wsl/mod.ts";
import { type CheckResult, type DoctorSeam, readSystemFile, result } from "./check.ts";

const NAME = "Windows drive mount";

/** One line of the mount table. */
interface Mount {
  point: string;
  type: string;
  /** Every option; WSL 2's 9p puts drvfs options in `aname=drvfs;...`, split on `;` too. */
  options: string[];
}

/** The automount root from wsl.conf (under the seam's root), `/mnt/` by default. */
export async function automountRoot(seam: DoctorSeam): Promise<string> {
  return parseAutomountRoot((await readSystemFile(seam, WSL_CONF_PATH)) ?? "");
}

/** C: is mounted at `<automount root>c` with options that let programs run. */
export async function checkDriveMount(seam: DoctorSeam): Promise<CheckResult> {
  const root = await automountRoot(seam);
  const point = windowsDriveDir(root);
  const table = await readSystemFile(seam, "/proc/mounts");
  const mount = parseMounts(table ?? "").findLast((m) => m.point === point);
  const conf = `automount root ${root} (from ${WSL_CONF_PATH}${
    root === "/mnt/" ? " or the default" : ""
  })`;
  if (!mount) {
    return result(
      NAME,
      "fail",
      `${conf}, but nothing is mounted at ${point}`,
      `check [automount] in ${WSL_CONF_PATH} (enabled = true, root = ${root}), then wsl.exe --shutdown from Windows`,
    );
  }
  const shown = `${point} (${mount.type}, ${mount.options.join(",")})`;
  const blocked = execBlocker(mount.options, seam.runtime.uid());
  if (blocked) {
    return result(
      NAME,
      "fail",
      `${shown}: ${blocked}, so no .exe can start from it`,
      `remove ${blocked.split(" ")[0]} from [automount] options in ${WSL_CONF_PATH} ` +
        `(e.g. options = "metadata,fmask=11"), then wsl.exe --shutdown from Windows`,
    );
  }
  return result(NAME, "ok", shown);
}

/** Why these mount options stop our uid from executing files, or `null`. */
function execBlocker(options: string[], uid: number): string | null {
  if (options.includes("noexec")) return "noexec";
  const value = (key: string) =>
    options.find((o) => o.startsWith(`${key}=`))?.slice(key.length + 1);
  const maskKey = value("fmask") !== undefined
    ? "fmask"
    : value("umask") !== undefined
    ? "umask"
    : null;
  if (maskKey === null) return null;
  const mask = parseInt(value(maskKey)!, 8);
  const owner = value("uid");
  // Files belong to the mount's uid (the default user when unset); others get the "other" bits.
  const bit = owner === undefined || Number(owner) === uid ? 0o100 : 0o001;
  return (mask & bit) !== 0 ? `${maskKey}=${value(maskKey)} clears the execute bit` : null;
}

function parseMounts(text: string): Mount[] {
  const unescape = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  return text.split("\n").filter((l) => l.trim()).map((line) => {
    const [, point = "", type = "", opts = ""] = line.split(" ");
    return { point: unescape(point), type, options: opts.split(/[,;]/).filter((o) => o) };
  });
}
