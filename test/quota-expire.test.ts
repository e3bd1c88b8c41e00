import { describe, expect, test } from "bun:test";
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import type { Logger } from "../src/log.ts";
import { POLICIES, removalOrder, sortForRemoval, trimMailbox, type TrimOptions } from "../src/quota-trim.ts";
import type { MessageFile } from "../src/maildir.ts";
import { BINARY, makeMaildir, makeTempDir, messageName, nowSeconds, REPO_ROOT, runBinary, writeFileAt } from "./helpers.ts";

const MIB = 1024 * 1024;
const HOUR = 3600;
const DAY = 24 * HOUR;

interface MessageSpec {
  /** Folder below the mailbox: "" for the INBOX, ".DeltaChat" for a subfolder. */
  folder?: string;
  subdir?: "cur" | "new" | "tmp";
  unique: string;
  /** `S=` in the name; without it the disk size is all Dovecot counts. */
  size?: number;
  diskSize: number;
  ageSeconds: number;
}

/** Writes one message file and returns its path relative to the mailbox. */
function writeMessage(mailbox: string, spec: MessageSpec, now: number): string {
  const time = now - spec.ageSeconds;
  const subdir = spec.subdir ?? "cur";
  const name = messageName(time, spec.unique, spec.size, subdir === "cur" ? "S" : undefined);
  const relative = join(spec.folder ?? "", subdir, name);
  writeFileAt(join(mailbox, relative), spec.diskSize, time);
  return relative;
}

/** Creates a mailbox with INBOX and .DeltaChat, Dovecot's quota and index files, and the messages. */
function makeMailbox(parent: string, address: string, specs: MessageSpec[], now = nowSeconds()): { mailbox: string; paths: string[] } {
  const mailbox = join(parent, address);
  makeMaildir(mailbox);
  makeMaildir(join(mailbox, ".DeltaChat"));
  writeFileSync(join(mailbox, "maildirsize"), "524288000S\n0 0\n");
  writeFileSync(join(mailbox, "dovecot.index.cache"), "cache");
  writeFileSync(join(mailbox, ".DeltaChat", "dovecot.index.cache"), "cache");
  writeFileSync(join(mailbox, "password"), "hash");
  const paths = specs.map((spec) => writeMessage(mailbox, spec, now));
  return { mailbox, paths };
}

/** Lists every entry below a directory (files and symlinks, not directories), sorted, without following symlinks. */
function listTree(root: string, relative = ""): string[] {
  const entries: string[] = [];
  for (const name of readdirSync(join(root, relative))) {
    const path = relative === "" ? name : `${relative}/${name}`;
    const stats = lstatSync(join(root, path));
    if (stats.isDirectory()) entries.push(...listTree(root, path));
    else entries.push(path);
  }
  return entries.sort();
}

function exists(mailbox: string, relative: string): boolean {
  try {
    lstatSync(join(mailbox, relative));
    return true;
  } catch {
    return false;
  }
}

/** Extracts the logfmt fields of the result line from stderr. */
function resultFields(stderr: string): Record<string, string> {
  const line = stderr.split("\n").find((text) => text.startsWith("quota-expire mailbox="));
  if (line === undefined) throw new Error(`no result line in: ${stderr}`);
  const fields: Record<string, string> = {};
  for (const match of line.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)) fields[match[1]!] = match[2]!;
  return fields;
}

