/**
 * Command-line parsing and dispatch. `main.ts` calls {@linkcode runCli} with
 * the arguments and output functions, prints nothing itself beyond what the
 * commands send through `io`, and maps thrown errors to exit statuses.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { UsageError } from "../errors.ts";
import type { Runtime } from "../runtime/mod.ts";
import * as commands from "./commands.ts";
import { type CliIo, createContext } from "./context.ts";
import { EXPORT_FORMATS, type ExportFormat } from "./exports.ts";
import { HELP } from "./help.ts";

type OptionSpec = Record<string, { type: "string" | "boolean"; short?: string }>;

const COMMON: OptionSpec = { config: { type: "string" }, help: { type: "boolean", short: "h" } };
const FORMAT: OptionSpec = { format: { type: "string" } };
const AGENT: OptionSpec = { agent: { type: "string" } };

/** Options each command accepts. */
const OPTIONS: Record<string, OptionSpec> = {
  start: { ...COMMON, ...FORMAT, ...AGENT },
  stop: COMMON,
  restart: { ...COMMON, ...FORMAT, ...AGENT },
  status: { ...COMMON, json: { type: "boolean" } },
  run: { ...COMMON, ...AGENT, background: { type: "boolean" } },
  env: { ...COMMON, ...FORMAT },
  agent: COMMON,
  version: COMMON,
  doctor: { ...COMMON, ...AGENT, json: { type: "boolean" } },
};

/** Run one command line; resolves to the exit status. Throws typed errors for failures. */
export async function runCli(runtime: Runtime, args: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    (command === undefined ? io.err : io.out)(HELP.main + "\n");
    return command === undefined ? commands.Exit.USAGE : commands.Exit.OK;
  }
  if (command === "--version" || command === "-V") {
    return commands.version(createContext(runtime, io));
  }
  const spec = OPTIONS[command];
  if (!spec) {
    throw new UsageError(`unknown command "${command}"; run 'wsl2proxy --help' for the list`);
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: rest, options: spec, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new UsageError(`${command}: ${(e as Error).message}; run 'wsl2proxy ${command} --help'`, {
      cause: e,
    });
  }
  if (values.help) {
    io.out(HELP[command] + "\n");
    return commands.Exit.OK;
  }
  const ctx = createContext(runtime, io, values.config as string | undefined);
  const format = parseFormat(command, values.format as string | undefined);
  const agentPath = values.agent as string | undefined;
  switch (command) {
    case "start":
      return commands.start(ctx, format, agentPath);
    case "stop":
      return commands.stop(ctx);
    case "restart":
      return commands.restart(ctx, format, agentPath);
    case "status":
      return commands.status(ctx, values.json === true);
    case "env":
      return commands.env(ctx, format);
    case "version":
      return commands.version(ctx);
    case "run": {
      const { run } = await import("./run_command.ts");
      return run(ctx, values.background === true, agentPath);
    }
    case "doctor": {
      const { doctor } = await import("./doctor/command.ts");
      return doctor(ctx, values.json === true, agentPath);
    }
    case "agent": {
      const { agent } = await import("./run_command.ts");
      return agent(ctx);
    }
  }
  throw new UsageError(`unknown command "${command}"`);
}

function parseFormat(command: string, value: string | undefined): ExportFormat {
  if (value === undefined) return "sh";
  if ((EXPORT_FORMATS as readonly string[]).includes(value)) return value as ExportFormat;
  throw new UsageError(
    `${command}: --format must be one of ${EXPORT_FORMATS.join(", ")} (got "${value}")`,
  );
}
