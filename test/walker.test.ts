import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { listMailboxes, type Mailbox, quotaMessages, quotaUsage, readLastLogin, statMessageFiles, walkMailbox, walkMailboxes } from "../src/maildir.ts";
import { makeMaildir, makeTempDir, messageName, nowSeconds, writeFileAt } from "./helpers.ts";

const T = 1_700_000_000;

function sortedNames(messages: { folder: string; subdir: string; name: string }[]): string[] {
  return messages.map((m) => `${m.folder}/${m.subdir}/${m.name}`).sort();
}

describe("walkMailbox", () => {
  test("messages in INBOX and subfolders", async () => {
    const mailbox = join(makeTempDir(), "a@example.org");
    makeMaildir(mailbox);
    makeMaildir(join(mailbox, ".DeltaChat"));
    writeFileAt(join(mailbox, "cur", messageName(T, 1, 5000, "S")), 3000, T);
    writeFileAt(join(mailbox, "new", messageName(T, 2, 700)), 500, T);
    writeFileAt(join(mailbox, ".DeltaChat", "cur", messageName(T, 3, 9000, "S")), 100, T);
    writeFileAt(join(mailbox, "tmp", messageName(T, 4, 400)), 400, T);
    writeFileAt(join(mailbox, "password"), 10, T);
    writeFileAt(join(mailbox, "maildirsize"), 20, T);
    writeFileAt(join(mailbox, ".DeltaChat", "dovecot.index.cache"), 30, T);

    const contents = await walkMailbox(mailbox, { countExtraFiles: true });
    expect(sortedNames(contents.messages)).toEqual([
      `.DeltaChat/cur/${messageName(T, 3, 9000, "S")}`,
      `/cur/${messageName(T, 1, 5000, "S")}`,
      `/new/${messageName(T, 2, 700)}`,
      `/tmp/${messageName(T, 4, 400)}`,
    ]);
    expect(contents.extraFileCount).toBe(3);
    expect(contents.extraFileBytes).toBe(60);
    // tmp/ does not count; S= counts, not the disk size.
    expect(quotaUsage(contents.messages)).toBe(5000 + 700 + 9000);
  });

  test("stats only messages without S= unless asked", async () => {
    const mailbox = join(makeTempDir(), "a@example.org");
    writeFileAt(join(mailbox, "cur", messageName(T, 1, 5000, "S")), 3000, T);
    writeFileAt(join(mailbox, "cur", "no-size-field"), 1234, T + 5);

    const lean = await walkMailbox(mailbox);
    const withS = lean.messages.find((m) => m.name.includes("S=5000"))!;
    const withoutS = lean.messages.find((m) => m.name === "no-size-field")!;
    expect(withS.quotaSize).toBe(5000);
    expect(withS.diskSize).toBe(-1);
    expect(Number.isNaN(withS.mtimeMs)).toBe(true);
    expect(withoutS.quotaSize).toBe(1234);
    expect(withoutS.diskSize).toBe(1234);
    expect(withoutS.mtimeMs).toBe((T + 5) * 1000);

    const full = await walkMailbox(mailbox, { statMessages: true });
    const statted = full.messages.find((m) => m.name.includes("S=5000"))!;
    expect(statted.quotaSize).toBe(5000);
    expect(statted.diskSize).toBe(3000);
    expect(statted.mtimeMs).toBe(T * 1000);
    expect(statted.ctimeMs).toBe(lstatSync(join(mailbox, "cur", messageName(T, 1, 5000, "S"))).ctimeMs);
    expect(Number.isNaN(withS.ctimeMs)).toBe(true);
  });

  test("statMessageFiles completes a lean walk", async () => {
    const mailbox = join(makeTempDir(), "a@example.org");
    writeFileAt(join(mailbox, "cur", messageName(T, 1, 5000, "S")), 3000, T);
    writeFileAt(join(mailbox, ".DeltaChat", "new", messageName(T, 2, 700)), 500, T + 7);
    writeFileAt(join(mailbox, "cur", messageName(T, 3, 900, "S")), 600, T);
    writeFileAt(join(mailbox, "cur", "no-size-field"), 1234, T + 5);

    const contents = await walkMailbox(mailbox);
    rmSync(join(mailbox, "cur", messageName(T, 3, 900, "S")));
    await statMessageFiles(contents);

    expect(sortedNames(contents.messages)).toEqual([
      `.DeltaChat/new/${messageName(T, 2, 700)}`,
      `/cur/${messageName(T, 1, 5000, "S")}`,
      "/cur/no-size-field",
    ]);
    const bySize = new Map(contents.messages.map((m) => [m.quotaSize, m]));
    expect(bySize.get(5000)!.diskSize).toBe(3000);
    expect(bySize.get(5000)!.mtimeMs).toBe(T * 1000);
    expect(bySize.get(700)!.diskSize).toBe(500);
    expect(bySize.get(700)!.mtimeMs).toBe((T + 7) * 1000);
    expect(bySize.get(1234)!.mtimeMs).toBe((T + 5) * 1000);
    expect(bySize.get(700)!.ctimeMs).toBe(lstatSync(join(mailbox, ".DeltaChat", "new", messageName(T, 2, 700))).ctimeMs);
  });

  // More than 10 000 messages per thread, so that statMessageFiles starts a worker.
  test("statMessageFiles in worker threads", async () => {
    const mailbox = join(makeTempDir(), "a@example.org");
    mkdirSync(join(mailbox, "cur"), { recursive: true });
    mkdirSync(join(mailbox, "new"), { recursive: true });
    const count = 21_000;
    const pathOf = (i: number) => join(mailbox, i % 2 === 0 ? "cur" : "new", messageName(T, i, 100 + i));
    // Backdated mtimes, so that a ctime taken for the mtime (or the reverse) shows.
    for (let i = 0; i < count; i++) {
      writeFileSync(pathOf(i), "x".repeat(i % 7));
      utimesSync(pathOf(i), T, T + i);
    }

    const contents = await walkMailbox(mailbox);
    expect(contents.messages.length).toBe(count);
    const gone = [3, 12_345, 20_999];
    for (const i of gone) rmSync(pathOf(i));
    await statMessageFiles(contents, { threads: 2 });

    expect(contents.messages.length).toBe(count - gone.length);
    const wrong = contents.messages.filter((message) => {
      const i = message.quotaSize - 100;
      return gone.includes(i) || message.subdir !== (i % 2 === 0 ? "cur" : "new") || message.diskSize !== i % 7 || message.mtimeMs !== (T + i) * 1000 || message.ctimeMs !== statSync(pathOf(i)).ctimeMs;
    });
    expect(wrong).toEqual([]);
  }, 60_000);

  test("symlinks are not followed and targets stay", async () => {
    const root = makeTempDir();
    const outside = join(root, "outside");
    writeFileAt(join(outside, "cur", messageName(T, 9, 111)), 111, T);
    writeFileAt(join(outside, "secret"), 50, T);

    const mailbox = join(root, "a@example.org");
    makeMaildir(mailbox);
    writeFileAt(join(mailbox, "cur", messageName(T, 1, 10)), 10, T);
    symlinkSync(join(outside, "secret"), join(mailbox, "cur", messageName(T, 2, 999)));
    symlinkSync(join(outside, "cur"), join(mailbox, ".Linked"));
    symlinkSync(outside, join(mailbox, ".Folder"));
    symlinkSync(join(outside, "secret"), join(mailbox, "extra-link"));

    const contents = await walkMailbox(mailbox, { statMessages: true, countExtraFiles: true });
    expect(sortedNames(contents.messages)).toEqual([`/cur/${messageName(T, 1, 10)}`]);
    expect(contents.extraFileCount).toBe(0);
    expect(existsSync(join(outside, "secret"))).toBe(true);
  });

  test("FIFOs and directories in cur are not messages", async () => {
    const mailbox = join(makeTempDir(), "a@example.org");
    makeMaildir(mailbox);
    Bun.spawnSync(["mkfifo", join(mailbox, "cur", messageName(T, 1, 10))]);
    mkdirSync(join(mailbox, "cur", messageName(T, 2, 20)));
    const contents = await walkMailbox(mailbox, { statMessages: true, countExtraFiles: true });
    expect(contents.messages).toEqual([]);
  });

  test("empty mailbox", async () => {
    const mailbox = join(makeTempDir(), "a@example.org");
    mkdirSync(mailbox);
    const contents = await walkMailbox(mailbox, { statMessages: true, countExtraFiles: true });
    expect(contents.messages).toEqual([]);
    expect(contents.extraFileCount).toBe(0);
  });

  test("missing mailbox throws", async () => {
    await expect(walkMailbox(join(makeTempDir(), "gone@example.org"))).rejects.toThrow();
  });

  // Root reads any directory, so this runs only as another user.
  test.skipIf(process.getuid?.() === 0)("unreadable directory is reported once and the walk goes on", async () => {
    const mailbox = join(makeTempDir(), "a@example.org");
    writeFileAt(join(mailbox, "cur", messageName(T, 1, 10)), 10, T);
    writeFileAt(join(mailbox, ".Locked", "cur", messageName(T, 2, 20)), 20, T);
    chmodSync(join(mailbox, ".Locked"), 0);
    const errors: string[] = [];
    const contents = await walkMailbox(mailbox, { onError: (path) => errors.push(path) });
    chmodSync(join(mailbox, ".Locked"), 0o755);
    expect(errors).toEqual([join(mailbox, ".Locked")]);
    expect(contents.unreadableDirs).toBe(1);
    expect(contents.messages.length).toBe(1);
  });

  test("files deleted during the walk are skipped", async () => {
    const mailbox = join(makeTempDir(), "a@example.org");
    const count = 3000;
    for (let i = 0; i < count; i++) writeFileAt(join(mailbox, "cur", `no-size-${i}`), 7, T);

    const deleter = Bun.spawn(["find", join(mailbox, "cur"), "-type", "f", "-delete"]);
    const contents = await walkMailbox(mailbox, { statMessages: true });
    await deleter.exited;

    expect(contents.messages.length).toBeLessThanOrEqual(count);
    for (const message of contents.messages) expect(message.diskSize).toBe(7);
  });

  test("file names that are not valid UTF-8 keep their bytes", async () => {
    const mailbox = join(makeTempDir(), "a@example.org");
    const nameBytes = Buffer.from([0x61, 0xff, 0x62]);
    mkdirSync(join(mailbox, "cur"), { recursive: true });
    writeFileSync(Buffer.concat([Buffer.from(join(mailbox, "cur") + "/"), nameBytes]), "12345");
    const contents = await walkMailbox(mailbox, { statMessages: true });
    expect(contents.messages.length).toBe(1);
    expect(Buffer.from(contents.messages[0]!.name, "latin1")).toEqual(nameBytes);
    expect(contents.messages[0]!.diskSize).toBe(5);
  });
});