describe("quota-expire usage", () => {
  test("usage follows S= for compressed files", () => {
    const { mailbox, paths } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "old", size: MIB, diskSize: 1000, ageSeconds: 3 * DAY },
      { unique: "mid", size: MIB, diskSize: 1000, ageSeconds: 2 * DAY },
      { unique: "new", size: MIB, diskSize: 1000, ageSeconds: 1 * DAY },
    ]);

    const result = runBinary(["quota-expire", "2", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(exists(mailbox, paths[0]!)).toBe(false);
    expect(exists(mailbox, paths[1]!)).toBe(true);
    expect(exists(mailbox, paths[2]!)).toBe(true);

    const fields = resultFields(result.stderr);
    expect(fields.usage_before).toBe(String(3 * MIB));
    expect(fields.usage_after).toBe(String(2 * MIB));
    expect(fields.removed).toBe("1");
    expect(fields.removed_bytes).toBe(String(MIB));
    expect(fields.target).toBe(String(2 * MIB));
    expect(fields.mailbox).toBe(mailbox);
    expect(fields.elapsed).toMatch(/^\d+\.\d{3}s$/);
  });

  test("messages only in .DeltaChat", () => {
    const { mailbox, paths } = makeMailbox(makeTempDir(), "a@example.org", [
      { folder: ".DeltaChat", unique: "a", size: MIB, diskSize: 100, ageSeconds: 4 * DAY },
      { folder: ".DeltaChat", unique: "b", size: MIB, diskSize: 100, ageSeconds: 3 * DAY },
      { folder: ".DeltaChat", subdir: "new", unique: "c", size: MIB, diskSize: 100, ageSeconds: 2 * DAY },
    ]);

    const result = runBinary(["quota-expire", "1", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(exists(mailbox, paths[0]!)).toBe(false);
    expect(exists(mailbox, paths[1]!)).toBe(false);
    expect(exists(mailbox, paths[2]!)).toBe(true);
    expect(resultFields(result.stderr).removed).toBe("2");

    // Dovecot must recount: maildirsize and the cache of the folder that lost messages go.
    expect(exists(mailbox, "maildirsize")).toBe(false);
    expect(exists(mailbox, ".DeltaChat/dovecot.index.cache")).toBe(false);
    expect(exists(mailbox, "dovecot.index.cache")).toBe(true);
    expect(exists(mailbox, "password")).toBe(true);
  });

  test("names without S= count their stat size", () => {
    const { mailbox, paths } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "plain-old", diskSize: 2 * MIB, ageSeconds: 5 * DAY },
      { unique: "plain-new", diskSize: MIB, ageSeconds: 1 * DAY },
    ]);

    const result = runBinary(["quota-expire", "1", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(exists(mailbox, paths[0]!)).toBe(false);
    expect(exists(mailbox, paths[1]!)).toBe(true);
    expect(resultFields(result.stderr).usage_before).toBe(String(3 * MIB));
  });

  test("usage exactly at target changes nothing", () => {
    const { mailbox } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "a", size: MIB, diskSize: 10, ageSeconds: 3 * DAY },
      { folder: ".DeltaChat", unique: "b", size: MIB, diskSize: 10, ageSeconds: 2 * DAY },
    ]);
    const before = listTree(mailbox);

    const result = runBinary(["quota-expire", "2", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe("");
    expect(listTree(mailbox)).toEqual(before);
  });

  test("one byte over target removes one message", () => {
    const { mailbox, paths } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "a", size: MIB, diskSize: 10, ageSeconds: 3 * DAY },
      { unique: "b", size: MIB, diskSize: 10, ageSeconds: 2 * DAY },
      { unique: "c", size: 1, diskSize: 1, ageSeconds: 1 * DAY },
    ]);

    const result = runBinary(["quota-expire", "2", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(exists(mailbox, paths[0]!)).toBe(false);
    expect(exists(mailbox, paths[1]!)).toBe(true);
    expect(exists(mailbox, paths[2]!)).toBe(true);
    expect(resultFields(result.stderr).usage_after).toBe(String(MIB + 1));
  });

  test("target 0 removes every message but fresh tmp files", () => {
    const { mailbox, paths } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "a", size: 500, diskSize: 10, ageSeconds: 3 * DAY },
      { subdir: "new", unique: "b", size: 600, diskSize: 10, ageSeconds: 60 },
      { folder: ".DeltaChat", unique: "c", size: 700, diskSize: 10, ageSeconds: 2 * DAY },
      { subdir: "tmp", unique: "fresh", size: 800, diskSize: 10, ageSeconds: HOUR },
    ]);

    const result = runBinary(["quota-expire", "0", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(exists(mailbox, paths[0]!)).toBe(false);
    expect(exists(mailbox, paths[1]!)).toBe(false);
    expect(exists(mailbox, paths[2]!)).toBe(false);
    expect(exists(mailbox, paths[3]!)).toBe(true);

    const fields = resultFields(result.stderr);
    expect(fields.removed).toBe("3");
    expect(fields.usage_after).toBe("0");
  });

  test("message in new/ and cur/ counts once", () => {
    const now = nowSeconds();
    const { mailbox, paths } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "old", size: MIB, diskSize: 10, ageSeconds: 3 * DAY },
      { unique: "recent", size: MIB, diskSize: 10, ageSeconds: 1 * DAY },
    ], now);
    // The state that a walk reads while Dovecot moves a message from new/ to cur/: a file in each.
    const moved = messageName(now - 2 * DAY, "moved", MIB);
    writeFileAt(join(mailbox, "new", moved), 10, now - 2 * DAY);
    writeFileAt(join(mailbox, "cur", `${moved}:2,S`), 10, now - 2 * DAY);

    const result = runBinary(["quota-expire", "2", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(exists(mailbox, paths[0]!)).toBe(false);
    expect(exists(mailbox, paths[1]!)).toBe(true);
    expect(exists(mailbox, `new/${moved}`)).toBe(true);
    expect(exists(mailbox, `cur/${moved}:2,S`)).toBe(true);

    const fields = resultFields(result.stderr);
    expect(fields.usage_before).toBe(String(3 * MIB));
    expect(fields.removed).toBe("1");
    expect(fields.usage_after).toBe(String(2 * MIB));
  });

  test("folders outside Maildir++ are neither counted nor removed", () => {
    const { mailbox, paths } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "inbox", size: MIB, diskSize: 10, ageSeconds: 1 * DAY },
      { folder: "backup", unique: "other", size: 5 * MIB, diskSize: 10, ageSeconds: 9 * DAY },
    ]);

    const result = runBinary(["quota-expire", "0", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(exists(mailbox, paths[0]!)).toBe(false);
    expect(exists(mailbox, paths[1]!)).toBe(true);
    expect(resultFields(result.stderr).usage_before).toBe(String(MIB));
  });
});

describe("quota-expire policies", () => {
  test("size-age removes a big recent message before a small old one", () => {
    const { mailbox, paths } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "big-yesterday", size: 10 * MIB, diskSize: 10, ageSeconds: 1 * DAY },
      { unique: "small-old", size: MIB, diskSize: 10, ageSeconds: 5 * DAY },
      { unique: "small-new", size: MIB, diskSize: 10, ageSeconds: HOUR },
    ]);

    const result = runBinary(["quota-expire", "3", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(exists(mailbox, paths[0]!)).toBe(false);
    expect(exists(mailbox, paths[1]!)).toBe(true);
    expect(exists(mailbox, paths[2]!)).toBe(true);
  });

  test("oldest removes the oldest message first", () => {
    const { mailbox, paths } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "big-yesterday", size: 10 * MIB, diskSize: 10, ageSeconds: 1 * DAY },
      { unique: "small-old", size: MIB, diskSize: 10, ageSeconds: 5 * DAY },
      { unique: "small-new", size: MIB, diskSize: 10, ageSeconds: HOUR },
    ]);

    const result = runBinary(["quota-expire", "--policy", "oldest", "11", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(exists(mailbox, paths[0]!)).toBe(true);
    expect(exists(mailbox, paths[1]!)).toBe(false);
    expect(exists(mailbox, paths[2]!)).toBe(true);
  });

  test("oldest removes the larger of equal mtimes first", () => {
    const { mailbox, paths } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "small", size: MIB, diskSize: 10, ageSeconds: 2 * DAY },
      { unique: "large", size: 2 * MIB, diskSize: 10, ageSeconds: 2 * DAY },
      { unique: "newer", size: MIB, diskSize: 10, ageSeconds: 1 * DAY },
    ]);

    const result = runBinary(["quota-expire", "--policy=oldest", "2", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(exists(mailbox, paths[0]!)).toBe(true);
    expect(exists(mailbox, paths[1]!)).toBe(false);
    expect(exists(mailbox, paths[2]!)).toBe(true);
  });

  test("policy from the settings file, command line wins", () => {
    const dir = makeTempDir();
    const specs: MessageSpec[] = [
      { unique: "big-yesterday", size: 10 * MIB, diskSize: 10, ageSeconds: 1 * DAY },
      { unique: "small-old", size: MIB, diskSize: 10, ageSeconds: 5 * DAY },
    ];
    const settings = join(dir, "settings.toml");
    writeFileSync(settings, '[quota-expire]\npolicy = "oldest"\n');

    const fromFile = makeMailbox(join(dir, "file"), "a@example.org", specs);
    expect(runBinary(["quota-expire", "--settings", settings, "10", fromFile.mailbox]).exitCode).toBe(0);
    expect(exists(fromFile.mailbox, fromFile.paths[0]!)).toBe(true);
    expect(exists(fromFile.mailbox, fromFile.paths[1]!)).toBe(false);

    const fromCommandLine = makeMailbox(join(dir, "cli"), "a@example.org", specs);
    expect(runBinary(["quota-expire", "--settings", settings, "--policy", "size-age", "10", fromCommandLine.mailbox]).exitCode).toBe(0);
    expect(exists(fromCommandLine.mailbox, fromCommandLine.paths[0]!)).toBe(false);
    expect(exists(fromCommandLine.mailbox, fromCommandLine.paths[1]!)).toBe(true);
  });
});

