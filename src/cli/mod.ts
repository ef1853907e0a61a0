/**
 * The command-line interface.
 *
 * @module
 */
export { runCli } from "./cli.ts";
export { Exit } from "./commands.ts";
export { type CliIo } from "./context.ts";
export { EXPORT_FORMATS, type ExportFormat, formatExports } from "./exports.ts";