describe("quota usage", () => {
  test("message seen in new/ and cur/ counts once", async () => {
    const mailbox = join(makeTempDir(), "a@example.org");
    makeMaildir(mailbox);
    makeMaildir(join(mailbox, ".DeltaChat"));
    // The state that a walk reads while Dovecot renames new/NAME to cur/NAME:2,S: both files.
    writeFileAt(join(mailbox, "new", messageName(T, "moved", 5000)), 100, T);
    writeFileAt(join(mailbox, "cur", messageName(T, "moved", 5000, "S")), 100, T);
    writeFileAt(join(mailbox, "new", messageName(T, "unread", 700)), 100, T);
    writeFileAt(join(mailbox, "cur", messageName(T, "read", 300, "FS")), 100, T);

    const contents = await walkMailbox(mailbox, { statMessages: true });
    expect(contents.messages).toHaveLength(4);
    expect(quotaUsage(contents.messages)).toBe(5000 + 700 + 300);
    expect(sortedNames(quotaMessages(contents.messages))).toEqual([
      `/cur/${messageName(T, "moved", 5000, "S")}`,
      `/cur/${messageName(T, "read", 300, "FS")}`,
      `/new/${messageName(T, "unread", 700)}`,
    ]);
  });

  test("flag rename seen twice in cur/ counts once", async () => {
    const mailbox = join(makeTempDir(), "a@example.org");
    makeMaildir(mailbox);
    makeMaildir(join(mailbox, ".DeltaChat"));
    // A listing taken while Dovecot renames cur/NAME:2,S to cur/NAME:2,FS can show both names,
    // and one taken during new/ to cur/ and then a flag change can show three.
    writeFileAt(join(mailbox, "cur", messageName(T, "flagged", 5000, "S")), 100, T);
    writeFileAt(join(mailbox, "cur", messageName(T, "flagged", 5000, "FS")), 100, T);
    writeFileAt(join(mailbox, ".DeltaChat", "new", messageName(T, "three", 700)), 100, T);
    writeFileAt(join(mailbox, ".DeltaChat", "cur", messageName(T, "three", 700, "S")), 100, T);
    writeFileAt(join(mailbox, ".DeltaChat", "cur", messageName(T, "three", 700, "RS")), 100, T);
    writeFileAt(join(mailbox, ".DeltaChat", "new", messageName(T, "new-only", 300)), 100, T);
    writeFileAt(join(mailbox, ".DeltaChat", "new", `${messageName(T, "new-only", 300)}:2,`), 100, T);

    const contents = await walkMailbox(mailbox);
    expect(contents.messages).toHaveLength(7);
    expect(quotaUsage(contents.messages)).toBe(5000 + 700 + 300);
    expect(sortedNames(quotaMessages(contents.messages))).toEqual([
      `.DeltaChat/cur/${messageName(T, "three", 700, "S")}`,
      `.DeltaChat/new/${messageName(T, "new-only", 300)}:2,`,
      `/cur/${messageName(T, "flagged", 5000, "S")}`,
    ]);
  });

  test("same base name in other folders counts separately", async () => {
    const mailbox = join(makeTempDir(), "a@example.org");
    makeMaildir(mailbox);
    makeMaildir(join(mailbox, ".DeltaChat"));
    writeFileAt(join(mailbox, "new", messageName(T, 1, 5000)), 100, T);
    writeFileAt(join(mailbox, ".DeltaChat", "cur", messageName(T, 1, 5000, "S")), 100, T);
    writeFileAt(join(mailbox, "tmp", messageName(T, 2, 900)), 100, T);
    writeFileAt(join(mailbox, "new", messageName(T, 2, 900)), 100, T);

    const contents = await walkMailbox(mailbox);
    expect(quotaUsage(contents.messages)).toBe(5000 + 5000 + 900);
    expect(sortedNames(quotaMessages(contents.messages))).toEqual([
      `.DeltaChat/cur/${messageName(T, 1, 5000, "S")}`,
      `/new/${messageName(T, 1, 5000)}`,
      `/new/${messageName(T, 2, 900)}`,
    ]);
  });
});

