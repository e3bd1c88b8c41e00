/**
 * The outputs of `fsreport`: a summary for people, one JSON object, the Prometheus textfile for
 * node_exporter, and the legacy metrics file that chatmail's older metrics.py served.
 */

import { formatFixed, humanSize } from "./human-size.ts";
import { formatExposition, type MetricFamily } from "./prometheus.ts";
import { percent, type StorageReport } from "./storage-report.ts";

/** Facts about a run that are not figures of the tree. */
export interface RunInfo {
  /** When the run started, in Unix seconds. */
  startedAt: number;
  durationSeconds: number;
  /** The mailboxes directory as it may be shown. */
  mailboxesDir: string;
  /** max_mailbox_size as chatmail.ini writes it, as it may be shown. */
  maxMailboxSizeText: string;
}

/** Returns "1 mailbox" or "2 mailboxes": the count with the singular or plural noun. */
function countOf(count: number, singular: string, plural: string): string {
  return `${count} ${count === 1 ? singular : plural}`;
}

function isoTime(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString();
}

function percentText(value: number): string {
  return `${formatFixed(value, 2)}%`;
}

/** Renders the readable summary: storage, size classes and logins, sizes in K/M/G (powers of 1000). */
export function formatSummary(report: StorageReport, run: RunInfo): string {
  const { options } = report;
  const lines: string[] = [];

  lines.push(`## Storage of ${countOf(report.mailboxes, "mailbox", "mailboxes")} in ${run.mailboxesDir}`);
  lines.push(`total:            ${humanSize(report.totalBytes)}`);
  lines.push(`messages:         ${humanSize(report.messageBytes)} in ${countOf(report.messageCount, "file", "files")}`);
  lines.push(
    `extra files:      ${humanSize(report.extraBytes)} in ${countOf(report.extraFileCount, "file", "files")} ` +
      `(${percentText(percent(report.extraBytes, report.totalBytes, 100))} of total)`,
  );
  lines.push(`quota usage:      ${humanSize(report.quotaBytes)} (S= sizes of cur/ and new/, as Dovecot counts)`);
  lines.push(
    `over quota:       ${countOf(report.mailboxesOverQuota, "mailbox", "mailboxes")} above max_mailbox_size ${run.maxMailboxSizeText}`,
  );
  lines.push("");

  const filters = [
    options.mdir === undefined ? "all subdirectories" : `${options.mdir}/ only`,
    `last login at least ${options.minLoginAgeDays} days before the reference date`,
  ];
  lines.push(`## Message size classes (${filters.join(", ")})`);
  for (const sizeClass of report.sizeClasses) {
    const share = percent(sizeClass.bytes, report.messageBytes, 0);
    lines.push(
      `at least ${humanSize(sizeClass.minSize)}: ${humanSize(sizeClass.bytes)} (${percentText(share)}) in ${countOf(sizeClass.count, "message", "messages")}`,
    );
  }
  lines.push("");

  lines.push(`## Logins, reference date ${isoTime(options.now)}`);
  lines.push(`accounts with a login: ${report.accounts}`);
  lines.push(`ci- accounts:          ${report.ciAccounts}`);
  lines.push(`other accounts:        ${report.userAccounts}`);
  for (const window of report.activity) {
    const share = percent(window.accounts, report.userAccounts, 100);
    const unit = window.days === 1 ? "day: " : "days:";
    lines.push(`active in last ${String(window.days).padStart(3)} ${unit} ${window.accounts} (${percentText(share)})`);
  }
  lines.push("");

  lines.push(`Walked ${countOf(report.mailboxes, "mailbox", "mailboxes")} in ${formatFixed(run.durationSeconds, 2)} seconds.`);
  return `${lines.join("\n")}\n`;
}

/** Returns the whole report as a plain object for `--json`. Sizes are bytes, shares percent. */
export function reportJson(report: StorageReport, run: RunInfo): Record<string, unknown> {
  const { options } = report;
  return {
    mailboxesDir: run.mailboxesDir,
    referenceTime: isoTime(options.now),
    startedAt: isoTime(run.startedAt),
    durationSeconds: run.durationSeconds,
    minLoginAgeDays: options.minLoginAgeDays,
    mdir: options.mdir ?? null,
    mailboxes: report.mailboxes,
    unreadableDirectories: report.unreadableDirectories,
    storage: {
      totalBytes: report.totalBytes,
      messageBytes: report.messageBytes,
      messageCount: report.messageCount,
      extraBytes: report.extraBytes,
      extraFileCount: report.extraFileCount,
      extraPercent: percent(report.extraBytes, report.totalBytes, 100),
    },
    sizeClasses: report.sizeClasses.map((sizeClass) => ({
      minSize: sizeClass.minSize,
      bytes: sizeClass.bytes,
      count: sizeClass.count,
      percent: percent(sizeClass.bytes, report.messageBytes, 0),
    })),
    logins: {
      all: report.accounts,
      ci: report.ciAccounts,
      user: report.userAccounts,
      active: report.activity.map((window) => ({
        days: window.days,
        accounts: window.accounts,
        percent: percent(window.accounts, report.userAccounts, 100),
      })),
    },
    quota: {
      usageBytes: report.quotaBytes,
      maxMailboxSize: options.maxMailboxSize,
      mailboxesOverQuota: report.mailboxesOverQuota,
    },
  };
}

