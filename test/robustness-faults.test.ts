/** Faults and races: unreadable trees, failing writes, closed pipes, kills and concurrent deleters. */

import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { BINARY, makeMaildir, makeTempDir, messageName, nowSeconds, REPO_ROOT, writeChatmailIni, writeFileAt } from "./helpers.ts";
import { expectNoCrash, expectOneErrorLine, IS_ROOT, NOBODY, runGuarded, runIntoClosedPipe, runShell, treeOf } from "./robustness-helpers.ts";

const DAY = 86_400;
const OLD = nowSeconds() - 30 * DAY;

/** Creates `mailboxes` mailboxes with `messages` messages of S=1000 in cur/ each and password mtime `login`. */
function makeRelay(mailboxes: number, messages: number, login = OLD) {
  const root = makeTempDir();
  const mailboxesDir = join(root, "mail");
  const addresses: string[] = [];
  for (let m = 0; m < mailboxes; m++) {
    const address = `user${String(m).padStart(3, "0")}@example.org`;
    addresses.push(address);
    const mailbox = join(mailboxesDir, address);
    makeMaildir(mailbox);
    for (let i = 0; i < messages; i++) writeFileAt(join(mailbox, "cur", messageName(OLD - i, i, 1000, "S")), 10, OLD - i);
    writeFileAt(join(mailbox, "password"), 0, login);
  }
  const ini = join(root, "chatmail.ini");
  writeChatmailIni(ini, { mail_domain: "example.org", mailboxes_dir: mailboxesDir, delete_inactive_users_after: "20" });
  return { root, mailboxesDir, addresses, ini };
}

/** Hands a tree to `nobody`, the way the relay's files belong to vmail. */
function giveToNobody(root: string): void {
  chmodSync(root, 0o755);
  expect(Bun.spawnSync(["chown", "-R", `${NOBODY}:${NOBODY}`, root]).exitCode).toBe(0);
}

function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line.startsWith("error: "));
}

/** Starts the binary, reads stderr until a line matches, then kills it with SIGKILL. */
async function killAtLine(args: string[], matches: (line: string) => boolean): Promise<boolean> {
  const child = Bun.spawn([BINARY, ...args], { stdout: "ignore", stderr: "pipe", cwd: REPO_ROOT });
  const reader = child.stderr.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  let found = false;
  while (!found) {
    const chunk = await reader.read();
    if (chunk.done) break;
    buffered += decoder.decode(chunk.value, { stream: true });
    found = buffered.split("\n").slice(0, -1).some(matches);
  }
  child.kill("SIGKILL");
  await child.exited;
  return found;
}

