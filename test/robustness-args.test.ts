/** Bad command lines for every subcommand: exit code, one error line naming the culprit, nothing removed. */

import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

import { makeMaildir, makeTempDir, messageName, nowSeconds, writeChatmailIni, writeFileAt } from "./helpers.ts";
import { expectOneErrorLine, runGuarded, treeOf } from "./robustness-helpers.ts";

const DAY = 86_400;
const OLD = nowSeconds() - 400 * DAY;

/**
 * A relay where any run that goes ahead changes something: an inactive mailbox for
 * expire-inactive and a mailbox far over every quota target for quota-expire.
 */
const root = makeTempDir();
const MAILBOXES = join(root, "mail");
const MAILBOX = join(MAILBOXES, "user@example.org");
const INI = join(root, "chatmail.ini");
makeMaildir(MAILBOX);
writeFileAt(join(MAILBOX, "cur", messageName(OLD, 1, 2 ** 40, "S")), 10, OLD);
writeFileAt(join(MAILBOX, "password"), 0, OLD);
writeChatmailIni(INI, { mail_domain: "example.org", mailboxes_dir: MAILBOXES });
writeFileSync(join(root, "file"), "");
const BEFORE = treeOf(root);

type Case = [args: string[], exitCode: number, culprit: string];

const QUOTA_EXPIRE: Case[] = [
  [[], 2, "chatmail-maildir quota-expire: missing argument TARGET_MB"],
  [["5"], 2, "chatmail-maildir quota-expire: missing argument MAILBOX"],
  [["", MAILBOX], 2, 'invalid TARGET_MB ""'],
  [["5", ""], 2, "missing MAILBOX"],
  [["-1", MAILBOX], 2, 'invalid TARGET_MB "-1"'],
  [["1.5", MAILBOX], 2, 'invalid TARGET_MB "1.5"'],
  [["ten", MAILBOX], 2, 'invalid TARGET_MB "ten"'],
  [["1e3", MAILBOX], 2, 'invalid TARGET_MB "1e3"'],
  [["9007199254740993", MAILBOX], 2, "invalid TARGET_MB 9007199254740993: the maximum is 1048576"],
  [["5", MAILBOX, "extra"], 2, "too many arguments (expected at most 2)"],
  [["--bogus", "5", MAILBOX], 2, "unknown option --bogus"],
  [["-x", "5", MAILBOX], 2, "unknown option -x"],
  [["--keep-recent", "-2", "5", MAILBOX], 2, 'invalid --keep-recent "-2"'],
  [["--keep-recent=0.5", "5", MAILBOX], 2, 'invalid --keep-recent "0.5"'],
  [["--keep-recent", "99999999999999999999", "5", MAILBOX], 2, "invalid --keep-recent 99999999999999999999: the maximum is 87600"],
  [["--policy", "", "5", MAILBOX], 2, 'invalid --policy ""'],
  [["--policy", "newest", "5", MAILBOX], 2, 'invalid --policy "newest": expected size-age or oldest'],
  [["--dry-run=yes", "5", MAILBOX], 2, "option --dry-run takes no value"],
  [["--no-dry-run=yes", "5", MAILBOX], 2, "option --no-dry-run takes no value"],
  [["--no-policy", "5", MAILBOX], 2, "unknown option --no-policy"],
  [["--no-v", "5", MAILBOX], 2, "unknown option --no-v"],
  [["-v", "-q", "5", MAILBOX], 2, "-v (--verbose) and -q (--quiet) cannot be combined"],
  [["5", MAILBOX, "--policy"], 2, "option --policy needs a value"],
  [["5", "/nonexistent/user@example.org"], 1, "mailbox /nonexistent/user@example.org: not found"],
  [["5", join(root, "file")], 1, `mailbox ${join(root, "file")}: not a directory`],
  [["--sweep", "5", "/nonexistent"], 1, "cannot read mailboxes directory /nonexistent: not found"],
];

