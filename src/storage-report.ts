/**
 * The figures of `fsreport`, gathered one mailbox at a time so that memory stays bounded by the
 * mailboxes in flight, whatever the number of messages.
 *
 * The definitions follow chatmaild's `chatmail-fsreport` so that the same tree gives the same
 * figures: sizes are disk bytes from stat, a last login is the `password` mtime, and a missing
 * or zero last login means no login.
 *
 * Differences on unusual trees: chatmail-fsreport looks only at the INBOX and `.DeltaChat` and
 * follows symlinks, while the walker takes every folder and follows none. It also compares the
 * exact mtime, where the walker gives whole seconds, so a login less than a second away from a
 * window edge can land on the other side.
 */

import { countsTowardQuota, type Mailbox, type MessageSubdir } from "./maildir.ts";

export const DAY_SECONDS = 86_400;

const KIB = 1024;
const MIB = 1024 * KIB;

/** Lower bounds of the message size classes in bytes, as chatmail-fsreport uses them. */
export const SIZE_CLASS_THRESHOLDS = [0, 100 * KIB, MIB / 2, MIB, 2 * MIB, 5 * MIB, 10 * MIB] as const;

/** Windows in days for counting recently active accounts. */
export const ACTIVITY_WINDOWS_DAYS = [1, 10, 30, 40, 80, 100, 150] as const;

/** Accounts whose address starts with this are test accounts of chatmail's CI. */
export const CI_ACCOUNT_PREFIX = "ci-";

export interface ReportOptions {
  /** Reference time in Unix seconds, fractional. */
  now: number;
  /** Size classes take only mailboxes whose last login is at least this many days before `now`. */
  minLoginAgeDays: number;
  /** Size classes take only messages in this kind of subdirectory, or all messages when undefined. */
  mdir: MessageSubdir | undefined;
  /** max_mailbox_size from chatmail.ini in bytes. */
  maxMailboxSize: number;
}

export interface SizeClass {
  minSize: number;
  /** Disk bytes of the messages of at least `minSize` bytes. */
  bytes: number;
  count: number;
}

export interface ActivityWindow {
  days: number;
  /** Accounts other than ci- accounts whose last login is within `days` days before `now`. */
  accounts: number;
}

/** Percentage of `part` in `whole`, or `whenEmpty` when `whole` is 0. */
export function percent(part: number, whole: number, whenEmpty: number): number {
  return whole === 0 ? whenEmpty : (part / whole) * 100;
}

export class StorageReport {
  readonly options: ReportOptions;

  mailboxes = 0;
  messageBytes = 0;
  messageCount = 0;
  extraBytes = 0;
  extraFileCount = 0;
  readonly sizeClasses: SizeClass[] = SIZE_CLASS_THRESHOLDS.map((minSize) => ({ minSize, bytes: 0, count: 0 }));

  /** Accounts with a last login, ci- accounts among them. */
  accounts = 0;
  ciAccounts = 0;
  readonly activity: ActivityWindow[] = ACTIVITY_WINDOWS_DAYS.map((days) => ({ days, accounts: 0 }));

  /** Sum of the quota usage of all mailboxes as Dovecot's maildir quota counts it. */
  quotaBytes = 0;
  mailboxesOverQuota = 0;
  unreadableDirectories = 0;

  constructor(options: ReportOptions) {
    this.options = options;
  }

  get totalBytes(): number {
    return this.messageBytes + this.extraBytes;
  }

  /** Accounts with a last login that are not ci- accounts. */
  get userAccounts(): number {
    return this.accounts - this.ciAccounts;
  }

  /** Adds the figures of one walked mailbox. Its messages need disk sizes, so walk with `statMessages`. */
  addMailbox(mailbox: Mailbox): void {
    const { now, minLoginAgeDays, mdir, maxMailboxSize } = this.options;
    const { contents } = mailbox;
    this.mailboxes++;
    this.unreadableDirectories += contents.unreadableDirs;
    this.extraBytes += contents.extraFileBytes;
    this.extraFileCount += contents.extraFileCount;

    // A password mtime of 0 counts as no login, as Python's truth test on it does in chatmaild.
    const lastLogin = mailbox.lastLogin || null;
    if (lastLogin !== null) {
      this.accounts++;
      if (mailbox.name.startsWith(CI_ACCOUNT_PREFIX)) {
        this.ciAccounts++;
      } else {
        for (const window of this.activity) {
          if (lastLogin >= now - window.days * DAY_SECONDS) window.accounts++;
        }
      }
    }

    // Size classes show what removing the mail of long-inactive accounts would free.
    const inSizeClasses = lastLogin !== null && lastLogin <= now - minLoginAgeDays * DAY_SECONDS;

    let quotaUsage = 0;
    for (const message of contents.messages) {
      this.messageBytes += message.diskSize;
      this.messageCount++;
      if (countsTowardQuota(message)) quotaUsage += message.quotaSize;

      if (!inSizeClasses || (mdir !== undefined && message.subdir !== mdir)) continue;
      for (const sizeClass of this.sizeClasses) {
        if (message.diskSize < sizeClass.minSize) break;
        sizeClass.bytes += message.diskSize;
        sizeClass.count++;
      }
    }

    this.quotaBytes += quotaUsage;
    if (quotaUsage > maxMailboxSize) this.mailboxesOverQuota++;
  }
}
