/**
 * The `doctor` command: run the checks, print them, exit 1 when any fails.
 *
 * @module
 */
import type { CliContext } from "../context.ts";
import type { DoctorSeam } from "./check.ts";
import { formatChecks, formatChecksJson } from "./format_checks.ts";
import { runDoctor } from "./run_doctor.ts";

/**
 * Tests point the system-file reads at a fake tree with this variable (see
 * `DoctorSeam.root`); it changes nothing but what doctor reads.
 */
export const DOCTOR_ROOT_ENV = "WSL2PROXY_DOCTOR_ROOT";

/** `doctor [--json] [--agent PATH]`; resolves to 0 when nothing fails, else 1. */
export async function doctor(ctx: CliContext, json: boolean, agentFlag?: string): Promise<number> {
  const rt = ctx.runtime;
  const seam: DoctorSeam = {
    root: rt.env(DOCTOR_ROOT_ENV) || "/",
    env: (name) => rt.env(name),
    runtime: rt,
  };
  const checks = await runDoctor(seam, { loadConfig: () => ctx.loadConfig(), agentFlag });
  ctx.io.out(json ? formatChecksJson(checks) : formatChecks(checks));
  return checks.some((c) => c.status === "fail") ? 1 : 0;
}
