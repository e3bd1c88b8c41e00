/** Unusual names and message files: bytes that are not UTF-8, odd S= values, FIFOs and sockets. */

import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { makeMaildir, makeTempDir, messageName, nowSeconds, writeChatmailIni, writeFileAt } from "./helpers.ts";
import { expectNoCrash, expectOneErrorLine, runGuarded, treeOf } from "./robustness-helpers.ts";

const DAY = 86_400;
const OLD = nowSeconds() - 10 * DAY;

/** Returns the raw (latin1) form of a path given as bytes, for fs calls through Buffer. */
function bytesPath(...parts: (string | Buffer)[]): Buffer {
  return Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(part, "utf8") : part)));
}

describe("paths that are not valid UTF-8", () => {
  test("quota-expire MAILBOX argument keeps its bytes", () => {
    const root = makeTempDir();
    const mailbox = bytesPath(root, "/us", Buffer.from([0xff, 0xfe]), "r@example.org");
    mkdirSync(mailbox);
    mkdirSync(bytesPath(mailbox, "/cur"));
    writeFileSync(bytesPath(mailbox, "/cur/", messageName(OLD, 1, 3000, "S")), "x");
    writeFileSync(bytesPath(mailbox, "/cur/", messageName(OLD - DAY, 2, 3000, "S")), "x");

    const result = runGuarded(["quota-expire", "0", mailbox]);

    expect(result.stderr).toContain("quota-expire mailbox=");
    expect(result.stderr).toContain("us\\xff\\xfer@example.org");
    expect(result.stderr).toContain(" removed=2 ");
    expect(result.exitCode).toBe(0);
    expect(treeOf(root)).toEqual(["us\xff\xfer@example.org/", "us\xff\xfer@example.org/cur/"]);
  });

  test("fsreport reads an ini path and mailboxes_dir with such bytes", () => {
    const root = makeTempDir();
    const mailboxes = bytesPath(root, "/ma", Buffer.from([0xe9]), "l");
    mkdirSync(bytesPath(mailboxes, "/a@example.org/cur"), { recursive: true });
    writeFileSync(bytesPath(mailboxes, "/a@example.org/cur/", messageName(OLD, 1, 5000, "S")), "x".repeat(100));
    const ini = bytesPath(root, "/chat", Buffer.from([0xff]), ".ini");
    writeFileSync(ini, Buffer.concat([Buffer.from("[params]\nmail_domain = example.org\nmailboxes_dir = "), mailboxes, Buffer.from("\n")]));

    const result = runGuarded(["fsreport", "--json", ini]);

    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    const json = JSON.parse(result.stdout);
    expect(json.mailboxes).toBe(1);
    expect(json.quota.usageBytes).toBe(5000);
    expect(json.mailboxesDir).toBe(`${root}/ma\\xe9l`);
  });

  test("missing ini with such bytes is named escaped", () => {
    const root = makeTempDir();
    const result = runGuarded(["fsreport", bytesPath(root, "/no", Buffer.from([0xff]), ".ini")]);

    expect(result.exitCode).toBe(1);
    expectOneErrorLine(result.stderr, `cannot read chatmail.ini ${root}/no\\xff.ini: not found`);
  });
});