describe.skipIf(!IS_ROOT)("unreadable directories for an unprivileged user", () => {
  test("fsreport reports each unreadable directory once", () => {
    const { root, mailboxesDir, ini } = makeRelay(3, 4);
    mkdirSync(join(mailboxesDir, "user002@example.org", ".Sent", "cur"), { recursive: true });
    giveToNobody(root);
    chmodSync(join(mailboxesDir, "user001@example.org"), 0);
    chmodSync(join(mailboxesDir, "user002@example.org", ".Sent", "cur"), 0);

    const result = runGuarded(["fsreport", "--json", ini], { asNobody: true });

    expect(result.exitCode).toBe(1);
    expect(errorLines(result.stderr)).toEqual([
      `error: cannot read ${mailboxesDir}/user001@example.org: permission denied`,
      `error: cannot read ${mailboxesDir}/user002@example.org/.Sent/cur: permission denied`,
      "error: failed to read 2 files or directories: the figures above miss them",
    ]);
    const json = JSON.parse(result.stdout);
    expect(json.storage.messageCount).toBe(8);
    expect(json.unreadableDirectories).toBe(2);
  });

  test("quota-expire trims the rest and exits 1", () => {
    const { root, mailboxesDir } = makeRelay(1, 4);
    const mailbox = join(mailboxesDir, "user000@example.org");
    writeFileAt(join(mailbox, ".Sent", "cur", messageName(OLD, 99, 1000, "S")), 10, OLD);
    giveToNobody(root);
    chmodSync(join(mailbox, ".Sent", "cur"), 0);

    const result = runGuarded(["quota-expire", "0", mailbox], { asNobody: true });
    chmodSync(join(mailbox, ".Sent", "cur"), 0o755);

    expect(result.exitCode).toBe(1);
    expect(errorLines(result.stderr)).toEqual([`error: ${mailbox}: cannot read ${mailbox}/.Sent/cur: permission denied`]);
    expect(result.stderr).toContain(" removed=4 removed_bytes=4000 ");
    expect(treeOf(mailbox)).toEqual([".Sent/", ".Sent/cur/", `.Sent/cur/${messageName(OLD, 99, 1000, "S")}`, "cur/", "new/", "password", "tmp/"]);
  });

  test("expire-inactive removes the rest and exits 1", () => {
    const { root, mailboxesDir, ini } = makeRelay(4, 2);
    giveToNobody(root);
    chmodSync(join(mailboxesDir, "user001@example.org"), 0);

    const result = runGuarded(["expire-inactive", "--remove", "--force", ini], { asNobody: true });
    chmodSync(join(mailboxesDir, "user001@example.org"), 0o755);

    expect(result.exitCode).toBe(1);
    expect(errorLines(result.stderr)).toEqual(["error: cannot examine mailbox user001@example.org: permission denied"]);
    expect(result.stdout).toMatch(/^Removed 3 out of 4 mailboxes in /);
    expect(readdirSync(mailboxesDir)).toEqual(["user001@example.org"]);
  });

  test("textfile into a directory nobody may write", () => {
    const { root, ini } = makeRelay(1, 1);
    const metrics = join(root, "metrics");
    mkdirSync(metrics);
    writeFileSync(join(metrics, "fsreport.prom"), "# HELP previous_run An earlier textfile.\n");
    giveToNobody(root);
    chmodSync(metrics, 0o555);

    const result = runGuarded(["fsreport", "--textfile", metrics, ini], { asNobody: true });

    expect(result.exitCode).toBe(1);
    expectOneErrorLine(result.stderr, `cannot write ${metrics}/fsreport.prom: permission denied`);
    expect(readdirSync(metrics)).toEqual(["fsreport.prom"]);
    expect(readFileSync(join(metrics, "fsreport.prom"), "utf8")).toBe("# HELP previous_run An earlier textfile.\n");
  });
});

describe("failing writes and closed pipes", () => {
  test("textfile write over the file size limit", () => {
    const { root, ini } = makeRelay(2, 1);
    const textfile = join(root, "fsreport.prom");
    writeFileSync(textfile, "# HELP previous_run An earlier textfile.\n");

    // ulimit -f 1 allows 1024 bytes; the textfile is several KiB.
    const result = runShell(`ulimit -f 1; exec "$BINARY" fsreport --textfile ${textfile} ${ini}`);

    expect(result.exitCode).toBe(1);
    expectOneErrorLine(result.stderr, `cannot write ${textfile}: file too large`);
    expect(readFileSync(textfile, "utf8")).toBe("# HELP previous_run An earlier textfile.\n");
    expect(readdirSync(root).sort()).toEqual(["chatmail.ini", "fsreport.prom", "mail"]);
  });

  test("quota-expire -v into a closed pipe finishes the job", () => {
    const { mailboxesDir } = makeRelay(1, 300);
    const mailbox = join(mailboxesDir, "user000@example.org");
    writeFileSync(join(mailbox, "maildirsize"), "1048576S\n300000 300\n");

    expect(runIntoClosedPipe(["quota-expire", "-v", "0", mailbox])).toBe(0);
    expect(treeOf(mailbox)).toEqual(["cur/", "new/", "password", "tmp/"]);
  });

  test("expire-inactive into a closed pipe removes every selected mailbox", () => {
    const { mailboxesDir, ini } = makeRelay(6, 3);

    expect(runIntoClosedPipe(["expire-inactive", "-v", "--remove", "--force", ini])).toBe(0);
    expect(readdirSync(mailboxesDir)).toEqual([]);
  });

  test("fsreport into a closed pipe keeps its exit code", () => {
    const { root, ini } = makeRelay(2, 2);

    expect(runIntoClosedPipe(["fsreport", "--json", ini])).toBe(0);
    expect(runIntoClosedPipe(["fsreport", join(root, "missing.ini")])).toBe(1);
    expect(runIntoClosedPipe(["fsreport", "--no-such-option"])).toBe(2);
  });
});

