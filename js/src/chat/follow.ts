/**
 * Whether the chat keeps following new content to the bottom.
 *
 * Scroll events arrive a frame after the scroll that caused them. When a grid's rows land in
 * between, the content is taller by the time the event is read, so "not at the bottom" does not
 * mean the reader scrolled away. Only a move up does; reaching the bottom again resumes following.
 */
export const NEAR_BOTTOM_PX = 40;

export interface ScrollBox {
  scrollTop: number;
  scrollHeight: number;
  clientHeight: number;
}

export class Follow {
  pinned = true;
  private lastTop = 0;

  /** Update from a scroll event; returns whether the chat still follows. */
  onScroll(box: ScrollBox): boolean {
    const gap = box.scrollHeight - box.scrollTop - box.clientHeight;
    if (gap < NEAR_BOTTOM_PX) this.pinned = true;
    else if (box.scrollTop < this.lastTop - 1) this.pinned = false;
    this.lastTop = box.scrollTop;
    return this.pinned;
  }

  /** Scroll to the end if following; remembers where that left the box. */
  follow(el: ScrollBox): void {
    if (!this.pinned) return;
    el.scrollTop = el.scrollHeight;
    this.lastTop = el.scrollTop;
  }

  /** The reader asked for the end (sent a question, clicked the pill). */
  pin(): void {
    this.pinned = true;
  }
}
