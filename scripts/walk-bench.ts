/**
 * Walks every mailbox of a mailboxes directory with the shared walker and prints the totals, so
 * that the walker alone can be timed against `du` and `find`. `make dist/walk-bench` compiles it
 * like the binary, so that it measures what relays run.
 *
 * Usage: [WALK_THREADS=N] walk-bench MAILBOXES_DIR [full|lean]
 *   full  stats every file, as fsreport needs (statMessages and countExtraFiles)
 *   lean  stats only messages without S=, as quota usage needs
 * WALK_THREADS sets WalkOptions.threads (default: the walker's own).
 */

import { listMailboxes, quotaUsage, walkMailboxes } from "../src/maildir.ts";

const [mailboxesDir, mode = "full"] = process.argv.slice(2);
if (mailboxesDir === undefined || (mode !== "full" && mode !== "lean")) {
  console.error("usage: walk-bench MAILBOXES_DIR [full|lean]");
  process.exit(2);
}

const full = mode === "full";
const threads = process.env.WALK_THREADS === undefined ? undefined : Number(process.env.WALK_THREADS);
const names = await listMailboxes(mailboxesDir);

let mailboxes = 0;
let messages = 0;
let quotaBytes = 0;
let diskBytes = 0;
let extraFiles = 0;
for await (const mailbox of walkMailboxes(mailboxesDir, names, { statMessages: full, countExtraFiles: full, threads })) {
  mailboxes++;
  messages += mailbox.contents.messages.length;
  quotaBytes += quotaUsage(mailbox.contents.messages);
  extraFiles += mailbox.contents.extraFileCount;
  diskBytes += mailbox.contents.extraFileBytes;
  if (full) {
    for (const message of mailbox.contents.messages) diskBytes += message.diskSize;
  }
}

console.log(
  `${mode}: ${mailboxes} mailboxes, ${messages} messages, ${extraFiles} other files, ` +
    `quota ${quotaBytes} bytes, disk ${diskBytes} bytes`,
);
