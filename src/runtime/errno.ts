/**
 * Reading the errno name that node-style and Deno errors both carry.
 *
 * @module
 */

/** The errno name (`"ENOENT"`, `"ECONNREFUSED"`) on `error`, if it has one. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}
