import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { parseIni, parseMailboxSize, readChatmailIni } from "../src/chatmail-ini.ts";
import { CliError } from "../src/errors.ts";
import { makeTempDir } from "./helpers.ts";

const MIB = 1024 * 1024;

function iniFile(text: string): string {
  const path = join(makeTempDir(), "chatmail.ini");
  writeFileSync(path, text);
  return path;
}

function errorOf(path: string): string {
  try {
    readChatmailIni(path);
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    return (error as Error).message;
  }
  throw new Error("expected readChatmailIni to fail");
}

describe("parseIni", () => {
  test("comments, continuation lines and other sections", () => {
    const sections = parseIni(
      [
        "# a comment",
        "; another comment",
        "[params]",
        "mail_domain = example.org",
        "  # indented comment",
        "passthrough_senders =",
        "    a@example.org",
        "    b@example.org",
        "empty =",
        "colon: value",
        "",
        "[privacy]",
        "privacy_mail = x@example.org",
      ].join("\n"),
    );
    const params = sections.get("params")!;
    expect(params.get("mail_domain")).toBe("example.org");
    expect(params.get("passthrough_senders")).toBe("a@example.org\nb@example.org");
    expect(params.get("empty")).toBe("");
    expect(params.get("colon")).toBe("value");
    expect(sections.get("privacy")!.get("privacy_mail")).toBe("x@example.org");
  });

  test("CRLF line endings and a byte-order mark", () => {
    const sections = parseIni("\ufeff[params]\r\nmail_domain = example.org\r\nmax_mailbox_size = 2G\r\n");
    expect(sections.get("params")!.get("mail_domain")).toBe("example.org");
    expect(sections.get("params")!.get("max_mailbox_size")).toBe("2G");
  });

  test("value outside a section is an error", () => {
    expect(() => parseIni("mail_domain = x\n")).toThrow("outside of any section");
  });

  test("duplicate key is an error", () => {
    expect(() => parseIni("[params]\na = 1\na = 2\n")).toThrow("duplicate key a");
  });

  test("line without separator is an error", () => {
    expect(() => parseIni("[params]\njust words\n")).toThrow("unexpected line");
  });
});

describe("parseMailboxSize", () => {
  test("each suffix", () => {
    expect(parseMailboxSize("500M")).toBe(500 * MIB);
    expect(parseMailboxSize("500MB")).toBe(500 * MIB);
    expect(parseMailboxSize("500m")).toBe(500 * MIB);
    expect(parseMailboxSize("2G")).toBe(2048 * MIB);
    expect(parseMailboxSize("2GB")).toBe(2048 * MIB);
    expect(parseMailboxSize("100")).toBe(100 * MIB);
    expect(parseMailboxSize("100B")).toBe(100 * MIB);
    expect(parseMailboxSize("1.5G")).toBe(1536 * MIB);
  });

  test("invalid sizes", () => {
    for (const text of ["", "M", "-1M", "1T", "1 K", "abc", "1e3M", "99999999999999999999G"]) {
      expect(parseMailboxSize(text)).toBeUndefined();
    }
  });
});

describe("readChatmailIni", () => {
  test("defaults from chatmaild", () => {
    const config = readChatmailIni(iniFile("[params]\nmail_domain = chat.example.org\n"));
    expect(config.mailDomain).toBe("chat.example.org");
    expect(config.mailboxesDir).toBe("/home/vmail/mail/chat.example.org");
    expect(config.maxMailboxSize).toBe(500 * MIB);
    expect(config.deleteInactiveUsersAfter).toBe(90);
  });

  test("explicit values", () => {
    const config = readChatmailIni(
      iniFile("[params]\nmail_domain = x.org\nmailboxes_dir = /srv/mail\nmax_mailbox_size = 1G\ndelete_inactive_users_after = 30\n"),
    );
    expect(config.mailboxesDir).toBe("/srv/mail");
    expect(config.maxMailboxSize).toBe(1024 * MIB);
    expect(config.deleteInactiveUsersAfter).toBe(30);
  });

  test("missing file names the path", () => {
    expect(errorOf("/nonexistent/chatmail.ini")).toBe("cannot read chatmail.ini /nonexistent/chatmail.ini: not found");
  });

  test("directory instead of a file", () => {
    const dir = makeTempDir();
    expect(errorOf(dir)).toBe(`cannot read chatmail.ini ${dir}: is a directory`);
  });

  // Root reads any file, so this runs only as another user.
  test.skipIf(process.getuid?.() === 0)("unreadable file", () => {
    const path = iniFile("[params]\nmail_domain = x\n");
    chmodSync(path, 0);
    expect(errorOf(path)).toContain("permission denied");
  });

  test("missing [params]", () => {
    const path = iniFile("[other]\nmail_domain = x\n");
    expect(errorOf(path)).toBe(`${path}: missing [params] section`);
  });

  test("missing mail_domain", () => {
    const path = iniFile("[params]\nmax_mailbox_size = 1G\n");
    expect(errorOf(path)).toBe(`${path}: missing mail_domain in [params]`);
  });

  test("empty file", () => {
    const path = iniFile("");
    expect(errorOf(path)).toBe(`${path}: missing [params] section`);
  });

  test("invalid max_mailbox_size names the key", () => {
    const path = iniFile("[params]\nmail_domain = x\nmax_mailbox_size = lots\n");
    expect(errorOf(path)).toContain("invalid max_mailbox_size");
  });

  test("invalid delete_inactive_users_after names the key", () => {
    for (const value of ["-1", "1.5", "soon"]) {
      const path = iniFile(`[params]\nmail_domain = x\ndelete_inactive_users_after = ${value}\n`);
      expect(errorOf(path)).toContain("invalid delete_inactive_users_after");
    }
  });

  test("parse error names file and line", () => {
    const dir = makeTempDir();
    mkdirSync(join(dir, "sub"));
    const path = join(dir, "sub", "chatmail.ini");
    writeFileSync(path, "[params]\nmail_domain = x\nnonsense\n");
    expect(errorOf(path)).toBe(`${path}:3: unexpected line: nonsense`);
  });
});
