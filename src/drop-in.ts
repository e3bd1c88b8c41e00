/**
 * chatmaild's script names. A relay switches over by pointing these names (symlinks or copies)
 * at this binary, so Dovecot's quota-warning service and the existing systemd units keep their
 * command lines. The subcommands take chatmaild's arguments as they are: `TARGET_MB MAILBOX` and
 * `--sweep` for quota-expire, `[CHATMAIL_INI] -v --remove --days --maxnum` for chatmail-expire.
 */

import { basename } from "node:path";

export const DROP_IN_NAMES: Readonly<Record<string, string>> = {
  "chatmail-quota-expire": "quota-expire",
  "chatmail-expire": "expire-inactive",
  "chatmail-fsreport": "fsreport",
};

/**
 * Returns the subcommand that the invoked name stands for, or undefined for any other name.
 * `invokedPath` is argv[0] as the caller passed it (`process.argv0` in Bun): unlike
 * `process.execPath`, it keeps the name of a symlink.
 */
export function dropInSubcommand(invokedPath: string): string | undefined {
  const name = basename(invokedPath);
  return Object.hasOwn(DROP_IN_NAMES, name) ? DROP_IN_NAMES[name] : undefined;
}
