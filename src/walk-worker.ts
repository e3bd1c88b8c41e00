/**
 * Entry point of the worker threads of walkMailboxes: walks each requested mailbox and posts
 * the packed results of one request in one message. Compiled into the binary as an extra
 * entry point (see the Makefile).
 */

import { type PackedMailbox, type WalkRequest, walkPackedMailbox } from "./maildir.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<WalkRequest>) => {
  const { mailboxesDir, names, statMessages, countExtraFiles } = event.data;
  const mailboxes: PackedMailbox[] = names.map((name) =>
    walkPackedMailbox(mailboxesDir, name, { statMessages, countExtraFiles }),
  );
  self.postMessage(
    mailboxes,
    mailboxes.map((mailbox) => mailbox.numbers.buffer),
  );
};
