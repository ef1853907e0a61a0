/**
 * The checks that need the Windows agent: where it is placed (on a Windows
 * drive, the right size), which version answers and how long its start and
 * handshake take, the working directory it starts in, and a real dial of
 * every socket's `windows_addr`. `doctor` starts its own one-off agent for
 * these, so they work whether or not the daemon runs, and they see exactly
 * what a fresh daemon would.
 *
 * @module
 */
import type { Config, SocketConfig } from "../../config/types.ts";
import { StreamResetError, UnsupportedError } from "../../errors.ts";
import { Session } from "../../mux/mod.ts";
import { type ChildProcess, exists, fileSize } from "../../runtime/mod.ts";
import { VERSION } from "../../version.ts";
import {
  type AgentCommand,
  detectWsl,
  embeddedAgent,
  isOnWindowsDrive,
  resolveAgentCommand,
} from "../../wsl/mod.ts";
import { type CheckResult, type DoctorSeam, message, result, rooted } from "./check.ts";
import { automountRoot } from "./drive_mount.ts";

/** Slower than this from start to handshake is worth a warning (from a Windows drive it takes ~0.2 s). */
const SLOW_START_MS = 5000;
/** How long a dial may take before it counts as failed. */
const DIAL_TIMEOUT_MS = 15_000;

/** Options for {@linkcode probeAgent}. */
export interface ProbeAgentOptions {
  /** `--agent PATH`, as for `start`. */
  agentFlag?: string;
  /** How long the agent has to start and finish its handshake. @default 30000 */
  handshakeTimeoutMs?: number;
  /**
   * Why WSL interop cannot start a `.exe` now (a failed binfmt or
   * WSL_INTEROP check), if it cannot: a Windows agent is then not started,
   * since it would only fail or hang until the timeout.
   */
  interopBroken?: string;
}

/** The agent's checks, and one dial check per socket (in the config's order). */
export interface AgentProbe {
  agent: CheckResult;
  cwd: CheckResult;
  dials: CheckResult[];
}

/** The probe when the agent check failed before any agent ran: nothing else can be known. */
function notProbed(config: Config, agent: CheckResult, why: string): AgentProbe {
  const cwd = result("agent working directory", "warn", `not known: ${why}`, "see the agent check");
  return { agent, cwd, dials: noDials(config, agent) };
}

