/** expire-inactive: deletes the mailboxes of accounts that stopped logging in. */

import { defineCommand } from "citty";

import { DEFAULT_CHATMAIL_INI, readChatmailIni } from "../chatmail-ini.ts";
import { CliError, describeError, EXIT_FAILURE, EXIT_OK } from "../errors.ts";
import {
  checkGuard,
  finishLeftover,
  type GuardCheck,
  listLeftovers,
  REMOVAL_PREFIX,
  removeMailbox,
  type ScannedMailbox,
  scanMailboxes,
  SECONDS_PER_DAY,
} from "../inactive-mailboxes.ts";
import type { Logger } from "../log.ts";
import { listMailboxes } from "../maildir.ts";
import { MAX_DAYS, parseDecimal, parseWholeNumber } from "../numbers.ts";
import { createProgress, NO_PROGRESS, type Progress } from "../progress.ts";
import { displayPath, rawFromUser } from "../raw-path.ts";
import type { SettingsSchema } from "../settings.ts";
import { commonArgs, type ResolvedOptions, resolveOptions } from "./common.ts";

const COMMAND = "expire-inactive";

const DEFAULT_MAX_FRACTION = 0.5;

/**
 * Mailboxes deleted at once, so that disk latency overlaps. Measured with 3205 mailboxes of a
 * scripts/make-relay-tree.ts tree on a 2-core VM with ext4: 5.8 s with four in flight against
 * 6.4 s one at a time. Disk writeback noise on that VM was larger than this difference.
 */
const REMOVAL_CONCURRENCY = 4;

/**
 * Options a settings file may set. `--days`, `--remove` and `--force` are left out on purpose:
 * each is a decision for one run, and a file that set one would silently change every run.
 */
const SETTINGS_SCHEMA: SettingsSchema = {
  maxnum: "integer",
  "max-fraction": "number",
  json: "boolean",
  verbose: "boolean",
  quiet: "boolean",
};

/** The fate of one mailbox the scan selected for removal. */
type SelectedStatus = "removed" | "would-remove" | "stopped-by-guard" | "kept" | "vanished" | "failed";

interface SelectedMailbox {
  mailbox: ScannedMailbox;
  status: SelectedStatus;
}

interface RunOptions {
  days: number;
  maxnum: number | undefined;
  remove: boolean;
  force: boolean;
  maxFraction: number;
  json: boolean;
}

function formatDate(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().slice(0, 10);
}

function describeLogin(mailbox: ScannedMailbox): string {
  return mailbox.lastLogin === null ? "empty, no password file" : `last login ${formatDate(mailbox.lastLogin)}`;
}

/** Wraps a logger so that each message first erases the progress lines. */
function loggerAbove(logger: Logger, progressLines: Progress[]): Logger {
  const clear = () => {
    for (const progress of progressLines) progress.clear();
  };
  return {
    verbosity: logger.verbosity,
    detail: (message) => {
      clear();
      logger.detail(message);
    },
    info: (message) => {
      clear();
      logger.info(message);
    },
    warn: (message) => {
      clear();
      logger.warn(message);
    },
    error: (message) => {
      clear();
      logger.error(message);
    },
  };
}

function parseRunOptions(args: Record<string, unknown>, { options, check }: ResolvedOptions): RunOptions {
  const days = args.days === undefined ? 0 : parseWholeNumber(args.days as string, "--days", MAX_DAYS);
  const maxnum = check("maxnum", (value, name) => (value === undefined ? undefined : parseWholeNumber(value as string | number, name)));
  const maxFraction = check("max-fraction", (value, name) =>
    value === undefined ? DEFAULT_MAX_FRACTION : parseDecimal(value as string | number, name, 1),
  );

  return {
    days,
    maxnum,
    remove: Boolean(args.remove),
    force: Boolean(args.force),
    maxFraction,
    json: Boolean(options.json),
  };
}

/** Deletes the removal dot-names that interrupted runs left behind. Returns how many went and how many failed. */
async function finishLeftovers(mailboxesDir: string, log: Logger): Promise<{ finished: number; failed: number }> {
  let finished = 0;
  let failed = 0;
  for (const leftover of await listLeftovers(mailboxesDir)) {
    try {
      await finishLeftover(mailboxesDir, leftover);
      finished++;
      log.info(`finished removing ${displayPath(leftover)}, left behind by an interrupted run`);
    } catch (error) {
      failed++;
      log.error(`cannot delete ${displayPath(`${mailboxesDir}/${leftover}`)}: ${describeError(error)}`);
    }
  }
  return { finished, failed };
}

