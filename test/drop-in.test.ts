/**
 * The binary under chatmaild's script names, through a symlink and through a copy, as a relay
 * switching over would install it.
 */

import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";

import { dropInSubcommand } from "../src/drop-in.ts";
import { BINARY, makeTempDir, nowSeconds, type RunResult } from "./helpers.ts";
import { fullMailboxMessages, listFiles, writeSmokeTree } from "./smoke.ts";

/** Runs `command` with `args`, with `binDir` first on PATH. */
function run(command: string, args: string[], binDir: string): RunResult {
  const result = Bun.spawnSync([command, ...args], {
    env: { PATH: `${binDir}:${process.env.PATH ?? "/usr/bin:/bin"}` },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

/** Creates a bin directory with `name` as a symlink to the binary, or as a copy of it. */
function installAs(name: string, how: "symlink" | "copy"): string {
  const binDir = join(makeTempDir("chatmail-drop-in-"), "bin");
  mkdirSync(binDir);
  if (how === "symlink") symlinkSync(BINARY, join(binDir, name));
  else copyFileSync(BINARY, join(binDir, name));
  return binDir;
}

describe("dropInSubcommand", () => {
  test("maps chatmaild's script names", () => {
    expect(dropInSubcommand("chatmail-quota-expire")).toBe("quota-expire");
    expect(dropInSubcommand("/usr/local/lib/chatmaild/venv/bin/chatmail-expire")).toBe("expire-inactive");
    expect(dropInSubcommand("./chatmail-fsreport")).toBe("fsreport");
  });

  test("other names are no drop-in", () => {
    expect(dropInSubcommand("chatmail-maildir")).toBeUndefined();
    expect(dropInSubcommand("/usr/local/bin/chatmail-maildir-linux-x64")).toBeUndefined();
    expect(dropInSubcommand("bun")).toBeUndefined();
    expect(dropInSubcommand("toString")).toBeUndefined();
  });
});

describe("drop-in names of the compiled binary", () => {
  const cases = [
    { name: "chatmail-quota-expire", subcommand: "quota-expire", how: "symlink" },
    { name: "chatmail-expire", subcommand: "expire-inactive", how: "copy" },
    { name: "chatmail-fsreport", subcommand: "fsreport", how: "symlink" },
  ] as const;

  for (const { name, subcommand, how } of cases) {
    test(`${name} (${how}) is ${subcommand}`, () => {
      const binDir = installAs(name, how);
      const result = run(join(binDir, name), ["--help"], binDir);
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toContain(`USAGE chatmail-maildir ${subcommand} [OPTIONS]`);
    });
  }

  test("name found on PATH is a drop-in too", () => {
    // Dovecot and systemd may start the program by name through PATH; argv[0] is then the bare name.
    const binDir = installAs("chatmail-fsreport", "symlink");
    const result = run("chatmail-fsreport", ["--help"], binDir);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("USAGE chatmail-maildir fsreport [OPTIONS]");
  });

  test("chatmail-quota-expire takes TARGET_MB MAILBOX", () => {
    // Dovecot's script service runs `chatmail-quota-expire <target> <mailbox>` as configured for chatmaild.
    const binDir = installAs("chatmail-quota-expire", "symlink");
    const tree = makeTempDir("chatmail-drop-in-tree-");
    const now = nowSeconds();
    writeSmokeTree(tree, tree, now);
    const mailbox = join(tree, "mail", "example.org", "full@example.org");

    const result = run(join(binDir, "chatmail-quota-expire"), ["1", mailbox], binDir);
    expect(result.exitCode).toBe(0);
    const [, , newer, newest] = fullMailboxMessages(now);
    expect(listFiles(mailbox)).toEqual([`cur/${newer}`, `cur/${newest}`, "password"].sort());
  });

  test("chatmail-quota-expire takes --sweep", () => {
    const binDir = installAs("chatmail-quota-expire", "copy");
    const tree = makeTempDir("chatmail-drop-in-tree-");
    const now = nowSeconds();
    writeSmokeTree(tree, tree, now);
    const mailboxes = join(tree, "mail", "example.org");

    const result = run(join(binDir, "chatmail-quota-expire"), ["--sweep", "1", mailboxes], binDir);
    expect(result.exitCode).toBe(0);
    const [, , newer, newest] = fullMailboxMessages(now);
    expect(listFiles(join(mailboxes, "full@example.org"))).toEqual([`cur/${newer}`, `cur/${newest}`, "password"].sort());
    expect(listFiles(join(mailboxes, "active@example.org"))).toHaveLength(3);
  });

  test("chatmail-expire takes -v --remove", () => {
    // chatmaild's unit: ExecStart=…/chatmail-expire /usr/local/lib/chatmaild/chatmail.ini -v --remove
    const binDir = installAs("chatmail-expire", "copy");
    const tree = makeTempDir("chatmail-drop-in-tree-");
    writeSmokeTree(tree, tree, nowSeconds());
    const mailboxes = join(tree, "mail", "example.org");

    const dryRun = run(join(binDir, "chatmail-expire"), [join(tree, "chatmail.ini"), "-v"], binDir);
    expect(dryRun.exitCode).toBe(0);
    expect(readdirSync(mailboxes)).toContain("gone@example.org");

    const result = run(join(binDir, "chatmail-expire"), [join(tree, "chatmail.ini"), "-v", "--remove"], binDir);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toStartWith("Removed 1 out of 3 mailboxes");
    expect(readdirSync(mailboxes).sort()).toEqual(["active@example.org", "full@example.org", "pending_notifications"]);
  });

  test("chatmail-fsreport takes chatmaild's options", () => {
    // chatmaild's fsreport: [CHATMAIL_INI] --days N --min-login-age DAYS --mdir cur|new|tmp --maxnum N.
    const binDir = installAs("chatmail-fsreport", "symlink");
    const tree = makeTempDir("chatmail-drop-in-tree-");
    writeSmokeTree(tree, tree, nowSeconds());
    const args = [join(tree, "chatmail.ini"), "--days", "0", "--min-login-age", "0", "--mdir", "cur", "--maxnum", "2", "--json"];

    const result = run(join(binDir, "chatmail-fsreport"), args, binDir);
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);

    // --maxnum 2 takes active@ and full@ (name order); --mdir cur leaves out active@'s new/
    // message. Size classes sum disk sizes: 3 000 + 4 × 300 000 bytes.
    const report = JSON.parse(result.stdout);
    expect(report.mailboxes).toBe(2);
    expect(report.mdir).toBe("cur");
    expect(report.sizeClasses[0]).toMatchObject({ minSize: 0, bytes: 1_203_000, count: 5 });
  });

  test("--version works under a drop-in name", () => {
    const binDir = installAs("chatmail-expire", "symlink");
    const result = run(join(binDir, "chatmail-expire"), ["--version"], binDir);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^chatmail-maildir \S+ \(commit \S+, linux-(x64|arm64)\)\n$/);
  });

  test("unknown option is a usage error of the subcommand", () => {
    const binDir = installAs("chatmail-quota-expire", "symlink");
    const result = run(join(binDir, "chatmail-quota-expire"), ["--no-such-option"], binDir);
    expect(result.stderr).toBe(
      "error: chatmail-maildir quota-expire: unknown option --no-such-option (see chatmail-maildir quota-expire --help)\n",
    );
    expect(result.exitCode).toBe(2);
  });

  test("a renamed binary keeps the subcommands", () => {
    const binDir = installAs("chatmail-maildir", "symlink");
    const result = run(join(binDir, "chatmail-maildir"), ["quota-expire", "--help"], binDir);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("USAGE chatmail-maildir quota-expire [OPTIONS]");
  });
});