describe("sortForRemoval ties", () => {
  const NOW_MS = 1_800_000_000_000;
  const now = NOW_MS / 1000;

  function message(name: string, quotaSize: number, ageSeconds: number): MessageFile {
    return { folder: "", subdir: "cur", name, quotaSize, diskSize: 10, mtimeMs: (now - ageSeconds) * 1000, ctimeMs: (now - ageSeconds) * 1000 };
  }

  test("size-age: equal scores put the older message first", () => {
    const order = sortForRemoval(
      [message("two-mib-one-day", 2 * MIB, DAY), message("one-mib-two-days", MIB, 2 * DAY), message("small", 1, DAY)],
      "size-age",
      NOW_MS,
    );
    expect(order.map((m) => m.name)).toEqual(["one-mib-two-days", "two-mib-one-day", "small"]);
  });

  test("size-age: 10 MB yesterday before 1 MB five days ago", () => {
    const order = sortForRemoval([message("one-mb", 1_000_000, 5 * DAY), message("ten-mb", 10_000_000, DAY)], "size-age", NOW_MS);
    expect(order.map((m) => m.name)).toEqual(["ten-mb", "one-mb"]);
  });

  test("oldest: equal mtimes put the larger message first", () => {
    const order = sortForRemoval(
      [message("small", MIB, DAY), message("newest", 5 * MIB, HOUR), message("large", 2 * MIB, DAY), message("oldest", 1, 2 * DAY)],
      "oldest",
      NOW_MS,
    );
    expect(order.map((m) => m.name)).toEqual(["oldest", "large", "small", "newest"]);
  });

  // The trim takes messages from the heap of removalOrder; it must match the full sort.
  for (const policy of POLICIES) {
    test(`removalOrder matches sortForRemoval: ${policy}`, () => {
      let seed = 12345;
      const random = (limit: number) => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return seed % limit;
      };
      // Few distinct sizes and ages, so that many messages tie on score or mtime.
      const messages = Array.from({ length: 2000 }, (_, i) =>
        message(`m${random(500)}-${i}`, (1 + random(8)) * MIB, (1 + random(10)) * DAY),
      );

      const sorted = sortForRemoval([...messages], policy, NOW_MS).map((m) => m.name);
      const lazy = [...removalOrder(messages, policy, NOW_MS)].map((m) => m.name);
      expect(lazy).toEqual(sorted);
    });
  }
});

/**
 * Creates a verbose logger that records its lines and calls `onDetail` for each per-file line.
 * Tests use it to change the mailbox at a known step of a run, as Dovecot or a client can.
 */
function recordingLogger(onDetail: (line: string) => void = () => {}): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    verbosity: "verbose",
    detail(message) {
      lines.push(message);
      onDetail(message);
    },
    info: (message) => lines.push(message),
    warn: (message) => lines.push(`warning: ${message}`),
    error: (message) => lines.push(`error: ${message}`),
  };
}

function trimOptions(targetBytes: number, logger: Logger, extra: Partial<TrimOptions> = {}): TrimOptions {
  return { targetBytes, policy: "size-age", keepRecentMs: 0, dryRun: false, nowMs: Date.now(), label: "mailbox", logger, ...extra };
}

/**
 * A "now" two days ahead, for runs that need stale tmp/ files: a file written now has a ctime
 * older than 36 hours by it, and no test can set a ctime otherwise. trimMailbox takes its now
 * as an option; the binary uses the clock.
 */
function aheadNow(): number {
  return nowSeconds() + 2 * DAY;
}