/** Resolve the agent as `start` would, start it once, dial every socket through it, and stop it. */
export async function probeAgent(
  seam: DoctorSeam,
  config: Config,
  options: ProbeAgentOptions = {},
): Promise<AgentProbe> {
  const driveRoot = await automountRoot(seam);
  const { isWsl } = await detectWsl(seam.env, (p) => exists(rooted(seam, p)).catch(() => false));
  const windowsAgent = options.agentFlag !== undefined || config.agent.kind !== "command" ||
    /\.exe$/i.test(config.agent.command[0]);
  if (options.interopBroken && isWsl && windowsAgent) {
    const agent = result(
      "agent",
      "fail",
      `not started: ${options.interopBroken}`,
      "fix the checks above first",
    );
    return notProbed(config, agent, "no agent started");
  }
  let cmd: AgentCommand;
  try {
    cmd = await resolveAgentCommand({
      agent: config.agent,
      agentFlag: options.agentFlag,
      isWsl,
      version: VERSION,
      driveRoot,
      embeddedAgent,
    });
  } catch (e) {
    const agent = result(
      "agent",
      "fail",
      `cannot place or find the agent: ${firstLine(message(e))}`,
      e instanceof UnsupportedError
        ? 'outside WSL there is no Windows side; to test, set agent.command: ["wsl2proxy", "agent"]'
        : "pass --agent PATH to a wsl2proxy-windows-x64.exe on a Windows drive, or set agent.path",
    );
    return notProbed(config, agent, "no agent command");
  }
  const cwd = await cwdCheck(cmd.cwd, isWsl, driveRoot, cmd.argv);
  if (cwd.status === "fail") {
    const agent = result("agent", "fail", `not started: ${cwd.evidence}`, cwd.fix);
    return { agent, cwd, dials: noDials(config, agent) };
  }
  const placed = await placement(cmd, isWsl, driveRoot, config);
  if (placed.status === "fail") return { agent: placed, cwd, dials: noDials(config, placed) };
  const started = performance.now();
  let child: ChildProcess;
  try {
    const spawnOptions = { cwd: cmd.cwd, stderr: "piped" } as const;
    child = seam.runtime.spawnLinked
      ? await seam.runtime.spawnLinked([...cmd.argv], spawnOptions)
      : seam.runtime.spawn([...cmd.argv], spawnOptions);
  } catch (e) {
    const agent = result(
      "agent",
      "fail",
      `${placed.evidence}; cannot start it: ${message(e)}`,
      "check the binfmt WSLInterop and Windows drive checks above, then agent.path / agent.command",
    );
    return { agent, cwd, dials: noDials(config, agent) };
  }
  const stderr = collect(child);
  let session: Session;
  try {
    session = await Session.connect(child.stdout!, child.stdin!, {
      role: "client",
      version: VERSION,
      names: { local: "wsl2proxy doctor", peer: "the Windows agent" },
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 30_000,
      keepaliveMs: 0,
    });
  } catch (e) {
    await end(child);
    const said = (await stderr).trim().split("\n").slice(-3).join(" | ");
    const agent = result(
      "agent",
      "fail",
      `${placed.evidence}; handshake failed: ${firstLine(message(e))}${
        said ? `; it said: ${said}` : ""
      }`,
      "run `wsl2proxy run` to watch it start; see the checks above for WSL interop",
    );
    return { agent, cwd, dials: noDials(config, agent) };
  }
  const ms = Math.round(performance.now() - started);
  const agent = handshakeCheck(placed, session.peer.version, ms);
  const dials: CheckResult[] = [];
  for (const socket of config.sockets) dials.push(await dial(session, socket));
  await session.close("doctor is done");
  await end(child);
  await stderr;
  return { agent, cwd, dials };
}

/** Where the agent is, its size, and whether that is the embedded agent's size. */
async function placement(
  cmd: AgentCommand,
  isWsl: boolean,
  driveRoot: string,
  config: Config,
): Promise<CheckResult> {
  const program = cmd.argv[0];
  // agent.command runs any program (deno.exe, a Linux build for tests): only a .exe must sit on a drive.
  const command = cmd.description.startsWith("agent.command");
  if (!program.startsWith("/") || (command && !/\.exe$/i.test(program))) {
    return result("agent", "ok", `agent.command ${cmd.argv.join(" ")}`);
  }
  let size: number | null;
  try {
    size = await fileSize(program);
  } catch (e) {
    return result("agent", "fail", `${program}: ${message(e)}`, "check agent.path or --agent");
  }
  if (size === null) return result("agent", "fail", `${program} is not a file`, "check agent.path");
  const evidence = `${program} (${(size / 1e6).toFixed(1)} MB)`;
  if (config.agent.kind === "auto") {
    const expected = (await embeddedAgent().catch(() => null))?.size;
    if (expected !== undefined && expected !== size) {
      return result(
        "agent",
        "fail",
        `${evidence}, but the embedded agent is ${expected} bytes`,
        `delete ${program} and run wsl2proxy restart, which places it again`,
      );
    }
  }
  if (isWsl && !isOnWindowsDrive(program, driveRoot)) {
    return result(
      "agent",
      "warn",
      `${evidence} is not on a Windows drive (under ${driveRoot}): Windows takes 15-30 s to start it`,
      `copy it to a Windows drive, e.g. ${driveRoot}c/Users/<you>/, and set agent.path`,
    );
  }
  return result("agent", "ok", evidence);
}

/** Add the version and the start time to the placement result. */
function handshakeCheck(placed: CheckResult, version: string, ms: number): CheckResult {
  const evidence = `${placed.evidence}, wsl2proxy ${version}, started and handshaked in ${ms} ms`;
  if (version !== VERSION) {
    return result(
      "agent",
      "warn",
      `${evidence}; this wsl2proxy is ${VERSION}`,
      "point agent.path at the agent of the same release, or remove agent.path to use the embedded one",
    );
  }
  if (ms > SLOW_START_MS) {
    const fix = placed.status === "warn"
      ? placed.fix
      : "keep the agent and its working directory on a Windows drive; a busy Windows or antivirus also slows it";
    return result("agent", "warn", `${evidence} (slow: ~0.2 s is usual)`, fix);
  }
  return { ...placed, evidence };
}

