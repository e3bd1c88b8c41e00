import { describe, expect, test } from "bun:test";
import { chmodSync, linkSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { checkArguments } from "../src/cli-runner.ts";
import { fsreportCommand } from "../src/commands/fsreport.ts";
import type { Mailbox, MessageFile } from "../src/maildir.ts";
import { DAY_SECONDS, StorageReport } from "../src/storage-report.ts";
import { spawnSync } from "node:child_process";

import { BINARY, makeMaildir, makeTempDir, messageName, nowSeconds, REPO_ROOT, runBinary, writeChatmailIni, writeFileAt } from "./helpers.ts";

const HOUR = 3600;
const KIB = 1024;
const MIB = 1024 * KIB;

/**
 * Builds a mailboxes directory where every figure is known. Last logins sit one hour inside or
 * outside the activity windows, far more than a test run takes.
 *
 * | mailbox  | last login      | messages (disk bytes)                                   |
 * | alice    | 5 days ago      | cur 150000, new 600, tmp 2048, .DeltaChat/cur 2100000   |
 * | bob      | none            | cur 524288                                              |
 * | carol    | 10 days - 1 h   | cur 1048576 (S=5000)                                    |
 * | ci-xyz   | 2 days ago      | cur 11000000                                            |
 * | dave     | 10 days + 1 h   | cur 524288                                              |
 * | erin     | 150 days - 1 h  | none                                                    |
 * | frank    | 200 days ago    | new 102400                                              |
 */
function buildTree(): { ini: string; root: string; mailboxesDir: string } {
  const root = makeTempDir();
  const mailboxesDir = join(root, "mail", "example.org");
  const now = nowSeconds();
  const ago = (seconds: number) => now - seconds;

  const mailbox = (name: string, lastLogin: number | null) => {
    const path = join(mailboxesDir, name);
    makeMaildir(path);
    if (lastLogin !== null) writeFileAt(join(path, "password"), 100, lastLogin);
    return path;
  };

  const alice = mailbox("alice@example.org", ago(5 * DAY_SECONDS));
  writeFileAt(join(alice, "cur", messageName(now, 1, 200_000, "S")), 150_000, now);
  writeFileAt(join(alice, "new", messageName(now, 2, 700)), 600, now);
  writeFileAt(join(alice, "tmp", messageName(now, 3, 3000)), 2048, now);
  writeFileAt(join(alice, ".DeltaChat", "cur", messageName(now, 4, 2_200_000, "S")), 2_100_000, now);
  writeFileAt(join(alice, "maildirsize"), 50, now);
  writeFileAt(join(alice, "dovecot.index.cache"), 1000, now);
  writeFileAt(join(alice, ".DeltaChat", "dovecot.index"), 200, now);

  const bob = mailbox("bob@example.org", null);
  writeFileAt(join(bob, "cur", messageName(now, 5, undefined, "S")), 512 * KIB, now);
  writeFileAt(join(bob, "maildirsize"), 30, now);

  const carol = mailbox("carol@example.org", ago(10 * DAY_SECONDS - HOUR));
  writeFileAt(join(carol, "cur", messageName(now, 6, 5000, "S")), MIB, now);

  const ci = mailbox("ci-xyz@example.org", ago(2 * DAY_SECONDS));
  writeFileAt(join(ci, "cur", messageName(now, 7, 11_000_000, "S")), 11_000_000, now);

  const dave = mailbox("dave@example.org", ago(10 * DAY_SECONDS + HOUR));
  writeFileAt(join(dave, "cur", messageName(now, 8, 512 * KIB, "S")), 512 * KIB, now);

  mailbox("erin@example.org", ago(150 * DAY_SECONDS - HOUR));

  const frank = mailbox("frank@example.org", ago(200 * DAY_SECONDS));
  writeFileAt(join(frank, "new", messageName(now, 9, 100 * KIB)), 100 * KIB, now);

  // Not mailboxes: no `@`, or not a directory.
  writeFileAt(join(mailboxesDir, "pending_notifications", "x"), 999_999, now);
  writeFileAt(join(mailboxesDir, "stray@example.org"), 999_999, now);

  const ini = join(root, "chatmail.ini");
  writeChatmailIni(ini, { mail_domain: "example.org", mailboxes_dir: mailboxesDir, max_mailbox_size: "1M" });
  return { ini, root, mailboxesDir };
}

interface JsonReport {
  mailboxes: number;
  mdir: string | null;
  storage: { totalBytes: number; messageBytes: number; messageCount: number; extraBytes: number; extraFileCount: number; extraPercent: number };
  sizeClasses: { minSize: number; bytes: number; count: number; percent: number }[];
  logins: { all: number; ci: number; user: number; active: { days: number; accounts: number; percent: number }[] };
  quota: { usageBytes: number; maxMailboxSize: number; mailboxesOverQuota: number };
}

function runJson(args: string[]): JsonReport {
  const result = runBinary(["fsreport", ...args, "--json"]);
  expect(result.stderr).toBe("");
  expect(result.exitCode).toBe(0);
  return JSON.parse(result.stdout) as JsonReport;
}

const MESSAGE_BYTES = 150_000 + 600 + 2048 + 2_100_000 + 512 * KIB + MIB + 11_000_000 + 512 * KIB + 100 * KIB;
const EXTRA_BYTES = 6 * 100 + 50 + 1000 + 200 + 30;

const tree = buildTree();

describe("fsreport figures", () => {
  test("storage, quota and logins", () => {
    const report = runJson([tree.ini]);
    expect(report.mailboxes).toBe(7);
    expect(report.storage.messageBytes).toBe(MESSAGE_BYTES);
    expect(report.storage.messageBytes).toBe(15_452_200);
    expect(report.storage.messageCount).toBe(9);
    expect(report.storage.extraBytes).toBe(1880);
    expect(report.storage.extraFileCount).toBe(10);
    expect(report.storage.totalBytes).toBe(15_454_080);
    expect(report.storage.extraPercent).toBeCloseTo((1880 / 15_454_080) * 100, 12);

    // S= where present, else the disk size; tmp/ never counts.
    expect(report.quota.usageBytes).toBe(200_000 + 700 + 2_200_000 + 512 * KIB + 5000 + 11_000_000 + 512 * KIB + 100 * KIB);
    expect(report.quota.maxMailboxSize).toBe(MIB);
    expect(report.quota.mailboxesOverQuota).toBe(2);

    expect(report.logins.all).toBe(6);
    expect(report.logins.ci).toBe(1);
    expect(report.logins.user).toBe(5);
    expect(report.logins.active.map((window) => window.days)).toEqual([1, 10, 30, 40, 80, 100, 150]);
    expect(report.logins.active.map((window) => window.accounts)).toEqual([0, 2, 3, 3, 3, 3, 4]);
    expect(report.logins.active[1]!.percent).toBe(40);
  });

  test("size classes skip mailboxes without login", () => {
    const report = runJson([tree.ini]);
    expect(report.sizeClasses.map((sizeClass) => sizeClass.minSize)).toEqual([0, 102_400, 524_288, 1_048_576, 2_097_152, 5_242_880, 10_485_760]);
    expect(report.sizeClasses.map((sizeClass) => sizeClass.bytes)).toEqual([
      14_927_912, 14_925_264, 14_672_864, 14_148_576, 13_100_000, 11_000_000, 11_000_000,
    ]);
    expect(report.sizeClasses.map((sizeClass) => sizeClass.count)).toEqual([8, 6, 4, 3, 2, 1, 1]);
    expect(report.sizeClasses[4]!.percent).toBeCloseTo((13_100_000 / MESSAGE_BYTES) * 100, 12);
  });

  test("--mdir cur and --mdir tmp", () => {
    const cur = runJson([tree.ini, "--mdir", "cur"]);
    expect(cur.mdir).toBe("cur");
    expect(cur.sizeClasses.map((sizeClass) => sizeClass.bytes)).toEqual([
      14_822_864, 14_822_864, 14_672_864, 14_148_576, 13_100_000, 11_000_000, 11_000_000,
    ]);
    expect(cur.sizeClasses.map((sizeClass) => sizeClass.count)).toEqual([5, 5, 4, 3, 2, 1, 1]);
    // Storage figures ignore --mdir.
    expect(cur.storage.messageBytes).toBe(MESSAGE_BYTES);

    const tmp = runJson([tree.ini, "--mdir=tmp"]);
    expect(tmp.sizeClasses.map((sizeClass) => sizeClass.bytes)).toEqual([2048, 0, 0, 0, 0, 0, 0]);
    expect(tmp.sizeClasses.map((sizeClass) => sizeClass.count)).toEqual([1, 0, 0, 0, 0, 0, 0]);
  });

  test("--min-login-age keeps old logins only", () => {
    const report = runJson([tree.ini, "--min-login-age", "7"]);
    // carol, dave and frank; alice (5 days) and ci-xyz (2 days) logged in too recently.
    expect(report.sizeClasses.map((sizeClass) => sizeClass.bytes)).toEqual([1_675_264, 1_675_264, 1_572_864, 1_048_576, 0, 0, 0]);
    expect(report.sizeClasses.map((sizeClass) => sizeClass.count)).toEqual([3, 3, 2, 1, 0, 0, 0]);
    expect(report.logins.active.map((window) => window.accounts)).toEqual([0, 2, 3, 3, 3, 3, 4]);
  });

  test("--days moves the reference date back", () => {
    const report = runJson([tree.ini, "--days", "3"]);
    // Three days earlier alice logged in 2 days before, carol and dave 7, erin 147, frank 197.
    expect(report.logins.active.map((window) => window.accounts)).toEqual([0, 3, 3, 3, 3, 3, 4]);
    // ci-xyz logged in after the reference date, so its message leaves the size classes.
    expect(report.sizeClasses[0]!.bytes).toBe(14_927_912 - 11_000_000);
    expect(report.sizeClasses[0]!.count).toBe(7);
    expect(report.sizeClasses[5]!.bytes).toBe(0);
    expect(report.logins.all).toBe(6);
  });

  test("--maxnum takes mailboxes in name order", () => {
    const report = runJson([tree.ini, "--maxnum", "2"]);
    // alice@ and bob@ come first in byte order.
    expect(report.mailboxes).toBe(2);
    expect(report.storage.messageBytes).toBe(150_000 + 600 + 2048 + 2_100_000 + 512 * KIB);
    expect(report.logins.all).toBe(1);

    const all = runJson([tree.ini, "--maxnum", "7"]);
    expect(all.mailboxes).toBe(7);
  });

  test("maxnum 0 is rejected, not taken as all", () => {
    const onCommandLine = runBinary(["fsreport", tree.ini, "--maxnum", "0"]);
    expect(onCommandLine.exitCode).toBe(2);
    expect(onCommandLine.stderr).toBe('error: invalid --maxnum "0": expected a whole number, 1 or more (see chatmail-maildir fsreport --help)\n');
    expect(onCommandLine.stdout).toBe("");

    const settings = join(makeTempDir(), "settings.toml");
    writeFileSync(settings, "[fsreport]\nmaxnum = 0\n");
    const fromFile = runBinary(["fsreport", tree.ini, "--settings", settings]);
    expect(fromFile.exitCode).toBe(1);
    expect(fromFile.stderr).toBe(`error: ${settings}: invalid fsreport.maxnum "0": expected a whole number, 1 or more\n`);
    expect(fromFile.stdout).toBe("");
  });

  test("missing mailboxes_dir is an error", () => {
    const root = makeTempDir();
    const ini = join(root, "chatmail.ini");
    writeChatmailIni(ini, { mail_domain: "example.org", mailboxes_dir: join(root, "missing") });
    const textfileDir = join(root, "metrics");
    mkdirSync(textfileDir);

    for (const output of [["--json"], ["--textfile", textfileDir, "--legacy-metrics", join(root, "legacy")]]) {
      const result = runBinary(["fsreport", ini, ...output]);
      expect(result.stderr).toBe(`error: cannot read mailboxes_dir ${join(root, "missing")}: not found\n`);
      expect(result.exitCode).toBe(1);
      expect(result.stdout).toBe("");
    }
    expect(readdirSync(root).sort()).toEqual(["chatmail.ini", "metrics"]);
    expect(readdirSync(textfileDir)).toEqual([]);
  });

  test("empty mailboxes_dir reports zeros", () => {
    const root = makeTempDir();
    const ini = join(root, "chatmail.ini");
    mkdirSync(join(root, "mail"));
    writeChatmailIni(ini, { mail_domain: "example.org", mailboxes_dir: join(root, "mail") });
    const report = runJson([ini]);
    expect(report.mailboxes).toBe(0);
    expect(report.storage.extraPercent).toBe(100);
    expect(report.logins.active[0]!.percent).toBe(100);
  });
});

describe("fsreport summary", () => {
  test("sizes in K/M/G and shares", () => {
    const result = runBinary(["fsreport", tree.ini]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe("");
    const lines = result.stdout.split("\n");
    expect(lines).toContain("total:               15M");
    expect(lines).toContain("extra files:       1.88K in 10 files (0.01% of total)");
    expect(lines).toContain("at least  0.00K:    14M (96.61%) in 8 messages");
    expect(lines).toContain("at least   102K:    14M (96.59%) in 6 messages");
    expect(lines).toContain("over quota:       2 mailboxes above max_mailbox_size 1M");
    expect(lines).toContain("active in last  10 days: 2 (40.00%)");
    expect(lines).toContain("active in last 150 days: 4 (80.00%)");
  });
  test("one of each in singular, ini's size text", () => {
    const root = makeTempDir();
    const mailboxesDir = join(root, "mail");
    const mailbox = join(mailboxesDir, "solo@example.org");
    makeMaildir(mailbox);
    const now = nowSeconds();
    writeFileAt(join(mailbox, "cur", messageName(now, 1, 200 * MIB, "S")), 2000, now);
    writeFileAt(join(mailbox, "maildirsize"), 20, now);
    writeFileAt(join(mailbox, "password"), 80, now - 2 * DAY_SECONDS);
    const ini = join(root, "chatmail.ini");
    writeChatmailIni(ini, { mail_domain: "example.org", mailboxes_dir: mailboxesDir, max_mailbox_size: "100M" });

    const result = runBinary(["fsreport", ini]);
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.split("\n");
    expect(lines[0]).toBe(`## Storage of 1 mailbox in ${mailboxesDir}`);
    expect(lines).toContain("messages:          2.00K in 1 file");
    expect(lines).toContain("extra files:       0.10K in 2 files (4.76% of total)");
    expect(lines).toContain("over quota:       1 mailbox above max_mailbox_size 100M");
    expect(lines).toContain("at least  0.00K:  2.00K (100.00%) in 1 message");
    expect(lines).toContain("at least   102K:  0.00K (0.00%) in 0 messages");
    expect(lines).toContain("accounts with a login: 1");
    expect(lines).toContain("active in last   1 day:  0 (0.00%)");
    expect(lines).toContain("active in last  10 days: 1 (100.00%)");
    expect(lines.some((line) => /^Walked 1 mailbox in \d+\.\d\d seconds\.$/.test(line))).toBe(true);
  });
});

describe("fsreport bucket edges", () => {
  const NOW = 1_800_000_000;

  function mailbox(name: string, lastLogin: number | null, diskSizes: number[]): Mailbox {
    const messages: MessageFile[] = diskSizes.map((diskSize, index) => ({
      folder: "",
      subdir: "cur",
      name: `${NOW}.M${index}P1.test`,
      quotaSize: diskSize,
      diskSize,
      mtimeMs: NOW * 1000,
      ctimeMs: NOW * 1000,
    }));
    const contents = { path: `/m/${name}`, messages, extraFileCount: 0, extraFileBytes: 0, unreadableDirs: 0 };
    return { name, path: `/m/${name}`, lastLogin, contents };
  }

  test("login exactly at a window edge counts", () => {
    const report = new StorageReport({ now: NOW, minLoginAgeDays: 0, mdir: undefined, maxMailboxSize: MIB });
    report.addMailbox(mailbox("edge@x", NOW - 10 * DAY_SECONDS, []));
    report.addMailbox(mailbox("past@x", NOW - 10 * DAY_SECONDS - 1, []));
    expect(report.activity.map((window) => window.accounts)).toEqual([0, 1, 2, 2, 2, 2, 2]);
  });

  test("login exactly min-login-age ago counts", () => {
    const report = new StorageReport({ now: NOW, minLoginAgeDays: 30, mdir: undefined, maxMailboxSize: MIB });
    report.addMailbox(mailbox("edge@x", NOW - 30 * DAY_SECONDS, [100 * KIB]));
    report.addMailbox(mailbox("recent@x", NOW - 30 * DAY_SECONDS + 1, [7]));
    expect(report.sizeClasses.map((sizeClass) => sizeClass.count)).toEqual([1, 1, 0, 0, 0, 0, 0]);
  });

  test("zero mtime password means no login", () => {
    const report = new StorageReport({ now: NOW, minLoginAgeDays: 0, mdir: undefined, maxMailboxSize: MIB });
    report.addMailbox(mailbox("epoch@x", 0, [10]));
    expect(report.accounts).toBe(0);
    expect(report.sizeClasses[0]!.count).toBe(0);
  });

  test("quota usage equal to the limit is not over", () => {
    const report = new StorageReport({ now: NOW, minLoginAgeDays: 0, mdir: undefined, maxMailboxSize: MIB });
    report.addMailbox(mailbox("full@x", NOW, [MIB]));
    report.addMailbox(mailbox("over@x", NOW, [MIB, 1]));
    expect(report.mailboxesOverQuota).toBe(1);
  });
});

/**
 * promtool from Debian's prometheus package, fetched by scripts/promtool.sh. Without it the
 * parser checks are skipped on a developer machine, but fail in CI.
 */
function findPromtool(): string | null {
  const result = spawnSync("bash", [join(REPO_ROOT, "scripts", "promtool.sh")], { encoding: "utf8" });
  if (result.status === 0) return result.stdout.trim();
  if (process.env.CI) throw new Error(`promtool is required in CI: ${result.stderr.trim()}`);
  console.warn(`skipping promtool checks: ${result.stderr.trim()}`);
  return null;
}

const promtool = findPromtool();

function checkMetrics(path: string): { exitCode: number; output: string } {
  const result = spawnSync(promtool!, ["check", "metrics"], { input: readFileSync(path), encoding: "utf8" });
  return { exitCode: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

function fileMode(path: string): number {
  return statSync(path).mode & 0o777;
}

describe("fsreport textfile", () => {
  test("directory gets fsreport.prom", () => {
    const dir = makeTempDir();
    const result = runBinary(["fsreport", tree.ini, "--textfile", dir]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe("");
    expect(readdirSync(dir)).toEqual(["fsreport.prom"]);
    expect(fileMode(join(dir, "fsreport.prom"))).toBe(0o644);

    const lines = readFileSync(join(dir, "fsreport.prom"), "utf8").split("\n");
    for (const line of [
      "# TYPE chatmail_storage_bytes gauge",
      'chatmail_storage_bytes{kind="messages"} 15452200',
      'chatmail_storage_bytes{kind="extra"} 1880',
      'chatmail_storage_bytes{kind="total"} 15454080',
      "# TYPE chatmail_messages_bytes gauge",
      'chatmail_messages_bytes{min_size="0"} 14927912',
      'chatmail_messages_bytes{min_size="10485760"} 11000000',
      "# TYPE chatmail_messages_count gauge",
      'chatmail_messages_count{min_size="102400"} 6',
      "# TYPE chatmail_accounts gauge",
      'chatmail_accounts{kind="all"} 6',
      'chatmail_accounts{kind="ci"} 1',
      'chatmail_accounts{kind="user"} 5',
      "# TYPE chatmail_accounts_active gauge",
      'chatmail_accounts_active{days="1"} 0',
      'chatmail_accounts_active{days="10"} 2',
      'chatmail_accounts_active{days="150"} 4',
      "chatmail_mailboxes 7",
      "chatmail_quota_usage_bytes 14556676",
      "chatmail_mailboxes_over_quota 2",
      "chatmail_fsreport_unreadable_directories 0",
    ]) {
      expect(lines).toContain(line);
    }
    for (const name of ["chatmail_storage_bytes", "chatmail_messages_bytes", "chatmail_messages_count", "chatmail_accounts", "chatmail_accounts_active"]) {
      expect(lines.some((line) => line.startsWith(`# HELP ${name} `))).toBe(true);
    }

    const lastRun = lines.find((line) => line.startsWith("chatmail_fsreport_last_run_timestamp_seconds "));
    expect(Math.abs(Number(lastRun!.split(" ")[1]) - Date.now() / 1000)).toBeLessThan(600);
  });

  test("file path is written as given", () => {
    const dir = makeTempDir();
    const path = join(dir, "custom.prom");
    writeFileSync(path, "# HELP old_metric An earlier run.\n");
    chmodSync(path, 0o600);
    const result = runBinary(["fsreport", tree.ini, "--textfile", path]);
    expect(result.exitCode).toBe(0);
    expect(readdirSync(dir)).toEqual(["custom.prom"]);
    expect(readFileSync(path, "utf8")).toContain('chatmail_accounts{kind="all"} 6\n');
    expect(fileMode(path)).toBe(0o644);
  });

  test.skipIf(promtool === null)("promtool parses the textfile", () => {
    const dir = makeTempDir();
    expect(runBinary(["fsreport", tree.ini, "--textfile", dir]).exitCode).toBe(0);
    const check = checkMetrics(join(dir, "fsreport.prom"));
    // Exit 3 is a lint remark, 1 a parse error. The only remark is about the kept name.
    expect(check.output).toBe('chatmail_messages_count non-histogram and non-summary metrics should not have "_count" suffix\n');
    expect(check.exitCode).toBe(3);
  });

  test.skipIf(promtool === null)("promtool parses the legacy metrics", () => {
    const path = join(makeTempDir(), "metrics");
    const result = runBinary(["fsreport", tree.ini, `--legacy-metrics=${path}`]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe("");
    const check = checkMetrics(path);
    expect(check.output).toBe("");
    expect(check.exitCode).toBe(0);
  });

  test("legacy metrics with a separate value", () => {
    const path = join(makeTempDir(), "metrics");
    const result = runBinary(["fsreport", tree.ini, "--legacy-metrics", path]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe("");
    const lines = readFileSync(path, "utf8").split("\n");
    expect(lines.filter((line) => !line.startsWith("#"))).toEqual(["accounts 6", "ci_accounts 1", "nonci_accounts 5", ""]);
    expect(lines.filter((line) => line.startsWith("# TYPE"))).toEqual([
      "# TYPE accounts gauge",
      "# TYPE ci_accounts gauge",
      "# TYPE nonci_accounts gauge",
    ]);
    expect(fileMode(path)).toBe(0o644);
  });

  test("failed write keeps the old file", () => {
    const dir = makeTempDir();
    const path = join(dir, "fsreport.prom");
    writeFileSync(path, "# TYPE old_metric gauge\n");

    // A 1 KiB file size limit makes the write of the temporary file fail with EFBIG after
    // it was created. SIGXFSZ is ignored so that the write returns the error.
    const result = spawnSync("bash", ["-c", 'trap "" XFSZ; ulimit -f 1; exec "$0" "$@"', BINARY, "fsreport", tree.ini, "--textfile", dir], {
      encoding: "utf8",
    });
    expect(result.stderr).toBe(`error: cannot write ${path}: file too large\n`);
    expect(result.status).toBe(1);
    expect(readFileSync(path, "utf8")).toBe("# TYPE old_metric gauge\n");
    expect(readdirSync(dir)).toEqual(["fsreport.prom"]);
  });

  test("missing directory of the textfile", () => {
    const dir = makeTempDir();
    const path = join(dir, "missing", "fsreport.prom");
    const result = runBinary(["fsreport", tree.ini, "--textfile", path]);
    expect(result.stderr).toBe(`error: cannot write ${path}: not found\n`);
    expect(result.exitCode).toBe(1);

    // A trailing slash names a directory to write fsreport.prom into.
    const withSlash = runBinary(["fsreport", tree.ini, "--textfile", `${dir}/missing/`]);
    expect(withSlash.stderr).toBe(`error: cannot write ${dir}/missing/: not found\n`);
    expect(withSlash.exitCode).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("fsreport metrics file guard", () => {
  /** Writes a chatmail.ini for `tree` whose first line would pass for a metrics file. */
  function iniStartingWithHelp(dir: string): string {
    const ini = join(dir, "chatmail.ini");
    writeFileSync(ini, `# HELP looks like metrics\n${readFileSync(tree.ini, "utf8")}`);
    return ini;
  }

  test("--legacy-metrics naming the ini is rejected", () => {
    const dir = makeTempDir();
    const ini = iniStartingWithHelp(dir);
    const before = readFileSync(ini, "utf8");

    for (const option of ["--legacy-metrics", "--textfile"]) {
      const result = runBinary(["fsreport", ini, option, ini]);
      expect(result.stderr).toBe(`error: cannot write ${ini}: it is the chatmail.ini this run reads\n`);
      expect(result.exitCode).toBe(1);
      expect(result.stdout).toBe("");
    }
    expect(readFileSync(ini, "utf8")).toBe(before);
    expect(readdirSync(dir)).toEqual(["chatmail.ini"]);
  });

  test("hard link to the ini is rejected", () => {
    const dir = makeTempDir();
    const ini = iniStartingWithHelp(dir);
    const link = join(dir, "metrics");
    linkSync(ini, link);

    const result = runBinary(["fsreport", ini, `--legacy-metrics=${link}`]);
    expect(result.stderr).toBe(`error: cannot write ${link}: it is the chatmail.ini this run reads\n`);
    expect(result.exitCode).toBe(1);
    expect(readFileSync(ini, "utf8")).toStartWith("# HELP looks like metrics\n[params]\n");
    expect(readdirSync(dir).sort()).toEqual(["chatmail.ini", "metrics"]);
  });

  // The default chatmail.ini path is made to exist by a bind mount over /usr/local/lib in a
  // private mount namespace, which needs root.
  test.skipIf(process.getuid?.() !== 0 && !process.env.CI)("default ini taken as --legacy-metrics FILE stays", () => {
    const libDir = makeTempDir();
    mkdirSync(join(libDir, "chatmaild"));
    const ini = join(libDir, "chatmaild", "chatmail.ini");
    writeFileSync(ini, readFileSync(tree.ini));

    // Without CHATMAIL_INI before it, --legacy-metrics takes the ini path as its FILE, and the
    // run reads the same file as its default chatmail.ini.
    const bindMount = 'mount --bind "$0" /usr/local/lib && exec "$@"';
    const result = spawnSync(
      "unshare",
      ["--mount", "--propagation", "private", "sh", "-c", bindMount, libDir, BINARY, "fsreport", "--legacy-metrics", "/usr/local/lib/chatmaild/chatmail.ini"],
      { encoding: "utf8" },
    );
    expect(result.stderr).toBe("error: cannot write /usr/local/lib/chatmaild/chatmail.ini: it is the chatmail.ini this run reads\n");
    expect(result.status).toBe(1);
    expect(readFileSync(ini, "utf8")).toBe(readFileSync(tree.ini, "utf8"));
    expect(readdirSync(join(libDir, "chatmaild"))).toEqual(["chatmail.ini"]);
  });

  test("existing file that is not metrics stays", () => {
    const dir = makeTempDir();
    const notes = join(dir, "notes.txt");
    writeFileSync(notes, "accounts 5\n");
    const legacy = join(dir, "metrics");

    const cases: [string[], string][] = [
      [["--textfile", notes, "--legacy-metrics", legacy], "--textfile"],
      [["--textfile", dir, "--legacy-metrics", notes], "--legacy-metrics"],
    ];
    for (const [args, option] of cases) {
      const result = runBinary(["fsreport", tree.ini, ...args]);
      expect(result.stderr).toBe(
        `error: cannot write ${notes}: the existing file does not start with "# HELP" or "# TYPE", ` +
          `so it is not a metrics file (choose another path for ${option})\n`,
      );
      expect(result.exitCode).toBe(1);
      // The other file of the run is not written either.
      expect(readdirSync(dir)).toEqual(["notes.txt"]);
      expect(readFileSync(notes, "utf8")).toBe("accounts 5\n");
    }
  });

  test("empty file and earlier metrics are replaced", () => {
    const dir = makeTempDir();
    const empty = join(dir, "empty.prom");
    writeFileSync(empty, "");
    const earlier = join(dir, "metrics");
    writeFileSync(earlier, "# TYPE accounts gauge\naccounts 1\n");

    const result = runBinary(["fsreport", tree.ini, "--textfile", empty, "--legacy-metrics", earlier]);
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(readFileSync(empty, "utf8")).toStartWith("# HELP chatmail_storage_bytes ");
    expect(readFileSync(earlier, "utf8")).toContain("\naccounts 6\n");
    expect(readdirSync(dir).sort()).toEqual(["empty.prom", "metrics"]);
  });

  test("FIFO and directory paths are rejected", () => {
    const dir = makeTempDir();
    const fifo = join(dir, "fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    mkdirSync(join(dir, "sub"));

    const cases: [string[], string][] = [
      [["--textfile", fifo], `cannot write ${fifo}: not a regular file`],
      [["--legacy-metrics", fifo], `cannot write ${fifo}: not a regular file`],
      [["--legacy-metrics", join(dir, "sub")], `cannot write ${join(dir, "sub")}: is a directory`],
      [["--legacy-metrics", `${dir}/sub/`], `cannot write ${dir}/sub/: is a directory`],
    ];
    for (const [args, message] of cases) {
      const result = runBinary(["fsreport", tree.ini, ...args]);
      expect(result.stderr).toBe(`error: ${message}\n`);
      expect(result.exitCode).toBe(1);
    }
    expect(readdirSync(dir).sort()).toEqual(["fifo", "sub"]);
    expect(readdirSync(join(dir, "sub"))).toEqual([]);
  });
});

describe("fsreport command line", () => {
  const args = fsreportCommand.args as Parameters<typeof checkArguments>[1];

  test("--legacy-metrics alone takes the default", () => {
    expect(checkArguments("fsreport", args, ["chatmail.ini", "--legacy-metrics"])).toEqual([
      "--legacy-metrics=/var/www/html/metrics",
      "--",
      "chatmail.ini",
    ]);
    expect(checkArguments("fsreport", args, ["--legacy-metrics", "--json", "chatmail.ini"])).toEqual([
      "--legacy-metrics=/var/www/html/metrics",
      "--json",
      "--",
      "chatmail.ini",
    ]);
  });

  test("--legacy-metrics takes a following value", () => {
    expect(checkArguments("fsreport", args, ["--legacy-metrics", "/srv/metrics"])).toEqual(["--legacy-metrics", "/srv/metrics"]);
    expect(checkArguments("fsreport", args, ["--legacy-metrics=/srv/metrics", "chatmail.ini"])).toEqual([
      "--legacy-metrics=/srv/metrics",
      "--",
      "chatmail.ini",
    ]);
  });

  test("bad values are usage errors", () => {
    const cases: [string[], string][] = [
      [["--mdir", "foo"], 'invalid --mdir "foo": expected one of cur, new, tmp'],
      [["--days", "-1"], 'invalid --days "-1": expected a whole number, 0 or more'],
      [["--days=1.5"], 'invalid --days "1.5": expected a whole number, 0 or more'],
      [["--min-login-age", "x"], 'invalid --min-login-age "x": expected a whole number, 0 or more'],
      [["--maxnum", ""], 'invalid --maxnum "": expected a whole number, 1 or more'],
      [["--textfile"], "chatmail-maildir fsreport: option --textfile needs a value"],
      [["--bogus"], "chatmail-maildir fsreport: unknown option --bogus"],
    ];
    for (const [extra, message] of cases) {
      const result = runBinary(["fsreport", tree.ini, ...extra]);
      expect(result.stderr).toBe(`error: ${message} (see chatmail-maildir fsreport --help)\n`);
      expect(result.exitCode).toBe(2);
    }
  });

  test("--days and --min-login-age accept 36500", () => {
    const report = runJson([tree.ini, "--days", "36500", "--min-login-age", "36500"]);
    expect(report.mailboxes).toBe(7);
    // Every last login lies after the reference date, so no mailbox counts in the size classes.
    expect(report.sizeClasses[0]!.count).toBe(0);
  });

  test("settings file sets defaults, command line wins", () => {
    const settings = join(makeTempDir(), "settings.toml");
    writeFileSync(settings, '[fsreport]\nmin-login-age = 7\nmdir = "cur"\n');
    const fromFile = runJson([tree.ini, "--settings", settings]);
    expect(fromFile.mdir).toBe("cur");
    expect(fromFile.sizeClasses[0]!.bytes).toBe(MIB + 512 * KIB);

    const overridden = runJson([tree.ini, "--settings", settings, "--min-login-age", "0", "--mdir", "new"]);
    expect(overridden.mdir).toBe("new");
    expect(overridden.sizeClasses[0]!.bytes).toBe(600 + 100 * KIB);
  });

  test("missing chatmail.ini", () => {
    const path = join(makeTempDir(), "chatmail.ini");
    const result = runBinary(["fsreport", path]);
    expect(result.stderr).toBe(`error: cannot read chatmail.ini ${path}: not found\n`);
    expect(result.exitCode).toBe(1);
  });
});

describe("fsreport unreadable directory", () => {
  test("is reported once and the report goes on", () => {
    const { ini, root, mailboxesDir } = buildTree();
    const locked = join(mailboxesDir, "alice@example.org", ".DeltaChat");
    chmodSync(locked, 0);

    // root can read every directory, so as root the binary runs as the user nobody, and the
    // temporary directory (mode 0700 from mkdtemp) is opened up for it.
    const asRoot = process.getuid?.() === 0;
    let command = [BINARY, "fsreport", ini, "--json"];
    if (asRoot) {
      chmodSync(root, 0o755);
      command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", ...command];
    }
    const result = spawnSync(command[0]!, command.slice(1), { encoding: "utf8" });
    chmodSync(locked, 0o755);

    expect(result.stderr).toBe(
      `error: cannot read ${locked}: permission denied\n` +
        "error: failed to read 1 files or directories: the figures above miss them\n",
    );
    expect(result.status).toBe(1);
    const report = JSON.parse(result.stdout) as JsonReport & { unreadableDirectories: number };
    expect(report.unreadableDirectories).toBe(1);
    expect(report.mailboxes).toBe(7);
    expect(report.storage.messageBytes).toBe(MESSAGE_BYTES - 2_100_000);
    expect(report.storage.extraBytes).toBe(EXTRA_BYTES - 200);
  });
});