describe("trimMailbox recount", () => {
  test("message renamed after the walk is removed in a second round", async () => {
    const now = aheadNow();
    const { mailbox, paths } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "old", size: MIB, diskSize: 10, ageSeconds: 3 * DAY },
      { unique: "mid", size: MIB, diskSize: 10, ageSeconds: 2 * DAY },
      { unique: "new", size: MIB, diskSize: 10, ageSeconds: 1 * DAY },
      { subdir: "tmp", unique: "stale", diskSize: 10, ageSeconds: 40 * HOUR },
    ], now);
    // Stale tmp files go after the walk and before any message, so their line marks the moment
    // at which a client flags the oldest message: Dovecot renames :2,S to :2,FS.
    const flagged = paths[0]!.replace(/:2,S$/, ":2,FS");
    const logger = recordingLogger((line) => {
      if (line.includes("stale tmp file")) renameSync(join(mailbox, paths[0]!), join(mailbox, flagged));
    });

    const result = await trimMailbox(mailbox, trimOptions(2 * MIB, logger, { nowMs: now * 1000 }));

    expect(result.errors).toBe(0);
    expect(result.vanishedMessages).toBe(1);
    expect(result.removedMessages).toBe(1);
    expect(result.usageBefore).toBe(3 * MIB);
    expect(result.usageAfter).toBe(2 * MIB);
    expect(exists(mailbox, paths[0]!)).toBe(false);
    expect(exists(mailbox, flagged)).toBe(false);
    expect(exists(mailbox, paths[1]!)).toBe(true);
    expect(exists(mailbox, paths[2]!)).toBe(true);
    expect(logger.lines).toContain(`mailbox: removed ${flagged} (${MIB} bytes, 3.0 days old)`);
  });

  test("message the walk missed is counted afterwards", async () => {
    const now = aheadNow();
    const { mailbox, paths } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "old", size: MIB, diskSize: 10, ageSeconds: 3 * DAY },
      { unique: "mid", size: MIB, diskSize: 10, ageSeconds: 2 * DAY },
      { unique: "new", size: MIB, diskSize: 10, ageSeconds: 1 * DAY },
      { subdir: "tmp", unique: "stale", diskSize: 10, ageSeconds: 40 * HOUR },
    ], now);
    // A message that readdir skipped while it was renamed: it appears in cur/ after the walk.
    const missed = join("cur", messageName(now - 4 * DAY, "missed", MIB, "S"));
    const logger = recordingLogger((line) => {
      if (line.includes("stale tmp file")) writeFileAt(join(mailbox, missed), 10, now - 4 * DAY);
    });

    const result = await trimMailbox(mailbox, trimOptions(2 * MIB, logger, { nowMs: now * 1000 }));

    expect(result.errors).toBe(0);
    expect(result.removedMessages).toBe(2);
    expect(result.usageBefore).toBe(3 * MIB);
    expect(result.usageAfter).toBe(2 * MIB);
    expect(exists(mailbox, missed)).toBe(false);
    expect(exists(mailbox, paths[0]!)).toBe(false);
    expect(exists(mailbox, paths[1]!)).toBe(true);
    expect(exists(mailbox, paths[2]!)).toBe(true);
  });

  test("maildirsize goes before the first message", async () => {
    const { mailbox } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "old", size: MIB, diskSize: 10, ageSeconds: 3 * DAY },
      { unique: "new", size: MIB, diskSize: 10, ageSeconds: 1 * DAY },
    ]);
    // The per-file lines follow the unlinks of their batch and come before the cleanup.
    const maildirsizeAtRemoval: boolean[] = [];
    const logger = recordingLogger((line) => {
      if (line.startsWith("mailbox: removed ")) maildirsizeAtRemoval.push(exists(mailbox, "maildirsize"));
    });

    const result = await trimMailbox(mailbox, trimOptions(MIB, logger));

    expect(result.removedMessages).toBe(1);
    expect(maildirsizeAtRemoval).toEqual([false]);
    expect(exists(mailbox, "maildirsize")).toBe(false);
  });

  test("at most three rounds", async () => {
    const now = nowSeconds();
    const { mailbox } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "a", size: MIB, diskSize: 10, ageSeconds: 5 * DAY },
      { unique: "b", size: MIB, diskSize: 10, ageSeconds: 4 * DAY },
    ], now);
    // Each removal is followed by a delivery, so every recount finds the mailbox over target.
    let deliveries = 0;
    const logger = recordingLogger((line) => {
      if (!line.startsWith("mailbox: removed ")) return;
      deliveries++;
      const time = now - 10 * HOUR + deliveries * HOUR;
      writeFileAt(join(mailbox, "new", messageName(time, `delivery${deliveries}`, MIB)), 10, time);
    });

    const result = await trimMailbox(mailbox, trimOptions(MIB, logger));

    expect(result.errors).toBe(0);
    expect(result.removedMessages).toBe(3);
    expect(result.usageAfter).toBe(2 * MIB);
    expect(readdirSync(join(mailbox, "cur"))).toEqual([]);
    expect(readdirSync(join(mailbox, "new")).sort()).toEqual([
      messageName(now - 8 * HOUR, "delivery2", MIB),
      messageName(now - 7 * HOUR, "delivery3", MIB),
    ]);
  });

  test("no further round after an error", async () => {
    const now = aheadNow();
    const { mailbox, paths } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "a", size: MIB, diskSize: 10, ageSeconds: 5 * DAY },
      { folder: ".DeltaChat", unique: "b", size: MIB, diskSize: 10, ageSeconds: 4 * DAY },
      { unique: "c", size: MIB, diskSize: 10, ageSeconds: 3 * DAY },
      { unique: "recent", size: MIB, diskSize: 10, ageSeconds: HOUR },
      { subdir: "tmp", unique: "stale", diskSize: 10, ageSeconds: 40 * HOUR },
    ], now);
    // After the walk, a client flags message a, and .DeltaChat/cur becomes a file, so removing
    // b fails. The recount then finds a under its new name, over the target.
    const flagged = paths[0]!.replace(/:2,S$/, ":2,FS");
    const logger = recordingLogger((line) => {
      if (!line.includes("stale tmp file")) return;
      renameSync(join(mailbox, paths[0]!), join(mailbox, flagged));
      renameSync(join(mailbox, ".DeltaChat", "cur"), join(mailbox, ".DeltaChat", "cur-moved"));
      writeFileSync(join(mailbox, ".DeltaChat", "cur"), "");
    });

    const result = await trimMailbox(mailbox, trimOptions(MIB, logger, { keepRecentMs: 2 * HOUR * 1000, nowMs: now * 1000 }));

    expect(result.errors).toBe(1);
    expect(result.vanishedMessages).toBe(1);
    expect(result.removedMessages).toBe(1);
    expect(result.usageAfter).toBe(2 * MIB);
    expect(exists(mailbox, flagged)).toBe(true);
    expect(exists(mailbox, paths[2]!)).toBe(false);
    expect(exists(mailbox, paths[3]!)).toBe(true);
    expect(logger.lines.filter((line) => line.startsWith("error: "))).toEqual([
      "error: mailbox: cannot remove .DeltaChat/cur/" +
        paths[1]!.slice(".DeltaChat/cur/".length) +
        ": .DeltaChat/cur is no longer a directory of the mailbox (a symbolic link or file took its place)",
    ]);
  });
});

