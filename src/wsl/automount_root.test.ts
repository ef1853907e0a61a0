import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  isOnWindowsDrive,
  parseAutomountRoot,
  readAutomountRoot,
  windowsDriveDir,
} from "./automount_root.ts";
import { tempDir } from "./_test_util.ts";

describe("automount root", () => {
  test("parseAutomountRoot - an empty file or one without [automount] gives /mnt/", () => {
    assert.equal(parseAutomountRoot(""), "/mnt/");
    assert.equal(parseAutomountRoot("[boot]\nsystemd=true\n"), "/mnt/");
    assert.equal(parseAutomountRoot("[automount]\nenabled = true\noptions = metadata\n"), "/mnt/");
  });

  test("parseAutomountRoot - a custom root is read and ends in exactly one slash", () => {
    assert.equal(parseAutomountRoot("[automount]\nroot = /windir/\n"), "/windir/");
    assert.equal(parseAutomountRoot("[automount]\nroot=/\n"), "/");
    assert.equal(parseAutomountRoot("[automount]\nroot = /win\n"), "/win/");
    assert.equal(parseAutomountRoot("[automount]\nroot = /win//\n"), "/win/");
  });

  test("parseAutomountRoot - full-line and trailing # and ; comments are ignored", () => {
    const text = [
      "# wsl.conf",
      "; another comment",
      "[automount]  # drives",
      "# root = /commented/",
      "root = /win/ # where drives go",
      'options = "metadata" ; trailing',
    ].join("\n");
    assert.equal(parseAutomountRoot(text), "/win/");
  });

  test("parseAutomountRoot - quotes are removed and protect # inside them", () => {
    assert.equal(parseAutomountRoot('[automount]\nroot = "/win dir/"\n'), "/win dir/");
    assert.equal(parseAutomountRoot("[automount]\nroot = '/drives/'\n"), "/drives/");
    assert.equal(parseAutomountRoot('[automount]\nroot = "/a#b/" # c\n'), "/a#b/");
  });

  test("parseAutomountRoot - spaces, tabs, CRLF and letter case do not matter", () => {
    assert.equal(parseAutomountRoot("  [ AutoMount ]\r\n\tROOT\t=\t/win/  \r\n"), "/win/");
  });

  test("parseAutomountRoot - malformed lines are skipped", () => {
    const text = [
      "[automount",
      "this line has no equals sign",
      "= /no-key/",
      "[automount]",
      "root",
      "root = /good/",
      "]broken[",
    ].join("\n");
    assert.equal(parseAutomountRoot(text), "/good/");
  });

  test("parseAutomountRoot - root in another section does not count", () => {
    assert.equal(parseAutomountRoot("[network]\nroot = /nope/\n[automount]\n"), "/mnt/");
    assert.equal(
      parseAutomountRoot("[automount]\nroot = /yes/\n[network]\nroot = /no/\n"),
      "/yes/",
    );
  });

  test("parseAutomountRoot - an empty or relative root gives the default and the last root wins", () => {
    assert.equal(parseAutomountRoot("[automount]\nroot =\n"), "/mnt/");
    assert.equal(parseAutomountRoot('[automount]\nroot = ""\n'), "/mnt/");
    assert.equal(parseAutomountRoot("[automount]\nroot = win/\n"), "/mnt/");
    assert.equal(parseAutomountRoot("[automount]\nroot = /a/\nroot = /b/\n"), "/b/");
  });

  test("readAutomountRoot - reads a real file, and a missing file gives /mnt/", async () => {
    const dir = await tempDir();
    try {
      const conf = join(dir.path, "wsl.conf");
      await writeFile(conf, "[automount]\nroot = /drives\n");
      assert.equal(await readAutomountRoot(conf), "/drives/");
      assert.equal(await readAutomountRoot(join(dir.path, "missing.conf")), "/mnt/");
      assert.equal(await readAutomountRoot(dir.path), "/mnt/");
    } finally {
      await dir.dispose();
    }
  });

  test("windowsDriveDir - joins the root and the lower-case drive letter, c by default", () => {
    assert.equal(windowsDriveDir("/mnt/"), "/mnt/c");
    assert.equal(windowsDriveDir("/mnt"), "/mnt/c");
    assert.equal(windowsDriveDir("/win/", "D"), "/win/d");
    assert.equal(windowsDriveDir("/", "e"), "/e");
    assert.throws(() => windowsDriveDir("/mnt/", "cd"), RangeError);
  });

  test("isOnWindowsDrive - only paths under <root><letter>/ count", () => {
    assert.equal(isOnWindowsDrive("/mnt/c/Users/me/a.exe", "/mnt/"), true);
    assert.equal(isOnWindowsDrive("/mnt/d", "/mnt/"), true);
    assert.equal(isOnWindowsDrive("/win/c/a.exe", "/win"), true);
    assert.equal(isOnWindowsDrive("/mnt/wsl/a.exe", "/mnt/"), false);
    assert.equal(isOnWindowsDrive("/mnt/a.exe", "/mnt/"), false);
    assert.equal(isOnWindowsDrive("/home/me/a.exe", "/mnt/"), false);
    assert.equal(isOnWindowsDrive("/mntx/c/a.exe", "/mnt/"), false);
  });
});
