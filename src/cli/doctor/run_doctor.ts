/**
 * `doctor`: every check in order, as data. The WSL checks come first (a
 * broken interop explains everything after it), then the config, the agent
 * and, per socket, its Linux address, a dial of its Windows address and the
 * shell's variable. Printing is the command's job.
 *
 * @module
 */
import { join } from "node:path";
import type { Config } from "../../config/types.ts";
import type { HelloResponse } from "../../daemon/control_protocol.ts";
import { RuntimeFiles } from "../../daemon/runtime_dir.ts";
import { controlRequest } from "../control_client.ts";
import { type CheckResult, type DoctorSeam, message, result } from "./check.ts";
import { checkDriveMount } from "./drive_mount.ts";
import { checkWslInterop } from "./interop_socket.ts";
import { probeAgent, type ProbeAgentOptions } from "./agent_probe.ts";
import { checkEnvVar, checkLinuxAddr, type OurDaemon } from "./socket_checks.ts";
import { checkBinfmt, checkSystemdBinfmt, checkWsl2 } from "./wsl_checks.ts";

/** Options for {@linkcode runDoctor}. */
export interface RunDoctorOptions extends ProbeAgentOptions {
  /** Load the config; a throw becomes the failed `config` check. */
  loadConfig: () => Promise<Config>;
}

/** Run every check; never throws for what it finds. */
export async function runDoctor(
  seam: DoctorSeam,
  options: RunDoctorOptions,
): Promise<CheckResult[]> {
  const checks = [
    await checkWsl2(seam),
    await checkBinfmt(seam),
    await checkWslInterop(seam),
    await checkDriveMount(seam),
    await checkSystemdBinfmt(seam),
  ];
  let config: Config;
  try {
    config = await options.loadConfig();
  } catch (e) {
    checks.push(
      result(
        "config",
        "fail",
        message(e).split("\n")[0],
        "fix the config file, then run doctor again",
      ),
    );
    return checks;
  }
  checks.push(
    result(
      "config",
      "ok",
      `${config.file ?? "built-in defaults"}, ${config.sockets.length} socket(s)`,
    ),
  );
  const daemon = await ourDaemon(seam, config);
  const broken = checks.filter((c) =>
    c.status === "fail" && (c.name === "binfmt WSLInterop" || c.name === "WSL_INTEROP")
  );
  const interopBroken = broken.length
    ? `WSL interop cannot start a .exe (${broken.map((c) => c.name).join(", ")} failed)`
    : undefined;
  const probe = await probeAgent(seam, config, { ...options, interopBroken });
  checks.push(probe.agent, probe.cwd);
  for (const [i, socket] of config.sockets.entries()) {
    checks.push(
      await checkLinuxAddr(seam, socket, daemon),
      probe.dials[i],
      checkEnvVar(seam, socket),
    );
  }
  return checks;
}

/** The running daemon of ours, if one answers; a stranger or an unsafe dir counts as none. */
async function ourDaemon(seam: DoctorSeam, config: Config): Promise<OurDaemon | null> {
  const control = join(config.runtimeDir, RuntimeFiles.control);
  const hello = await controlRequest<HelloResponse>(seam.runtime, control, { op: "hello" }, 3000)
    .catch(() => null);
  if (!hello || typeof hello.pid !== "number") return null;
  return { pid: hello.pid };
}