describe("quota-expire keep-recent and tmp", () => {
  test("--keep-recent keeps young messages over target", () => {
    const { mailbox, paths } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "old", size: MIB, diskSize: 10, ageSeconds: 3 * DAY },
      { unique: "young-a", size: 2 * MIB, diskSize: 10, ageSeconds: 2 * HOUR },
      { folder: ".DeltaChat", unique: "young-b", size: 2 * MIB, diskSize: 10, ageSeconds: 10 * HOUR },
    ]);

    const result = runBinary(["quota-expire", "--keep-recent", "24", "1", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(exists(mailbox, paths[0]!)).toBe(false);
    expect(exists(mailbox, paths[1]!)).toBe(true);
    expect(exists(mailbox, paths[2]!)).toBe(true);

    const fields = resultFields(result.stderr);
    expect(fields.removed).toBe("1");
    expect(fields.usage_after).toBe(String(4 * MIB));
    expect(fields.over_target).toBe("yes");
    expect(fields.kept_recent).toBe("2");
  });

  test("--keep-recent from the settings file", () => {
    const dir = makeTempDir();
    const settings = join(dir, "settings.toml");
    writeFileSync(settings, "[quota-expire]\nkeep-recent = 48\n");
    const { mailbox, paths } = makeMailbox(dir, "a@example.org", [
      { unique: "old", size: MIB, diskSize: 10, ageSeconds: 3 * DAY },
      { unique: "young", size: MIB, diskSize: 10, ageSeconds: 1 * DAY },
    ]);

    const result = runBinary(["quota-expire", "--settings", settings, "0", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(exists(mailbox, paths[0]!)).toBe(false);
    expect(exists(mailbox, paths[1]!)).toBe(true);
  });

  // In-process with a now two days ahead (see aheadNow): the ctimes of the files count too.
  test("stale tmp files go, fresh ones stay, neither counts", async () => {
    const now = aheadNow();
    const { mailbox, paths } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "message", size: 2 * MIB, diskSize: 10, ageSeconds: 1 * DAY },
      { subdir: "tmp", unique: "stale", size: 50 * MIB, diskSize: 4000, ageSeconds: 40 * HOUR },
      { folder: ".DeltaChat", subdir: "tmp", unique: "stale-dc", diskSize: 3000, ageSeconds: 37 * HOUR },
      { subdir: "tmp", unique: "fresh", size: 50 * MIB, diskSize: 4000, ageSeconds: 35 * HOUR },
    ], now);

    const dryLogger = recordingLogger();
    await trimMailbox(mailbox, trimOptions(MIB, dryLogger, { nowMs: now * 1000, dryRun: true }));
    expect(dryLogger.lines).toContain(`mailbox: would remove stale tmp file ${paths[1]} (4000 bytes, 40.0 hours old)`);
    expect(exists(mailbox, paths[1]!)).toBe(true);

    const result = await trimMailbox(mailbox, trimOptions(MIB, recordingLogger(), { nowMs: now * 1000 }));
    expect(exists(mailbox, paths[0]!)).toBe(false);
    expect(exists(mailbox, paths[1]!)).toBe(false);
    expect(exists(mailbox, paths[2]!)).toBe(false);
    expect(exists(mailbox, paths[3]!)).toBe(true);
    expect(result.errors).toBe(0);
    expect(result.usageBefore).toBe(2 * MIB);
    expect(result.staleTmpFiles).toBe(2);
    expect(result.staleTmpBytes).toBe(7000);
  });

  // Dovecot sets the mtime of a file still in tmp/ to the date of the message (IMAP APPEND with
  // a date, dsync, doveadm import): its ctime shows that it is a delivery in progress.
  test("tmp file with an old mtime and a fresh ctime stays", () => {
    const { mailbox, paths } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "message", size: 2 * MIB, diskSize: 10, ageSeconds: 1 * DAY },
      { subdir: "tmp", unique: "appending", size: 50 * MIB, diskSize: 4000, ageSeconds: 3 * DAY },
    ]);

    const result = runBinary(["quota-expire", "1", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(exists(mailbox, paths[0]!)).toBe(false);
    expect(exists(mailbox, paths[1]!)).toBe(true);
    const fields = resultFields(result.stderr);
    expect(fields.removed).toBe("1");
    expect(fields.stale_tmp_removed).toBeUndefined();
  });

  test("stale tmp files stay when usage is under target", async () => {
    const now = aheadNow();
    const { mailbox } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "message", size: MIB, diskSize: 10, ageSeconds: 1 * DAY },
      { subdir: "tmp", unique: "stale", size: 50 * MIB, diskSize: 4000, ageSeconds: 40 * HOUR },
    ], now);
    const before = listTree(mailbox);

    const logger = recordingLogger();
    const result = await trimMailbox(mailbox, trimOptions(MIB, logger, { nowMs: now * 1000 }));
    expect(result.staleTmpFiles).toBe(0);
    expect(logger.lines).toEqual([]);
    expect(listTree(mailbox)).toEqual(before);
  });
});

