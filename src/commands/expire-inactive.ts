/** expire-inactive: deletes the mailboxes of accounts that stopped logging in. */

import { defineCommand } from "citty";

import { CliError } from "../errors.ts";
import { commonArgs } from "./common.ts";

export const expireInactiveCommand = defineCommand({
  meta: { name: "expire-inactive", description: "Delete the mailboxes of accounts that have not logged in for a while" },
  args: {
    ...commonArgs,
    ini: { type: "positional", required: false, valueHint: "CHATMAIL_INI", description: "Path of chatmail.ini" },
  },
  run() {
    throw new CliError("expire-inactive: not implemented yet");
  },
});
