/** Symlinks below a mailbox: nothing outside the mailbox is read, counted or removed. */

import { describe, expect, test } from "bun:test";
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { makeMaildir, makeTempDir, messageName, nowSeconds, REPO_ROOT, writeChatmailIni, writeFileAt } from "./helpers.ts";
import { MailboxDirectory, ReplacedDirectoryError } from "../src/mailbox-directory.ts";
import { expectNoCrash, runGuarded, treeOf } from "./robustness-helpers.ts";

const MIB = 1024 * 1024;
const DAY = 86_400;

/** Creates one mailbox and an outside directory that contains a file of every message name. */
function relayWithOutside(messages: number) {
  const root = makeTempDir();
  const mailboxes = join(root, "mail");
  const mailbox = join(mailboxes, "user@example.org");
  const outside = join(root, "outside");
  makeMaildir(mailbox);
  mkdirSync(outside);
  const names: string[] = [];
  for (let i = 0; i < messages; i++) {
    const name = messageName(nowSeconds() - 10 * DAY, i, MIB, "S");
    names.push(name);
    writeFileAt(join(mailbox, "cur", name), 100, nowSeconds() - 10 * DAY);
    writeFileAt(join(outside, name), 100, nowSeconds() - 10 * DAY);
  }
  writeChatmailIni(join(root, "chatmail.ini"), { mail_domain: "example.org", mailboxes_dir: mailboxes });
  return { root, mailboxes, mailbox, outside, names };
}

describe("symlinks below a mailbox", () => {
  test("message symlink is not counted or removed", () => {
    const { root, mailbox, outside, names } = relayWithOutside(1);
    symlinkSync(join(outside, names[0]!), join(mailbox, "new", messageName(nowSeconds() - 20 * DAY, 9, 50 * MIB)));
    const before = treeOf(root);

    const result = runGuarded(["quota-expire", "1", mailbox]);

    expectNoCrash(result.stderr);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe("");
    expect(treeOf(root)).toEqual(before);
  });

  test("cur symlinked outside is not followed", () => {
    const { root, mailbox, outside } = relayWithOutside(3);
    renameSync(join(mailbox, "cur"), join(root, "cur-moved"));
    symlinkSync(outside, join(mailbox, "cur"));
    const before = treeOf(root);

    const expire = runGuarded(["quota-expire", "0", mailbox]);
    const report = runGuarded(["fsreport", "--json", join(root, "chatmail.ini")]);

    expect(expire.exitCode).toBe(0);
    expect(expire.stderr).toBe("");
    expect(treeOf(root)).toEqual(before);
    expect(report.exitCode).toBe(0);
    const json = JSON.parse(report.stdout);
    expect(json.storage.messageCount).toBe(0);
    expect(json.quota.usageBytes).toBe(0);
  });

  test("folder symlinked elsewhere is not followed", () => {
    const { root, mailbox, outside } = relayWithOutside(2);
    mkdirSync(join(outside, "cur"));
    writeFileAt(join(outside, "cur", messageName(nowSeconds() - 30 * DAY, 7, 5 * MIB, "S")), 100, nowSeconds() - 30 * DAY);
    symlinkSync(outside, join(mailbox, ".DeltaChat"));
    const before = treeOf(root);

    const result = runGuarded(["quota-expire", "-v", "--dry-run", "1", mailbox]);

    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain("usage_before=2097152 ");
    expect(result.stderr).not.toContain("DeltaChat");
    expect(treeOf(root)).toEqual(before);
  });
});

describe("directory replaced by a symlink after the walk", () => {
  test("removal through an open mailbox stays inside", async () => {
    const { root, mailbox, outside, names } = relayWithOutside(2);
    const directory = await MailboxDirectory.open(mailbox);
    try {
      // The first removal opens cur/; the swap then happens behind the open descriptor.
      expect(await directory.unlink(`cur/${names[0]}`)).toBe("removed");
      renameSync(join(mailbox, "cur"), join(mailbox, "cur-moved"));
      symlinkSync(outside, join(mailbox, "cur"));
      expect(await directory.unlink(`cur/${names[1]}`)).toBe("removed");
    } finally {
      await directory.close();
    }
    expect(treeOf(join(root, "outside"))).toEqual(names);
    expect(treeOf(join(mailbox, "cur-moved"))).toEqual([]);
  });

  test("directory opened after the swap is rejected", async () => {
    const { mailbox, outside, names } = relayWithOutside(1);
    const directory = await MailboxDirectory.open(mailbox);
    try {
      renameSync(join(mailbox, "cur"), join(mailbox, "cur-moved"));
      symlinkSync(outside, join(mailbox, "cur"));
      const outcome = await directory.unlink(`cur/${names[0]}`);
      expect(outcome).not.toBe("removed");
      expect(typeof outcome).toBe("object");
      expect((outcome as { error: unknown }).error).toBeInstanceOf(ReplacedDirectoryError);
    } finally {
      await directory.close();
    }
    expect(treeOf(outside)).toEqual(names);
  });

  test("quota-expire racing a swapper removes nothing outside", async () => {
    const { root, mailbox, outside, names } = relayWithOutside(400);
    const stopFile = join(root, "stop");
    const swapper = Bun.spawn(
      [process.execPath, join(REPO_ROOT, "test/fixtures/swap-directory.ts"), join(mailbox, "cur"), outside, stopFile, "2000000"],
      { stdout: "pipe", stderr: "pipe" },
    );
    const reader = swapper.stdout.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe("ready\n");

    // Several runs, so that removals overlap with swaps whatever the scheduling.
    const results = [];
    for (let run = 0; run < 6; run++) results.push(runGuarded(["quota-expire", "0", mailbox]));
    writeFileSync(stopFile, "");
    expect(await swapper.exited).toBe(0);

    for (const result of results) {
      expectNoCrash(result.stderr);
      expect([0, 1]).toContain(result.exitCode ?? -1);
      // A refused removal names the replaced directory; nothing else fails.
      for (const line of result.stderr.split("\n").filter((line) => line.startsWith("error: "))) {
        expect(line).toMatch(/cannot (remove|read) .*cur/);
      }
    }
    expect(treeOf(outside)).toEqual(names.slice().sort());
  });
});
