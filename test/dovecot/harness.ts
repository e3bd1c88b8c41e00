/**
 * A private Dovecot instance for end-to-end tests, configured the way chatmail relays configure
 * theirs: Maildir mailboxes owned by `vmail`, gzip'd messages, the `maildir` quota backend and a
 * quota warning that runs the compiled binary through a `script` service.
 *
 * Everything the instance writes (sockets, state, log, mail) lives in one temporary directory. It
 * is started with `dovecot -c <config>` and stopped through the pid file in its own `base_dir`, so
 * a system-wide Dovecot, if any, is never touched.
 */

import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { BINARY } from "../helpers.ts";

export const DOVECOT = "/usr/sbin/dovecot";
export const DOVEADM = "/usr/bin/doveadm";
export const MAIL_USER = "vmail";

const PATH = "/usr/sbin:/usr/bin:/sbin:/bin";

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion without a shell. */
export function runCommand(argv: string[], options: { stdin?: string | Uint8Array } = {}): CommandResult {
  const result = Bun.spawnSync(argv, {
    env: { PATH },
    stdin: options.stdin === undefined ? "ignore" : Buffer.from(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

interface Account {
  uid: number;
  gid: number;
}

/** Looks up a user in the system's user database, or returns null when there is none. */
function lookUpAccount(name: string): Account | null {
  const result = runCommand(["getent", "passwd", name]);
  if (result.exitCode !== 0) return null;
  const fields = result.stdout.trim().split(":");
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

/**
 * Returns why these tests cannot run here, or null when they can: they need root (Dovecot's
 * master process starts as root), Debian's Dovecot and the `vmail` user.
 */
export function dovecotUnavailableReason(): string | null {
  if (process.getuid?.() !== 0) return "not running as root, which dovecot -c needs";
  if (!existsSync(DOVECOT) || !existsSync(DOVEADM)) return `${DOVECOT} or ${DOVEADM} not found (apt-get install dovecot-core)`;
  if (lookUpAccount(MAIL_USER) === null) return `user ${MAIL_USER} not found (useradd --system ${MAIL_USER})`;
  return null;
}

/** Runs a command as `vmail`, as Dovecot and the systemd timers run the binary on a relay. */
export function runAsMailUser(argv: string[]): CommandResult {
  return runCommand(["setpriv", `--reuid=${MAIL_USER}`, `--regid=${MAIL_USER}`, "--clear-groups", "--", ...argv]);
}

export interface DovecotOptions {
  /** The storage quota rule, in MiB. */
  quotaMiB: number;
  /** TARGET_MB that the quota warning passes to `quota-expire`, in MiB. */
  targetMiB: number;
  /** Options put between `quota-expire` and the warning's arguments, such as `--dry-run`. */
  quotaExpireOptions?: string[];
  /** The binary that the quota-warning service runs; the compiled binary of this checkout by default. */
  binary?: string;
  /**
   * Returns Dovecot configuration that replaces the harness's own `quota_warning` setting and
   * `quota-warning` service, such as a deployment snippet with its paths swapped for these.
   * `binary` is the copy of the binary that vmail can run.
   */
  quotaWarningSnippet?: (paths: { binary: string; mailRoot: string; dir: string }) => string;
}

/** The figures of `doveadm quota get` for one user. */
export interface QuotaFigures {
  /** STORAGE: Dovecot rounds the byte count up to whole KiB. */
  storageKiB: number;
  storageLimitKiB: number;
  /** MESSAGE: the number of messages in cur/ and new/ of every folder. */
  messages: number;
}

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;
const POLL_INTERVAL_MS = 20;

/** The master's line about a quota-warning process that exited with an error or a signal. */
export const SCRIPT_FAILURE = /service\(quota-warning\): child \d+ (returned error|killed)/;

const running = new Set<Dovecot>();

// A test run that exits without reaching afterAll must not leave a Dovecot behind.
process.on("exit", () => {
  for (const instance of running) instance.signalMaster("SIGKILL");
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `condition` every few milliseconds until it returns true; throws after `timeoutMs`. */
export async function waitFor(what: string, timeoutMs: number, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(POLL_INTERVAL_MS);
  }
}

/**
 * Returns a path of the binary that `vmail` can read and execute. A compiled Bun binary reads
 * itself, so it needs read permission too. When the repository lies below a directory `vmail`
 * cannot enter, the binary is copied into `dir`.
 */
function binaryForMailUser(binary: string, dir: string): string {
  const check = runAsMailUser(["sh", "-c", 'test -r "$0" && test -x "$0"', binary]);
  if (check.exitCode === 0) return binary;

  const copy = join(dir, "chatmail-maildir");
  copyFileSync(binary, copy);
  chmodSync(copy, 0o755);
  return copy;
}

export class Dovecot {
  readonly dir: string;
  readonly configPath: string;
  readonly baseDir: string;
  readonly logPath: string;
  /** The mail root: one mailbox directory per address, like a relay's `mailboxes_dir`. */
  readonly mailRoot: string;
  readonly binary: string;
  readonly options: DovecotOptions;
  private masterPid: number | null = null;

  private constructor(options: DovecotOptions) {
    const account = lookUpAccount(MAIL_USER);
    if (account === null) throw new Error(`user ${MAIL_USER} not found`);

    this.options = options;
    this.dir = mkdtempSync(join(tmpdir(), "chatmail-maildir-dovecot-"));
    // Dovecot's processes run as vmail and must reach the mail root and the binary inside.
    chmodSync(this.dir, 0o755);
    this.configPath = join(this.dir, "dovecot.conf");
    this.baseDir = join(this.dir, "run");
    this.logPath = join(this.dir, "dovecot.log");
    this.mailRoot = join(this.dir, "mail");

    mkdirSync(join(this.dir, "state"));
    mkdirSync(this.mailRoot, { mode: 0o700 });
    chownSync(this.mailRoot, account.uid, account.gid);
    this.binary = binaryForMailUser(options.binary ?? BINARY, this.dir);
    writeFileSync(this.configPath, this.configText(account));
  }

  private configText(account: Account): string {
    const { quotaMiB, targetMiB, quotaExpireOptions = [], quotaWarningSnippet } = this.options;
    const script = [this.binary, "quota-expire", ...quotaExpireOptions].join(" ");
    const quotaWarning =
      quotaWarningSnippet === undefined
        ? this.quotaWarningText(script, targetMiB)
        : quotaWarningSnippet({ binary: this.binary, mailRoot: this.mailRoot, dir: this.dir });
    return `# Written by the end-to-end tests: a chatmail-like Dovecot in ${this.dir}
base_dir = ${this.baseDir}
state_dir = ${join(this.dir, "state")}
log_path = ${this.logPath}
instance_name = chatmail-maildir-test-${process.pid}

# No IMAP or LMTP listener: the tests deliver and read through doveadm, which needs only the
# master process for the quota-warning service.
protocols =
listen = 127.0.0.1
ssl = no

# vmail is a system user, below Dovecot's default first_valid_uid of 500.
first_valid_uid = ${account.uid}
first_valid_gid = ${account.gid}

passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = uid=${MAIL_USER} gid=${MAIL_USER} home=${this.mailRoot}/%u
}
mail_location = maildir:${this.mailRoot}/%u

mail_plugins = zlib quota
plugin {
  zlib_save = gz
  quota = maildir:User quota
  quota_rule = *:storage=${quotaMiB}M
  quota_grace = 0
}

${quotaWarning}`;
  }

  private quotaWarningText(script: string, targetMiB: number): string {
    return `plugin {
  quota_warning = storage=90%% quota-warning ${targetMiB} ${this.mailRoot}/%u
}

service quota-warning {
  executable = script ${script}
  user = ${MAIL_USER}
  # Dovecot's default_vsz_limit of 256 MiB is too small for a compiled Bun binary. Measured with
  # Bun 1.4.5 on x86-64 under prlimit --as: it aborts at start-up below about 370 MiB, and below
  # about 2.3 GiB it runs without its JIT, so bun:ffi fails to load.
  vsz_limit = 4G
  # Without user = vmail here, delivery processes cannot connect and the warning never runs.
  unix_listener quota-warning {
    user = ${MAIL_USER}
    mode = 0600
  }
}
`;
  }

  /** Writes the configuration, starts the master process and waits until it serves the warning. */
  static async start(options: DovecotOptions): Promise<Dovecot> {
    const instance = new Dovecot(options);
    running.add(instance);

    // The daemonized master inherits stdout and stderr, so pipes would never reach end of file:
    // take its start-up messages from a file instead.
    const startOutput = join(instance.dir, "dovecot-start.out");
    const started = Bun.spawnSync([DOVECOT, "-c", instance.configPath], {
      env: { PATH },
      stdin: "ignore",
      stdout: Bun.file(startOutput),
      stderr: Bun.file(startOutput),
    });
    if (started.exitCode !== 0) {
      const output = existsSync(startOutput) ? readFileSync(startOutput, "utf8").trim() : "";
      throw new Error(`dovecot -c ${instance.configPath} failed with exit code ${started.exitCode}: ${output}`);
    }

    // The master writes its pid file and creates every listener before it forks into the
    // background, but poll anyway so that a slow start fails with a clear message.
    const pidFile = join(instance.baseDir, "master.pid");
    const socket = join(instance.baseDir, "quota-warning");
    await waitFor(`${pidFile} and ${socket}`, READY_TIMEOUT_MS, () => existsSync(pidFile) && existsSync(socket));
    instance.masterPid = Number(readFileSync(pidFile, "utf8").trim());
    return instance;
  }

  /** Sends a signal to the master process; does nothing when it is not running. */
  signalMaster(signal: NodeJS.Signals): void {
    if (this.masterPid === null || !isAlive(this.masterPid)) return;
    process.kill(this.masterPid, signal);
  }

  /** Stops the master process (it stops its children) and removes the temporary directory. */
  async stop(): Promise<void> {
    const pid = this.masterPid;
    if (pid !== null) {
      this.signalMaster("SIGTERM");
      try {
        await waitFor(`Dovecot master ${pid} to exit`, STOP_TIMEOUT_MS, () => !isAlive(pid));
      } catch (error) {
        this.signalMaster("SIGKILL");
        throw error;
      } finally {
        running.delete(this);
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Returns the mailbox directory of an address. */
  mailboxPath(user: string): string {
    return join(this.mailRoot, user);
  }

  /** Runs `doveadm -c <config> ARGS…`; doveadm works on the mail itself, as root or vmail. */
  doveadm(args: string[], stdin?: string): CommandResult {
    return runCommand([DOVEADM, "-c", this.configPath, ...args], { stdin });
  }

  /** Runs doveadm and throws with its output unless it exits 0. */
  doveadmOk(args: string[], stdin?: string): string {
    const result = this.doveadm(args, stdin);
    if (result.exitCode !== 0) {
      throw new Error(`doveadm ${args.join(" ")} exited ${result.exitCode}: ${result.stderr.trim()}`);
    }
    return result.stdout;
  }

  /** Delivers a message with `doveadm save`, into INBOX or `folder`. Returns doveadm's result. */
  save(user: string, message: string, folder?: string): CommandResult {
    const args = ["save", "-u", user];
    if (folder !== undefined) args.push("-m", folder);
    return this.doveadm(args, message);
  }

  createFolder(user: string, folder: string): void {
    this.doveadmOk(["mailbox", "create", "-u", user, folder]);
  }

  quotaRecalc(user: string): void {
    this.doveadmOk(["quota", "recalc", "-u", user]);
  }

  quotaGet(user: string): QuotaFigures {
    const rows = parseJsonRows(this.doveadmOk(["-f", "json", "quota", "get", "-u", user]));
    const figure = (type: string): Record<string, string> => {
      const row = rows.find((candidate) => candidate.type === type);
      if (row === undefined) throw new Error(`doveadm quota get -u ${user} shows no ${type} row`);
      return row;
    };
    const storage = figure("STORAGE");
    return {
      storageKiB: Number(storage.value),
      storageLimitKiB: Number(storage.limit),
      messages: Number(figure("MESSAGE").value),
    };
  }

  /** Runs `doveadm fetch` for the given fields over every message that matches `query`. */
  fetch(user: string, fields: string[], query: string[] = ["all"]): { rows: Record<string, string>[]; stderr: string } {
    const result = this.doveadm(["-f", "json", "fetch", "-u", user, fields.join(" "), ...query]);
    if (result.exitCode !== 0) {
      throw new Error(`doveadm fetch -u ${user} exited ${result.exitCode}: ${result.stderr.trim()}`);
    }
    return { rows: parseJsonRows(result.stdout), stderr: result.stderr };
  }

  readLog(): string {
    return existsSync(this.logPath) ? readFileSync(this.logPath, "latin1") : "";
  }

  /** Returns the size of the log so far. Pass it to logSince() to read only what comes after. */
  logOffset(): number {
    return existsSync(this.logPath) ? statSync(this.logPath).size : 0;
  }

  logSince(offset: number): string {
    return this.readLog().slice(offset);
  }

  /**
   * Waits until a line of the log after `offset` matches `pattern`, and returns that line. Throws
   * with the log at once when a quota-warning script fails first, so a broken binary does not
   * look like a slow one.
   */
  async waitForLogLine(pattern: RegExp, offset = 0, timeoutMs = 20_000): Promise<string> {
    let found: string | undefined;
    await waitFor(`a line matching ${pattern} in ${this.logPath}`, timeoutMs, () => {
      const lines = this.logSince(offset).split("\n");
      found = lines.find((line) => pattern.test(line));
      if (found === undefined && lines.some((line) => SCRIPT_FAILURE.test(line))) {
        throw new Error(`the quota-warning script failed:\n${this.logSince(offset)}`);
      }
      return found !== undefined;
    });
    return found!;
  }
}

/** Parses the output of `doveadm -f json`: an array of rows whose values are all strings. */
export function parseJsonRows(output: string): Record<string, string>[] {
  return output.trim() === "" ? [] : (JSON.parse(output) as Record<string, string>[]);
}