describe("killed runs", () => {
  test("quota-expire killed mid-run: next run finishes, maildirsize goes", async () => {
    const { mailboxesDir } = makeRelay(1, 3000);
    const mailbox = join(mailboxesDir, "user000@example.org");
    writeFileSync(join(mailbox, "maildirsize"), "1048576S\n3000000 3000\n");

    // maildirsize goes before the first message, so the killed run leaves none that counts
    // removed messages, and Dovecot recounts.
    expect(await killAtLine(["quota-expire", "-v", "0", mailbox], (line) => line.includes(": removed cur/"))).toBe(true);
    expect(existsSync(join(mailbox, "maildirsize"))).toBe(false);
    const next = runGuarded(["quota-expire", "0", mailbox]);

    expect(next.exitCode).toBe(0);
    expect(next.stderr).not.toContain("lock_wait");
    expect(errorLines(next.stderr)).toEqual([]);
    expect(treeOf(mailbox)).toEqual(["cur/", "new/", "password", "tmp/"]);
  });

  test("maildirsize above the messages stays at or below target", () => {
    const { mailboxesDir } = makeRelay(1, 3);
    const mailbox = join(mailboxesDir, "user000@example.org");
    writeFileSync(join(mailbox, "maildirsize"), "1048576S\n3000 3\n900000 900\n-5000 -5\n");

    const result = runGuarded(["quota-expire", "1", mailbox]);

    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe("");
    expect(readFileSync(join(mailbox, "maildirsize"), "utf8")).toBe("1048576S\n3000 3\n900000 900\n-5000 -5\n");
  });

  test("maildirsize matching the messages stays", () => {
    const { mailboxesDir } = makeRelay(1, 3);
    const mailbox = join(mailboxesDir, "user000@example.org");
    writeFileSync(join(mailbox, "maildirsize"), "1048576S\n3000 3\n");

    const result = runGuarded(["quota-expire", "1", mailbox]);

    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe("");
    expect(existsSync(join(mailbox, "maildirsize"))).toBe(true);
  });

  test("expire-inactive killed mid-removal leaves no half mailbox", async () => {
    const { mailboxesDir, addresses, ini } = makeRelay(30, 150);
    const complete = treeOf(join(mailboxesDir, addresses[0]!));

    const args = ["expire-inactive", "-v", "--remove", "--force", ini];
    expect(await killAtLine(args, (line) => line.startsWith("removed user"))).toBe(true);

    // Each address is either gone or complete; a partial tree exists only under a dot-name.
    for (const name of readdirSync(mailboxesDir)) {
      if (name.startsWith(".expire-inactive-")) continue;
      expect(addresses).toContain(name);
      expect(treeOf(join(mailboxesDir, name))).toEqual(complete);
    }

    const next = runGuarded(args);
    expect(next.exitCode).toBe(0);
    expect(errorLines(next.stderr)).toEqual([]);
    expect(readdirSync(mailboxesDir)).toEqual([]);
  });
});

