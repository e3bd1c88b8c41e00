/** chatmail.ini and settings files, broken and unusual but valid: one error line naming the file and key, nothing removed. */

import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { makeMaildir, makeTempDir, messageName, nowSeconds, writeFileAt } from "./helpers.ts";
import { expectOneErrorLine, IS_ROOT, runGuarded, treeOf } from "./robustness-helpers.ts";

const DAY = 86_400;
const OLD = nowSeconds() - 400 * DAY;

/** Creates a relay with two inactive mailboxes, so that any run that goes ahead with --remove removes them. */
function makeRelay() {
  const root = makeTempDir();
  const mailboxes = join(root, "mail");
  for (const address of ["a@example.org", "b@example.org"]) {
    const mailbox = join(mailboxes, address);
    makeMaildir(mailbox);
    writeFileAt(join(mailbox, "cur", messageName(OLD, 1, 5000, "S")), 10, OLD);
    writeFileAt(join(mailbox, "password"), 0, OLD);
  }
  return { root, mailboxes };
}

/** Runs expire-inactive --remove --force and fsreport with `ini`; both must fail alike and remove nothing. */
function expectIniRejected(root: string, ini: string, culprit: string, options: { asNobody?: boolean } = {}): void {
  const before = treeOf(root);
  for (const args of [["expire-inactive", "--remove", "--force", ini], ["fsreport", ini]]) {
    const result = runGuarded(args, { ...options, timeoutMs: 20_000 });
    expect(result.timedOut).toBe(false);
    expect(result.exitCode).toBe(1);
    expectOneErrorLine(result.stderr, culprit);
    // Text from the file shows escaped: no replacement character, no invisible byte-order mark.
    expect(result.stderr).not.toMatch(/[\ufffd\ufeff]/);
    expect(result.stdout).toBe("");
  }
  expect(treeOf(root)).toEqual(before);
}

