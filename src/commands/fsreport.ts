/** fsreport: storage and login report, and a Prometheus textfile, from one pass over all mailboxes. */

import { statSync } from "node:fs";

import { defineCommand } from "citty";

import { DEFAULT_CHATMAIL_INI, readChatmailIni } from "../chatmail-ini.ts";
import { CliError, describeError, EXIT_FAILURE, EXIT_OK, UsageError } from "../errors.ts";
import { listMailboxes, type MessageSubdir, walkMailboxes } from "../maildir.ts";
import { checkMetricsTarget, type MetricsTarget, type ProtectedFile, writeMetricsFiles } from "../metrics-file.ts";
import { MAX_DAYS, parseWholeNumber } from "../numbers.ts";
import { createProgress } from "../progress.ts";
import { displayPath, displayText, rawFromUser, toFsPath } from "../raw-path.ts";
import type { SettingsSchema } from "../settings.ts";
import { DAY_SECONDS, StorageReport } from "../storage-report.ts";
import { formatLegacyMetrics, formatSummary, formatTextfile, reportJson, type RunInfo } from "../storage-report-output.ts";
import { commonArgs, resolveOptions } from "./common.ts";

export const DEFAULT_LEGACY_METRICS_FILE = "/var/www/html/metrics";
const TEXTFILE_NAME_IN_DIRECTORY = "fsreport.prom";
const MDIR_CHOICES: readonly MessageSubdir[] = ["cur", "new", "tmp"];

const SETTINGS_SCHEMA: SettingsSchema = {
  verbose: "boolean",
  quiet: "boolean",
  days: "integer",
  "min-login-age": "integer",
  mdir: "string",
  maxnum: "integer",
  textfile: "string",
  "legacy-metrics": "string",
  json: "boolean",
};

/** Returns the textfile path for `--textfile PATH`: `PATH/fsreport.prom` when PATH is a directory. */
function textfilePath(rawPath: string): string {
  try {
    if (statSync(toFsPath(rawPath)).isDirectory()) return `${rawPath.replace(/\/+$/, "")}/${TEXTFILE_NAME_IN_DIRECTORY}`;
  } catch {
    // A path that does not exist yet names the file to create. Other errors show up when the
    // path is checked before the walk.
  }
  return rawPath;
}

