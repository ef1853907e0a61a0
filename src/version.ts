/**
 * This program's version. Kept equal to package.json's by a test; both sides
 * send it in the mux preface so mismatches are reported by name.
 *
 * @module
 */
export const VERSION = "0.1.0";
