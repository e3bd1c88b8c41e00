/** Boolean options of the settings file overridden on the command line, with the compiled binary. */

import { describe, expect, test } from "bun:test";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { makeMaildir, makeTempDir, messageName, nowSeconds, runBinary, writeChatmailIni, writeFileAt } from "./helpers.ts";

const DAY = 86_400;
const OLD = nowSeconds() - 30 * DAY;

/** Creates a mailbox with two old messages, so that `quota-expire 0` removes both. */
function mailboxWithTwoMessages(): string {
  const mailbox = join(makeTempDir(), "user@example.org");
  makeMaildir(mailbox);
  writeFileAt(join(mailbox, "cur", messageName(OLD, 1, 1000, "S")), 1000, OLD);
  writeFileAt(join(mailbox, "cur", messageName(OLD, 2, 1000, "S")), 1000, OLD);
  return mailbox;
}

function settingsFile(text: string): string {
  const path = join(makeTempDir(), "settings.toml");
  writeFileSync(path, text);
  return path;
}

/** Creates a relay with one empty mailbox and returns the path of its chatmail.ini. */
function relay(): string {
  const root = makeTempDir();
  makeMaildir(join(root, "mail", "user@example.org"));
  const ini = join(root, "chatmail.ini");
  writeChatmailIni(ini, { mail_domain: "example.org", mailboxes_dir: join(root, "mail") });
  return ini;
}

describe("dry-run from the settings file", () => {
  const settings = settingsFile("[quota-expire]\ndry-run = true\n");

  test("file alone makes a dry run", () => {
    const mailbox = mailboxWithTwoMessages();
    const result = runBinary(["quota-expire", "--settings", settings, "0", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain(" dry_run=yes");
    expect(readdirSync(join(mailbox, "cur"))).toHaveLength(2);
  });

  test("--no-dry-run makes a real run", () => {
    const mailbox = mailboxWithTwoMessages();
    const result = runBinary(["quota-expire", "--settings", settings, "--no-dry-run", "0", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).not.toContain("dry_run");
    expect(readdirSync(join(mailbox, "cur"))).toEqual([]);
  });

  test("last of --dry-run and --no-dry-run wins", () => {
    const dryMailbox = mailboxWithTwoMessages();
    const dry = runBinary(["quota-expire", "--no-dry-run", "--dry-run", "0", dryMailbox]);
    expect(dry.exitCode).toBe(0);
    expect(readdirSync(join(dryMailbox, "cur"))).toHaveLength(2);

    const realMailbox = mailboxWithTwoMessages();
    const real = runBinary(["quota-expire", "--settings", settings, "--dry-run", "--no-dry-run", "0", realMailbox]);
    expect(real.exitCode).toBe(0);
    expect(readdirSync(join(realMailbox, "cur"))).toEqual([]);
  });
});

describe("verbosity from the settings file", () => {
  test("-v overrides quiet = true", () => {
    const ini = relay();
    const settings = settingsFile("[fsreport]\nquiet = true\n");
    const result = runBinary(["fsreport", ini, "--settings", settings, "-v", "--json"]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe("user@example.org: 0 messages\n");
  });

  test("-q overrides verbose = true", () => {
    const mailbox = mailboxWithTwoMessages();
    const settings = settingsFile("[quota-expire]\nverbose = true\n");
    const result = runBinary(["quota-expire", "--settings", settings, "-q", "0", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe("");
    expect(readdirSync(join(mailbox, "cur"))).toEqual([]);
  });

  test("--no-quiet overrides quiet = true", () => {
    const mailbox = mailboxWithTwoMessages();
    const settings = settingsFile("[quota-expire]\nquiet = true\n");
    const quiet = runBinary(["quota-expire", "--settings", settings, "--dry-run", "0", mailbox]);
    expect(quiet.stderr).toBe("");

    const result = runBinary(["quota-expire", "--settings", settings, "--no-quiet", "--dry-run", "0", mailbox]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toStartWith(`quota-expire mailbox=${mailbox} removed=2 removed_bytes=2000 `);
    expect(result.stderr).toEndWith(" dry_run=yes\n");
  });

  test("verbose and quiet both true is a settings error", () => {
    const mailbox = mailboxWithTwoMessages();
    const settings = settingsFile("[quota-expire]\nverbose = true\nquiet = true\n");
    for (const extra of [[], ["-v"], ["--no-quiet"]]) {
      const result = runBinary(["quota-expire", "--settings", settings, ...extra, "0", mailbox]);
      expect(result.stderr).toBe(`error: ${settings}: quota-expire.verbose and quota-expire.quiet cannot both be true\n`);
      expect(result.exitCode).toBe(1);
    }
    expect(readdirSync(join(mailbox, "cur"))).toHaveLength(2);
  });

  test("-v with -q is a usage error", () => {
    const mailbox = mailboxWithTwoMessages();
    for (const flags of [["-v", "-q"], ["--quiet", "--verbose"]]) {
      const result = runBinary(["quota-expire", ...flags, "0", mailbox]);
      expect(result.stderr).toBe(
        "error: -v (--verbose) and -q (--quiet) cannot be combined (see chatmail-maildir quota-expire --help)\n",
      );
      expect(result.exitCode).toBe(2);
    }
    expect(readdirSync(join(mailbox, "cur"))).toHaveLength(2);
  });
});

describe("--no- options of every subcommand", () => {
  test("--no-json overrides json = true", () => {
    const ini = relay();
    const settings = settingsFile("[fsreport]\njson = true\n[expire-inactive]\njson = true\n");

    const fsreport = runBinary(["fsreport", ini, "--settings", settings, "--no-json"]);
    expect(fsreport.exitCode).toBe(0);
    expect(fsreport.stdout).toStartWith("## Storage of 1 ");

    const expireInactive = runBinary(["expire-inactive", ini, "--settings", settings, "--no-json"]);
    expect(expireInactive.exitCode).toBe(0);
    expect(expireInactive.stdout).toStartWith("Would remove 0 out of 1 mailboxes in ");
  });
});