/**
 * Returns the metric families of the textfile. The first five keep the names and labels of
 * chatmail-fsreport's textfile so that existing dashboards keep working.
 */
export function textfileMetrics(report: StorageReport, run: RunInfo): MetricFamily[] {
  return [
    {
      name: "chatmail_storage_bytes",
      help: "Disk bytes of all mailboxes: messages, other files (extra) and both (total).",
      type: "gauge",
      samples: [
        { labels: { kind: "messages" }, value: report.messageBytes },
        { labels: { kind: "extra" }, value: report.extraBytes },
        { labels: { kind: "total" }, value: report.totalBytes },
      ],
    },
    {
      name: "chatmail_messages_bytes",
      help: "Disk bytes of the messages of at least min_size bytes, in mailboxes with a last login (filtered by --min-login-age and --mdir).",
      type: "gauge",
      samples: report.sizeClasses.map((sizeClass) => ({
        labels: { min_size: String(sizeClass.minSize) },
        value: sizeClass.bytes,
      })),
    },
    {
      name: "chatmail_messages_count",
      help: "Number of messages of at least min_size bytes, in mailboxes with a last login (filtered by --min-login-age and --mdir).",
      type: "gauge",
      samples: report.sizeClasses.map((sizeClass) => ({
        labels: { min_size: String(sizeClass.minSize) },
        value: sizeClass.count,
      })),
    },
    {
      name: "chatmail_accounts",
      help: "Accounts with a last login: all, ci- test accounts, and the others (user).",
      type: "gauge",
      samples: [
        { labels: { kind: "all" }, value: report.accounts },
        { labels: { kind: "ci" }, value: report.ciAccounts },
        { labels: { kind: "user" }, value: report.userAccounts },
      ],
    },
    {
      name: "chatmail_accounts_active",
      help: "Accounts other than ci- accounts whose last login is within the given number of days.",
      type: "gauge",
      samples: report.activity.map((window) => ({ labels: { days: String(window.days) }, value: window.accounts })),
    },
    {
      name: "chatmail_mailboxes",
      help: "Mailbox directories walked.",
      type: "gauge",
      samples: [{ value: report.mailboxes }],
    },
    {
      name: "chatmail_quota_usage_bytes",
      help: "Sum of the quota usage of all mailboxes as Dovecot counts it: S= sizes of messages in cur/ and new/.",
      type: "gauge",
      samples: [{ value: report.quotaBytes }],
    },
    {
      name: "chatmail_mailboxes_over_quota",
      help: "Mailboxes whose quota usage exceeds max_mailbox_size.",
      type: "gauge",
      samples: [{ value: report.mailboxesOverQuota }],
    },
    {
      name: "chatmail_fsreport_unreadable_directories",
      help: "Directories that fsreport could not read. The other figures miss the files in them.",
      type: "gauge",
      samples: [{ value: report.unreadableDirectories }],
    },
    {
      name: "chatmail_fsreport_duration_seconds",
      help: "How long the last fsreport run took.",
      type: "gauge",
      samples: [{ value: run.durationSeconds }],
    },
    {
      name: "chatmail_fsreport_last_run_timestamp_seconds",
      help: "Unix time at which the last fsreport run started.",
      type: "gauge",
      samples: [{ value: run.startedAt }],
    },
  ];
}

export function formatTextfile(report: StorageReport, run: RunInfo): string {
  return formatExposition(textfileMetrics(report, run));
}

/**
 * Renders the legacy metrics file with the three gauges that chatmail's older metrics script
 * served over HTTP. chatmaild's HELP lines here lack the metric name, which Prometheus parsers
 * read as help for a metric named after the first word; these name it.
 */
export function formatLegacyMetrics(report: StorageReport): string {
  return formatExposition([
    { name: "accounts", help: "Number of accounts with a last login.", type: "gauge", samples: [{ value: report.accounts }] },
    { name: "ci_accounts", help: "Number of ci- test accounts.", type: "gauge", samples: [{ value: report.ciAccounts }] },
    {
      name: "nonci_accounts",
      help: "Number of accounts that are not ci- test accounts.",
      type: "gauge",
      samples: [{ value: report.userAccounts }],
    },
  ]);
}