/**
 * Removes the selected mailboxes, a few at a time, and logs each outcome as it happens (so not
 * always in name order). Returns the number of failures.
 */
async function removeSelected(
  mailboxesDir: string,
  selected: SelectedMailbox[],
  cutoff: number,
  log: Logger,
  progress: Progress,
): Promise<number> {
  let failures = 0;
  let next = 0;
  let done = 0;

  const removeOne = async (entry: SelectedMailbox) => {
    const { mailbox } = entry;
    const address = displayPath(mailbox.name);
    const outcome = await removeMailbox(mailboxesDir, mailbox, cutoff);
    done++;
    progress.update(done, selected.length);

    switch (outcome.status) {
      case "removed":
        entry.status = "removed";
        log.detail(`removed ${address} (${describeLogin(mailbox)})`);
        break;
      case "kept":
        entry.status = "kept";
        if (outcome.now.verdict === "error") {
          failures++;
          log.error(`cannot examine mailbox ${address} again before removing it: ${describeError(outcome.now.error)}`);
        } else if (outcome.now.verdict === "active") {
          log.info(`kept ${address}: logged in since the scan (last login ${formatDate(outcome.now.lastLogin!)})`);
        } else {
          log.info(`kept ${address}: changed since the scan`);
        }
        break;
      case "vanished":
        entry.status = "vanished";
        log.detail(`skipped ${address}: removed by someone else since the scan`);
        break;
      case "failed":
        entry.status = "failed";
        failures++;
        if (outcome.step === "rename") {
          log.error(`cannot rename mailbox ${address} to ${REMOVAL_PREFIX}${address}: ${describeError(outcome.error)}`);
        } else {
          log.error(
            `cannot delete ${REMOVAL_PREFIX}${address} (the renamed mailbox ${address}): ${describeError(outcome.error)}; ` +
              "the next --remove run retries",
          );
        }
        break;
    }
  };

  const worker = async () => {
    while (next < selected.length) await removeOne(selected[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(REMOVAL_CONCURRENCY, selected.length) }, worker));
  return failures;
}

/**
 * Sorts the scan results into the mailboxes to remove and those kept for a reason worth
 * reporting, and logs the latter.
 */
function sortScanned(
  scanned: readonly ScannedMailbox[],
  log: Logger,
): { selected: SelectedMailbox[]; keptWithoutPassword: string[]; unknownLogins: number; errors: number } {
  const selected: SelectedMailbox[] = [];
  const keptWithoutPassword: string[] = [];
  let unknownLogins = 0;
  let errors = 0;

  for (const mailbox of scanned) {
    const address = displayPath(mailbox.name);
    switch (mailbox.verdict) {
      case "inactive":
      case "empty":
        selected.push({ mailbox, status: "would-remove" });
        break;
      case "no-password":
        keptWithoutPassword.push(address);
        log.detail(`kept ${address}: no password file, but the directory is not empty`);
        break;
      case "unknown-login":
        unknownLogins++;
        break;
      case "error":
        errors++;
        log.error(`cannot examine mailbox ${address}: ${describeError(mailbox.error)}`);
        break;
      case "active":
      case "vanished":
        break;
    }
  }

  return { selected, keptWithoutPassword, unknownLogins, errors };
}

function guardMessage(guard: GuardCheck, maxFraction: number): string {
  const percent = Math.round(guard.fraction * 100);
  return (
    `would remove ${guard.removals} of ${guard.examined} mailboxes (${percent}%), more than --max-fraction ${maxFraction}; ` +
    "check the clock, --days and the mtimes of the password files, or rerun with --force"
  );
}

