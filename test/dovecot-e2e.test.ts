/**
 * End-to-end tests against a real Dovecot (Debian's dovecot-core 2.3) configured like a chatmail
 * relay: deliveries through `doveadm save` cross the quota warning, Dovecot runs the compiled
 * binary as vmail, and Dovecot's own figures check the result.
 */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { Dovecot, dovecotUnavailableReason, runAsMailUser, SCRIPT_FAILURE } from "./dovecot/harness.ts";
import { REPO_ROOT, writeChatmailIni } from "./helpers.ts";

const MIB = 1024 * 1024;
const DAY_SECONDS = 86_400;

/** The quota of the relay-like instances, and the target that their quota warning passes on. */
const QUOTA_MIB = 2;
const TARGET_MIB = 1;
const QUOTA_BYTES = QUOTA_MIB * MIB;
const TARGET_BYTES = TARGET_MIB * MIB;
const WARNING_BYTES = QUOTA_BYTES * 0.9;

const unavailable = dovecotUnavailableReason();
const inCi = (process.env.CI ?? "") !== "";

if (unavailable !== null && !inCi) console.warn(`Dovecot end-to-end tests skipped: ${unavailable}`);

// In CI these tests exist to run, so a machine without Dovecot fails instead of skipping.
test.skipIf(!inCi)("Dovecot is available in CI", () => {
  expect(unavailable).toBeNull();
});

// ---------------------------------------------------------------------------------------------
// Messages and deliveries
// ---------------------------------------------------------------------------------------------

