import { describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { removeMailbox, scanMailbox } from "../src/inactive-mailboxes.ts";
import { BINARY, makeMaildir, makeTempDir, messageName, nowSeconds, runBinary, type RunResult, writeChatmailIni, writeFileAt } from "./helpers.ts";

const DAY = 86_400;
const RUNNING_AS_ROOT = process.getuid?.() === 0;
/** The user `nobody` on Debian. Permission tests run the binary as this user when the tests run as root. */
const UNPRIVILEGED_ID = 65534;
const SUMMARY = /^(Removed|Would remove) (\d+) out of (\d+) mailboxes in \d+\.\d\d seconds\n$/;

interface Relay {
  root: string;
  ini: string;
  mailboxesDir: string;
}

/** Creates chatmail.ini and an empty mailboxes directory; accounts expire after 90 days. */
function makeRelay(): Relay {
  const root = makeTempDir();
  const mailboxesDir = join(root, "mail", "example.org");
  mkdirSync(mailboxesDir, { recursive: true });
  const ini = join(root, "chatmail.ini");
  writeChatmailIni(ini, { mail_domain: "example.org", mailboxes_dir: mailboxesDir, delete_inactive_users_after: "90" });
  return { root, ini, mailboxesDir };
}

/**
 * Runs the binary as a user that file permissions apply to. Root ignores them, so under root
 * (as in CI) the relay tree is handed to the user `nobody` and the binary runs as that user via setpriv.
 */
function runUnprivileged(relay: Relay, args: string[]): RunResult {
  if (!RUNNING_AS_ROOT) return runBinary(args);

  chownTree(relay.root, UNPRIVILEGED_ID);
  const result = Bun.spawnSync(
    ["setpriv", `--reuid=${UNPRIVILEGED_ID}`, `--regid=${UNPRIVILEGED_ID}`, "--clear-groups", unprivilegedBinary(), ...args],
    { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, stdout: "pipe", stderr: "pipe" },
  );
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

let binaryCopy: string | undefined;

/** Copies the binary where `nobody` can run it: the clone may sit below /root, which is mode 0700. */
function unprivilegedBinary(): string {
  if (binaryCopy === undefined) {
    const dir = makeTempDir();
    chmodSync(dir, 0o755);
    binaryCopy = join(dir, "chatmail-maildir");
    copyFileSync(BINARY, binaryCopy);
    chmodSync(binaryCopy, 0o755);
  }
  return binaryCopy;
}

function chownTree(path: string, id: number): void {
  lchownSync(path, id, id);
  if (!lstatSync(path).isDirectory()) return;
  for (const name of readdirSync(path)) chownTree(join(path, name), id);
}

/**
 * Creates a mailbox with a few messages. `lastLogin` is the mtime of `password` in Unix
 * seconds; null creates no `password`.
 */
function makeMailbox(relay: Relay, address: string, lastLogin: number | null): string {
  const mailbox = join(relay.mailboxesDir, address);
  makeMaildir(mailbox);
  writeFileAt(join(mailbox, "cur", messageName(1_700_000_000, 1, 5000, "S")), 3000, 1_700_000_000);
  writeFileAt(join(mailbox, "new", messageName(1_700_000_100, 2, 800)), 600, 1_700_000_100);
  writeFileAt(join(mailbox, "maildirsize"), 30, 1_700_000_100);
  if (lastLogin !== null) writeFileAt(join(mailbox, "password"), 60, lastLogin);
  return mailbox;
}

function daysAgo(days: number): number {
  return nowSeconds() - days * DAY;
}

function entries(dir: string): string[] {
  return readdirSync(dir).sort();
}

function summaryOf(stdout: string): { verb: string; removed: number; examined: number } {
  const match = SUMMARY.exec(stdout);
  expect(match).not.toBeNull();
  return { verb: match![1]!, removed: Number(match![2]), examined: Number(match![3]) };
}

describe("expire-inactive", () => {
  test("removes exactly the 150 inactive mailboxes", () => {
    const relay = makeRelay();
    const inactive: string[] = [];
    const recent: string[] = [];
    for (let i = 0; i < 150; i++) {
      const address = `old${String(i).padStart(3, "0")}@example.org`;
      makeMailbox(relay, address, daysAgo(91 + (i % 300)));
      inactive.push(address);
    }
    for (let i = 0; i < 5; i++) {
      const address = `recent${i}@example.org`;
      makeMailbox(relay, address, daysAgo(i * 20));
      recent.push(address);
    }

    const result = runBinary(["expire-inactive", relay.ini, "--remove", "--force"]);
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(summaryOf(result.stdout)).toEqual({ verb: "Removed", removed: 150, examined: 155 });
    expect(entries(relay.mailboxesDir)).toEqual(recent);
    for (const address of recent) expect(existsSync(join(relay.mailboxesDir, address, "password"))).toBe(true);
  });

  test("-v names each removed mailbox with its last login", () => {
    const relay = makeRelay();
    const lastLogin = Date.UTC(2020, 4, 17) / 1000;
    makeMailbox(relay, "gone@example.org", lastLogin);
    makeMailbox(relay, "a@example.org", daysAgo(1));
    makeMailbox(relay, "b@example.org", daysAgo(2));

    const result = runBinary(["expire-inactive", relay.ini, "-v", "--remove"]);
    expect(result.stderr).toBe("removed gone@example.org (last login 2020-05-17)\n");
    expect(result.exitCode).toBe(0);
    expect(summaryOf(result.stdout)).toEqual({ verb: "Removed", removed: 1, examined: 3 });
  });

  test("last login at the exact cutoff second stays", () => {
    // The binary reads the clock itself and reports it as `now` in --json: when that second
    // differs from the one the mailboxes were made for, the tree is rebuilt and the run repeated.
    for (let attempt = 0; attempt < 5; attempt++) {
      const relay = makeRelay();
      const now = nowSeconds();
      const cutoff = now - 90 * DAY;
      makeMailbox(relay, "at-cutoff@example.org", cutoff);
      makeMailbox(relay, "before-cutoff@example.org", cutoff - 1);
      makeMailbox(relay, "keep1@example.org", now);
      makeMailbox(relay, "keep2@example.org", now);

      const result = runBinary(["expire-inactive", relay.ini, "--remove", "--json"]);
      expect(result.exitCode).toBe(0);
      const report = JSON.parse(result.stdout);
      if (report.now !== now) continue;

      expect(report.cutoff).toBe(cutoff);
      expect(entries(relay.mailboxesDir)).toEqual(["at-cutoff@example.org", "keep1@example.org", "keep2@example.org"]);
      return;
    }
    throw new Error("the clock moved on during every attempt");
  });

  test("--days moves the cutoff back", () => {
    const relay = makeRelay();
    makeMailbox(relay, "a@example.org", daysAgo(100));
    makeMailbox(relay, "b@example.org", daysAgo(1));
    makeMailbox(relay, "c@example.org", daysAgo(1));

    const shifted = runBinary(["expire-inactive", relay.ini, "--days", "20", "--json"]);
    expect(shifted.exitCode).toBe(0);
    const report = JSON.parse(shifted.stdout);
    expect(report.selected).toBe(0);
    expect(report.cutoff).toBe(report.now - 90 * DAY);

    const plain = runBinary(["expire-inactive", relay.ini, "--json"]);
    expect(JSON.parse(plain.stdout).selected).toBe(1);
    expect(JSON.parse(plain.stdout).now - report.now).toBeGreaterThanOrEqual(20 * DAY);

    const removed = runBinary(["expire-inactive", relay.ini, "--days", "5", "--remove"]);
    expect(removed.exitCode).toBe(0);
    expect(entries(relay.mailboxesDir)).toEqual(["b@example.org", "c@example.org"]);
  });

  test("--maxnum examines the first mailboxes in name order", () => {
    const relay = makeRelay();
    for (const address of ["e@example.org", "c@example.org", "a@example.org", "d@example.org", "b@example.org"]) {
      makeMailbox(relay, address, daysAgo(200));
    }

    const result = runBinary(["expire-inactive", relay.ini, "--maxnum", "2", "--remove", "--force"]);
    expect(result.exitCode).toBe(0);
    expect(summaryOf(result.stdout)).toEqual({ verb: "Removed", removed: 2, examined: 2 });
    expect(entries(relay.mailboxesDir)).toEqual(["c@example.org", "d@example.org", "e@example.org"]);
  });

  test("dry run removes nothing", () => {
    const relay = makeRelay();
    makeMailbox(relay, "old@example.org", daysAgo(120));
    makeMailbox(relay, "new1@example.org", daysAgo(3));
    makeMailbox(relay, "new2@example.org", daysAgo(3));
    mkdirSync(join(relay.mailboxesDir, "empty@example.org"));

    const result = runBinary(["expire-inactive", relay.ini, "-v"]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe("would remove empty@example.org (empty, no password file)\nwould remove old@example.org (last login " +
      new Date(daysAgo(120) * 1000).toISOString().slice(0, 10) + ")\n");
    expect(summaryOf(result.stdout)).toEqual({ verb: "Would remove", removed: 2, examined: 4 });
    expect(entries(relay.mailboxesDir)).toEqual(["empty@example.org", "new1@example.org", "new2@example.org", "old@example.org"]);
    expect(existsSync(join(relay.mailboxesDir, "old@example.org", "cur"))).toBe(true);
  });

  test("mailboxes without password: empty goes, non-empty stays", () => {
    const relay = makeRelay();
    mkdirSync(join(relay.mailboxesDir, "empty@example.org"));
    const nonEmpty = join(relay.mailboxesDir, "data@example.org");
    makeMailbox(relay, "data@example.org", null);
    const onlyDir = join(relay.mailboxesDir, "subdir@example.org");
    mkdirSync(join(onlyDir, "cur"), { recursive: true });
    makeMailbox(relay, "active@example.org", daysAgo(0));

    const result = runBinary(["expire-inactive", relay.ini, "-v", "--remove"]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe(
      "kept data@example.org: no password file, but the directory is not empty\n" +
        "kept subdir@example.org: no password file, but the directory is not empty\n" +
        "removed empty@example.org (empty, no password file)\n",
    );
    expect(summaryOf(result.stdout)).toEqual({ verb: "Removed", removed: 1, examined: 4 });
    expect(entries(relay.mailboxesDir)).toEqual(["active@example.org", "data@example.org", "subdir@example.org"]);
    expect(existsSync(join(nonEmpty, "cur"))).toBe(true);
    expect(existsSync(join(onlyDir, "cur"))).toBe(true);
  });

  test("last login 0 and in the future stay", () => {
    const relay = makeRelay();
    makeMailbox(relay, "zero@example.org", 0);
    makeMailbox(relay, "future@example.org", nowSeconds() + 400 * DAY);
    makeMailbox(relay, "old@example.org", daysAgo(100));

    const result = runBinary(["expire-inactive", relay.ini, "--remove", "--json"]);
    expect(result.exitCode).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.unknownLogins).toBe(1);
    expect(report.removed).toBe(1);
    expect(entries(relay.mailboxesDir)).toEqual(["future@example.org", "zero@example.org"]);
  });

  test("non-mailbox entries and symlinked mailboxes are untouched", () => {
    const relay = makeRelay();
    const outside = makeTempDir();
    const target = join(outside, "target@example.org");
    makeMaildir(target);
    writeFileAt(join(target, "password"), 60, daysAgo(400));

    symlinkSync(target, join(relay.mailboxesDir, "link@example.org"));
    writeFileAt(join(relay.mailboxesDir, "file@example.org"), 10, daysAgo(400));
    mkdirSync(join(relay.mailboxesDir, "pending_notifications"));
    writeFileAt(join(relay.mailboxesDir, "pending_notifications", "x"), 10, daysAgo(400));
    const dotEntry = join(relay.mailboxesDir, ".hidden@example.org");
    makeMaildir(dotEntry);
    writeFileAt(join(dotEntry, "password"), 60, daysAgo(400));
    mkdirSync(join(relay.mailboxesDir, "no-at-sign"));
    makeMailbox(relay, "old@example.org", daysAgo(400));
    makeMailbox(relay, "new1@example.org", daysAgo(1));
    makeMailbox(relay, "new2@example.org", daysAgo(1));

    const result = runBinary(["expire-inactive", relay.ini, "--remove"]);
    expect(result.exitCode).toBe(0);
    expect(summaryOf(result.stdout)).toEqual({ verb: "Removed", removed: 1, examined: 3 });
    expect(entries(relay.mailboxesDir)).toEqual([
      ".hidden@example.org",
      "file@example.org",
      "link@example.org",
      "new1@example.org",
      "new2@example.org",
      "no-at-sign",
      "pending_notifications",
    ]);
    expect(existsSync(join(target, "password"))).toBe(true);
    expect(existsSync(join(dotEntry, "password"))).toBe(true);
    expect(existsSync(join(relay.mailboxesDir, "pending_notifications", "x"))).toBe(true);
  });

  test("symlinks inside a removed mailbox are not followed", () => {
    const relay = makeRelay();
    const outside = makeTempDir();
    writeFileSync(join(outside, "precious"), "data");
    mkdirSync(join(outside, "dir"));
    writeFileSync(join(outside, "dir", "inner"), "data");

    const mailbox = makeMailbox(relay, "old@example.org", daysAgo(400));
    symlinkSync(join(outside, "precious"), join(mailbox, "cur", "link-to-file"));
    symlinkSync(join(outside, "dir"), join(mailbox, "link-to-dir"));
    makeMailbox(relay, "new1@example.org", daysAgo(1));

    const result = runBinary(["expire-inactive", relay.ini, "--remove"]);
    expect(result.exitCode).toBe(0);
    expect(entries(relay.mailboxesDir)).toEqual(["new1@example.org"]);
    expect(entries(outside)).toEqual(["dir", "precious"]);
    expect(entries(join(outside, "dir"))).toEqual(["inner"]);
  });

  test("guard stops a mass removal", () => {
    const relay = makeRelay();
    for (let i = 0; i < 6; i++) makeMailbox(relay, `old${i}@example.org`, daysAgo(200));
    for (let i = 0; i < 4; i++) makeMailbox(relay, `new${i}@example.org`, daysAgo(1));
    // Empty directories without password hold no data and do not count for the guard.
    for (let i = 0; i < 10; i++) mkdirSync(join(relay.mailboxesDir, `empty${i}@example.org`));
    const before = entries(relay.mailboxesDir);

    const stopped = runBinary(["expire-inactive", relay.ini, "--remove"]);
    expect(stopped.exitCode).toBe(1);
    expect(stopped.stderr).toBe(
      "error: removed nothing: would remove 6 of 10 mailboxes (60%), more than --max-fraction 0.5; " +
        "check the clock, --days and the mtimes of the password files, or rerun with --force\n",
    );
    expect(summaryOf(stopped.stdout)).toEqual({ verb: "Removed", removed: 0, examined: 20 });
    expect(entries(relay.mailboxesDir)).toEqual(before);

    const dryRun = runBinary(["expire-inactive", relay.ini]);
    expect(dryRun.exitCode).toBe(1);
    expect(dryRun.stderr).toStartWith("error: a --remove run would remove nothing: would remove 6 of 10 mailboxes (60%)");
    expect(summaryOf(dryRun.stdout)).toEqual({ verb: "Would remove", removed: 16, examined: 20 });

    const higherLimit = runBinary(["expire-inactive", relay.ini, "--max-fraction", "0.6", "--json"]);
    expect(higherLimit.exitCode).toBe(0);
    expect(JSON.parse(higherLimit.stdout).guard).toEqual({ maxFraction: 0.6, removals: 6, examined: 10, tripped: false, forced: false });

    const forced = runBinary(["expire-inactive", relay.ini, "--remove", "--force"]);
    expect(forced.stderr).toBe("");
    expect(forced.exitCode).toBe(0);
    expect(summaryOf(forced.stdout)).toEqual({ verb: "Removed", removed: 16, examined: 20 });
    expect(entries(relay.mailboxesDir)).toEqual(["new0@example.org", "new1@example.org", "new2@example.org", "new3@example.org"]);
  });

  test("max-fraction from the settings file", () => {
    const relay = makeRelay();
    makeMailbox(relay, "old@example.org", daysAgo(200));
    const settings = join(makeTempDir(), "settings.toml");

    writeFileSync(settings, "[expire-inactive]\nmax-fraction = 1\n");
    const allowed = runBinary(["expire-inactive", relay.ini, "--settings", settings, "--remove"]);
    expect(allowed.exitCode).toBe(0);
    expect(entries(relay.mailboxesDir)).toEqual([]);

    writeFileSync(settings, "[expire-inactive]\nremove = true\n");
    const rejected = runBinary(["expire-inactive", relay.ini, "--settings", settings]);
    expect(rejected.exitCode).toBe(1);
    expect(rejected.stderr).toBe(`error: ${settings}: unknown key expire-inactive.remove (known keys: maxnum, max-fraction, json, verbose, quiet)\n`);
  });

  test("leftovers of an interrupted removal are finished", () => {
    const relay = makeRelay();
    // The state a run leaves when it is killed after the rename, during the delete.
    const leftover = join(relay.mailboxesDir, ".expire-inactive-gone@example.org");
    makeMaildir(leftover);
    writeFileAt(join(leftover, "cur", messageName(1_700_000_000, 1, 100, "S")), 100, 1_700_000_000);
    mkdirSync(join(leftover, ".DeltaChat", "cur"), { recursive: true });
    const foreign = join(relay.mailboxesDir, ".other-tool-x@example.org");
    mkdirSync(foreign);
    const outside = makeTempDir();
    symlinkSync(outside, join(relay.mailboxesDir, ".expire-inactive-link@example.org"));
    makeMailbox(relay, "new1@example.org", daysAgo(1));

    const dryRun = runBinary(["expire-inactive", relay.ini]);
    expect(dryRun.exitCode).toBe(0);
    expect(existsSync(leftover)).toBe(true);

    const result = runBinary(["expire-inactive", relay.ini, "--remove"]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe("finished removing .expire-inactive-gone@example.org, left behind by an interrupted run\n");
    expect(summaryOf(result.stdout)).toEqual({ verb: "Removed", removed: 0, examined: 1 });
    expect(entries(relay.mailboxesDir)).toEqual([".expire-inactive-link@example.org", ".other-tool-x@example.org", "new1@example.org"]);
    expect(existsSync(outside)).toBe(true);
  });

  test("SIGKILL during a removal leaves a leftover the next run finishes", async () => {
    const relay = makeRelay();
    const big = makeMailbox(relay, "big@example.org", daysAgo(300));
    for (let i = 0; i < 20_000; i++) writeFileAt(join(big, "cur", messageName(1_700_000_000 + i, i, 100, "S")), 0, 1_700_000_000);
    makeMailbox(relay, "new1@example.org", daysAgo(1));

    const child = Bun.spawn([BINARY, "expire-inactive", relay.ini, "--remove"], { stdout: "ignore", stderr: "ignore" });
    // Kill the run as soon as the rename has happened: whatever state it reaches, no mailbox
    // may be left half-deleted under its address.
    const renamed = join(relay.mailboxesDir, ".expire-inactive-big@example.org");
    while (!existsSync(renamed) && child.exitCode === null) await Bun.sleep(1);
    child.kill("SIGKILL");
    await child.exited;

    expect(existsSync(big)).toBe(false);
    const finish = runBinary(["expire-inactive", relay.ini, "--remove"]);
    expect(finish.exitCode).toBe(0);
    expect(entries(relay.mailboxesDir)).toEqual(["new1@example.org"]);
  });

  test("login between scan and removal keeps the mailbox", async () => {
    const relay = makeRelay();
    const cutoff = daysAgo(90);
    const mailbox = makeMailbox(relay, "back@example.org", daysAgo(200));

    const scanned = await scanMailbox(relay.mailboxesDir, "back@example.org", cutoff);
    expect(scanned.verdict).toBe("inactive");

    // The login service sets the mtime of password to the day of the login.
    const today = Math.floor(nowSeconds() / DAY) * DAY;
    utimesSync(join(mailbox, "password"), today, today);

    const outcome = await removeMailbox(relay.mailboxesDir, scanned, cutoff);
    expect(outcome.status).toBe("kept");
    expect(existsSync(join(mailbox, "password"))).toBe(true);
    expect(entries(relay.mailboxesDir)).toEqual(["back@example.org"]);
  });

  test("files appearing in an empty mailbox before removal keep it", async () => {
    const relay = makeRelay();
    const mailbox = join(relay.mailboxesDir, "fresh@example.org");
    mkdirSync(mailbox);

    const scanned = await scanMailbox(relay.mailboxesDir, "fresh@example.org", daysAgo(90));
    expect(scanned.verdict).toBe("empty");
    makeMaildir(mailbox);

    const outcome = await removeMailbox(relay.mailboxesDir, scanned, daysAgo(90));
    expect(outcome.status).toBe("kept");
    expect(existsSync(join(mailbox, "cur"))).toBe(true);
  });

  test("failed delete is reported and finished later", () => {
    const relay = makeRelay();
    const mailbox = makeMailbox(relay, "old@example.org", daysAgo(200));
    makeMailbox(relay, "old2@example.org", daysAgo(200));
    makeMailbox(relay, "new1@example.org", daysAgo(1));
    makeMailbox(relay, "new2@example.org", daysAgo(1));
    const locked = join(mailbox, "cur");
    chmodSync(locked, 0o500);

    const failed = runUnprivileged(relay, ["expire-inactive", relay.ini, "--remove"]);
    const leftover = join(relay.mailboxesDir, ".expire-inactive-old@example.org");
    chmodSync(join(leftover, "cur"), 0o700);
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toBe(
      "error: cannot delete .expire-inactive-old@example.org (the renamed mailbox old@example.org): permission denied; " +
        "the next --remove run retries\n",
    );
    expect(summaryOf(failed.stdout)).toEqual({ verb: "Removed", removed: 1, examined: 4 });
    expect(entries(relay.mailboxesDir)).toEqual([".expire-inactive-old@example.org", "new1@example.org", "new2@example.org"]);

    const retried = runUnprivileged(relay, ["expire-inactive", relay.ini, "--remove"]);
    expect(retried.exitCode).toBe(0);
    expect(entries(relay.mailboxesDir)).toEqual(["new1@example.org", "new2@example.org"]);
  });

  test("unreadable mailbox is reported, others go", () => {
    const relay = makeRelay();
    const locked = makeMailbox(relay, "locked@example.org", daysAgo(200));
    makeMailbox(relay, "old@example.org", daysAgo(200));
    for (let i = 0; i < 3; i++) makeMailbox(relay, `new${i}@example.org`, daysAgo(1));
    chmodSync(locked, 0o000);

    const result = runUnprivileged(relay, ["expire-inactive", relay.ini, "--remove"]);
    chmodSync(locked, 0o700);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe("error: cannot examine mailbox locked@example.org: permission denied\n");
    expect(summaryOf(result.stdout)).toEqual({ verb: "Removed", removed: 1, examined: 5 });
    expect(existsSync(join(locked, "password"))).toBe(true);
  });

  test("invalid numbers are usage errors", () => {
    const relay = makeRelay();
    makeMailbox(relay, "old@example.org", daysAgo(200));
    const cases: [string[], string][] = [
      [["--days", "-1"], 'invalid --days "-1": expected a whole number, 0 or more'],
      [["--days", "1.5"], 'invalid --days "1.5": expected a whole number, 0 or more'],
      [["--maxnum", "ten"], 'invalid --maxnum "ten": expected a whole number, 0 or more'],
      [["--max-fraction", "1.5"], "invalid --max-fraction 1.5: the maximum is 1"],
      [["--max-fraction", "-0.1"], 'invalid --max-fraction "-0.1": expected a number, 0 or more'],
      [["--max-fraction", "half"], 'invalid --max-fraction "half": expected a number, 0 or more'],
    ];
    for (const [options, message] of cases) {
      const result = runBinary(["expire-inactive", relay.ini, "--remove", "--force", ...options]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toBe(`error: ${message} (see chatmail-maildir expire-inactive --help)\n`);
      expect(result.stdout).toBe("");
    }
    expect(entries(relay.mailboxesDir)).toEqual(["old@example.org"]);
  });

  test("missing ini or mailboxes_dir fails with one line", () => {
    const relay = makeRelay();
    const missingIni = runBinary(["expire-inactive", `${relay.ini}.missing`, "--remove"]);
    expect(missingIni.exitCode).toBe(1);
    expect(missingIni.stderr).toBe(`error: cannot read chatmail.ini ${relay.ini}.missing: not found\n`);

    const ini = join(makeTempDir(), "chatmail.ini");
    writeChatmailIni(ini, { mail_domain: "example.org", mailboxes_dir: "/nonexistent/mail" });
    const missingDir = runBinary(["expire-inactive", ini, "--remove"]);
    expect(missingDir.exitCode).toBe(1);
    expect(missingDir.stderr).toBe("error: cannot read mailboxes_dir /nonexistent/mail: not found\n");
    expect(missingDir.stdout).toBe("");
  });

  test("--json reports each selected mailbox", () => {
    const relay = makeRelay();
    const lastLogin = Date.UTC(2021, 0, 1) / 1000;
    makeMailbox(relay, "old@example.org", lastLogin);
    mkdirSync(join(relay.mailboxesDir, "empty@example.org"));
    makeMailbox(relay, "nopass@example.org", null);
    makeMailbox(relay, "new@example.org", daysAgo(1));

    const result = runBinary(["expire-inactive", relay.ini, "--json", "--remove"]);
    expect(result.exitCode).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.dryRun).toBe(false);
    expect(report.mailboxesDir).toBe(relay.mailboxesDir);
    expect(report.examined).toBe(4);
    expect(report.selected).toBe(2);
    expect(report.removed).toBe(2);
    expect(report.mailboxes).toEqual([
      { address: "empty@example.org", lastLogin: null, reason: "empty", status: "removed" },
      { address: "old@example.org", lastLogin, reason: "inactive", status: "removed" },
    ]);
    expect(report.keptWithoutPassword).toEqual(["nopass@example.org"]);
    expect(report.errors).toBe(0);
    expect(typeof report.seconds).toBe("number");
  });

  test("progress line on a terminal", () => {
    const relay = makeRelay();
    for (let i = 0; i < 3; i++) makeMailbox(relay, `a${i}@example.org`, daysAgo(1));

    // script(1) runs the binary on a pseudo-terminal and copies what it prints to stdout.
    const onTerminal = (options: string) =>
      Bun.spawnSync(["script", "-qec", `${BINARY} expire-inactive ${relay.ini} ${options}`, "/dev/null"], {
        stdout: "pipe",
        stderr: "pipe",
      }).stdout.toString();

    const shown = onTerminal("-v");
    expect(shown).toContain("\r\x1b[Kexpire-inactive: 3/3 mailboxes scanned\r\x1b[K");
    expect(shown).toMatch(/Would remove 0 out of 3 mailboxes in \d+\.\d\d seconds/);

    const quiet = onTerminal("-q");
    expect(quiet).not.toContain("\x1b[K");
    expect(quiet).toMatch(/Would remove 0 out of 3 mailboxes/);
  });

  test("no progress line when stderr is no terminal", () => {
    const relay = makeRelay();
    for (let i = 0; i < 300; i++) makeMailbox(relay, `a${i}@example.org`, daysAgo(1));
    const result = runBinary(["expire-inactive", relay.ini, "-v"]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe("");
  });
});
