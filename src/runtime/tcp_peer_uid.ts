/**
 * The uid of the process on the other end of a loopback TCP connection,
 * from the kernel's socket table (`/proc/net/tcp`, `/proc/net/tcp6`): the
 * peer's socket is the entry whose local address is our remote one and
 * whose remote address is our local one, and its `uid` column is the uid
 * that created it. Linux only; TCP has no SO_PEERCRED.
 *
 * Limits: it names the uid that *created* the peer socket (a socket passed
 * to another process keeps it), and only a peer in our network namespace
 * is found, which for a `127.0.0.1` listener is every local peer.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import process from "node:process";

/** Where the tables are; a parameter for tests. */
export interface TcpTables {
  tcp: string;
  tcp6: string;
}

const PROC: TcpTables = { tcp: "/proc/net/tcp", tcp6: "/proc/net/tcp6" };

/**
 * The uid owning the peer of our connection `local` ↔ `remote` (each
 * `{ address, port }`), or `undefined` when the table has no such socket
 * (not Linux, not local, or already gone).
 */
export function tcpPeerUid(
  local: { address: string; port: number },
  remote: { address: string; port: number },
  tables: TcpTables = PROC,
): number | undefined {
  // The peer's row: its local side is our remote side, and the other way round.
  const want = `${hexAddress(remote.address)}:${hexPort(remote.port)} ${
    hexAddress(local.address)
  }:${hexPort(local.port)}`;
  const v6 = local.address.includes(":");
  for (const file of v6 ? [tables.tcp6, tables.tcp] : [tables.tcp, tables.tcp6]) {
    let text: string;
    try {
      text = readFileSync(file, "latin1");
    } catch {
      continue;
    }
    const at = text.indexOf(want);
    if (at < 0) continue;
    // sl local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid ...
    const fields = text.slice(at, text.indexOf("\n", at)).trim().split(/\s+/);
    const uid = Number(fields[6]);
    if (Number.isInteger(uid)) return uid;
  }
  return undefined;
}

/**
 * The peer uid for an accepted TCP connection: its owner on Linux, `-1`
 * (nobody we trust) when the table does not show it, `undefined` elsewhere.
 */
export function acceptedTcpPeerUid(
  local: { address: string; port: number },
  remote: { address: string; port: number },
): number | undefined {
  if (process.platform !== "linux") return undefined;
  return tcpPeerUid(local, remote) ?? -1;
}

/** A port as the table writes it: 4 upper-case hex digits. */
function hexPort(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, "0");
}

/**
 * An address as the table writes it: IPv4 as one little-endian u32 in hex
 * (`127.0.0.1` → `0100007F`), IPv6 as four such words, an IPv4-mapped IPv6
 * address (`::ffff:127.0.0.1`) as its IPv6 form.
 */
export function hexAddress(address: string): string {
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/i.exec(address);
  if (v4 && !address.includes(":")) return word([+v4[1], +v4[2], +v4[3], +v4[4]]);
  const bytes = ipv6Bytes(address);
  let out = "";
  for (let i = 0; i < 16; i += 4) out += word(bytes.slice(i, i + 4));
  return out;
}

/** Four address bytes as the kernel prints a native (little-endian) u32. */
function word(b: number[]): string {
  return [b[3], b[2], b[1], b[0]].map((x) => x.toString(16).toUpperCase().padStart(2, "0"))
    .join("");
}

function ipv6Bytes(address: string): number[] {
  let text = address;
  const tail: number[] = [];
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    tail.push(+v4[1], +v4[2], +v4[3], +v4[4]);
    text = text.slice(0, v4.index) + "0:0";
  }
  const [head, rest] = text.includes("::") ? text.split("::") : [text, undefined];
  const left = head ? head.split(":") : [];
  const right = rest ? rest.split(":") : [];
  const groups = [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  const bytes: number[] = [];
  for (const g of groups) {
    const n = parseInt(g || "0", 16);
    bytes.push(n >> 8, n & 0xff);
  }
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}
