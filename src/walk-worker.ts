/**
 * Entry point of the worker threads of walkMailboxes and statMessageFiles: walks each requested
 * mailbox or stats each requested file, and posts the results of one request in one message.
 * Compiled into the binary as an extra entry point (see the Makefile).
 */

import { type PackedMailbox, type StatRequest, statPaths, type WalkReply, type WalkRequest, walkPackedMailbox } from "./maildir.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<WalkRequest | StatRequest>) => {
  const request = event.data;
  if (request.kind === "stat") {
    const reply = statPaths(request);
    self.postMessage(reply, [reply.numbers.buffer]);
    return;
  }

  const { chunk, mailboxesDir, names, statMessages, countExtraFiles } = request;
  const mailboxes: PackedMailbox[] = names.map((name) =>
    walkPackedMailbox(mailboxesDir, name, { statMessages, countExtraFiles }),
  );
  const reply: WalkReply = { chunk, mailboxes };
  self.postMessage(
    reply,
    mailboxes.map((mailbox) => mailbox.numbers.buffer),
  );
};
