/**
 * Usage text for every command.
 *
 * @module
 */

const COMMON = `  --config PATH   config file (default: $WSL2PROXY_CONFIG, else
                  $XDG_CONFIG_HOME/wsl2proxy/config.yaml, else ~/.config/wsl2proxy/config.yaml)
  -h, --help      show this help`;

/** Help for each command, and for the program. */
export const HELP: Record<string, string> = {
  main: `wsl2proxy: reach Windows named pipes, AF_UNIX sockets and localhost from WSL2

Usage: wsl2proxy <command> [options]

Commands:
  start     start the daemon if it is not running; print shell exports
  stop      stop the daemon
  restart   stop, then start
  status    show the daemon, the agent and every socket (--json for machines)
  run       run the daemon in the foreground, logging to stderr too
  env       print the shell exports without starting anything
  doctor    check WSL interop, the Windows drive, the agent and every socket
  agent     the Windows side: speak the multiplexer on stdin/stdout
  version   print the version

Put this in ~/.bashrc:   eval "$(wsl2proxy start)"

Exit status: 0 ok, 1 failure, 2 bad usage or bad config, 3 not running (status),
4 handshake failed (agent), 5 some sockets not listening (start, env);
doctor: 0 nothing failed, 1 some check failed.
Run 'wsl2proxy <command> --help' for a command's options.`,
  start: `Usage: wsl2proxy start [--format sh|fish|csh|json] [--agent PATH] [--config PATH]

Start the daemon in the background unless one is already running (it is
idempotent and fast when running), then print the exports, e.g.
  SSH_AUTH_SOCK="/run/user/1000/wsl2proxy/default-ssh-auth.sock"; export SSH_AUTH_SOCK;
A running daemon of another version is restarted. Only sockets the daemon
listens on are exported; any other is named on stderr with the reason.

Options:
  --format F      sh (default), fish, csh or json
  --agent PATH    the Windows agent .exe to use (overrides agent.path)
${COMMON}

Exit status: 0 running, 1 the daemon could not start, 2 bad usage or config,
5 some sockets are not listening (named on stderr; the others are exported).`,
  stop: `Usage: wsl2proxy stop [--config PATH]

Stop the daemon and its agent, removing its sockets.

Options:
${COMMON}

Exit status: 0 stopped (or was not running), 1 it did not stop, 2 bad usage or config.`,
  restart: `Usage: wsl2proxy restart [--format F] [--agent PATH] [--config PATH]

Stop the daemon if it runs, start it again, and print the exports like start.

Options:
  --format F      sh (default), fish, csh or json
  --agent PATH    the Windows agent .exe to use
${COMMON}

Exit status: as for start.`,
  status: `Usage: wsl2proxy status [--json] [--config PATH]

Show the daemon pid and uptime; the agent's pid, version, state and last
error; and for each socket its addresses, open and total connections and bytes.

Options:
  --json          print JSON: {"pid", "version", "agent": {"pid", "version", "state", ...}, "sockets": [...]}
${COMMON}

Exit status: 0 running, 3 not running, 1 the daemon did not answer, 2 bad usage or config.`,
  run: `Usage: wsl2proxy run [--agent PATH] [--config PATH]

Run the daemon in the foreground, logging to stderr as well as the log file.
Stops on SIGINT/SIGTERM; reloads the config on SIGHUP and when the file changes.

Options:
  --agent PATH    the Windows agent .exe to use
${COMMON}

Exit status: 0 stopped cleanly, 1 failure, 2 bad usage or config.`,
  env: `Usage: wsl2proxy env [--format sh|fish|csh|json] [--config PATH]

Print the exports for the configured sockets without starting anything. If a
daemon runs, sockets it reports as not listening are left out, with a warning.

Options:
  --format F      sh (default), fish, csh or json
${COMMON}

Exit status: 0 ok, 2 bad usage or config, 5 some sockets left out (named on stderr).`,
  agent: `Usage: wsl2proxy agent

The Windows side. Reads the multiplexer from stdin and writes it to stdout,
dialling each stream's target (pipe://, unix://, tcp://). Logs go to stderr.
Exits when stdin closes. The daemon starts this; you do not run it by hand.

Exit status: 0 the daemon closed the session, 1 a protocol or session error,
4 the handshake failed (stray bytes, version mismatch, timeout).`,
  doctor: `Usage: wsl2proxy doctor [--json] [--agent PATH] [--config PATH]

Check what the bridge depends on and say, for each, ok / warn / fail, what
was seen, and what to do: inside WSL 2; the WSLInterop binfmt entry;
WSL_INTEROP pointing at a live socket; the Windows drive's mount and options;
systemd-binfmt; the config; the agent (placed on a Windows drive, its size,
version and start time) and its working directory; and for each socket
whether its linux_addr is free, ours or held by another process (named), a
real dial of its windows_addr through a one-off agent, and whether this
shell's variable points at it. Works while the daemon is down.

Options:
  --json          print {"checks": [{"name", "status", "evidence", "fix"}, ...]}
  --agent PATH    the Windows agent .exe to check (as for start)
${COMMON}

Exit status: 0 nothing failed (warnings allowed), 1 some check failed,
2 bad usage.`,
  version: `Usage: wsl2proxy version

Print the version, the runtime and the platform.`,
};