describe("concurrent changes", () => {
  test("fsreport while a client deletes files and folders", async () => {
    const { root, mailboxesDir, addresses, ini } = makeRelay(20, 100);
    const deletions: string[] = [];
    for (const address of addresses) {
      const mailbox = join(mailboxesDir, address);
      for (let i = 0; i < 20; i++) writeFileAt(join(mailbox, ".Trash", "cur", messageName(OLD, `t${i}`, 1000, "S")), 10, OLD);
      deletions.push(join(mailbox, ".Trash"));
      for (const name of readdirSync(join(mailbox, "cur")).filter((_, index) => index % 2 === 0)) deletions.push(join(mailbox, "cur", name));
    }
    writeFileSync(join(root, "deletions"), deletions.join("\n"));

    const deleter = Bun.spawn([process.execPath, join(REPO_ROOT, "test/fixtures/delete-paths.ts"), join(root, "deletions")], { stdout: "pipe" });
    await deleter.stdout.getReader().read();
    const result = runGuarded(["fsreport", "--json", ini]);
    expect(await deleter.exited).toBe(0);

    expectNoCrash(result.stderr);
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    const json = JSON.parse(result.stdout);
    expect(json.storage.messageCount).toBeGreaterThanOrEqual(20 * 50);
    expect(json.storage.messageCount).toBeLessThanOrEqual(20 * 120);
    expect(json.quota.usageBytes).toBe(json.storage.messageCount * 1000);
    expect(json.storage.messageBytes).toBe(json.storage.messageCount * 10);
  });

  test("quota-expire while a client deletes files and folders", async () => {
    const { root, mailboxesDir } = makeRelay(1, 2000);
    const mailbox = join(mailboxesDir, "user000@example.org");
    for (let i = 0; i < 500; i++) writeFileAt(join(mailbox, ".Trash", "cur", messageName(OLD, `t${i}`, 1000, "S")), 10, OLD);
    const deletions = [join(mailbox, ".Trash"), ...readdirSync(join(mailbox, "cur")).filter((_, index) => index % 3 === 0).map((name) => join(mailbox, "cur", name))];
    writeFileSync(join(root, "deletions"), deletions.join("\n"));

    const deleter = Bun.spawn([process.execPath, join(REPO_ROOT, "test/fixtures/delete-paths.ts"), join(root, "deletions")], { stdout: "pipe" });
    await deleter.stdout.getReader().read();
    const result = runGuarded(["quota-expire", "0", mailbox]);
    expect(await deleter.exited).toBe(0);

    expectNoCrash(result.stderr);
    expect(errorLines(result.stderr)).toEqual([]);
    expect(result.exitCode).toBe(0);
    const removed = Number(/ removed=(\d+) /.exec(result.stderr)?.[1]);
    const vanished = Number(/ vanished=(\d+)/.exec(result.stderr)?.[1] ?? 0);
    expect(removed + vanished).toBeLessThanOrEqual(2500);
    expect(removed).toBeGreaterThanOrEqual(2000 - 667);
    expect(result.stderr).toContain(" usage_after=0 ");
    expect(treeOf(join(mailbox, "cur"))).toEqual([]);
  });

  test("eight quota-expire runs remove what one run would", async () => {
    const { mailboxesDir } = makeRelay(1, 400);
    const mailbox = join(mailboxesDir, "user000@example.org");
    const before = treeOf(mailbox);

    const runs = Array.from({ length: 8 }, () =>
      Bun.spawn([BINARY, "quota-expire", "0", mailbox], { stdout: "ignore", stderr: "pipe" }),
    );
    const codes = await Promise.all(runs.map((run) => run.exited));
    const outputs = await Promise.all(runs.map((run) => new Response(run.stderr).text()));

    expect(codes).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    const removed = outputs.map((output) => Number(/ removed=(\d+) /.exec(output)?.[1] ?? 0));
    expect(removed.reduce((sum, count) => sum + count, 0)).toBe(400);
    expect(outputs.join("")).not.toContain("vanished=");
    expect(treeOf(mailbox)).toEqual(before.filter((entry) => entry === "cur/" || !entry.startsWith("cur/")));
  });
});

describe("password mtimes reset by a restored backup", () => {
  test("mtime 0 on every mailbox removes nothing", () => {
    const { mailboxesDir, addresses, ini } = makeRelay(10, 2, 0);

    const result = runGuarded(["expire-inactive", "--remove", ini]);

    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).toMatch(/^Removed 0 out of 10 mailboxes in /);
    expect(readdirSync(mailboxesDir).sort()).toEqual(addresses);
  });

  test("a day in 1970 on every mailbox trips the guard", () => {
    const { mailboxesDir, addresses, ini } = makeRelay(10, 2, DAY);
    const before = treeOf(mailboxesDir);

    const result = runGuarded(["expire-inactive", "--remove", ini]);

    expect(result.exitCode).toBe(1);
    expectOneErrorLine(result.stderr, "removed nothing: would remove 10 of 10 mailboxes (100%), more than --max-fraction 0.5");
    expect(result.stdout).toMatch(/^Removed 0 out of 10 mailboxes in /);
    expect(treeOf(mailboxesDir)).toEqual(before);
    expect(readdirSync(mailboxesDir).sort()).toEqual(addresses);
  });
});
