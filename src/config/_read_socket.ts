/**
 * Reading `sockets:`, each entry checked on its own so that every problem
 * shows up at once, and duplicates named with the line of the first use.
 *
 * @module
 */
import { isMap, isScalar, isSeq } from "yaml";
import { quote } from "./_issues.ts";
import { deref, describe, type Entry, isNull, readMap, stringOf, type Value } from "./_nodes.ts";
import { expand, EXPECT, ok, SOCKET_KEYS, type State } from "./_read_values.ts";
import {
  formatLinuxAddr,
  LINUX_ADDR_FORMS,
  linuxAddrKey,
  parseLinuxAddr,
  parseWindowsAddr,
  WINDOWS_ADDR_FORMS,
} from "./addr.ts";
import { defaultProtocol } from "./default_config.ts";
import { SOCKET_PROTOCOLS, type SocketConfig, type SocketProtocol } from "./types.ts";

/** The `sockets:` list; entries with problems are left out after their issues are recorded. */
export function readSockets(st: State, v: Value): SocketConfig[] {
  if (!isSeq(v.node)) {
    st.issues.add(v.at, "sockets", `got ${describe(v.node)}`, EXPECT.sockets);
    return [];
  }
  if (v.node.items.length === 0) {
    st.issues.warn(v.at, "sockets", "the list is empty, so nothing is forwarded");
  }
  const sockets: SocketConfig[] = [];
  const envNames = new Map<string, number>();
  const linuxAddrs = new Map<string, number>();
  v.node.items.forEach((item, i) => {
    const s = readSocket(st, deref(st, item, v.at), `sockets[${i}]`, envNames, linuxAddrs);
    if (s !== undefined) sockets.push(s);
  });
  return sockets;
}

/** A required key's value, or undefined after recording "missing key" at the mapping. */
function required(
  st: State,
  fields: Map<string, Entry>,
  item: Value,
  p: string,
  name: string,
  expected: string,
) {
  const entry = fields.get(name);
  if (entry === undefined) st.issues.add(item.at, `${p}.${name}`, "missing key", expected);
  return entry?.value;
}

function readSocket(
  st: State,
  item: Value,
  p: string,
  envNames: Map<string, number>,
  linuxAddrs: Map<string, number>,
): SocketConfig | undefined {
  if (!isMap(item.node)) {
    st.issues.add(item.at, p, `got ${describe(item.node)}`, EXPECT.socket);
    return undefined;
  }
  const fields = readMap(st, item, p, SOCKET_KEYS);

  let allowRemote = false;
  let allowRemoteBad = false;
  const ar = fields.get("allow_remote")?.value;
  if (ar !== undefined && !isNull(ar.node)) {
    if (isScalar(ar.node) && typeof ar.node.value === "boolean") allowRemote = ar.node.value;
    else {
      st.issues.add(ar.at, `${p}.allow_remote`, `got ${describe(ar.node)}`, EXPECT.bool);
      allowRemoteBad = true;
    }
  }

  let envName: string | undefined;
  const en = required(st, fields, item, p, "env_name", EXPECT.envName);
  const enText = en && stringOf(st, en, `${p}.env_name`, EXPECT.envName);
  if (en && enText !== undefined) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(enText)) {
      st.issues.add(
        en.at,
        `${p}.env_name`,
        `${quote(enText)} is not a shell variable name`,
        EXPECT.envName,
      );
    } else if (envNames.has(enText)) {
      const line = st.issues.position(envNames.get(enText)!).line;
      const problem = `duplicate env_name ${quote(enText)} (first used on line ${line})`;
      st.issues.add(en.at, `${p}.env_name`, problem, "a different env_name for each socket");
    } else {
      envNames.set(enText, en.at);
      envName = enText;
    }
  }

  let linuxAddr: SocketConfig["linuxAddr"] | undefined;
  const la = required(st, fields, item, p, "linux_addr", LINUX_ADDR_FORMS);
  const laText = la && stringOf(st, la, `${p}.linux_addr`, LINUX_ADDR_FORMS);
  const laExpanded = la && laText !== undefined
    ? expand(st, la, `${p}.linux_addr`, laText, EXPECT.template)
    : undefined;
  if (la && laExpanded !== undefined) {
    // A bad allow_remote has its own issue; blaming the host as well would be a knock-on error.
    linuxAddr = ok(
      st,
      la,
      `${p}.linux_addr`,
      parseLinuxAddr(laExpanded, allowRemote || allowRemoteBad),
    );
    const k = linuxAddr && linuxAddrKey(linuxAddr);
    if (linuxAddr && k !== undefined && linuxAddrs.has(k)) {
      const line = st.issues.position(linuxAddrs.get(k)!).line;
      const shown = quote(formatLinuxAddr(linuxAddr));
      const problem = `duplicate linux_addr ${shown} (first used on line ${line})`;
      st.issues.add(la.at, `${p}.linux_addr`, problem, "a different linux_addr for each socket");
      linuxAddr = undefined;
    } else if (k !== undefined) linuxAddrs.set(k, la.at);
    if (linuxAddr?.kind === "unix" && allowRemote) {
      st.issues.warn(ar!.at, `${p}.allow_remote`, "has no effect on a Unix socket");
    }
  }

  let windowsAddr: SocketConfig["windowsAddr"] | undefined;
  const wa = required(st, fields, item, p, "windows_addr", WINDOWS_ADDR_FORMS);
  const waText = wa && stringOf(st, wa, `${p}.windows_addr`, WINDOWS_ADDR_FORMS);
  if (wa && waText !== undefined) {
    windowsAddr = ok(st, wa, `${p}.windows_addr`, parseWindowsAddr(waText));
  }

  let protocol: SocketProtocol | undefined;
  let protocolBad = false;
  const pr = fields.get("protocol")?.value;
  if (pr !== undefined && !isNull(pr.node)) {
    const s = stringOf(st, pr, `${p}.protocol`, EXPECT.protocol);
    if (s !== undefined && (SOCKET_PROTOCOLS as readonly string[]).includes(s)) {
      protocol = s as SocketProtocol;
    } else {
      if (s !== undefined) {
        st.issues.add(pr.at, `${p}.protocol`, `unknown protocol ${quote(s)}`, EXPECT.protocol);
      }
      protocolBad = true;
    }
  }

  if (
    envName === undefined || linuxAddr === undefined || windowsAddr === undefined ||
    allowRemoteBad || protocolBad
  ) {
    return undefined;
  }
  return {
    envName,
    linuxAddr,
    windowsAddr,
    allowRemote,
    protocol: protocol ?? defaultProtocol(envName),
  };
}
