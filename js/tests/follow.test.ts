import { describe, expect, it } from "vitest";
import { Follow } from "../src/chat/follow";

/** A scroll box whose scrollTop is clamped like the browser's. */
function box(scrollHeight: number, clientHeight = 500) {
  let top = 0;
  return {
    scrollHeight,
    clientHeight,
    get scrollTop() {
      return top;
    },
    set scrollTop(v: number) {
      top = Math.max(0, Math.min(v, this.scrollHeight - this.clientHeight));
    },
  };
}

describe("following the chat to its end", () => {
  it("keeps following when a grid grows between our scroll and its scroll event", () => {
    const follow = new Follow();
    const el = box(2000);
    follow.follow(el); // scrolled to 1500
    el.scrollHeight = 2600; // the grid's rows arrive before the scroll event is read
    expect(follow.onScroll(el)).toBe(true);
    follow.follow(el);
    expect(el.scrollTop).toBe(2100);
  });

  it("stops following when the reader scrolls up, and resumes at the bottom", () => {
    const follow = new Follow();
    const el = box(2000);
    follow.follow(el);
    follow.onScroll(el);
    el.scrollTop = 900;
    expect(follow.onScroll(el)).toBe(false);
    el.scrollHeight = 2400;
    follow.follow(el);
    expect(el.scrollTop).toBe(900); // new text does not pull the reader down
    el.scrollTop = 1890;
    expect(follow.onScroll(el)).toBe(true);
  });

  it("a reader scrolling down but not to the end does not resume following", () => {
    const follow = new Follow();
    const el = box(3000);
    follow.follow(el);
    el.scrollTop = 100;
    follow.onScroll(el);
    el.scrollTop = 800;
    expect(follow.onScroll(el)).toBe(false);
  });
});
