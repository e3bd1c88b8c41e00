import { describe, expect, test } from "bun:test";

import { parseMessageName, quotaSizeFromName } from "../src/maildir.ts";

describe("parseMessageName", () => {
  test("full Dovecot name in cur", () => {
    const parsed = parseMessageName("1796412756.M701466P5618.vm,S=108127,W=109535:2,S");
    expect(parsed.deliveryTime).toBe(1796412756);
    expect(parsed.size).toBe(108127);
    expect(parsed.virtualSize).toBe(109535);
    expect(parsed.flags).toBe("S");
  });

  test("name in new has no flags", () => {
    const parsed = parseMessageName("1796412756.M701466P5618.vm,S=5,W=6");
    expect(parsed.size).toBe(5);
    expect(parsed.flags).toBeUndefined();
  });

  test("name without fields", () => {
    const parsed = parseMessageName("message-from-another-tool");
    expect(parsed).toEqual({ deliveryTime: undefined, size: undefined, virtualSize: undefined, flags: undefined });
  });

  test("invalid S= values are absent", () => {
    for (const value of ["", "abc", "-5", "12x", "99999999999999999999", "9007199254740993"]) {
      const name = `1700000000.M1P1.host,S=${value},W=10:2,`;
      expect(parseMessageName(name).size).toBeUndefined();
      expect(quotaSizeFromName(name)).toBeUndefined();
    }
  });

  test("largest safe S= is kept", () => {
    const name = "1.M1P1.h,S=9007199254740991";
    expect(parseMessageName(name).size).toBe(9007199254740991);
    expect(quotaSizeFromName(name)).toBe(9007199254740991);
  });

  test("quotaSizeFromName agrees with parseMessageName", () => {
    const names = [
      "1700000000.M1P1.h,S=10,W=12:2,S",
      "1700000000.M1P1.h,S=10:2,",
      "1700000000.M1P1.h,W=12,S=7",
      "1700000000.M1P1.h,S=10abc",
      "x,S=",
      ",S=3",
      "1700000000.M1P1.h:2,S=5",
    ];
    for (const name of names) expect(quotaSizeFromName(name)).toBe(parseMessageName(name).size);
  });

  test("delivery time needs digits before the first dot", () => {
    expect(parseMessageName("abc.M1P1.h").deliveryTime).toBeUndefined();
    expect(parseMessageName(".M1P1.h").deliveryTime).toBeUndefined();
    expect(parseMessageName("17.M1").deliveryTime).toBe(17);
  });
});