export const expireInactiveCommand = defineCommand({
  meta: { name: COMMAND, description: "Delete the mailboxes of accounts that have not logged in for a while" },
  args: {
    ...commonArgs,
    ini: {
      type: "positional",
      required: false,
      valueHint: "CHATMAIL_INI",
      description: `Path of chatmail.ini (default: ${DEFAULT_CHATMAIL_INI})`,
    },
    days: { type: "string", valueHint: "N", description: "Run as if today were N days earlier" },
    maxnum: { type: "string", valueHint: "N", description: "Examine only the first N mailboxes, in name order" },
    remove: { type: "boolean", description: "Remove the mailboxes; without it the run only reports them" },
    force: { type: "boolean", description: "Remove even when more than --max-fraction of the mailboxes would go" },
    "max-fraction": {
      type: "string",
      valueHint: "F",
      description: `Remove nothing when more than this fraction (0 to 1) of the mailboxes would go (default: ${DEFAULT_MAX_FRACTION})`,
    },
    json: { type: "boolean", description: "Print the result as a JSON object instead of the summary line" },
  },
  async run({ args }) {
    const started = performance.now();
    const resolved = resolveOptions(COMMAND, SETTINGS_SCHEMA, args);
    const { logger } = resolved;
    const run = parseRunOptions(args, resolved);

    const config = readChatmailIni((args.ini as string | undefined) ?? DEFAULT_CHATMAIL_INI);
    const mailboxesDir = rawFromUser(config.mailboxesDir);
    const now = Math.floor(Date.now() / 1000) - run.days * SECONDS_PER_DAY;
    const cutoff = now - config.deleteInactiveUsersAfter * SECONDS_PER_DAY;

    let names: string[];
    try {
      names = await listMailboxes(mailboxesDir);
    } catch (error) {
      throw new CliError(`cannot read mailboxes_dir ${displayPath(mailboxesDir)}: ${describeError(error)}`);
    }
    if (run.maxnum !== undefined) names = names.slice(0, run.maxnum);

    const quiet = logger.verbosity === "quiet";
    const scanProgress = quiet ? NO_PROGRESS : createProgress(COMMAND, "mailboxes scanned");
    const removalProgress = quiet ? NO_PROGRESS : createProgress(COMMAND, "mailboxes removed");
    const log = loggerAbove(logger, [scanProgress, removalProgress]);
    let failures = 0;

    // Leftovers go first: they are no longer mailboxes, and a leftover with the same address
    // would block the rename of that mailbox below.
    let leftoversFinished = 0;
    if (run.remove) {
      const leftovers = await finishLeftovers(mailboxesDir, log);
      leftoversFinished = leftovers.finished;
      failures += leftovers.failed;
    }

    // A mailbox that vanished since the listing was not examined.
    const scanned = (
      await scanMailboxes(mailboxesDir, names, cutoff, (done) => scanProgress.update(done, names.length))
    ).filter((mailbox) => mailbox.verdict !== "vanished");
    scanProgress.finish();

    const { selected, keptWithoutPassword, unknownLogins, errors } = sortScanned(scanned, log);
    failures += errors;

    const guard = checkGuard(scanned, run.maxFraction);
    const stoppedByGuard = guard.trips && !run.force;
    if (stoppedByGuard) {
      for (const entry of selected) entry.status = "stopped-by-guard";
      const consequence = run.remove ? "removed nothing" : "a --remove run would remove nothing";
      log.error(`${consequence}: ${guardMessage(guard, run.maxFraction)}`);
    } else if (run.remove) {
      failures += await removeSelected(mailboxesDir, selected, cutoff, log, removalProgress);
      removalProgress.finish();
    } else {
      for (const { mailbox } of selected) log.detail(`would remove ${displayPath(mailbox.name)} (${describeLogin(mailbox)})`);
    }

    const seconds = (performance.now() - started) / 1000;
    const removed = selected.filter((entry) => entry.status === "removed").length;
    const examined = scanned.length;

    if (run.json) {
      const result = {
        dryRun: !run.remove,
        mailboxesDir: displayPath(mailboxesDir),
        now,
        cutoff,
        examined,
        selected: selected.length,
        removed,
        mailboxes: selected.map(({ mailbox, status }) => ({
          address: displayPath(mailbox.name),
          lastLogin: mailbox.lastLogin,
          reason: mailbox.verdict,
          status,
        })),
        keptWithoutPassword,
        unknownLogins,
        leftoversFinished,
        guard: {
          maxFraction: run.maxFraction,
          removals: guard.removals,
          examined: guard.examined,
          tripped: guard.trips,
          forced: guard.trips && run.force,
        },
        errors: failures,
        seconds: Number(seconds.toFixed(2)),
      };
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else if (run.remove) {
      process.stdout.write(`Removed ${removed} out of ${examined} mailboxes in ${seconds.toFixed(2)} seconds\n`);
    } else {
      process.stdout.write(`Would remove ${selected.length} out of ${examined} mailboxes in ${seconds.toFixed(2)} seconds\n`);
    }

    return failures > 0 || stoppedByGuard ? EXIT_FAILURE : EXIT_OK;
  },
});
