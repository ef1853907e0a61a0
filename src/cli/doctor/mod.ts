/**
 * `wsl2proxy doctor`: checks WSL, the Windows drive, the agent and every
 * socket, and says for each what to do.
 *
 * @module
 */
export { type CheckResult, type CheckStatus, type DoctorSeam } from "./check.ts";
export { formatChecks, formatChecksJson } from "./format_checks.ts";
export { runDoctor, type RunDoctorOptions } from "./run_doctor.ts";