describe("broken chatmail.ini", () => {
  const cases: [name: string, text: string | Buffer, culprit: (ini: string) => string][] = [
    ["empty", "", (ini) => `${ini}: missing [params] section`],
    ["only another section", "[other]\nmail_domain = example.org\n", (ini) => `${ini}: missing [params] section`],
    ["no mail_domain", "[params]\nmax_mailbox_size = 500M\n", (ini) => `${ini}: missing mail_domain in [params]`],
    ["empty mail_domain", "[params]\nmail_domain =\n", (ini) => `${ini}: missing mail_domain in [params]`],
    ["max_mailbox_size a word", "[params]\nmail_domain = example.org\nmax_mailbox_size = lots\n", (ini) => `${ini}: invalid max_mailbox_size "lots"`],
    ["max_mailbox_size negative", "[params]\nmail_domain = example.org\nmax_mailbox_size = -5M\n", (ini) => `${ini}: invalid max_mailbox_size "-5M"`],
    ["max_mailbox_size in T", "[params]\nmail_domain = example.org\nmax_mailbox_size = 1T\n", (ini) => `${ini}: invalid max_mailbox_size "1T"`],
    ["max_mailbox_size beyond 2^53", "[params]\nmail_domain = example.org\nmax_mailbox_size = 99999999999999999999G\n", (ini) => `${ini}: invalid max_mailbox_size "99999999999999999999G"`],
    ["days negative", "[params]\nmail_domain = example.org\ndelete_inactive_users_after = -3\n", (ini) => `${ini}: invalid delete_inactive_users_after "-3"`],
    ["days fractional", "[params]\nmail_domain = example.org\ndelete_inactive_users_after = 1.5\n", (ini) => `${ini}: invalid delete_inactive_users_after "1.5"`],
    ["days a word", "[params]\nmail_domain = example.org\ndelete_inactive_users_after = ninety\n", (ini) => `${ini}: invalid delete_inactive_users_after "ninety"`],
    ["duplicate key", "[params]\nmail_domain = a\nmail_domain = b\n", (ini) => `${ini}:3: duplicate key mail_domain`],
    ["empty section name", "[]\nmail_domain = a\n", (ini) => `${ini}:1: empty section name`],
    ["unclosed section", "[params\nmail_domain = a\n", (ini) => `${ini}:1: invalid section header: [params`],
    ["stray line", "[params]\nmail_domain = a\njust words\n", (ini) => `${ini}:3: unexpected line: just words`],
    ["key before any section", "mail_domain = a\n[params]\n", (ini) => `${ini}:1: key mail_domain outside of any section`],
    ["binary garbage", "\x00\x01\x02\n\x7f", (ini) => `${ini}:1: unexpected line: \\x00\\x01\\x02`],
    ["byte-order mark in a later line", "[params]\nmail_domain = a\n\ufeff[other]\n", (ini) => `${ini}:3: unexpected line: \\ufeff[other]`],
    ["two byte-order marks", "\ufeff\ufeff[params]\nmail_domain = a\n", (ini) => `${ini}:1: unexpected line: \\ufeff[params]`],
    ["UTF-16 with byte-order mark", Buffer.from("\ufeff[params]\n", "utf16le"), (ini) => `${ini}:1: unexpected line: \\xff\\xfe[\\x00p\\x00a\\x00`],
    [
      "max_mailbox_size with an invalid byte",
      Buffer.concat([Buffer.from("[params]\nmail_domain = a\nmax_mailbox_size = 5"), Buffer.from([0xff]), Buffer.from("M\n")]),
      (ini) => `${ini}: invalid max_mailbox_size "5\\xffM"`,
    ],
  ];

  test.each(cases)("%s", (_name, text, culprit) => {
    const { root } = makeRelay();
    const ini = join(root, "chatmail.ini");
    writeFileSync(ini, text);
    expectIniRejected(root, ini, culprit(ini));
  });

  test("missing file", () => {
    const { root } = makeRelay();
    expectIniRejected(root, join(root, "none.ini"), `cannot read chatmail.ini ${join(root, "none.ini")}: not found`);
  });

  test("a directory", () => {
    const { root } = makeRelay();
    mkdirSync(join(root, "dir.ini"));
    expectIniRejected(root, join(root, "dir.ini"), `cannot read chatmail.ini ${join(root, "dir.ini")}: is a directory`);
  });

  test("a FIFO is not opened for reading", () => {
    const { root } = makeRelay();
    const fifo = join(root, "fifo.ini");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);

    // Reading a FIFO blocks until a writer comes: the hang guard of runGuarded turns that into a failure.
    expectIniRejected(root, fifo, `cannot read chatmail.ini ${fifo}: not a regular file`);
  });

  test.skipIf(!IS_ROOT)("unreadable for an unprivileged user", () => {
    const { root, mailboxes } = makeRelay();
    const ini = join(root, "chatmail.ini");
    writeFileSync(ini, `[params]\nmail_domain = example.org\nmailboxes_dir = ${mailboxes}\n`);
    chmodSync(root, 0o755);
    chmodSync(ini, 0o600);
    expectIniRejected(root, ini, `cannot read chatmail.ini ${ini}: permission denied`, { asNobody: true });
  });
});

describe("valid chatmail.ini in unusual shapes", () => {
  test("CRLF, byte-order mark, comments, continuations, other sections", () => {
    const { root, mailboxes } = makeRelay();
    const ini = join(root, "chatmail.ini");
    const lines = [
      "\ufeff; written on Windows",
      "[params]",
      "# the domain",
      "mail_domain = example.org",
      "passthrough_recipients = first@example.org",
      "    second@example.org",
      "\tthird@example.org",
      `mailboxes_dir = ${mailboxes}`,
      "max_mailbox_size = 1M",
      "  ; an indented comment is still a comment",
      "delete_inactive_users_after = 100",
      "",
      "[privacy]",
      "privacy_mail = privacy@example.org",
      "",
    ];
    writeFileSync(ini, lines.join("\r\n"));

    const report = runGuarded(["fsreport", "--json", ini]);
    const expire = runGuarded(["expire-inactive", "--remove", "--force", ini]);

    expect(report.stderr).toBe("");
    expect(report.exitCode).toBe(0);
    const json = JSON.parse(report.stdout);
    expect(json.mailboxes).toBe(2);
    expect(json.quota.maxMailboxSize).toBe(1024 * 1024);
    expect(expire.exitCode).toBe(0);
    expect(expire.stdout).toMatch(/^Removed 2 out of 2 mailboxes in /);
    expect(treeOf(mailboxes)).toEqual([]);
  });
});

