/** Unusual tree shapes: empty and partial mailboxes, deep folders, foreign entries in mailboxes_dir. */

import { describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { makeMaildir, makeTempDir, messageName, nowSeconds, writeChatmailIni, writeFileAt } from "./helpers.ts";
import { runGuarded, treeOf } from "./robustness-helpers.ts";

const DAY = 86_400;
const OLD = nowSeconds() - 400 * DAY;

function makeRoot() {
  const root = makeTempDir();
  const mailboxes = join(root, "mail");
  mkdirSync(mailboxes);
  const ini = join(root, "chatmail.ini");
  writeChatmailIni(ini, { mail_domain: "example.org", mailboxes_dir: mailboxes });
  return { root, mailboxes, ini };
}

describe("mailbox shapes", () => {
  test("empty mailbox directory", () => {
    const { mailboxes, ini } = makeRoot();
    const mailbox = join(mailboxes, "empty@example.org");
    mkdirSync(mailbox);

    const expire = runGuarded(["quota-expire", "0", mailbox]);
    const report = runGuarded(["fsreport", "--json", ini]);

    expect(expire.exitCode).toBe(0);
    expect(expire.stderr).toBe("");
    expect(report.exitCode).toBe(0);
    const json = JSON.parse(report.stdout);
    expect(json.mailboxes).toBe(1);
    expect(json.storage.totalBytes).toBe(0);
    expect(treeOf(mailboxes)).toEqual(["empty@example.org/"]);
  });

  test("mailbox without cur, new and tmp", () => {
    const { mailboxes, ini } = makeRoot();
    const mailbox = join(mailboxes, "user@example.org");
    writeFileAt(join(mailbox, "password"), 0, OLD);
    writeFileAt(join(mailbox, ".DeltaChat", "cur", messageName(OLD, 1, 3000, "S")), 10, OLD);
    writeFileAt(join(mailbox, ".DeltaChat", "cur", messageName(OLD + 1, 2, 3000, "S")), 10, OLD + 1);

    const report = runGuarded(["fsreport", "--json", ini]);
    const expire = runGuarded(["quota-expire", "-v", "--policy", "oldest", "0", mailbox]);

    expect(JSON.parse(report.stdout).quota.usageBytes).toBe(6000);
    expect(expire.exitCode).toBe(0);
    expect(expire.stderr).toContain(" removed=2 removed_bytes=6000 usage_before=6000 usage_after=0 ");
    expect(treeOf(mailbox)).toEqual([".DeltaChat/", ".DeltaChat/cur/", "password"]);
  });

  test("deep Maildir++ folder counts, nested directories do not", () => {
    const { mailboxes, ini } = makeRoot();
    const mailbox = join(mailboxes, "user@example.org");
    makeMaildir(mailbox);
    writeFileAt(join(mailbox, ".a.b.c.d", "cur", messageName(OLD, 1, 7000, "S")), 10, OLD);
    writeFileAt(join(mailbox, ".a.b.c.d", "new", messageName(OLD, 2, 1000)), 10, OLD);
    const nested = join(mailbox, ".a", ".b", ".c", "cur", messageName(OLD, 3, 50_000, "S"));
    writeFileAt(nested, 10, OLD);

    const report = runGuarded(["fsreport", "--json", ini]);
    const expire = runGuarded(["quota-expire", "0", mailbox]);

    expect(report.exitCode).toBe(0);
    expect(JSON.parse(report.stdout).quota.usageBytes).toBe(8000);
    expect(expire.exitCode).toBe(0);
    expect(expire.stderr).toContain(" removed=2 removed_bytes=8000 usage_before=8000 usage_after=0 ");
    expect(treeOf(mailbox)).toEqual([
      ".a/",
      ".a/.b/",
      ".a/.b/.c/",
      ".a/.b/.c/cur/",
      `.a/.b/.c/cur/${messageName(OLD, 3, 50_000, "S")}`,
      ".a.b.c.d/",
      ".a.b.c.d/cur/",
      ".a.b.c.d/new/",
      "cur/",
      "new/",
      "tmp/",
    ]);
  });
});

describe("foreign entries in mailboxes_dir", () => {
  /** Creates one inactive mailbox among entries that are not mailboxes. */
  function makeCrowdedRoot() {
    const { root, mailboxes, ini } = makeRoot();
    const mailbox = join(mailboxes, "user@example.org");
    makeMaildir(mailbox);
    writeFileAt(join(mailbox, "cur", messageName(OLD, 1, 4000, "S")), 10, OLD);
    writeFileAt(join(mailbox, "password"), 0, OLD);

    writeFileAt(join(mailboxes, "pending_notifications", "token"), 5, OLD);
    writeFileAt(join(mailboxes, "notes@example.org"), 5, OLD);
    writeFileAt(join(mailboxes, ".hidden@example.org", "cur", messageName(OLD, 2, 4000, "S")), 10, OLD);
    writeFileAt(join(mailboxes, ".expire-inactive-gone@example.org", "cur", messageName(OLD, 3, 4000, "S")), 10, OLD);
    const outside = join(root, "outside@example.org");
    makeMaildir(outside);
    writeFileAt(join(outside, "cur", messageName(OLD, 4, 4000, "S")), 10, OLD);
    writeFileAt(join(outside, "password"), 0, OLD);
    symlinkSync(outside, join(mailboxes, "link@example.org"));
    expect(Bun.spawnSync(["mkfifo", join(mailboxes, "fifo@example.org")]).exitCode).toBe(0);
    writeFileSync(join(mailboxes, "README"), "not a mailbox\n");
    return { root, mailboxes, ini, outside };
  }

  test("fsreport and quota-expire --sweep see only the real mailbox", () => {
    const { mailboxes, ini, outside } = makeCrowdedRoot();
    const outsideBefore = treeOf(outside);

    const report = runGuarded(["fsreport", "--json", ini], { timeoutMs: 20_000 });
    const sweep = runGuarded(["quota-expire", "--sweep", "0", mailboxes], { timeoutMs: 20_000 });

    expect(report.timedOut).toBe(false);
    expect(report.exitCode).toBe(0);
    const json = JSON.parse(report.stdout);
    expect(json.mailboxes).toBe(1);
    expect(json.quota.usageBytes).toBe(4000);
    expect(sweep.exitCode).toBe(0);
    expect(sweep.stderr).toContain("quota-expire sweep mailboxes=1 trimmed=1 failed=0 removed=1 removed_bytes=4000 ");
    expect(treeOf(outside)).toEqual(outsideBefore);
  });

  test("expire-inactive removes the mailbox and its own leftover only", () => {
    const { mailboxes, ini, outside } = makeCrowdedRoot();
    const outsideBefore = treeOf(outside);

    // One mailbox out of one trips the mass-deletion guard, so --force.
    const result = runGuarded(["expire-inactive", "--remove", "--force", ini], { timeoutMs: 20_000 });

    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^Removed 1 out of 1 mailboxes in /);
    expect(treeOf(mailboxes)).toEqual([
      ".hidden@example.org/",
      ".hidden@example.org/cur/",
      `.hidden@example.org/cur/${messageName(OLD, 2, 4000, "S")}`,
      "README",
      "fifo@example.org|",
      `link@example.org -> ${outside}`,
      "notes@example.org",
      "pending_notifications/",
      "pending_notifications/token",
    ]);
    expect(treeOf(outside)).toEqual(outsideBefore);
  });
});
