/**
 * The checks on WSL itself: are we in WSL 2, is the `WSLInterop` binfmt
 * entry (what lets Linux start a `.exe`) registered and enabled, and can
 * systemd's `systemd-binfmt` wipe it (microsoft/WSL#8843, systemd#28126).
 *
 * @module
 */
import {
  type CheckResult,
  type DoctorSeam,
  readSystemDir,
  readSystemFile,
  result,
} from "./check.ts";
import { readLink } from "../../runtime/mod.ts";
import { rooted } from "./check.ts";

/** The binfmt_misc entries WSL registers (`-late` on newer WSL, after systemd). */
const BINFMT_DIR = "/proc/sys/fs/binfmt_misc";
const INTEROP_ENTRIES = ["WSLInterop", "WSLInterop-late"];
/** The registration WSL itself makes; writing it back restores interop. */
export const INTEROP_REGISTRATION = ":WSLInterop:M::MZ::/init:PF";

/** Inside WSL 2: the kernel release says `microsoft-standard-WSL2`; WSL 1 says `Microsoft`. */
export async function checkWsl2(seam: DoctorSeam): Promise<CheckResult> {
  const name = "inside WSL 2";
  const release = (await readSystemFile(seam, "/proc/sys/kernel/osrelease"))?.trim() ?? "";
  const distro = seam.env("WSL_DISTRO_NAME");
  const where = `kernel ${release || "(unreadable)"}${distro ? `, WSL_DISTRO_NAME=${distro}` : ""}`;
  if (/WSL2/i.test(release)) return result(name, "ok", where);
  if (/microsoft/i.test(release)) {
    return result(
      name,
      "warn",
      `${where}: this is WSL 1`,
      "wsl2proxy is made for WSL 2; convert it from Windows: wsl.exe --set-version <distro> 2",
    );
  }
  return result(
    name,
    "fail",
    `${where}: not a WSL kernel`,
    "run wsl2proxy inside a WSL 2 distribution; outside WSL set agent.command to an agent you can start",
  );
}

/** The `WSLInterop` (or `WSLInterop-late`) binfmt entry exists and is enabled. */
export async function checkBinfmt(seam: DoctorSeam): Promise<CheckResult> {
  const name = "binfmt WSLInterop";
  const global = (await readSystemFile(seam, `${BINFMT_DIR}/status`))?.trim();
  const register = `sudo sh -c 'echo ${INTEROP_REGISTRATION} > ${BINFMT_DIR}/register'`;
  if (global === "disabled") {
    return result(
      name,
      "fail",
      `${BINFMT_DIR}/status says disabled: no .exe can start`,
      `sudo sh -c 'echo 1 > ${BINFMT_DIR}/status'`,
    );
  }
  const seen: string[] = [];
  for (const entry of INTEROP_ENTRIES) {
    const text = await readSystemFile(seam, `${BINFMT_DIR}/${entry}`);
    if (text === null) continue;
    const state = text.split("\n")[0].trim();
    const interpreter = /^interpreter (.*)$/m.exec(text)?.[1] ?? "?";
    if (state === "enabled") {
      return result(name, "ok", `${BINFMT_DIR}/${entry}: enabled, interpreter ${interpreter}`);
    }
    seen.push(`${entry}: ${state}`);
  }
  if (seen.length > 0) {
    return result(
      name,
      "fail",
      `${BINFMT_DIR}/${seen.join(", ")}: no .exe can start`,
      `sudo sh -c 'echo 1 > ${BINFMT_DIR}/WSLInterop'`,
    );
  }
  const listed = await readSystemDir(seam, BINFMT_DIR);
  const others = (listed ?? []).filter((n) => n !== "register" && n !== "status");
  return result(
    name,
    "fail",
    `no WSLInterop entry in ${BINFMT_DIR} (${
      listed === null ? "not mounted" : `it holds: ${others.join(", ") || "nothing"}`
    }): no .exe can start`,
    `${register}, or run wsl.exe --shutdown from Windows; see the systemd check for a lasting fix`,
  );
}

/** Where systemd keeps unit files and binfmt.d snippets, most specific first. */
const UNIT_DIRS = [
  "/etc/systemd/system",
  "/run/systemd/system",
  "/usr/lib/systemd/system",
  "/lib/systemd/system",
];
const BINFMT_D_DIRS = ["/etc/binfmt.d", "/run/binfmt.d", "/usr/lib/binfmt.d", "/lib/binfmt.d"];

/**
 * systemd as PID 1 with an active `systemd-binfmt.service`: at boot, and
 * whenever a package restarts it (qemu-user-binfmt, mono), it unregisters
 * every binfmt entry and registers only its own, dropping WSLInterop unless a
 * binfmt.d snippet registers it again, the service is masked, or WSL
 * registered the `-late` entry after it.
 */
export async function checkSystemdBinfmt(seam: DoctorSeam): Promise<CheckResult> {
  const name = "systemd-binfmt";
  const init = (await readSystemFile(seam, "/proc/1/comm"))?.trim() ?? "?";
  if (init !== "systemd") return result(name, "ok", `PID 1 is ${init}, not systemd`);
  let unit: string | null = null;
  for (const dir of UNIT_DIRS) {
    const path = `${dir}/systemd-binfmt.service`;
    const target = await readLink(rooted(seam, path)).catch(() => null);
    if (target === "/dev/null") return result(name, "ok", `PID 1 is systemd; ${path} is masked`);
    if (target !== null || (await readSystemFile(seam, path)) !== null) {
      unit = path;
      break;
    }
  }
  if (unit === null) return result(name, "ok", "PID 1 is systemd, without systemd-binfmt.service");
  for (const dir of BINFMT_D_DIRS) {
    for (const file of (await readSystemDir(seam, dir)) ?? []) {
      const text = await readSystemFile(seam, `${dir}/${file}`);
      if (text && /^:WSLInterop(-late)?:/m.test(text)) {
        return result(name, "ok", `PID 1 is systemd; ${dir}/${file} registers WSLInterop again`);
      }
    }
  }
  if ((await readSystemFile(seam, `${BINFMT_DIR}/WSLInterop-late`)) !== null) {
    return result(name, "ok", `PID 1 is systemd; WSL registered WSLInterop-late after it`);
  }
  return result(
    name,
    "warn",
    `PID 1 is systemd with ${unit}, and no binfmt.d file registers WSLInterop: ` +
      "it drops interop at boot or when a package restarts it (microsoft/WSL#8843)",
    `echo '${INTEROP_REGISTRATION}' | sudo tee /usr/lib/binfmt.d/WSLInterop.conf, ` +
      "then sudo systemctl restart systemd-binfmt",
  );
}
