/**
 * The smoke suite: a few runs of a compiled binary with exact expectations, shared by every way
 * of running it (natively, under qemu-user for arm64 or an older x86-64 CPU model, inside a
 * chroot without any runtime). A runner is a command prefix plus the directory where the suite
 * may create its files, seen from the host and from the binary (they differ inside a chroot).
 */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";

import { makeMaildir, messageName, nowSeconds, type RunResult, writeChatmailIni, writeFileAt } from "./helpers.ts";

export interface SmokeRunner {
  /** The command up to and including the binary, e.g. `["qemu-aarch64-static", "-L", sysroot, binary]`. */
  command: string[];
  /** A directory that the suite fills, as the host sees it. */
  hostDir: string;
  /** The same directory as the binary sees it. */
  runnerDir: string;
  /** The target that `--version` must name: `linux-x64` or `linux-arm64`. */
  target: string;
  /**
   * Adds a name under which the binary can be invoked (a symlink) and returns the command that
   * invokes it, so that the binary sees that name as its argv[0].
   */
  addName: (name: string) => string[];
}

export interface SmokeSuiteOptions {
  /** Programs that must be on PATH. Missing ones skip the suite, or fail it when CI is set. */
  requires?: string[];
  /** Runs only as root (chroot); skipped for other users, failed in CI. */
  requiresRoot?: boolean;
  setup: () => SmokeRunner;
  /** Registers further tests of this runner; they run after the smoke tests. */
  extraTests?: () => void;
  teardown?: () => void;
}

const DAY = 86_400;

/** Per test: under qemu-user one run of the binary takes seconds on a loaded 2-core machine. */
const SMOKE_TEST_TIMEOUT_MS = 60_000;
const IN_CI = Boolean(process.env.CI);

/** Returns the full path of a program on PATH, or undefined. */
export function findProgram(name: string): string | undefined {
  return Bun.which(name) ?? undefined;
}