/** Bytes from a fixed-seed xorshift generator: bodies differ between messages, runs do not. */
function pseudoRandomBytes(seed: number, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  let state = (seed * 2654435761 + 1) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

/**
 * Builds a message shaped like an encrypted chat message: an OpenPGP/MIME body of base64 text,
 * which gzip shrinks to about three quarters. Messages with the same recipient and payload size
 * have the same length, whatever their number.
 */
function chatMessage(recipient: string, number: number, payloadBytes = 72_000): string {
  const armored = pseudoRandomBytes(number + 1, payloadBytes).toString("base64").replace(/.{1,76}/g, "$&\n");
  return [
    "From: sender@example.org",
    `To: ${recipient}`,
    `Message-ID: ${messageId(number)}`,
    "Subject: [...]",
    "MIME-Version: 1.0",
    'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="part"',
    "",
    "--part",
    "Content-Type: application/pgp-encrypted",
    "",
    "Version: 1",
    "",
    "--part",
    'Content-Type: application/octet-stream; name="encrypted.asc"',
    "",
    "-----BEGIN PGP MESSAGE-----",
    "",
    `${armored}-----END PGP MESSAGE-----`,
    "",
    "--part--",
    "",
  ].join("\n");
}

function messageId(number: number): string {
  return `<message-${String(number).padStart(4, "0")}@example.org>`;
}

function listNames(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

/** Returns the Maildir++ directory of a folder: the mailbox itself for INBOX, `.<name>` otherwise. */
function folderPath(dovecot: Dovecot, user: string, folder: string): string {
  const mailbox = dovecot.mailboxPath(user);
  return folder === "INBOX" ? mailbox : join(mailbox, `.${folder}`);
}

/** Delivers one message with `doveadm save` and returns the path of the file Dovecot wrote. */
function deliver(dovecot: Dovecot, user: string, message: string, folder = "INBOX"): string {
  const newDir = join(folderPath(dovecot, user, folder), "new");
  const before = new Set(listNames(newDir));

  const result = dovecot.save(user, message, folder === "INBOX" ? undefined : folder);
  expect(result.stderr).toBe("");
  expect(result.exitCode).toBe(0);

  const added = listNames(newDir).filter((name) => !before.has(name));
  expect(added).toHaveLength(1);
  return join(newDir, added[0]!);
}

/** Reads the byte total of a `maildirsize` file: the sum of its `<bytes> <messages>` lines. */
function maildirsizeBytes(mailbox: string): number {
  const lines = readFileSync(join(mailbox, "maildirsize"), "utf8").split("\n").slice(1);
  let total = 0;
  for (const line of lines) {
    if (line.trim() !== "") total += Number(line.trim().split(/\s+/)[0]);
  }
  return total;
}

/** Dovecot's exact usage of a mailbox: `doveadm quota recalc` rewrites maildirsize with it. */
function recountedBytes(dovecot: Dovecot, user: string): number {
  dovecot.quotaRecalc(user);
  return maildirsizeBytes(dovecot.mailboxPath(user));
}

/** Message-IDs of a folder as Dovecot lists them, in UID order. */
function messageIds(dovecot: Dovecot, user: string, folder = "INBOX"): string[] {
  const { rows, stderr } = dovecot.fetch(user, ["hdr.message-id"], ["mailbox", folder]);
  expect(stderr).toBe("");
  return rows.map((row) => row["hdr.message-id"]!);
}

/** Fields of the binary's `quota-expire key=value …` line. */
function quotaExpireFields(line: string): Record<string, string> {
  const text = line.slice(line.indexOf("quota-expire ") + "quota-expire ".length);
  return Object.fromEntries(text.split(" ").map((field) => [field.slice(0, field.indexOf("=")), field.slice(field.indexOf("=") + 1)]));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

interface FilledMailbox {
  /** Size of every message, as Dovecot counts it (`size.physical`, `S=`). */
  messageSize: number;
  /** Message numbers in delivery order; the last one crossed the quota warning. */
  numbers: number[];
  /** Folder of each message number. */
  folders: Map<number, string>;
  /** Dovecot's recounted usage right before the crossing delivery. */
  usageBeforeCrossing: number;
  /** The binary's line in Dovecot's log, and its fields. */
  line: string;
  fields: Record<string, string>;
}

/**
 * Fills a mailbox to just below the quota warning with messages one day apart in age, oldest
 * first, each in the folder that `folderOf` picks. Then delivers one more message to INBOX, which
 * crosses the warning, and waits for the binary's line in Dovecot's log.
 */
async function fillPastWarning(dovecot: Dovecot, user: string, folderOf: (number: number) => string): Promise<FilledMailbox> {
  const messageSize = Buffer.byteLength(chatMessage(user, 0));
  const belowWarning = Math.ceil(WARNING_BYTES / messageSize) - 1;
  // The figures must not land on the threshold itself, where the crossing would be ambiguous.
  expect(belowWarning * messageSize).toBeLessThan(WARNING_BYTES);
  expect((belowWarning + 1) * messageSize).toBeGreaterThan(WARNING_BYTES);

  const startOffset = dovecot.logOffset();
  const now = Math.floor(Date.now() / 1000);
  const folders = new Map<number, string>();
  for (let number = 0; number < belowWarning; number++) {
    const folder = folderOf(number);
    folders.set(number, folder);
    const path = deliver(dovecot, user, chatMessage(user, number), folder);
    // Maildir keeps a message's delivery time as the file's mtime: this one came in days ago.
    const deliveryTime = now - (belowWarning - number) * DAY_SECONDS;
    utimesSync(path, deliveryTime, deliveryTime);
  }
  expect(dovecot.logSince(startOffset)).not.toContain("quota-warning:");

  // Reading every message builds Dovecot's index and cache, which the trimming then outdates.
  for (const folder of new Set(folders.values())) {
    const { rows } = dovecot.fetch(user, ["size.physical"], ["mailbox", folder]);
    for (const row of rows) expect(Number(row["size.physical"])).toBe(messageSize);
  }
  const usageBeforeCrossing = recountedBytes(dovecot, user);
  expect(usageBeforeCrossing).toBe(belowWarning * messageSize);

  const offset = dovecot.logOffset();
  const crossing = dovecot.save(user, chatMessage(user, belowWarning));
  expect(crossing.stderr).toBe("");
  expect(crossing.exitCode).toBe(0);
  folders.set(belowWarning, "INBOX");

  // Dovecot does not wait for the script service. The binary logs its line when it has finished.
  const pattern = new RegExp(`quota-warning: \\w+: quota-expire mailbox=${escapeRegExp(dovecot.mailboxPath(user))} `);
  const line = await dovecot.waitForLogLine(pattern, offset);
  const numbers = [...folders.keys()];
  return { messageSize, numbers, folders, usageBeforeCrossing, line, fields: quotaExpireFields(line) };
}

/** How many of the oldest messages must go to bring `count` messages of `size` to the target. */
function removalCount(count: number, size: number, target: number): number {
  return Math.max(0, Math.ceil((count * size - target) / size));
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

describe.skipIf(unavailable !== null)("Dovecot quota warning", () => {
  let dovecot: Dovecot;

  beforeAll(async () => {
    dovecot = await Dovecot.start({ quotaMiB: QUOTA_MIB, targetMiB: TARGET_MIB });
  });

  afterAll(async () => {
    await dovecot?.stop();
  });

  test("warning trims mailbox under target", async () => {
    const user = "fill@example.org";
    const filled = await fillPastWarning(dovecot, user, () => "INBOX");
    const { messageSize, numbers, fields } = filled;
    const removed = removalCount(numbers.length, messageSize, TARGET_BYTES);
    const kept = numbers.slice(removed);

    // The binary ran as the quota-warning script and logged what it did.
    expect(fields.mailbox).toBe(dovecot.mailboxPath(user));
    expect(Number(fields.removed)).toBe(removed);
    expect(Number(fields.removed_bytes)).toBe(removed * messageSize);
    expect(Number(fields.usage_before)).toBe(filled.usageBeforeCrossing + messageSize);
    expect(Number(fields.usage_after)).toBe(kept.length * messageSize);
    expect(Number(fields.target)).toBe(TARGET_BYTES);

    // maildirsize is gone, so Dovecot recounts by itself, and recalc shows the same figure.
    const expectedKiB = Math.ceil((kept.length * messageSize) / 1024);
    expect(dovecot.quotaGet(user).storageKiB).toBe(expectedKiB);
    dovecot.quotaRecalc(user);
    const quota = dovecot.quotaGet(user);
    expect(quota.storageKiB).toBe(expectedKiB);
    expect(quota.storageKiB).toBeLessThanOrEqual(TARGET_MIB * 1024);
    expect(quota.messages).toBe(kept.length);

    // The newest messages, the crossing one among them, are the ones left.
    expect(messageIds(dovecot, user)).toEqual(kept.map(messageId));

    // Further deliveries are accepted again.
    const next = numbers.length;
    for (let number = next; number < next + 3; number++) {
      const result = dovecot.save(user, chatMessage(user, number));
      expect(result.stderr).not.toContain("Quota exceeded");
      expect(result.exitCode).toBe(0);
    }
    expect(dovecot.quotaGet(user).messages).toBe(kept.length + 3);

    // Dovecot logs a failed or killed script when it reaps it, long before the steps above end.
    expect(dovecot.readLog()).not.toMatch(SCRIPT_FAILURE);
  });

  test("DeltaChat folder counts and is trimmed", async () => {
    const user = "folders@example.org";
    dovecot.createFolder(user, "DeltaChat");

    // Every other message, starting with the oldest, lands in DeltaChat.
    const filled = await fillPastWarning(dovecot, user, (number) => (number % 2 === 0 ? "DeltaChat" : "INBOX"));
    const { messageSize, numbers, folders, fields } = filled;
    const removed = removalCount(numbers.length, messageSize, TARGET_BYTES);
    const kept = numbers.slice(removed);

    // Without the DeltaChat messages the usage would be below the target and nothing would go.
    const inboxCount = numbers.filter((number) => folders.get(number) === "INBOX").length;
    expect(inboxCount * messageSize).toBeLessThanOrEqual(TARGET_BYTES);
    expect(Number(fields.usage_before)).toBe(numbers.length * messageSize);
    expect(Number(fields.removed)).toBe(removed);
    expect(Number(fields.usage_after)).toBe(kept.length * messageSize);

    // The oldest messages went, whichever folder they were in.
    const keptIn = (folder: string): string[] => kept.filter((number) => folders.get(number) === folder).map(messageId);
    expect(messageIds(dovecot, user, "DeltaChat")).toEqual(keptIn("DeltaChat"));
    expect(messageIds(dovecot, user, "INBOX")).toEqual(keptIn("INBOX"));
    expect(keptIn("DeltaChat").length).toBeGreaterThan(0);

    dovecot.quotaRecalc(user);
    const quota = dovecot.quotaGet(user);
    expect(quota.storageKiB).toBe(Math.ceil((kept.length * messageSize) / 1024));
    expect(quota.messages).toBe(kept.length);
  });

  test("Dovecot reads trimmed mailbox cleanly", async () => {
    const user = "reader@example.org";
    const filled = await fillPastWarning(dovecot, user, () => "INBOX");
    const removed = removalCount(filled.numbers.length, filled.messageSize, TARGET_BYTES);
    const kept = filled.numbers.slice(removed);
    expect(removed).toBeGreaterThan(0);

    // Two accesses: the first finds the files gone from under its index, the second must find
    // nothing left to complain about. Reading the text opens every message file.
    for (const access of ["first", "second"]) {
      const offset = dovecot.logOffset();
      const { rows, stderr } = dovecot.fetch(user, ["hdr.message-id", "text"], ["mailbox", "INBOX"]);
      expect({ access, stderr }).toEqual({ access, stderr: "" });
      expect(rows.map((row) => row["hdr.message-id"])).toEqual(kept.map(messageId));
      for (const [i, row] of rows.entries()) expect(row.text).toBe(chatMessage(user, kept[i]!));
      expect({ access, log: dovecot.logSince(offset) }).toEqual({ access, log: "" });
    }

    const status = dovecot.doveadmOk(["-f", "json", "mailbox", "status", "-u", user, "messages", "INBOX"]);
    expect(JSON.parse(status)).toEqual([{ mailbox: "INBOX", messages: String(kept.length) }]);
  });
});

describe.skipIf(unavailable !== null)("Dovecot quota warning, dry run", () => {
  let dovecot: Dovecot;

  beforeAll(async () => {
    // The same warning, but the binary only reports: the mailbox stays as Dovecot left it, so
    // Dovecot can recount the very state the binary measured.
    dovecot = await Dovecot.start({ quotaMiB: QUOTA_MIB, targetMiB: TARGET_MIB, quotaExpireOptions: ["--dry-run"] });
  });

  afterAll(async () => {
    await dovecot?.stop();
  });

  test("usage before equals Dovecot recount", async () => {
    const user = "measure@example.org";
    const filled = await fillPastWarning(dovecot, user, () => "INBOX");
    const usageBefore = Number(filled.fields.usage_before);
    expect(filled.fields.dry_run).toBe("yes");

    // Nothing was removed, so Dovecot's recount covers exactly what the binary counted.
    const recounted = recountedBytes(dovecot, user);
    const quota = dovecot.quotaGet(user);
    expect(quota.messages).toBe(filled.numbers.length);
    expect(recounted).toBe(usageBefore);
    expect(quota.storageKiB).toBe(Math.ceil(usageBefore / 1024));

    // The files on disk are gzip'd: a sum of their sizes would be far from Dovecot's figure.
    const mailbox = dovecot.mailboxPath(user);
    let diskBytes = 0;
    for (const subdir of ["cur", "new"]) {
      for (const name of listNames(join(mailbox, subdir))) diskBytes += statSync(join(mailbox, subdir, name)).size;
    }
    expect(diskBytes).toBeLessThan(usageBefore * 0.9);
    expect(Math.ceil(diskBytes / 1024)).not.toBe(quota.storageKiB);
  });
});

describe.skipIf(unavailable !== null)("fsreport on a Dovecot tree", () => {
  let dovecot: Dovecot;

  beforeAll(async () => {
    dovecot = await Dovecot.start({ quotaMiB: QUOTA_MIB, targetMiB: TARGET_MIB });
  });

  afterAll(async () => {
    await dovecot?.stop();
  });

  test("quota view and counts match Dovecot", () => {
    const users = ["alice@example.org", "bob@example.org", "carol@example.org"];

    // alice: three messages in INBOX, two of them seen. Without an IMAP session they stay \Recent,
    // so Dovecot keeps them in new/ and appends the flags to their names.
    for (let number = 0; number < 3; number++) deliver(dovecot, users[0]!, chatMessage(users[0]!, number, 20_000 + number * 7_000));
    dovecot.doveadmOk(["flags", "add", "-u", users[0]!, "\\Seen", "mailbox", "INBOX", "uid", "1:2"]);
    const flagged = listNames(join(dovecot.mailboxPath(users[0]!), "new")).filter((name) => name.endsWith(":2,S"));
    expect(flagged).toHaveLength(2);

    // bob: two in INBOX, three in DeltaChat.
    dovecot.createFolder(users[1]!, "DeltaChat");
    for (let number = 0; number < 2; number++) deliver(dovecot, users[1]!, chatMessage(users[1]!, number, 50_000));
    for (let number = 2; number < 5; number++) deliver(dovecot, users[1]!, chatMessage(users[1]!, number, 31_000), "DeltaChat");

    // carol: one message and two deliveries in progress in tmp/, which are no messages to Dovecot.
    deliver(dovecot, users[2]!, chatMessage(users[2]!, 0, 90_000));
    const account = { uid: statSync(dovecot.mailRoot).uid, gid: statSync(dovecot.mailRoot).gid };
    for (const name of ["1796400000.M1P1.relay", "1796400001.M2P2.relay"]) {
      const path = join(dovecot.mailboxPath(users[2]!), "tmp", name);
      writeFileSync(path, chatMessage(users[2]!, 9, 5_000));
      chownSync(path, account.uid, account.gid);
    }
    const tmpFiles = 2;

    let dovecotBytes = 0;
    let dovecotMessages = 0;
    for (const user of users) {
      const bytes = recountedBytes(dovecot, user);
      const quota = dovecot.quotaGet(user);
      expect(quota.storageKiB).toBe(Math.ceil(bytes / 1024));
      dovecotBytes += bytes;
      dovecotMessages += quota.messages;
    }
    expect(dovecotMessages).toBe(9);

    const ini = join(dovecot.dir, "chatmail.ini");
    writeChatmailIni(ini, { mail_domain: "example.org", mailboxes_dir: dovecot.mailRoot, max_mailbox_size: `${QUOTA_MIB}M` });
    chmodSync(ini, 0o644);
    const result = runAsMailUser([dovecot.binary, "fsreport", ini, "--json"]);
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);

    const report = JSON.parse(result.stdout);
    expect(report.mailboxes).toBe(users.length);
    expect(report.quota.usageBytes).toBe(dovecotBytes);
    expect(report.quota.mailboxesOverQuota).toBe(0);
    expect(report.storage.messageCount).toBe(dovecotMessages + tmpFiles);
  });
});

describe.skipIf(unavailable !== null)("expire-inactive on Dovecot mailboxes", () => {
  let dovecot: Dovecot;

  beforeAll(async () => {
    dovecot = await Dovecot.start({ quotaMiB: QUOTA_MIB, targetMiB: TARGET_MIB });
  });

  afterAll(async () => {
    await dovecot?.stop();
  });

  test("removes exactly the inactive mailboxes", () => {
    const now = Math.floor(Date.now() / 1000);
    // Last logins in days ago. chatmail.ini keeps accounts for 90 days.
    const lastLogins: Record<string, number> = {
      "gone1@example.org": 120,
      "gone2@example.org": 91,
      "stays1@example.org": 89,
      "stays2@example.org": 10,
      "stays3@example.org": 0,
    };
    const users = Object.keys(lastLogins).sort();
    const staying = users.filter((user) => user.startsWith("stays"));

    const account = { uid: statSync(dovecot.mailRoot).uid, gid: statSync(dovecot.mailRoot).gid };
    for (const user of users) {
      for (let number = 0; number < 2; number++) deliver(dovecot, user, chatMessage(user, number, 10_000));
      // A login service stores the last login as the mtime of the password file.
      const password = join(dovecot.mailboxPath(user), "password");
      writeFileSync(password, "{SHA512-CRYPT}$6$test\n");
      chownSync(password, account.uid, account.gid);
      const lastLogin = now - lastLogins[user]! * DAY_SECONDS;
      utimesSync(password, lastLogin, lastLogin);
    }

    const ini = join(dovecot.dir, "chatmail.ini");
    writeChatmailIni(ini, { mail_domain: "example.org", mailboxes_dir: dovecot.mailRoot, delete_inactive_users_after: "90" });
    chmodSync(ini, 0o644);
    const result = runAsMailUser([dovecot.binary, "expire-inactive", ini, "--remove"]);
    expect(result.stderr).toBe("");
    expect(result.stdout).toMatch(/^Removed 2 out of 5 mailboxes in \d+\.\d\d seconds\n$/);
    expect(result.exitCode).toBe(0);

    // Exactly the inactive mailboxes are gone, with no renamed leftovers.
    expect(listNames(dovecot.mailRoot)).toEqual(staying);

    // Dovecot still delivers to the others, and finds their old messages.
    for (const user of staying) {
      deliver(dovecot, user, chatMessage(user, 2, 10_000));
      expect(messageIds(dovecot, user)).toEqual([0, 1, 2].map(messageId));
      expect(dovecot.quotaGet(user).messages).toBe(3);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The deployment snippet and the drop-in name
// ---------------------------------------------------------------------------------------------

/**
 * Returns contrib/dovecot-quota-warning.conf with the relay's paths swapped for the instance's:
 * the binary (or `executable`, the whole command of the script service) and the mail root.
 */
function contribSnippet(paths: { binary: string; mailRoot: string }, executable = `${paths.binary} quota-expire`): string {
  const text = readFileSync(join(REPO_ROOT, "contrib", "dovecot-quota-warning.conf"), "utf8");
  const swaps: [string, string][] = [
    ["script /usr/local/bin/chatmail-maildir quota-expire", `script ${executable}`],
    ["quota-warning 350 /home/vmail/mail/%d/%u", `quota-warning ${TARGET_MIB} ${paths.mailRoot}/%u`],
  ];
  let swapped = text;
  for (const [relayText, testText] of swaps) {
    if (!swapped.includes(relayText)) throw new Error(`contrib/dovecot-quota-warning.conf no longer contains "${relayText}"`);
    swapped = swapped.replace(relayText, testText);
  }
  return swapped;
}

/** Checks that the warning ran the binary to the end and brought the mailbox under the target. */
function expectTrimmed(dovecot: Dovecot, user: string, filled: FilledMailbox): void {
  const removed = removalCount(filled.numbers.length, filled.messageSize, TARGET_BYTES);
  expect(filled.fields.mailbox).toBe(dovecot.mailboxPath(user));
  expect(Number(filled.fields.removed)).toBe(removed);
  expect(Number(filled.fields.target)).toBe(TARGET_BYTES);

  dovecot.quotaRecalc(user);
  expect(dovecot.quotaGet(user).messages).toBe(filled.numbers.length - removed);
  expect(dovecot.readLog()).not.toMatch(SCRIPT_FAILURE);
}

describe.skipIf(unavailable !== null)("Dovecot with the contrib snippet", () => {
  let dovecot: Dovecot;

  beforeAll(async () => {
    dovecot = await Dovecot.start({ quotaMiB: QUOTA_MIB, targetMiB: TARGET_MIB, quotaWarningSnippet: (paths) => contribSnippet(paths) });
  });

  afterAll(async () => {
    await dovecot?.stop();
  });

  test("snippet's warning trims mailbox", async () => {
    const user = "snippet@example.org";
    const filled = await fillPastWarning(dovecot, user, () => "INBOX");
    expectTrimmed(dovecot, user, filled);
  });
});

describe.skipIf(unavailable !== null)("Dovecot running chatmail-quota-expire", () => {
  let dovecot: Dovecot;

  beforeAll(async () => {
    // chatmaild's configuration runs the script by its own name, with no subcommand word.
    dovecot = await Dovecot.start({
      quotaMiB: QUOTA_MIB,
      targetMiB: TARGET_MIB,
      quotaWarningSnippet: (paths) => {
        const dropIn = join(paths.dir, "chatmail-quota-expire");
        symlinkSync(paths.binary, dropIn);
        return contribSnippet(paths, dropIn);
      },
    });
  });

  afterAll(async () => {
    await dovecot?.stop();
  });

  test("drop-in name trims mailbox", async () => {
    const user = "dropin@example.org";
    const filled = await fillPastWarning(dovecot, user, () => "INBOX");
    expectTrimmed(dovecot, user, filled);
  });
});
