/**
 * The deployment files in contrib/: the systemd units pass `systemd-analyze verify` and their
 * commands run against a test tree, and the Dovecot snippet passes `doveconf` with the settings
 * a relay relies on. Locally a missing
 * systemd or Dovecot skips the test that needs it; with CI set it fails instead (.ci/run
 * installs both).
 */

import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { BINARY, makeTempDir, nowSeconds, REPO_ROOT } from "./helpers.ts";
import { findProgram, writeSmokeTree } from "./smoke.ts";

const CONTRIB = join(REPO_ROOT, "contrib");
const IN_CI = Boolean(process.env.CI);

function describeIfInstalled(program: string): typeof describe | typeof describe.skip {
  return findProgram(program) !== undefined || IN_CI ? describe : describe.skip;
}

describeIfInstalled("systemd-analyze")("contrib systemd units", () => {
  test("systemd-analyze verify accepts them", () => {
    // verify checks that ExecStart's program exists, so the copies point at the built binary.
    const dir = makeTempDir("chatmail-units-");
    const units = readdirSync(CONTRIB).filter((name) => name.endsWith(".service") || name.endsWith(".timer"));
    expect(units.sort()).toEqual([
      "chatmail-expire-inactive.service",
      "chatmail-expire-inactive.timer",
      "chatmail-fsreport.service",
      "chatmail-fsreport.timer",
    ]);
    for (const unit of units) {
      const text = readFileSync(join(CONTRIB, unit), "utf8").replaceAll("/usr/local/bin/chatmail-maildir", BINARY);
      writeFileSync(join(dir, unit), text);
    }

    const result = Bun.spawnSync(["systemd-analyze", "verify", ...units.map((unit) => join(dir, unit))], {
      stdout: "pipe",
      stderr: "pipe",
    });
    // Unknown keys and unparsable values are only warnings with exit code 0, hence the check on stderr.
    expect(result.stderr.toString()).toBe("");
    expect(result.exitCode).toBe(0);
  });
});

describe("contrib unit commands", () => {
  /** Returns the ExecStart= command line of a unit file, split at blanks. */
  function execStart(unit: string): string[] {
    const line = readFileSync(join(CONTRIB, unit), "utf8")
      .split("\n")
      .find((text) => text.startsWith("ExecStart="));
    if (line === undefined) throw new Error(`${unit} has no ExecStart= line`);
    return line.slice("ExecStart=".length).trim().split(/\s+/);
  }

  /** Runs a unit's command against a test tree, with the relay paths swapped for the tree's. */
  function runUnitCommand(unit: string, tree: string, textfileDir: string): { exitCode: number; stderr: string } {
    const paths: Record<string, string> = {
      "/usr/local/bin/chatmail-maildir": BINARY,
      "/usr/local/lib/chatmaild/chatmail.ini": join(tree, "chatmail.ini"),
      "/var/lib/prometheus/node-exporter/": `${textfileDir}/`,
    };
    const command = execStart(unit).map((word) => paths[word] ?? word);
    expect(command[0]).toBe(BINARY);
    const result = Bun.spawnSync(command, { stdout: "pipe", stderr: "pipe" });
    return { exitCode: result.exitCode ?? -1, stderr: result.stderr.toString() };
  }

  test("expire-inactive unit removes gone mailbox", () => {
    const tree = makeTempDir("chatmail-unit-tree-");
    writeSmokeTree(tree, tree, nowSeconds());

    const result = runUnitCommand("chatmail-expire-inactive.service", tree, makeTempDir());
    expect(result.stderr).toMatch(/^removed gone@example\.org \(last login \d{4}-\d{2}-\d{2}\)\n$/);
    expect(result.exitCode).toBe(0);
    expect(readdirSync(join(tree, "mail", "example.org")).sort()).toEqual([
      "active@example.org",
      "full@example.org",
      "pending_notifications",
    ]);
  });

  test("fsreport unit writes the textfile", () => {
    const tree = makeTempDir("chatmail-unit-tree-");
    writeSmokeTree(tree, tree, nowSeconds());
    const textfileDir = makeTempDir("chatmail-textfile-");

    const result = runUnitCommand("chatmail-fsreport.service", tree, textfileDir);
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(readdirSync(textfileDir)).toEqual(["fsreport.prom"]);
    expect(readFileSync(join(textfileDir, "fsreport.prom"), "utf8")).toContain("\nchatmail_mailboxes 3\n");
  });
});

describeIfInstalled("doveconf")("contrib Dovecot snippet", () => {
  test("doveconf accepts it with a chatmail quota", () => {
    const dir = makeTempDir("chatmail-dovecot-");
    const config = join(dir, "dovecot.conf");
    writeFileSync(
      config,
      [
        "mail_plugins = quota",
        "ssl = no",
        "plugin {",
        "  quota = maildir:User quota",
        "  quota_rule = *:storage=500M",
        "  quota_grace = 0",
        "}",
        `!include ${join(CONTRIB, "dovecot-quota-warning.conf")}`,
        "",
      ].join("\n"),
    );

    const result = Bun.spawnSync(["doveconf", "-c", config, "-n"], { stdout: "pipe", stderr: "pipe" });
    expect(result.stderr.toString()).toBe("");
    expect(result.exitCode).toBe(0);

    const output = result.stdout.toString();
    expect(output).toContain("  quota_warning = storage=90%% quota-warning 350 /home/vmail/mail/%d/%u\n");
    expect(output).toContain(
      [
        "service quota-warning {",
        "  executable = script /usr/local/bin/chatmail-maildir quota-expire",
        "  unix_listener quota-warning {",
        "    mode = 0600",
        "    user = vmail",
        "  }",
        "  user = vmail",
        "  vsz_limit = 4 G",
        "}",
      ].join("\n"),
    );
  });
});
