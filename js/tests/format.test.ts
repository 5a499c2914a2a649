import { describe, expect, it } from "vitest";
import { formatCount, formatElapsed, formatRange, formatShape, relativeTime } from "../src/utils/format";

describe("formatShape", () => {
  it("writes the card line with thousands separators", () => {
    expect(formatShape(1234, 5)).toBe("1,234 rows × 5 cols");
    expect(formatShape(133_433, 23, true)).toBe("133,433 rows × 23 columns");
  });

  it("uses the singular for one row or one column", () => {
    expect(formatShape(1, 1)).toBe("1 row × 1 col");
    expect(formatShape(0, 1, true)).toBe("0 rows × 1 column");
  });

  it("shows a question mark for an unknown count", () => {
    expect(formatShape(null, 3)).toBe("? rows × 3 cols");
    expect(formatCount(Number.NaN)).toBe("?");
  });
});

describe("formatRange", () => {
  it("describes the visible page", () => {
    expect(formatRange(0, 50, 847)).toBe("Showing 1–50 of 847 rows");
    expect(formatRange(800, 47, 847)).toBe("Showing 801–847 of 847 rows");
    expect(formatRange(0, 0, 0)).toBe("Showing 0 of 0 rows");
  });
});

describe("relativeTime", () => {
  const now = Date.parse("2026-03-10T12:00:00Z");
  const ago = (ms: number) => now - ms;

  it("rounds recent times to what a person says", () => {
    expect(relativeTime(ago(10_000), now)).toBe("just now");
    expect(relativeTime(ago(90_000), now)).toBe("2 min ago");
    expect(relativeTime(ago(2 * 3_600_000 + 59 * 60_000), now)).toBe("2 h ago");
    expect(relativeTime(ago(3 * 86_400_000), now)).toBe("3 d ago");
  });

  it("falls back to the date after a week and treats the future as now", () => {
    expect(relativeTime("2026-03-01T09:00:00Z", now)).toBe("1 Mar 2026");
    expect(relativeTime(now + 5_000, now)).toBe("just now");
    expect(relativeTime("not a date", now)).toBe("");
  });
});

describe("formatElapsed", () => {
  it("picks a unit that keeps the number short", () => {
    expect(formatElapsed(850)).toBe("850 ms");
    expect(formatElapsed(1234)).toBe("1.2 s");
    expect(formatElapsed(125_000)).toBe("2 min 5 s");
  });
});
