/** fsreport: storage and login report, and a Prometheus textfile. */

import { defineCommand } from "citty";

import { CliError } from "../errors.ts";
import { commonArgs } from "./common.ts";

export const fsreportCommand = defineCommand({
  meta: { name: "fsreport", description: "Report storage use and logins, optionally as a Prometheus textfile" },
  args: {
    ...commonArgs,
    ini: { type: "positional", required: false, valueHint: "CHATMAIL_INI", description: "Path of chatmail.ini" },
  },
  run() {
    throw new CliError("fsreport: not implemented yet");
  },
});
