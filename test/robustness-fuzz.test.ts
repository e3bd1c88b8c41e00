/**
 * Randomized inputs with fixed seeds for the parsers that read what clients, Dovecot and operators
 * write: message file names, mailbox sizes, INI files and command-line bytes. Each parser must
 * return a valid result or throw its documented error, never anything else.
 */

import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

import { IniParseError, parseIni, parseMailboxSize, readChatmailIni } from "../src/chatmail-ini.ts";
import { CliError } from "../src/errors.ts";
import { parseMessageName, quotaSizeFromName } from "../src/maildir.ts";
import { decodeBytes, displayPath, rawFromUser } from "../src/raw-path.ts";
import { seededRandom } from "../scripts/seeded-random.ts";
import { makeTempDir } from "./helpers.ts";

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function randomInt(random: () => number, max: number): number {
  return Math.floor(random() * (max + 1));
}

function isValidSize(value: number | undefined): boolean {
  return value === undefined || (Number.isSafeInteger(value) && value >= 0);
}

/** Builds a Dovecot-like file name from pieces of the real syntax, with random damage. */
function randomMessageName(random: () => number): string {
  const pieces = [
    "1796412756", ".M701466P5618", ".vm", ",S=", ",W=", ":2,", "S", "FS", ",", ":", "=", ".", "-", " ", "\n",
    "0", "9", "42", "108127", "99999999999999999999", "9007199254740993", "-5", "", "abc", "\u00ff", "\u0000", "S=5", "W=7",
  ];
  let name = "";
  const count = randomInt(random, 10);
  for (let i = 0; i < count; i++) {
    name += random() < 0.85 ? pick(random, pieces) : String.fromCharCode(randomInt(random, 255));
  }
  return name;
}

describe("message file name parser", () => {
  test("20000 generated names parse to valid fields", () => {
    const random = seededRandom(0x5eed01);
    for (let i = 0; i < 20_000; i++) {
      const name = randomMessageName(random);
      const parsed = parseMessageName(name);
      const quotaSize = quotaSizeFromName(name);

      expect(isValidSize(parsed.deliveryTime)).toBe(true);
      expect(isValidSize(parsed.size)).toBe(true);
      expect(isValidSize(parsed.virtualSize)).toBe(true);
      expect(isValidSize(quotaSize)).toBe(true);
      expect(parsed.flags === undefined || typeof parsed.flags === "string").toBe(true);
      // The hot-path form and the full parser must agree on the size that the quota counts.
      if (parsed.size !== quotaSize) throw new Error(`size mismatch for ${JSON.stringify(name)}: ${parsed.size} vs ${quotaSize}`);
    }
  });

  test("well-formed names give back their fields", () => {
    const random = seededRandom(0x5eed02);
    for (let i = 0; i < 5_000; i++) {
      const time = randomInt(random, 4_000_000_000);
      const size = randomInt(random, 2 ** 40);
      const virtualSize = size + randomInt(random, 10_000);
      const flags = pick(random, ["", "S", "FS", "RS", "ab,c"]);
      const info = random() < 0.5 ? `:2,${flags}` : "";
      const name = `${time}.M${randomInt(random, 999_999)}P${randomInt(random, 99_999)}.host,S=${size},W=${virtualSize}${info}`;

      const parsed = parseMessageName(name);
      expect(parsed).toEqual({ deliveryTime: time, size, virtualSize, flags: info === "" ? undefined : flags });
      expect(quotaSizeFromName(name)).toBe(size);
    }
  });
});

describe("mailbox size parser", () => {
  test("20000 generated sizes give undefined or whole bytes", () => {
    const random = seededRandom(0x5eed03);
    const pieces = ["1", "0", "5", "500", "9", ".", "M", "G", "B", "m", "g", "b", "T", "K", " ", "\t", "-", "+", "e", "x", "99999999999"];
    for (let i = 0; i < 20_000; i++) {
      let text = "";
      const count = randomInt(random, 6);
      for (let j = 0; j < count; j++) text += pick(random, pieces);

      const bytes = parseMailboxSize(text);
      expect(isValidSize(bytes)).toBe(true);

      // Compare with the rule written out once more: a number, an optional M or G, an optional B.
      const match = /^\s*(\d+(?:\.\d+)?)\s*([mg])?b?\s*$/i.exec(text);
      if (match === null) {
        expect(bytes).toBeUndefined();
      } else {
        const factor = match[2]?.toLowerCase() === "g" ? 2 ** 30 : 2 ** 20;
        const expected = Math.floor(Number(match[1]) * factor);
        expect(bytes).toBe(Number.isSafeInteger(expected) ? expected : undefined);
      }
    }
  });
});