/** Runs the binary through the runner and waits for it. */
export function runThrough(command: string[], args: string[]): RunResult {
  const result = Bun.spawnSync([...command, ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

/** Message files of the mailbox that quota-expire trims, oldest first: 4 × 400 000 bytes by `S=`. */
export function fullMailboxMessages(now: number): string[] {
  return [40, 30, 20, 10].map((ageDays, i) => messageName(now - ageDays * DAY, 100 + i, 400_000, "S"));
}

/**
 * Writes the smoke tree into `hostDir`: chatmail.ini (whose mailboxes_dir is given as the binary
 * sees it) and three mailboxes under mail/example.org.
 */
export function writeSmokeTree(hostDir: string, runnerDir: string, now: number): void {
  writeChatmailIni(join(hostDir, "chatmail.ini"), {
    mail_domain: "example.org",
    mailboxes_dir: `${runnerDir}/mail/example.org`,
    max_mailbox_size: "2M",
    delete_inactive_users_after: "90",
  });
  const mailboxes = join(hostDir, "mail", "example.org");

  // active: logged in yesterday, two messages.
  const active = join(mailboxes, "active@example.org");
  makeMaildir(active);
  writeFileAt(join(active, "password"), 100, now - DAY);
  writeFileAt(join(active, "cur", messageName(now - 2 * DAY, 1, 5_000, "S")), 3_000, now - 2 * DAY);
  writeFileAt(join(active, "new", messageName(now - DAY, 2, 15_000)), 10_000, now - DAY);

  // gone: last login 200 days ago, past delete_inactive_users_after.
  const gone = join(mailboxes, "gone@example.org");
  makeMaildir(gone);
  writeFileAt(join(gone, "password"), 100, now - 200 * DAY);
  writeFileAt(join(gone, "cur", messageName(now - 250 * DAY, 3, 20_000, "S")), 12_000, now - 250 * DAY);

  // full: 1 600 000 bytes of quota in four equal messages, for quota-expire with a 1 MiB target.
  const full = join(mailboxes, "full@example.org");
  makeMaildir(full);
  writeFileAt(join(full, "password"), 100, now - DAY);
  writeFileAt(join(full, "maildirsize"), 30, now - DAY);
  const ages = [40, 30, 20, 10];
  fullMailboxMessages(now).forEach((name, i) => writeFileAt(join(full, "cur", name), 300_000, now - ages[i]! * DAY));

  // Not a mailbox: no @ in the name.
  mkdirSync(join(mailboxes, "pending_notifications"), { recursive: true });
}

/** Registers the smoke tests for one runner. */
export function describeSmokeSuite(name: string, options: SmokeSuiteOptions): void {
  const missing = (options.requires ?? []).filter((program) => findProgram(program) === undefined);
  const notRoot = options.requiresRoot === true && process.getuid?.() !== 0;
  const unavailable = [...missing.map((program) => `${program} is not installed`), ...(notRoot ? ["needs root"] : [])];

  // Locally a missing tool skips the suite; in CI the proof is required, so it fails.
  const describeOrSkip = unavailable.length > 0 && !IN_CI ? describe.skip : describe;

  describeOrSkip(`smoke: ${name}`, () => {
    let runner: SmokeRunner;
    const now = nowSeconds();

    beforeAll(() => {
      if (unavailable.length > 0) throw new Error(`${name}: ${unavailable.join(", ")}`);
      runner = options.setup();
      writeSmokeTree(runner.hostDir, runner.runnerDir, now);
    }, SMOKE_TEST_TIMEOUT_MS);

    afterAll(() => {
      options.teardown?.();
    }, SMOKE_TEST_TIMEOUT_MS);

    test("--version names the target", () => {
      const result = runThrough(runner.command, ["--version"]);
      expect(result.stderr).toBe("");
      expect(result.stdout).toMatch(new RegExp(`^chatmail-maildir \\S+ \\(commit \\S+, ${runner.target}\\)\\n$`));
      expect(result.exitCode).toBe(0);
    }, SMOKE_TEST_TIMEOUT_MS);

    test("--help lists the subcommands", () => {
      const result = runThrough(runner.command, ["--help"]);
      expect(result.exitCode).toBe(0);
      for (const subcommand of ["quota-expire", "expire-inactive", "fsreport"]) expect(result.stdout).toContain(subcommand);
    }, SMOKE_TEST_TIMEOUT_MS);

    test("unknown option exits 2", () => {
      const result = runThrough(runner.command, ["fsreport", "--no-such-option"]);
      expect(result.stderr).toBe(
        "error: chatmail-maildir fsreport: unknown option --no-such-option (see chatmail-maildir fsreport --help)\n",
      );
      expect(result.exitCode).toBe(2);
    }, SMOKE_TEST_TIMEOUT_MS);

    test("fsreport figures of the tree", () => {
      const result = runThrough(runner.command, ["fsreport", `${runner.runnerDir}/chatmail.ini`, "--json"]);
      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);

      const report = JSON.parse(result.stdout);
      expect(report.mailboxesDir).toBe(`${runner.runnerDir}/mail/example.org`);
      expect(report.mailboxes).toBe(3);
      expect(report.storage).toMatchObject({ messageBytes: 1_225_000, messageCount: 7, extraBytes: 330, extraFileCount: 4 });
      expect(report.quota).toEqual({ usageBytes: 1_640_000, maxMailboxSize: 2 * 1024 * 1024, mailboxesOverQuota: 0 });
      expect(report.logins.all).toBe(3);
      expect(report.logins.active.find((bucket: { days: number }) => bucket.days === 10).accounts).toBe(2);
    }, SMOKE_TEST_TIMEOUT_MS);

    test("fsreport writes the textfile", () => {
      const result = runThrough(runner.command, ["fsreport", `${runner.runnerDir}/chatmail.ini`, "--textfile", `${runner.runnerDir}/`]);
      expect(result.stderr).toBe("");
      expect(result.stdout).toBe("");
      expect(result.exitCode).toBe(0);

      const metrics = readFileSync(join(runner.hostDir, "fsreport.prom"), "utf8").split("\n");
      expect(metrics).toContain("chatmail_mailboxes 3");
      expect(metrics).toContain("chatmail_quota_usage_bytes 1640000");
      expect(metrics).toContain('chatmail_storage_bytes{kind="total"} 1225330');
      expect(metrics).toContain("chatmail_fsreport_unreadable_directories 0");
    }, SMOKE_TEST_TIMEOUT_MS);

    test("quota-expire trims a mailbox", () => {
      const mailbox = `${runner.runnerDir}/mail/example.org/full@example.org`;
      const result = runThrough(runner.command, ["quota-expire", "1", mailbox]);
      expect(result.stdout).toBe("");
      expect(result.stderr).toContain(" removed=2 ");
      expect(result.exitCode).toBe(0);

      // 1 600 000 bytes against a target of 1 048 576: the two oldest messages go, and so does
      // maildirsize, so that Dovecot recounts.
      const [, , newer, newest] = fullMailboxMessages(now);
      expect(listFiles(join(runner.hostDir, "mail", "example.org", "full@example.org"))).toEqual(
        [`cur/${newer}`, `cur/${newest}`, "password"].sort(),
      );
      expect(listFiles(join(runner.hostDir, "mail", "example.org", "active@example.org"))).toHaveLength(3);
    }, SMOKE_TEST_TIMEOUT_MS);

    test("expire-inactive removes gone mailbox", () => {
      const ini = `${runner.runnerDir}/chatmail.ini`;
      const mailboxes = join(runner.hostDir, "mail", "example.org");

      const dryRun = runThrough(runner.command, ["expire-inactive", ini]);
      expect(dryRun.exitCode).toBe(0);
      expect(readdirSync(mailboxes).sort()).toEqual(["active@example.org", "full@example.org", "gone@example.org", "pending_notifications"]);

      const result = runThrough(runner.command, ["expire-inactive", ini, "--remove"]);
      expect(result.stderr).toBe("");
      expect(result.stdout).toStartWith("Removed 1 out of 3 mailboxes");
      expect(result.exitCode).toBe(0);
      expect(readdirSync(mailboxes).sort()).toEqual(["active@example.org", "full@example.org", "pending_notifications"]);
    }, SMOKE_TEST_TIMEOUT_MS);

    test("chatmail-quota-expire name runs quota-expire", () => {
      const command = runner.addName("chatmail-quota-expire");
      const result = runThrough(command, ["--help"]);
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toContain("USAGE chatmail-maildir quota-expire [OPTIONS]");
    }, SMOKE_TEST_TIMEOUT_MS);

    options.extraTests?.();
  });
}

/** Lists every regular file under `dir` as a path relative to it, sorted; symlinks are left out. */
export function listFiles(dir: string, prefix = ""): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const relative = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) files.push(...listFiles(dir, relative));
    else if (entry.isFile()) files.push(relative);
  }
  return files.sort();
}

/** Creates `link` → `target` unless it exists. */
export function ensureSymlink(target: string, link: string): void {
  if (!existsSync(link)) symlinkSync(target, link);
}
