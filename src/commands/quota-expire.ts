/** quota-expire: trims a mailbox under its quota target when Dovecot's quota warning fires. */

import { defineCommand } from "citty";

import { CliError } from "../errors.ts";
import { commonArgs } from "./common.ts";

export const quotaExpireCommand = defineCommand({
  meta: { name: "quota-expire", description: "Remove the least valuable messages until a mailbox is under TARGET_MB" },
  args: {
    ...commonArgs,
    target: { type: "positional", valueHint: "TARGET_MB", description: "Quota target in MiB" },
    mailbox: { type: "positional", valueHint: "MAILBOX", description: "Mailbox directory" },
  },
  run() {
    throw new CliError("quota-expire: not implemented yet");
  },
});