describe("broken settings file", () => {
  const cases: [name: string, args: string[], text: string, culprit: (file: string) => string][] = [
    ["malformed TOML", ["fsreport"], "[fsreport\n", (file) => `${file}:1: invalid TOML: `],
    ["unknown table", ["fsreport"], "[quota]\npolicy = 1\n", (file) => `${file}: unknown key quota: expected one of the tables`],
    ["top-level key", ["fsreport"], "days = 1\n", (file) => `${file}: unknown key days: expected one of the tables`],
    ["unknown key", ["fsreport"], "[fsreport]\nbogus = 1\n", (file) => `${file}: unknown key fsreport.bogus (known keys: `],
    ["--remove is command-line only", ["expire-inactive", "--remove"], "[expire-inactive]\nremove = true\n", (file) => `${file}: unknown key expire-inactive.remove`],
    ["string for an integer", ["fsreport"], '[fsreport]\ndays = "5"\n', (file) => `${file}: fsreport.days must be of type integer, not string`],
    ["float for an integer", ["fsreport"], "[fsreport]\nmaxnum = 1.5\n", (file) => `${file}: fsreport.maxnum must be of type integer, not number`],
    ["string for a boolean", ["expire-inactive", "--remove"], '[expire-inactive]\njson = "yes"\n', (file) => `${file}: expire-inactive.json must be of type boolean, not string`],
    ["negative integer", ["fsreport"], "[fsreport]\ndays = -5\n", (file) => `${file}: invalid fsreport.days "-5": expected a whole number, 0 or more`],
    ["integer beyond the maximum", ["fsreport"], "[fsreport]\nmin-login-age = 36501\n", (file) => `${file}: invalid fsreport.min-login-age 36501: the maximum is 36500`],
    ["fraction above 1", ["expire-inactive", "--remove"], "[expire-inactive]\nmax-fraction = 2.5\n", (file) => `${file}: invalid expire-inactive.max-fraction 2.5: the maximum is 1`],
    ["unknown policy", ["quota-expire", "0"], '[quota-expire]\npolicy = "newest"\n', (file) => `${file}: invalid quota-expire.policy "newest"`],
    ["empty textfile path", ["fsreport"], '[fsreport]\ntextfile = ""\n', (file) => `${file}: invalid fsreport.textfile: the path is empty`],
    ["integer beyond 2^63", ["fsreport"], "[fsreport]\nmaxnum = 99999999999999999999\n", (file) => `${file}:2: invalid TOML: `],
  ];

  test.each(cases)("%s", (_name, args, text, culprit) => {
    const { root, mailboxes } = makeRelay();
    const ini = join(root, "chatmail.ini");
    writeFileSync(ini, `[params]\nmail_domain = example.org\nmailboxes_dir = ${mailboxes}\n`);
    const settings = join(root, "settings.toml");
    writeFileSync(settings, text);
    const target = args[0] === "quota-expire" ? join(mailboxes, "a@example.org") : ini;
    const before = treeOf(root);

    const result = runGuarded([...args, "--settings", settings, target]);

    expect(result.exitCode).toBe(1);
    expectOneErrorLine(result.stderr, culprit(settings));
    expect(result.stdout).toBe("");
    expect(treeOf(root)).toEqual(before);
  });

  test("missing or a directory", () => {
    const { root } = makeRelay();
    const missing = runGuarded(["fsreport", "--settings", join(root, "none.toml"), join(root, "none.ini")]);
    const directory = runGuarded(["fsreport", "--settings", root, join(root, "none.ini")]);

    expect(missing.exitCode).toBe(1);
    expectOneErrorLine(missing.stderr, `cannot read settings file ${join(root, "none.toml")}: not found`);
    expect(directory.exitCode).toBe(1);
    expectOneErrorLine(directory.stderr, `cannot read settings file ${root}: is a directory`);
  });

  test("a FIFO is not opened for reading", () => {
    const { root } = makeRelay();
    const fifo = join(root, "settings.toml");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);

    const result = runGuarded(["fsreport", "--settings", fifo, join(root, "none.ini")], { timeoutMs: 20_000 });

    expect(result.timedOut).toBe(false);
    expect(result.exitCode).toBe(1);
    expectOneErrorLine(result.stderr, `cannot read settings file ${fifo}: not a regular file`);
  });

  test("command line wins over a bad value in the file", () => {
    const { root, mailboxes } = makeRelay();
    const ini = join(root, "chatmail.ini");
    writeFileSync(ini, `[params]\nmail_domain = example.org\nmailboxes_dir = ${mailboxes}\n`);
    const settings = join(root, "settings.toml");
    writeFileSync(settings, "[fsreport]\ndays = 999999\n");

    const result = runGuarded(["fsreport", "--settings", settings, "--days", "0", "--json", ini]);

    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout).mailboxes).toBe(2);
  });
});
