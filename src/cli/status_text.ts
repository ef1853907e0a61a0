/**
 * The human-readable `status` view.
 *
 * @module
 */
import type { DaemonStatus } from "../daemon/mod.ts";

/** Render a status snapshot for people. */
export function formatStatus(s: DaemonStatus): string {
  const a = s.agent;
  const lines = [
    `wsl2proxy ${s.version}: running (pid ${s.pid}, up ${
      duration(s.uptimeSeconds)
    }, ${s.runtime}, ${bytes(s.rssBytes)} resident)`,
    `config:   ${s.config ?? "(built-in defaults)"}`,
    `runtime:  ${s.runtimeDir}`,
    `log:      ${s.logPath}`,
    `agent:    ${a.state}${a.pid ? `, pid ${a.pid}` : ""}${
      a.version ? `, wsl2proxy ${a.version}` : ""
    }, ` +
    `${a.restarts} restart${a.restarts === 1 ? "" : "s"}${
      a.rttMs !== null ? `, rtt ${a.rttMs.toFixed(2)} ms` : ""
    }` +
    (a.nextStartInMs !== null ? `, next start in ${a.nextStartInMs} ms` : ""),
    `          ${a.command.join(" ")}`,
  ];
  if (a.lastError) lines.push(`          last error: ${a.lastError}`);
  const held = Object.entries(a.openTargets ?? {});
  if (held.length > 0) {
    lines.push(`          holds open: ${held.map(([t, n]) => `${t} (${n})`).join(", ")}`);
  }
  lines.push("sockets:");
  if (s.sockets.length === 0) lines.push("  (none configured)");
  for (const k of s.sockets) {
    lines.push(`  ${k.envName}  ${k.linuxAddr} -> ${k.windowsAddr}`);
    lines.push(
      `    ${k.openConnections} open, ${k.totalConnections} total, ${k.failedConnections} failed` +
        (k.rejectedPeers ? `, ${k.rejectedPeers} rejected (other users)` : "") +
        (k.shedConnections ? `, ${k.shedConnections} reset at the connection limit` : "") +
        (k.extensionsRefused
          ? `, ${k.extensionsRefused} session-bind answered FAILURE (old Windows agent)`
          : "") +
        `; ${bytes(k.bytesOut)} sent, ${bytes(k.bytesIn)} received`,
    );
  }
  for (const k of s.notListening ?? []) {
    lines.push(`  ${k.envName}  ${k.linuxAddr} -> ${k.windowsAddr}`);
    lines.push(`    NOT LISTENING: ${k.error}`);
  }
  return lines.join("\n") + "\n";
}

function duration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(1)} ${units[i]}`;
}
