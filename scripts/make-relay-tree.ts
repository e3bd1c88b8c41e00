/**
 * Generates a relay-like mail tree for the demo and the benchmark:
 *
 *   DIR/chatmail.ini
 *   DIR/mail/example.org/<address>/{password,maildirsize,dovecot files,cur,new,tmp,.DeltaChat/…}
 *   DIR/mail/example.org/pending_notifications/
 *
 * Message files are sparse (truncated to size, no data written), so a million of them take
 * little disk. Their names carry Dovecot's `S=` and `W=`, with a disk size below `S=` as gzip'd
 * messages have. Everything derives from --seed, so two runs give the same tree.
 *
 * Usage: bun scripts/make-relay-tree.ts DIR [--mailboxes N] [--messages N] [--seed N]
 *        [--big-mailbox MESSAGES]
 *
 * --messages is the mean number of messages per mailbox. --big-mailbox adds one mailbox,
 * big@example.org, with that many messages, for quota-expire.
 */

import { existsSync, mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { seededRandom } from "./seeded-random.ts";
import { writeSparseFile } from "./sparse-file.ts";

const DOMAIN = "example.org";
const DAY = 86_400;

/** Draws a message size: mostly small chat messages, a few attachments of several MB. */
function drawMessageSize(random: () => number): number {
  const roll = random();
  if (roll < 0.8) return 1_000 + Math.floor(random() * 20_000);
  if (roll < 0.97) return 50_000 + Math.floor(random() * 500_000);
  return 1_000_000 + Math.floor(random() * 9_000_000);
}

interface TreeOptions {
  mailboxes: number;
  messages: number;
  seed: number;
  bigMailbox: number;
}

function writeMailbox(
  mailboxPath: string,
  messageCount: number,
  lastLogin: number | null,
  now: number,
  random: () => number,
): number {
  const folders = random() < 0.15 ? ["", ".DeltaChat"] : [""];
  for (const folder of folders) {
    for (const subdir of ["cur", "new", "tmp"]) mkdirSync(join(mailboxPath, folder, subdir), { recursive: true });
    if (folder !== "") writeFileSync(join(mailboxPath, folder, "maildirfolder"), "");
  }

  let usage = 0;
  for (let i = 0; i < messageCount; i++) {
    const folder = folders[Math.floor(random() * folders.length)]!;
    const inNew = random() < 0.1;
    const size = drawMessageSize(random);
    const diskSize = Math.floor(size * (0.6 + random() * 0.2));
    const delivered = now - Math.floor(random() * 60 * DAY);
    const unique = `${delivered}.M${Math.floor(random() * 1e6)}P${1000 + i}.demo`;
    const name = `${unique},S=${size},W=${size + Math.floor(size / 40)}${inNew ? "" : ":2,S"}`;
    writeSparseFile(join(mailboxPath, folder, inNew ? "new" : "cur", name), diskSize, delivered);
    usage += size;
  }

  writeFileSync(join(mailboxPath, "maildirsize"), `1073741824S\n${usage} ${messageCount}\n`);
  writeFileSync(join(mailboxPath, "dovecot-uidlist"), "3 V1700000000 N1\n");
  writeSparseFile(join(mailboxPath, "dovecot.index.cache"), 4096, now);
  if (lastLogin !== null) {
    writeFileSync(join(mailboxPath, "password"), "{SHA512-CRYPT}$6$demo\n");
    utimesSync(join(mailboxPath, "password"), lastLogin, lastLogin);
  }
  return usage;
}

function generate(root: string, options: TreeOptions): void {
  const random = seededRandom(options.seed);
  // A fixed "now" per seed would age the tree; the demo wants logins relative to today.
  const now = Math.floor(Date.now() / 1000);
  const today = now - (now % DAY);
  const mailboxesDir = join(root, "mail", DOMAIN);
  mkdirSync(join(mailboxesDir, "pending_notifications"), { recursive: true });

  for (let index = 0; index < options.mailboxes; index++) {
    const prefix = random() < 0.05 ? "ci-" : "";
    const address = `${prefix}${index.toString(36).padStart(6, "0")}${Math.floor(random() * 1e6).toString(36)}@${DOMAIN}`;
    // Logins spread over 200 days, most of them recent as on a live relay: with the square,
    // about a third of the accounts are older than 90 days.
    const loginAge = Math.floor(random() ** 2 * 200);
    const lastLogin = random() < 0.02 ? null : today - loginAge * DAY;
    const messageCount = Math.floor(random() * options.messages * 2);
    writeMailbox(join(mailboxesDir, address), messageCount, lastLogin, now, random);
  }

  if (options.bigMailbox > 0) {
    writeMailbox(join(mailboxesDir, `big@${DOMAIN}`), options.bigMailbox, today, now, random);
  }

  writeFileSync(
    join(root, "chatmail.ini"),
    [
      "[params]",
      `mail_domain = ${DOMAIN}`,
      `mailboxes_dir = ${mailboxesDir}`,
      "max_mailbox_size = 100M",
      "delete_inactive_users_after = 90",
      "",
    ].join("\n"),
  );
}

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: {
    mailboxes: { type: "string", default: "3000" },
    messages: { type: "string", default: "10" },
    seed: { type: "string", default: "1" },
    "big-mailbox": { type: "string", default: "0" },
  },
});

const root = positionals[0];
if (root === undefined || positionals.length > 1) {
  console.error("usage: bun scripts/make-relay-tree.ts DIR [--mailboxes N] [--messages N] [--seed N] [--big-mailbox N]");
  process.exit(2);
}
if (existsSync(join(root, "chatmail.ini"))) {
  console.error(`error: ${root} already contains a tree; remove it first`);
  process.exit(1);
}

const options: TreeOptions = {
  mailboxes: Number(values.mailboxes),
  messages: Number(values.messages),
  seed: Number(values.seed),
  bigMailbox: Number(values["big-mailbox"]),
};
for (const [key, value] of Object.entries(options)) {
  if (!Number.isSafeInteger(value) || value < 0) {
    console.error(`error: invalid --${key}: expected a whole number, 0 or more`);
    process.exit(2);
  }
}

generate(root, options);