export const fsreportCommand = defineCommand({
  meta: { name: "fsreport", description: "Report storage use and logins, optionally as a Prometheus textfile" },
  args: {
    ...commonArgs,
    ini: { type: "positional", required: false, valueHint: "CHATMAIL_INI", description: `Path of chatmail.ini (default: ${DEFAULT_CHATMAIL_INI})` },
    days: { type: "string", valueHint: "N", description: "Take the reference date N days before now (default: 0)" },
    "min-login-age": {
      type: "string",
      valueHint: "DAYS",
      description: "Size classes count only mailboxes whose last login is at least DAYS days before the reference date (default: 0)",
    },
    mdir: { type: "string", valueHint: "cur|new|tmp", description: "Size classes count only messages in this kind of subdirectory" },
    maxnum: { type: "string", valueHint: "N", description: "Report only the first N mailboxes in name order (0: all)" },
    textfile: {
      type: "string",
      valueHint: "PATH",
      description: `Write Prometheus metrics to PATH instead of the summary; a directory gets ${TEXTFILE_NAME_IN_DIRECTORY} inside`,
    },
    "legacy-metrics": {
      type: "string",
      valueHint: "FILE",
      description:
        `Write the accounts, ci_accounts and nonci_accounts gauges to FILE (alone: ${DEFAULT_LEGACY_METRICS_FILE}) instead of the summary. ` +
        "A following argument not starting with - is taken as FILE: put CHATMAIL_INI first or use --legacy-metrics=FILE",
      optionalValue: { valueWhenAlone: DEFAULT_LEGACY_METRICS_FILE },
    },
    json: { type: "boolean", description: "Print the whole report as one JSON object" },
  },
  async run({ args }) {
    const { options, logger, check } = resolveOptions("fsreport", SETTINGS_SCHEMA, args);
    const startedAt = Date.now() / 1000;

    const days = check("days", (value, name) => parseWholeNumber((value as string | number | undefined) ?? 0, name, MAX_DAYS));
    const minLoginAgeDays = check("min-login-age", (value, name) =>
      parseWholeNumber((value as string | number | undefined) ?? 0, name, MAX_DAYS),
    );
    const maxnum = check("maxnum", (value, name) => parseWholeNumber((value as string | number | undefined) ?? 0, name));
    const mdir = check("mdir", (value, name) => {
      if (value !== undefined && !MDIR_CHOICES.includes(value as MessageSubdir)) {
        throw new UsageError(`invalid ${name} ${JSON.stringify(value)}: expected one of ${MDIR_CHOICES.join(", ")}`);
      }
      return value as MessageSubdir | undefined;
    });
    const nonEmptyPath = (value: unknown, name: string) => {
      if (value === "") throw new UsageError(`invalid ${name}: the path is empty`);
      return value as string | undefined;
    };
    const textfile = check("textfile", nonEmptyPath);
    const legacyMetrics = check("legacy-metrics", nonEmptyPath);

    const config = readChatmailIni((args.ini as string | undefined) ?? DEFAULT_CHATMAIL_INI);
    const mailboxesDir = rawFromUser(config.mailboxesDir);

    // The outputs are checked before the walk, which can take minutes, and again before the write.
    const textfileTarget: MetricsTarget | undefined =
      textfile === undefined ? undefined : { path: textfilePath(rawFromUser(textfile)), option: "--textfile" };
    const legacyTarget: MetricsTarget | undefined =
      legacyMetrics === undefined ? undefined : { path: rawFromUser(legacyMetrics), option: "--legacy-metrics" };
    const protectedFiles: ProtectedFile[] = [{ identity: config.identity, description: "the chatmail.ini this run reads" }];
    if (textfileTarget !== undefined) checkMetricsTarget(textfileTarget, protectedFiles);
    if (legacyTarget !== undefined) checkMetricsTarget(legacyTarget, protectedFiles);

    // A missing directory is an error too: more often a typo in mailboxes_dir than a relay
    // without deliveries yet, and a report of zeros would hide the typo on every dashboard.
    let names: string[];
    try {
      names = await listMailboxes(mailboxesDir);
    } catch (error) {
      throw new CliError(`cannot read mailboxes_dir ${displayPath(mailboxesDir)}: ${describeError(error)}`);
    }
    if (maxnum > 0) names = names.slice(0, maxnum);

    const report = new StorageReport({
      now: startedAt - days * DAY_SECONDS,
      minLoginAgeDays,
      mdir,
      maxMailboxSize: config.maxMailboxSize,
    });

    // The walker reports each unreadable directory or file once, and the run goes on without it.
    let readErrors = 0;
    const onError = (path: string, error: unknown) => {
      readErrors++;
      logger.error(`cannot read ${displayPath(path)}: ${describeError(error)}`);
    };

    const progress = createProgress("fsreport", "mailboxes");
    for await (const mailbox of walkMailboxes(mailboxesDir, names, { statMessages: true, countExtraFiles: true, onError })) {
      report.addMailbox(mailbox);
      logger.detail(`${displayPath(mailbox.name)}: ${mailbox.contents.messages.length} messages`);
      progress.update(report.mailboxes, names.length);
    }
    progress.finish();

    const run: RunInfo = {
      startedAt,
      durationSeconds: Math.round((Date.now() / 1000 - startedAt) * 1000) / 1000,
      mailboxesDir: displayPath(mailboxesDir),
      maxMailboxSizeText: displayText(config.maxMailboxSizeText),
    };

    const files: (MetricsTarget & { content: string })[] = [];
    if (textfileTarget !== undefined) files.push({ ...textfileTarget, content: formatTextfile(report, run) });
    if (legacyTarget !== undefined) files.push({ ...legacyTarget, content: formatLegacyMetrics(report) });
    await writeMetricsFiles(files, protectedFiles);

    if (options.json) {
      process.stdout.write(`${JSON.stringify(reportJson(report, run), null, 2)}\n`);
    } else if (textfile === undefined && legacyMetrics === undefined) {
      process.stdout.write(formatSummary(report, run));
    }

    if (readErrors > 0) {
      logger.error(`failed to read ${readErrors} files or directories: the figures above miss them`);
      return EXIT_FAILURE;
    }
    return EXIT_OK;
  },
});