describe("quota-expire symlinks", () => {
  test("symlinked message file and its target survive", () => {
    const dir = makeTempDir();
    const outside = join(dir, "outside", messageName(nowSeconds() - 9 * DAY, "outside", 5 * MIB, "S"));
    writeFileAt(outside, 100, nowSeconds() - 9 * DAY);
    const { mailbox, paths } = makeMailbox(join(dir, "mail"), "a@example.org", [
      { unique: "real", size: MIB, diskSize: 10, ageSeconds: 1 * DAY },
    ]);
    const link = join("cur", messageName(nowSeconds() - 9 * DAY, "link", 5 * MIB, "S"));
    symlinkSync(outside, join(mailbox, link));

    const result = runBinary(["quota-expire", "0", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(exists(mailbox, paths[0]!)).toBe(false);
    expect(existsSync(outside)).toBe(true);
    expect(lstatSync(join(mailbox, link)).isSymbolicLink()).toBe(true);
    expect(resultFields(result.stderr).usage_before).toBe(String(MIB));
  });

  test("symlinked maildirsize and index cache survive", () => {
    const dir = makeTempDir();
    const outside = join(dir, "outside");
    mkdirSync(outside);
    writeFileSync(join(outside, "maildirsize"), "outside");
    writeFileSync(join(outside, "dovecot.index.cache"), "outside");
    const { mailbox, paths } = makeMailbox(join(dir, "mail"), "a@example.org", [
      { unique: "old", size: MIB, diskSize: 10, ageSeconds: 2 * DAY },
    ]);
    rmSync(join(mailbox, "maildirsize"));
    rmSync(join(mailbox, "dovecot.index.cache"));
    symlinkSync(join(outside, "maildirsize"), join(mailbox, "maildirsize"));
    symlinkSync(join(outside, "dovecot.index.cache"), join(mailbox, "dovecot.index.cache"));

    const result = runBinary(["quota-expire", "0", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(exists(mailbox, paths[0]!)).toBe(false);
    expect(lstatSync(join(mailbox, "maildirsize")).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(mailbox, "dovecot.index.cache")).isSymbolicLink()).toBe(true);
    expect(existsSync(join(outside, "maildirsize"))).toBe(true);
    expect(existsSync(join(outside, "dovecot.index.cache"))).toBe(true);
    // Once, although maildirsize is due both before and after the removals.
    expect(result.stderr.split(`warning: ${mailbox}: not removing maildirsize: not a regular file\n`)).toHaveLength(2);
  });

  test("symlinked cur directory is not followed", () => {
    const dir = makeTempDir();
    const outsideCur = join(dir, "outside-cur");
    const outsideMessage = join(outsideCur, messageName(nowSeconds() - 9 * DAY, "outside", 5 * MIB, "S"));
    writeFileAt(outsideMessage, 100, nowSeconds() - 9 * DAY);
    const { mailbox, paths } = makeMailbox(join(dir, "mail"), "a@example.org", [
      { folder: ".DeltaChat", unique: "real", size: MIB, diskSize: 10, ageSeconds: 1 * DAY },
    ]);
    rmSync(join(mailbox, "cur"), { recursive: true });
    symlinkSync(outsideCur, join(mailbox, "cur"));

    const result = runBinary(["quota-expire", "0", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(exists(mailbox, paths[0]!)).toBe(false);
    expect(existsSync(outsideMessage)).toBe(true);
    expect(resultFields(result.stderr).usage_before).toBe(String(MIB));
  });

  test("mailbox reached through a symlinked parent", () => {
    const dir = makeTempDir();
    const { paths } = makeMailbox(join(dir, "real"), "a@example.org", [
      { unique: "old", size: MIB, diskSize: 10, ageSeconds: 2 * DAY },
    ]);
    symlinkSync(join(dir, "real"), join(dir, "via-link"));

    const result = runBinary(["quota-expire", "0", join(dir, "via-link", "a@example.org")]);
    expect(result.exitCode).toBe(0);
    expect(exists(join(dir, "real", "a@example.org"), paths[0]!)).toBe(false);
  });
});

describe("quota-expire output", () => {
  test("--dry-run removes nothing and lists what it would remove", () => {
    const { mailbox, paths } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "old", size: MIB, diskSize: 10, ageSeconds: 3 * DAY },
      { unique: "new", size: MIB, diskSize: 10, ageSeconds: 1 * DAY },
    ]);
    const before = listTree(mailbox);

    const result = runBinary(["quota-expire", "--dry-run", "-v", "1", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(listTree(mailbox)).toEqual(before);
    expect(result.stderr).toContain(`${mailbox}: would remove ${paths[0]} (${MIB} bytes, 3.0 days old)\n`);

    const fields = resultFields(result.stderr);
    expect(fields.dry_run).toBe("yes");
    expect(fields.removed).toBe("1");
    expect(fields.usage_after).toBe(String(MIB));
  });

  test("-v lists removed files, -q prints nothing", () => {
    const specs: MessageSpec[] = [
      { unique: "old", size: MIB, diskSize: 10, ageSeconds: 3 * DAY },
      { unique: "new", size: MIB, diskSize: 10, ageSeconds: 1 * DAY },
    ];
    const dir = makeTempDir();
    const verbose = makeMailbox(join(dir, "v"), "a@example.org", specs);
    const verboseResult = runBinary(["quota-expire", "-v", "1", verbose.mailbox]);
    expect(verboseResult.exitCode).toBe(0);
    const lines = verboseResult.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(`${verbose.mailbox}: removed ${verbose.paths[0]} (${MIB} bytes, 3.0 days old)`);

    const quiet = makeMailbox(join(dir, "q"), "a@example.org", specs);
    const quietResult = runBinary(["quota-expire", "-q", "1", quiet.mailbox]);
    expect(quietResult.exitCode).toBe(0);
    expect(quietResult.stderr).toBe("");
    expect(exists(quiet.mailbox, quiet.paths[0]!)).toBe(false);
  });

  test("invalid TARGET_MB is a usage error and removes nothing", () => {
    const { mailbox } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "old", size: MIB, diskSize: 10, ageSeconds: 3 * DAY },
    ]);
    const before = listTree(mailbox);

    for (const target of ["", "-1", "1.5", "1e3", "abc", "0x10", "1048577", "99999999999999999999"]) {
      const result = runBinary(["quota-expire", "--", target, mailbox]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toStartWith("error: invalid TARGET_MB ");
      expect(result.stderr.split("\n")).toHaveLength(2);
    }
    expect(runBinary(["quota-expire", "abc", mailbox]).stderr).toBe(
      'error: invalid TARGET_MB "abc": expected a whole number, 0 or more (see chatmail-maildir quota-expire --help)\n',
    );
    expect(runBinary(["quota-expire", "1048577", mailbox]).stderr).toBe(
      "error: invalid TARGET_MB 1048577: the maximum is 1048576 (see chatmail-maildir quota-expire --help)\n",
    );
    expect(listTree(mailbox)).toEqual(before);
  });

  test("invalid options are usage errors", () => {
    const { mailbox } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "old", size: MIB, diskSize: 10, ageSeconds: 3 * DAY },
    ]);
    const before = listTree(mailbox);

    const policy = runBinary(["quota-expire", "--policy", "newest", "0", mailbox]);
    expect(policy.exitCode).toBe(2);
    expect(policy.stderr).toBe('error: invalid --policy "newest": expected size-age or oldest (see chatmail-maildir quota-expire --help)\n');

    const keepRecent = runBinary(["quota-expire", "--keep-recent", "1.5", "0", mailbox]);
    expect(keepRecent.exitCode).toBe(2);
    expect(keepRecent.stderr).toBe('error: invalid --keep-recent "1.5": expected a whole number, 0 or more (see chatmail-maildir quota-expire --help)\n');

    const missing = runBinary(["quota-expire", "0"]);
    expect(missing.exitCode).toBe(2);
    expect(listTree(mailbox)).toEqual(before);
  });

  test("missing MAILBOX or a file is an error", () => {
    const dir = makeTempDir();
    const missing = runBinary(["quota-expire", "1", join(dir, "nobody@example.org")]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toBe(`error: mailbox ${join(dir, "nobody@example.org")}: not found\n`);

    writeFileSync(join(dir, "file@example.org"), "x");
    const file = runBinary(["quota-expire", "1", join(dir, "file@example.org")]);
    expect(file.exitCode).toBe(1);
    expect(file.stderr).toBe(`error: mailbox ${join(dir, "file@example.org")}: not a directory\n`);
    expect(existsSync(join(dir, "file@example.org"))).toBe(true);
  });
});