const EXPIRE_INACTIVE: Case[] = [
  [[INI, INI], 2, "too many arguments (expected at most 1)"],
  [["--days", "-1", INI], 2, 'invalid --days "-1"'],
  [["--days", "1.5", INI], 2, 'invalid --days "1.5"'],
  [["--days", "", INI], 2, 'invalid --days ""'],
  [["--days", "9007199254740993", INI], 2, "invalid --days 9007199254740993: the maximum is 36500"],
  [["--days", "36501", INI], 2, "invalid --days 36501: the maximum is 36500"],
  [["--maxnum", "x", INI], 2, 'invalid --maxnum "x"'],
  [["--max-fraction", "1.5", INI], 2, "invalid --max-fraction 1.5: the maximum is 1"],
  [["--max-fraction", "-0.1", INI], 2, 'invalid --max-fraction "-0.1"'],
  [["--max-fraction", "NaN", INI], 2, 'invalid --max-fraction "NaN"'],
  [["--remove=1", INI], 2, "option --remove takes no value"],
  [["--no-days", INI], 2, "unknown option --no-days"],
  [["--verbose", "--quiet", "--remove", INI], 2, "-v (--verbose) and -q (--quiet) cannot be combined"],
  [["--frobnicate", INI], 2, "unknown option --frobnicate"],
  [["--days"], 2, "option --days needs a value"],
  [[join(root, "missing.ini"), "--remove"], 1, `cannot read chatmail.ini ${join(root, "missing.ini")}: not found`],
];

const FSREPORT: Case[] = [
  [[INI, INI], 2, "too many arguments (expected at most 1)"],
  [["--days", "-3", INI], 2, 'invalid --days "-3"'],
  [["--days", "36501", INI], 2, "invalid --days 36501: the maximum is 36500"],
  [["--min-login-age", "36501", INI], 2, "invalid --min-login-age 36501: the maximum is 36500"],
  [["--min-login-age", "2.5", INI], 2, 'invalid --min-login-age "2.5"'],
  [["--maxnum", "-1", INI], 2, 'invalid --maxnum "-1"'],
  [["--maxnum", "18446744073709551616", INI], 2, "invalid --maxnum 18446744073709551616: the maximum is 9007199254740991"],
  [["--mdir", "inbox", INI], 2, 'invalid --mdir "inbox": expected one of cur, new, tmp'],
  [["--textfile=", INI], 2, "invalid --textfile: the path is empty"],
  [["--textfile"], 2, "option --textfile needs a value"],
  [["--json=true", INI], 2, "option --json takes no value"],
  [["--no-textfile", INI], 2, "unknown option --no-textfile"],
  [["--no-help", INI], 2, "unknown option --no-help"],
  [["-q", "-v", INI], 2, "-v (--verbose) and -q (--quiet) cannot be combined"],
  [["-j", INI], 2, "unknown option -j"],
];

function expectRejected(args: string[], exitCode: number, culprit: string, subcommand: string): void {
  const result = runGuarded(args);

  expect(result.exitCode).toBe(exitCode);
  expectOneErrorLine(result.stderr, culprit);
  if (exitCode === 2) expect(result.stderr).toEndWith(`(see chatmail-maildir${subcommand === "" ? "" : ` ${subcommand}`} --help)\n`);
  expect(result.stdout).toBe("");
  expect(treeOf(root)).toEqual(BEFORE);
}

describe("quota-expire rejects", () => {
  test.each(QUOTA_EXPIRE)("%j", (args, exitCode, culprit) => expectRejected(["quota-expire", ...args], exitCode, culprit, "quota-expire"));
});

describe("expire-inactive rejects", () => {
  test.each(EXPIRE_INACTIVE)("%j", (args, exitCode, culprit) =>
    expectRejected(["expire-inactive", ...args], exitCode, culprit, "expire-inactive"),
  );
});

describe("fsreport rejects", () => {
  test.each(FSREPORT)("%j", (args, exitCode, culprit) => expectRejected(["fsreport", ...args], exitCode, culprit, "fsreport"));
});

describe("program command line", () => {
  test("unknown subcommand", () => {
    expectRejected(["quota-trim", "5", MAILBOX], 2, 'unknown subcommand "quota-trim" (expected one of: quota-expire, expire-inactive, fsreport)', "");
  });

  test("unknown option before the subcommand", () => {
    expectRejected(["--force", "expire-inactive", INI], 2, 'unknown subcommand "--force"', "");
  });

  test("no arguments prints usage and exits 2", () => {
    const result = runGuarded([]);

    expect(result.exitCode).toBe(2);
    expect(result.stdout).toContain("quota-expire");
    expect(result.stderr).toBe("");
    expect(treeOf(root)).toEqual(BEFORE);
  });
});
