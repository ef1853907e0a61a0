/**
 * `doctor`'s output: three lines per check for people (verdict and name,
 * evidence, what to do) and a closing count, or one JSON object.
 *
 * @module
 */
import type { CheckResult } from "./check.ts";

/** The text form. */
export function formatChecks(checks: readonly CheckResult[]): string {
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${c.status.padEnd(4)}  ${c.name}`, `      ${c.evidence}`, `      fix: ${c.fix}`);
  }
  const count = (s: CheckResult["status"]) => checks.filter((c) => c.status === s).length;
  lines.push("", `${count("ok")} ok, ${count("warn")} warn, ${count("fail")} fail`);
  return lines.join("\n") + "\n";
}

/** The `--json` form: `{"checks": [{"name", "status", "evidence", "fix"}, ...]}`. */
export function formatChecksJson(checks: readonly CheckResult[]): string {
  const plain = checks.map(({ name, status, evidence, fix }) => ({ name, status, evidence, fix }));
  return JSON.stringify({ checks: plain }, null, 2) + "\n";
}