/** Builds one random INI line from the syntax iniconfig reads, some of them broken. */
function randomIniLine(random: () => number): string {
  const keys = ["mail_domain", "mailboxes_dir", "max_mailbox_size", "delete_inactive_users_after", "x", "a b", ""];
  const values = ["example.org", "/home/vmail/mail/x", "500M", "2G", "90", "", "= =", "lots", "-3", "1.5", "\u00e9"];
  switch (randomInt(random, 9)) {
    case 0:
      return `[${pick(random, ["params", "other", "params", "", "a]b"])}]${pick(random, ["", " # note", " ; note", "x"])}`;
    case 1:
      return `${pick(random, ["#", ";", "  #", "\t;"])} comment ${pick(random, values)}`;
    case 2:
      return `${pick(random, ["  ", "\t"])}${pick(random, values)}`;
    case 3:
      return "";
    case 4:
      return pick(random, ["garbage", "[params", "key", "\u0000", "\ufeff[params]"]);
    case 5:
      return `${pick(random, keys)}: ${pick(random, values)}`;
    default:
      return `${pick(random, keys)}${pick(random, [" = ", "=", " =", "= "])}${pick(random, values)}`;
  }
}

function randomIniText(random: () => number): string {
  const lines: string[] = [];
  if (random() < 0.5) lines.push("[params]");
  const count = randomInt(random, 8);
  for (let i = 0; i < count; i++) lines.push(randomIniLine(random));
  const text = lines.join(pick(random, ["\n", "\r\n", "\r"]));
  return (random() < 0.1 ? "\ufeff" : "") + text;
}

describe("INI reader", () => {
  test("20000 generated files parse or raise IniParseError", () => {
    const random = seededRandom(0x5eed04);
    let parsed = 0;
    for (let i = 0; i < 20_000; i++) {
      const text = randomIniText(random);
      let sections;
      try {
        sections = parseIni(text);
      } catch (error) {
        if (!(error instanceof IniParseError)) throw error;
        expect(Number.isInteger(error.line)).toBe(true);
        expect(error.line).toBeGreaterThanOrEqual(1);
        expect(error.message).not.toContain("\n");
        continue;
      }
      parsed++;
      for (const [name, keys] of sections) {
        expect(name).not.toBe("");
        for (const [key, value] of keys) {
          // iniconfig does not reject an empty key ("= value"), so the reader does not either.
          expect(key).toBe(key.trim());
          expect(typeof value).toBe("string");
        }
      }
    }
    // The generator must reach the success path too, or the test checks only errors.
    expect(parsed).toBeGreaterThan(2_000);
  });

  test("2000 generated chatmail.ini files read or raise CliError", () => {
    const random = seededRandom(0x5eed05);
    const path = join(makeTempDir(), "chatmail.ini");
    let read = 0;
    for (let i = 0; i < 2_000; i++) {
      writeFileSync(path, randomIniText(random));
      let config;
      try {
        config = readChatmailIni(path);
      } catch (error) {
        if (!(error instanceof CliError)) throw error;
        expect(error.message.startsWith(path)).toBe(true);
        continue;
      }
      read++;
      expect(config.mailDomain).not.toBe("");
      expect(config.mailboxesDir).not.toBe("");
      expect(isValidSize(config.maxMailboxSize)).toBe(true);
      expect(Number.isSafeInteger(config.deleteInactiveUsersAfter)).toBe(true);
      expect(config.deleteInactiveUsersAfter).toBeGreaterThanOrEqual(0);
    }
    expect(read).toBeGreaterThan(20);
  });
});

describe("command-line bytes", () => {
  test("5000 random byte strings survive decode and rawFromUser", () => {
    const random = seededRandom(0x5eed06);
    for (let i = 0; i < 5_000; i++) {
      const bytes = Buffer.from(Array.from({ length: randomInt(random, 24) }, () => (random() < 0.5 ? randomInt(random, 127) + 1 : randomInt(random, 255))));
      const text = decodeBytes(bytes);
      const raw = rawFromUser(text);

      expect(Buffer.from(raw, "latin1").equals(bytes)).toBe(true);
      expect(displayPath(raw)).not.toMatch(/[\x00-\x1f\x7f]/);
    }
  });
});