/** The agent's working directory: a Windows drive for a Windows program. */
async function cwdCheck(
  cwd: string | undefined,
  isWsl: boolean,
  driveRoot: string,
  argv: readonly string[],
): Promise<CheckResult> {
  const name = "agent working directory";
  if (cwd === undefined) {
    const exe = /\.exe$/i.test(argv[0] ?? "");
    return isWsl && exe
      ? result(
        name,
        "warn",
        "the daemon's own (not a Windows drive)",
        "use agent.path rather than agent.command",
      )
      : result(name, "ok", "the daemon's own (the agent is not a Windows program)");
  }
  if (!(await exists(cwd).catch(() => false))) {
    return result(
      name,
      "fail",
      `${cwd} does not exist, so the agent cannot start there`,
      "see the Windows drive check: the C: drive is not mounted where wsl.conf says",
    );
  }
  if (!isOnWindowsDrive(cwd, driveRoot)) {
    return result(
      name,
      "warn",
      `${cwd} is not on a Windows drive: starts take 15-30 s`,
      "see the Windows drive check",
    );
  }
  return result(name, "ok", `${cwd}`);
}

/** Open a stream to the socket's Windows address and close it again. */
async function dial(session: Session, socket: SocketConfig): Promise<CheckResult> {
  const name = `dial ${socket.envName}`;
  const url = socket.windowsAddr.url;
  const started = performance.now();
  try {
    const stream = await session.open(url, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) });
    stream.reset(undefined, "doctor only dials");
    return result(name, "ok", `${url} answered in ${Math.round(performance.now() - started)} ms`);
  } catch (e) {
    const why = e instanceof StreamResetError ? `the Windows side says: ${e.message}` : message(e);
    return result(name, "fail", `${url}: ${why}`, serviceHint(socket));
  }
}

function serviceHint(socket: SocketConfig): string {
  const a = socket.windowsAddr;
  if (a.kind === "pipe" && /openssh-ssh-agent$/i.test(a.path)) {
    return "start the OpenSSH Authentication Agent (admin PowerShell: Set-Service ssh-agent -StartupType " +
      "Automatic; Start-Service ssh-agent), or 1Password's SSH agent";
  }
  if (a.kind === "pipe") {
    return `start the Windows program or service that serves ${a.path} (e.g. Docker Desktop)`;
  }
  if (a.kind === "unix") return `start the Windows program that listens on ${a.path}`;
  if (a.kind === "tcp") {
    return `start the Windows program that listens on ${a.host}:${a.port}, or fix windows_addr`;
  }
  if (a.kind === "pageant") return "start Pageant (PuTTY's agent) in your Windows session";
  // assuan and gpg: gpg4win's agent.
  return "start gpg4win's agent on Windows: gpgconf --launch gpg-agent (in a Windows shell)";
}

function noDials(config: Config, agent: CheckResult): CheckResult[] {
  return config.sockets.map((s) =>
    result(
      `dial ${s.envName}`,
      "fail",
      `${s.windowsAddr.url}: not dialled, no agent (${agent.evidence})`,
      "fix the agent check first",
    )
  );
}

/** Everything the child writes to stderr, once it ends. */
async function collect(child: ChildProcess): Promise<string> {
  if (!child.stderr) return "";
  try {
    return await new Response(child.stderr).text();
  } catch {
    return "";
  }
}

/** Close its stdin (the agent exits at EOF), then TERM, then KILL. */
async function end(child: ChildProcess): Promise<void> {
  if (child.stdin && !child.stdin.locked) child.stdin.close().catch(() => {});
  for (const signal of [null, "SIGTERM", "SIGKILL"]) {
    if (signal) child.kill(signal);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const gone = await Promise.race([
      child.status.then(() => true),
      new Promise<false>((r) => (timer = setTimeout(() => r(false), 1000))),
    ]);
    clearTimeout(timer);
    if (gone) return;
  }
}

function firstLine(text: string): string {
  return text.split("\n")[0];
}