/**
 * Makes directories below `dir` nested deeper than PATH_MAX (4096 bytes), so that reading them
 * fails with ENAMETOOLONG even for root. They are built in two halves and joined by a rename,
 * because mkdir itself rejects such a path.
 */
function makeTooDeepDirectory(dir: string, scratch: string): void {
  const component = "d".repeat(250);
  const half = Array.from({ length: 10 }, () => component).join("/");
  mkdirSync(join(dir, half), { recursive: true });
  mkdirSync(join(scratch, half), { recursive: true });
  renameSync(join(scratch, component), join(dir, half, "x"));
}

describe("quota-expire MAILBOX checks", () => {
  test("mailboxes directory as MAILBOX is rejected", () => {
    const mailboxes = join(makeTempDir(), "example.org");
    makeMailbox(mailboxes, "a@example.org", [{ unique: "old", size: MIB, diskSize: 10, ageSeconds: 3 * DAY }]);
    writeMessage(join(mailboxes, ".snapshot"), { unique: "snapshot", size: MIB, diskSize: 10, ageSeconds: 9 * DAY }, nowSeconds());
    const before = listTree(mailboxes);

    const result = runBinary(["quota-expire", "0", mailboxes]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe(
      `error: mailbox ${mailboxes}: looks like a mailboxes directory (it contains a@example.org): ` +
        "give the path of one mailbox, or use --sweep to trim every mailbox in it\n",
    );
    expect(listTree(mailboxes)).toEqual(before);
  });

  test("mailboxes directory with cur/ is rejected", () => {
    const mailboxes = join(makeTempDir(), "example.org");
    makeMailbox(mailboxes, "a@example.org", [{ unique: "old", size: MIB, diskSize: 10, ageSeconds: 3 * DAY }]);
    writeMessage(mailboxes, { unique: "stray", size: MIB, diskSize: 10, ageSeconds: 9 * DAY }, nowSeconds());
    const before = listTree(mailboxes);

    const result = runBinary(["quota-expire", "0", mailboxes]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toStartWith(`error: mailbox ${mailboxes}: looks like a mailboxes directory (it contains a@example.org): `);
    expect(listTree(mailboxes)).toEqual(before);
  });

  test("directory without cur/ or new/ is rejected", () => {
    const dir = join(makeTempDir(), "example.org");
    writeMessage(join(dir, ".snapshot"), { unique: "snapshot", size: MIB, diskSize: 10, ageSeconds: 9 * DAY }, nowSeconds());
    writeMessage(join(dir, ".Trash"), { subdir: "new", unique: "trash", size: MIB, diskSize: 10, ageSeconds: 9 * DAY }, nowSeconds());
    mkdirSync(join(dir, "tmp"));
    writeFileSync(join(dir, "cur"), "a file, not a directory");
    const before = listTree(dir);

    const result = runBinary(["quota-expire", "0", dir]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe(`error: mailbox ${dir}: not a Maildir: it has no cur/ or new/ directory\n`);
    expect(listTree(dir)).toEqual(before);
  });

  test("@ in a folder or file name is allowed", () => {
    const { mailbox, paths } = makeMailbox(makeTempDir(), "a@example.org", [
      { unique: "inbox", size: MIB, diskSize: 10, ageSeconds: 3 * DAY },
      { folder: ".from@example.org", unique: "folder", size: MIB, diskSize: 10, ageSeconds: 2 * DAY },
    ]);
    writeFileSync(join(mailbox, "notes@example.org"), "not a mailbox");

    const result = runBinary(["quota-expire", "0", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(exists(mailbox, paths[0]!)).toBe(false);
    expect(exists(mailbox, paths[1]!)).toBe(false);
    expect(exists(mailbox, "notes@example.org")).toBe(true);
    expect(resultFields(result.stderr).removed).toBe("2");
  });

  test("--sweep skips a directory without cur/ or new/", () => {
    const mailboxes = join(makeTempDir(), "example.org");
    const specs: MessageSpec[] = [
      { unique: "old", size: MIB, diskSize: 10, ageSeconds: 3 * DAY },
      { unique: "new", size: MIB, diskSize: 10, ageSeconds: 1 * DAY },
    ];
    const trimmed = makeMailbox(mailboxes, "a@example.org", specs);
    const skipped = join(mailboxes, "b@example.org");
    writeMessage(join(skipped, ".DeltaChat"), specs[0]!, nowSeconds());
    const skippedBefore = listTree(skipped);

    const result = runBinary(["quota-expire", "--sweep", "-v", "1", mailboxes]);
    expect(result.exitCode).toBe(0);
    expect(exists(trimmed.mailbox, trimmed.paths[0]!)).toBe(false);
    expect(exists(trimmed.mailbox, trimmed.paths[1]!)).toBe(true);
    expect(listTree(skipped)).toEqual(skippedBefore);
    expect(result.stderr).toContain("\nb@example.org: skipped: not a Maildir: it has no cur/ or new/ directory\n");
    expect(result.stderr).toMatch(/\nquota-expire sweep mailboxes=2 trimmed=1 failed=0 removed=1 removed_bytes=1048576 elapsed=\d+\.\d{3}s\n$/);
  });
});

describe("quota-expire --sweep", () => {
  test("trims every mailbox and goes on after a failing one", () => {
    const dir = makeTempDir();
    const mailboxes = join(dir, "example.org");
    const specs: MessageSpec[] = [
      { unique: "old", size: MIB, diskSize: 10, ageSeconds: 3 * DAY },
      { unique: "new", size: MIB, diskSize: 10, ageSeconds: 1 * DAY },
    ];
    const first = makeMailbox(mailboxes, "a@example.org", specs);
    const failing = makeMailbox(mailboxes, "b@example.org", specs);
    makeTooDeepDirectory(join(failing.mailbox, "deep"), join(dir, "scratch"));
    const under = makeMailbox(mailboxes, "c@example.org", [specs[1]!]);
    const last = makeMailbox(mailboxes, "d@example.org", specs);
    mkdirSync(join(mailboxes, "pending_notifications"));

    const result = runBinary(["quota-expire", "--sweep", "1", mailboxes]);
    expect(result.exitCode).toBe(1);
    for (const trimmed of [first, failing, last]) {
      expect(exists(trimmed.mailbox, trimmed.paths[0]!)).toBe(false);
      expect(exists(trimmed.mailbox, trimmed.paths[1]!)).toBe(true);
    }
    expect(exists(under.mailbox, under.paths[0]!)).toBe(true);

    const lines = result.stderr.trimEnd().split("\n");
    expect(lines.filter((line) => line.startsWith("quota-expire mailbox=")).map((line) => line.split(" ")[1])).toEqual([
      "mailbox=a@example.org",
      "mailbox=b@example.org",
      "mailbox=d@example.org",
    ]);
    expect(lines.some((line) => line.startsWith("error: b@example.org: cannot read ") && line.endsWith(": file name too long"))).toBe(true);
    expect(lines.at(-1)).toMatch(/^quota-expire sweep mailboxes=4 trimmed=3 failed=1 removed=3 removed_bytes=3145728 elapsed=\d+\.\d{3}s$/);
  });

  test("missing mailboxes directory is an error", () => {
    const dir = join(makeTempDir(), "missing");
    const result = runBinary(["quota-expire", "--sweep", "1", dir]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe(`error: cannot read mailboxes directory ${dir}: not found\n`);
  });

  test("directory without mailboxes is an error", () => {
    const dir = makeTempDir();
    const domain = join(dir, "example.org");
    const { mailbox, paths } = makeMailbox(domain, "a@example.org", [{ unique: "old", size: MIB, diskSize: 10, ageSeconds: 3 * DAY }]);
    mkdirSync(join(dir, "empty"));

    // The parent of the domain directory, one mailbox, and an empty directory.
    for (const path of [dir, mailbox, join(dir, "empty")]) {
      const result = runBinary(["quota-expire", "--sweep", "0", path]);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toBe(`error: no mailboxes in ${path} (directories whose name contains @)\n`);
    }
    expect(exists(mailbox, paths[0]!)).toBe(true);
  });
});

describe("quota-expire concurrency", () => {
  function makeBigMailbox(parent: string, now: number): string {
    const specs: MessageSpec[] = [];
    for (let i = 1; i <= 400; i++) {
      // Score = size × age grows with i by far more than a second of clock drift can change it.
      specs.push({ folder: i % 3 === 0 ? ".DeltaChat" : "", unique: `m${i}`, size: 10_000 + i * 37, diskSize: 10, ageSeconds: i * HOUR });
    }
    return makeMailbox(parent, "a@example.org", specs, now).mailbox;
  }

  test("eight simultaneous runs remove what one run removes", async () => {
    const dir = makeTempDir();
    const now = nowSeconds();
    const mailbox = makeBigMailbox(join(dir, "shared"), now);
    const reference = join(dir, "reference", "a@example.org");
    cpSync(mailbox, reference, { recursive: true, preserveTimestamps: true });

    const runs = Array.from({ length: 8 }, () =>
      Bun.spawn([BINARY, "quota-expire", "2", mailbox], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe" }),
    );
    const outputs = await Promise.all(runs.map(async (run) => ({ exitCode: await run.exited, stderr: await new Response(run.stderr).text() })));
    const single = runBinary(["quota-expire", "2", reference]);
    expect(single.exitCode).toBe(0);

    for (const output of outputs) expect(output.exitCode).toBe(0);
    const removing = outputs.filter((output) => output.stderr !== "");
    expect(removing).toHaveLength(1);
    expect(resultFields(removing[0]!.stderr).removed).toBe(resultFields(single.stderr).removed);
    expect(listTree(mailbox)).toEqual(listTree(reference));
    expect(Number(resultFields(single.stderr).removed)).toBeGreaterThan(100);
  });

  test("lock of a killed run does not block the next run", async () => {
    const now = nowSeconds();
    const mailbox = makeBigMailbox(makeTempDir(), now);

    const holder = Bun.spawn([process.execPath, join(REPO_ROOT, "test", "fixtures", "hold-mailbox-lock.ts"), mailbox], {
      cwd: REPO_ROOT,
      stdout: "pipe",
      stderr: "inherit",
    });
    const reader = holder.stdout.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe("locked\n");

    holder.kill("SIGKILL");
    await holder.exited;

    const result = runBinary(["quota-expire", "2", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(Number(resultFields(result.stderr).usage_after)).toBeLessThanOrEqual(2 * MIB);
  });
});

describe("quota-expire under an address-space limit", () => {
  // Dovecot applies the service's vsz_limit as RLIMIT_AS. Below about 2.3 GiB Bun runs without
  // its JIT, so bun:ffi (and with it the flock lock) is unavailable: the error must say the fix.
  test("names vsz_limit when the lock cannot load", () => {
    const mailbox = join(makeTempDir(), "u@example.org");
    const name = messageName(nowSeconds() - 86_400, 1, 2 * 1024 * 1024, "S");
    writeFileAt(join(mailbox, "cur", name), 1000, nowSeconds() - 86_400);

    const result = Bun.spawnSync(["prlimit", `--as=${1024 * 1024 * 1024}`, BINARY, "quota-expire", "1", mailbox], {
      stdout: "pipe",
      stderr: "pipe",
    });

    expect(result.exitCode).toBe(1);
    expect(result.stderr.toString()).toBe(
      `error: cannot lock ${mailbox}: loading flock from libc.so.6 failed: bun:ffi requires the JIT ` +
        "(the address-space limit is 1024 MiB: set vsz_limit = 4G in Dovecot's quota-warning service)\n",
    );
    expect(existsSync(join(mailbox, "cur", name))).toBe(true);
  });
});