describe("mailboxes directory", () => {
  test("lists real directories whose names contain @", async () => {
    const dir = makeTempDir();
    mkdirSync(join(dir, "b@example.org"));
    mkdirSync(join(dir, "a@example.org"));
    mkdirSync(join(dir, "pending_notifications"));
    mkdirSync(join(dir, ".deleting-c@example.org"));
    writeFileSync(join(dir, "file@example.org"), "");
    symlinkSync(join(dir, "a@example.org"), join(dir, "link@example.org"));
    expect(await listMailboxes(dir)).toEqual(["a@example.org", "b@example.org"]);
  });

  test("last login is the password mtime", async () => {
    const dir = makeTempDir();
    writeFileAt(join(dir, "a@example.org", "password"), 5, 1_700_000_123);
    mkdirSync(join(dir, "b@example.org"));
    expect(await readLastLogin(join(dir, "a@example.org"))).toBe(1_700_000_123);
    expect(await readLastLogin(join(dir, "b@example.org"))).toBeNull();
  });

  test("walkMailboxes yields every mailbox once", async () => {
    const dir = makeTempDir();
    const names: string[] = [];
    for (let i = 0; i < 30; i++) {
      const name = `u${String(i).padStart(2, "0")}@example.org`;
      names.push(name);
      writeFileAt(join(dir, name, "cur", messageName(T, i, 100 + i)), 1, T);
      writeFileAt(join(dir, name, "password"), 1, nowSeconds());
    }
    const seen = new Map<string, number>();
    for await (const mailbox of walkMailboxes(dir, names)) seen.set(mailbox.name, quotaUsage(mailbox.contents.messages));
    expect(seen.size).toBe(30);
    expect(seen.get("u07@example.org")).toBe(107);
    expect(readFileSync(join(dir, "u07@example.org", "password")).length).toBe(1);
  });

  // threads 1 walks in the calling thread; more walk in worker threads whose results are packed.
  for (const threads of [1, 3]) {
    test(`walkMailboxes with ${threads} thread(s) keeps every field`, async () => {
      const dir = makeTempDir();
      const names: string[] = [];
      for (let i = 0; i < 20; i++) {
        const name = `u${String(i).padStart(2, "0")}@example.org`;
        names.push(name);
        writeFileAt(join(dir, name, "cur", messageName(T, i, 100 + i, "S")), 10 + i, T + i);
        writeFileAt(join(dir, name, ".DeltaChat", "new", `no-size-${i}`), 7, T);
        writeFileAt(join(dir, name, "password"), 1, T + 86_400);
        writeFileAt(join(dir, name, "maildirsize"), 3, T);
      }
      mkdirSync(join(dir, "u05@example.org", "tmp"));
      writeFileSync(Buffer.from(join(dir, "u05@example.org", "tmp") + "/\xff-raw", "latin1"), "12345");
      names.push("gone@example.org");
      writeFileSync(join(dir, "file@example.org"), "");
      names.push("file@example.org");

      const seen = new Map<string, Mailbox>();
      for await (const mailbox of walkMailboxes(dir, names, { statMessages: true, countExtraFiles: true, threads })) {
        seen.set(mailbox.name, mailbox);
      }

      // In the order of names, whichever thread walked them.
      expect([...seen.keys()]).toEqual(names.slice(0, 20));
      const mailbox = seen.get("u05@example.org")!;
      expect(mailbox.path).toBe(join(dir, "u05@example.org"));
      expect(mailbox.lastLogin).toBe(T + 86_400);
      expect(mailbox.contents.path).toBe(mailbox.path);
      expect(mailbox.contents.extraFileCount).toBe(2);
      expect(mailbox.contents.extraFileBytes).toBe(4);
      expect(mailbox.contents.unreadableDirs).toBe(0);

      const byName = (name: string) => mailbox.contents.messages.find((m) => m.name === name);
      expect(byName(messageName(T, 5, 105, "S"))).toEqual({
        folder: "",
        subdir: "cur",
        name: messageName(T, 5, 105, "S"),
        quotaSize: 105,
        diskSize: 15,
        mtimeMs: (T + 5) * 1000,
        ctimeMs: lstatSync(join(dir, "u05@example.org", "cur", messageName(T, 5, 105, "S"))).ctimeMs,
      });
      expect(byName("no-size-5")).toEqual({
        folder: ".DeltaChat",
        subdir: "new",
        name: "no-size-5",
        quotaSize: 7,
        diskSize: 7,
        mtimeMs: T * 1000,
        ctimeMs: lstatSync(join(dir, "u05@example.org", ".DeltaChat", "new", "no-size-5")).ctimeMs,
      });
      const raw = byName("\xff-raw")!;
      expect(raw.subdir).toBe("tmp");
      expect(raw.diskSize).toBe(5);
      expect(mailbox.contents.messages.length).toBe(3);
    });
  }

  test("walkMailboxes stops its threads on break", async () => {
    const dir = makeTempDir();
    const names: string[] = [];
    for (let i = 0; i < 40; i++) {
      const name = `u${String(i).padStart(2, "0")}@example.org`;
      names.push(name);
      writeFileAt(join(dir, name, "cur", messageName(T, i, 100)), 1, T);
    }
    let count = 0;
    for await (const _ of walkMailboxes(dir, names, { threads: 2 })) {
      count++;
      if (count === 3) break;
    }
    expect(count).toBe(3);
  });
});

