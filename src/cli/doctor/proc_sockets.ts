/**
 * Who listens on an address, read from /proc without connecting to it: the
 * kernel's socket tables (`/proc/net/unix`, `/proc/net/tcp{,6}`) give the
 * listening socket's inode, and `/proc/PID/fd/*` links (`socket:[INODE]`)
 * give the processes holding it. A connect would only say "someone
 * listens"; this names them, e.g. a local gpg-agent on the agent's path.
 *
 * @module
 */
import type { LinuxAddr } from "../../config/types.ts";
import { readLink } from "../../runtime/mod.ts";
import { type DoctorSeam, readSystemDir, readSystemFile, rooted } from "./check.ts";

/** A process holding a socket. */
export interface SocketHolder {
  pid: number;
  /** `/proc/PID/comm`, e.g. `gpg-agent`. */
  name: string;
}

/** What listens on a Linux address. */
export interface Listening {
  /** Inodes of the listening sockets bound to it (a replaced file can leave two). */
  inodes: number[];
  /** The processes holding those sockets that we may see (all, as root). */
  holders: SocketHolder[];
}

/** The listening sockets bound to `addr`, and who holds them; `inodes` is empty when none listens. */
export async function whoListens(seam: DoctorSeam, addr: LinuxAddr): Promise<Listening> {
  const inodes = addr.kind === "unix"
    ? await unixListeners(seam, addr.path)
    : await tcpListeners(seam, addr.host, addr.port);
  return { inodes, holders: inodes.length ? await holdersOf(seam, new Set(inodes)) : [] };
}

/** The flag `/proc/net/unix` shows on a listening socket (`__SO_ACCEPTCON`). */
const ACCEPTCON = 0x10000;

async function unixListeners(seam: DoctorSeam, path: string): Promise<number[]> {
  const text = await readSystemFile(seam, "/proc/net/unix");
  const out: number[] = [];
  for (const line of (text ?? "").split("\n").slice(1)) {
    // Num RefCount Protocol Flags Type St Inode Path; the path may hold spaces.
    const m = /^\S+:\s+\S+\s+\S+\s+([0-9A-Fa-f]+)\s+\S+\s+\S+\s+(\d+)\s(.*)$/.exec(line);
    if (m && m[3] === path && (parseInt(m[1], 16) & ACCEPTCON) !== 0) out.push(Number(m[2]));
  }
  return out;
}

const TCP_LISTEN = "0A";

async function tcpListeners(seam: DoctorSeam, host: string, port: number): Promise<number[]> {
  const want = hostBytes(host);
  const out: number[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await readSystemFile(seam, table);
    for (const line of (text ?? "").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== TCP_LISTEN) continue;
      const [addrHex, portHex] = f[1].split(":");
      if (parseInt(portHex, 16) !== port) continue;
      const bound = procAddrBytes(addrHex);
      if (want === null || covers(bound, want)) out.push(Number(f[9]));
    }
  }
  return out;
}

/** Whether a listener bound to `bound` takes connections to `want` (same address, or a wildcard). */
function covers(bound: number[], want: number[]): boolean {
  if (bound.every((b) => b === 0)) return true;
  const v4 = (a: number[]) =>
    a.length === 4
      ? a.join(".")
      : a.slice(0, 10).every((b) => b === 0) && a[10] === 255 && a[11] === 255
      ? a.slice(12).join(".")
      : null;
  const a = v4(bound), b = v4(want);
  if (a !== null || b !== null) return a === b;
  return bound.every((x, i) => x === want[i]);
}

/** `/proc/net/tcp*` addresses: hex of each 32-bit word in host (little-endian) order. */
function procAddrBytes(hex: string): number[] {
  const out: number[] = [];
  for (let w = 0; w < hex.length; w += 8) {
    const word = hex.slice(w, w + 8);
    for (let i = 6; i >= 0; i -= 2) out.push(parseInt(word.slice(i, i + 2), 16));
  }
  return out;
}

/** An IP literal's bytes, or `null` for a name (then any listener on the port counts). */
function hostBytes(host: string): number[] | null {
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  if (v4) return v4.slice(1).map(Number);
  if (!host.includes(":")) return host === "localhost" ? [127, 0, 0, 1] : null;
  const [head, tail = ""] = host.split("::");
  const groups = (s: string) => (s ? s.split(":").map((g) => parseInt(g, 16)) : []);
  const h = groups(head), t = groups(host.includes("::") ? tail : "");
  const all = host.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill(0), ...t] : h;
  if (all.length !== 8 || all.some((g) => !(g >= 0 && g <= 0xffff))) return null;
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

/** Processes with an fd on one of `inodes`. Processes of other users are unreadable unless we are root. */
async function holdersOf(seam: DoctorSeam, inodes: Set<number>): Promise<SocketHolder[]> {
  const found: SocketHolder[] = [];
  for (const entry of (await readSystemDir(seam, "/proc")) ?? []) {
    if (!/^\d+$/.test(entry)) continue;
    const fds = await readSystemDir(seam, `/proc/${entry}/fd`);
    let holds = false;
    for (const fd of fds ?? []) {
      const link = await readLink(rooted(seam, `/proc/${entry}/fd/${fd}`)).catch(() => "");
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(Number(m[1]))) {
        holds = true;
        break;
      }
    }
    if (!holds) continue;
    const name = ((await readSystemFile(seam, `/proc/${entry}/comm`)) ?? "?").trim();
    found.push({ pid: Number(entry), name });
  }
  return found;
}