describe("message file names", () => {
  test("odd names are removed with one log line each", () => {
    const root = makeTempDir();
    const mailbox = join(root, "user@example.org");
    makeMaildir(mailbox);
    const names = [
      `${OLD}.M1P1.host name with spaces,S=1000:2,S`,
      `${OLD}.M2P1.host\nnewline,S=1000:2,S`,
      `-${OLD}.M3P1.leading-dash,S=1000:2,S`,
      `${OLD}.M4P1.${"a".repeat(255 - 30)},S=1000:2,S`.slice(0, 255),
      `${OLD}.M5P1.tab\there\rcr,S=1000:2,S`,
    ];
    for (const name of names) writeFileAt(join(mailbox, "cur", name), 10, OLD);
    const invalid = bytesPath(mailbox, "/cur/", `${OLD}.M6P1.`, Buffer.from([0xc3, 0x28, 0xff]), ",S=1000:2,S");
    writeFileSync(invalid, "x");

    const result = runGuarded(["quota-expire", "-v", "0", mailbox]);

    expectNoCrash(result.stderr);
    expect(result.exitCode).toBe(0);
    const lines = result.stderr.split("\n").filter((line) => line !== "");
    expect(lines).toHaveLength(7);
    expect(lines.filter((line) => line.startsWith(`${mailbox}: removed cur/`))).toHaveLength(6);
    expect(result.stderr).toContain("host\\nnewline");
    expect(result.stderr).toContain("tab\\there\\rcr");
    expect(result.stderr).toContain("M6P1.(\\xff".replace("(", "\\xc3("));
    expect(lines[6]).toContain(" removed=6 removed_bytes=6000 ");
    expect(treeOf(mailbox)).toEqual(["cur/", "new/", "tmp/"]);
  });

  test("S= empty, non-numeric, negative or huge uses the stat size", () => {
    const root = makeTempDir();
    const mailboxes = join(root, "mail");
    const mailbox = join(mailboxes, "user@example.org");
    makeMaildir(mailbox);
    const sizes = { "": 101, abc: 202, "-5": 303, "99999999999999999999999": 404, "12x": 505 };
    let unique = 0;
    for (const [value, diskSize] of Object.entries(sizes)) {
      writeFileAt(join(mailbox, "cur", `${OLD}.M${unique++}P1.host,S=${value},W=9:2,S`), diskSize, OLD);
    }
    writeChatmailIni(join(root, "chatmail.ini"), { mail_domain: "example.org", mailboxes_dir: mailboxes });

    const report = runGuarded(["fsreport", "--json", join(root, "chatmail.ini")]);
    const dryRun = runGuarded(["quota-expire", "--dry-run", "0", mailbox]);

    expect(report.exitCode).toBe(0);
    expect(JSON.parse(report.stdout).quota.usageBytes).toBe(101 + 202 + 303 + 404 + 505);
    expect(dryRun.exitCode).toBe(0);
    expect(dryRun.stderr).toContain(` usage_before=${101 + 202 + 303 + 404 + 505} `);
  });

  test("FIFOs, sockets and directories in cur are left alone", () => {
    const root = makeTempDir();
    const mailboxes = join(root, "mail");
    const mailbox = join(mailboxes, "user@example.org");
    makeMaildir(mailbox);
    writeFileAt(join(mailbox, "cur", messageName(OLD, 1, 2000, "S")), 10, OLD);
    const fifo = join(mailbox, "cur", messageName(OLD - DAY, 2, 9000, "S"));
    const socket = join(mailbox, "new", messageName(OLD - DAY, 3, 9000));
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    expect(Bun.spawnSync(["python3", "-c", "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", socket]).exitCode).toBe(0);
    mkdirSync(join(mailbox, "cur", messageName(OLD - DAY, 4, 9000, "S")));
    writeChatmailIni(join(root, "chatmail.ini"), { mail_domain: "example.org", mailboxes_dir: mailboxes });

    // Opening the FIFO would block forever: the timeout turns a hang into a failure.
    const report = runGuarded(["fsreport", "--json", join(root, "chatmail.ini")], { timeoutMs: 20_000 });
    const expire = runGuarded(["quota-expire", "0", mailbox], { timeoutMs: 20_000 });

    expect(report.timedOut).toBe(false);
    expect(report.exitCode).toBe(0);
    const json = JSON.parse(report.stdout);
    expect(json.storage.messageCount).toBe(1);
    expect(json.quota.usageBytes).toBe(2000);
    expect(expire.timedOut).toBe(false);
    expect(expire.exitCode).toBe(0);
    expect(expire.stderr).toContain(" removed=1 removed_bytes=2000 ");
    expect(treeOf(mailbox)).toEqual([
      "cur/",
      `cur/${messageName(OLD - DAY, 2, 9000, "S")}|`,
      `cur/${messageName(OLD - DAY, 4, 9000, "S")}/`,
      "new/",
      `new/${messageName(OLD - DAY, 3, 9000)}=`,
      "tmp/",
    ]);
  });

  test("MAILBOX with leading dash after --", () => {
    const root = makeTempDir();
    const mailbox = join(root, "-user@example.org");
    makeMaildir(mailbox);
    writeFileAt(join(mailbox, "cur", messageName(OLD, 1, 2000, "S")), 10, OLD);

    const withoutDashes = runGuarded(["quota-expire", "0", "-user@example.org"], { cwd: root });
    const withDashes = runGuarded(["quota-expire", "0", "--", "-user@example.org"], { cwd: root });

    expect(withoutDashes.exitCode).toBe(2);
    expectOneErrorLine(withoutDashes.stderr, "unknown option -user@example.org");
    expect(withDashes.exitCode).toBe(0);
    expect(withDashes.stderr).toContain(" removed=1 ");
    expect(treeOf(mailbox)).toEqual(["cur/", "new/", "tmp/"]);
  });
});
