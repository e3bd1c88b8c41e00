import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { REPO_ROOT, runBinary } from "./helpers.ts";

const VERSION = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")).version as string;

describe("compiled binary", () => {
  test("--version shows version, commit and target", () => {
    const result = runBinary(["--version"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^chatmail-maildir ${VERSION.replace(/\./g, "\\.")} \\(commit [0-9a-f]{7,}, linux-(x64|arm64)\\)\\n$`));
  });

  test("--help lists the subcommands", () => {
    const result = runBinary(["--help"]);
    expect(result.exitCode).toBe(0);
    for (const name of ["quota-expire", "expire-inactive", "fsreport"]) expect(result.stdout).toContain(name);
    expect(result.stdout).not.toContain("\x1b[");
  });

  test("no arguments prints usage and exits 2", () => {
    const result = runBinary([]);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toContain("USAGE");
  });

  test("each subcommand has --help", () => {
    for (const name of ["quota-expire", "expire-inactive", "fsreport"]) {
      const result = runBinary([name, "--help"]);
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toContain(`chatmail-maildir ${name}`);
    }
  });

  test("help names positional arguments plainly", () => {
    const usage: Record<string, string> = {
      "quota-expire": "USAGE chatmail-maildir quota-expire [OPTIONS] <TARGET_MB> <MAILBOX>",
      "expire-inactive": "USAGE chatmail-maildir expire-inactive [OPTIONS] [CHATMAIL_INI]",
      fsreport: "USAGE chatmail-maildir fsreport [OPTIONS] [CHATMAIL_INI]",
    };
    for (const [name, line] of Object.entries(usage)) {
      const lines = runBinary([name, "--help"]).stdout.split("\n");
      expect(lines).toContain(line);
      const argumentLines = lines.slice(lines.indexOf("ARGUMENTS") + 2, lines.indexOf("OPTIONS") - 1);
      expect(argumentLines.length).toBeGreaterThan(0);
      for (const argumentLine of argumentLines) expect(argumentLine).toMatch(/^ +[A-Z_]+ {4}\S/);
    }
  });

  test("help has no trailing blanks", () => {
    for (const args of [["--help"], ["quota-expire", "--help"], ["expire-inactive", "--help"], ["fsreport", "--help"]]) {
      const result = runBinary(args);
      expect(result.exitCode).toBe(0);
      expect(result.stdout.split("\n").filter((line) => /[ \t]$/.test(line))).toEqual([]);
    }
  });

  test("missing argument is named in lowercase", () => {
    const cases: [string[], string][] = [
      [[], "missing argument TARGET_MB"],
      [["5"], "missing argument MAILBOX"],
    ];
    for (const [args, message] of cases) {
      const result = runBinary(["quota-expire", ...args]);
      expect(result.stderr).toBe(`error: chatmail-maildir quota-expire: ${message} (see chatmail-maildir quota-expire --help)\n`);
      expect(result.exitCode).toBe(2);
    }
  });

  test("unknown subcommand is a usage error", () => {
    const result = runBinary(["frobnicate"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe(
      'error: unknown subcommand "frobnicate" (expected one of: quota-expire, expire-inactive, fsreport) (see chatmail-maildir --help)\n',
    );
  });

  test("unknown option is a usage error", () => {
    for (const name of ["quota-expire", "expire-inactive", "fsreport"]) {
      const result = runBinary([name, "--no-such-option"]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toBe(`error: chatmail-maildir ${name}: unknown option --no-such-option (see chatmail-maildir ${name} --help)\n`);
    }
  });
});
