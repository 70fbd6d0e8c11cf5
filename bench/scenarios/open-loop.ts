import { setTimeout as sleep } from "node:timers/promises";

/**
 * Events published on a fixed schedule (open loop: the schedule does not
 * wait for answers) and timed from their publish call to their arrival at a
 * subscriber in the same process, so one clock measures both ends. The
 * first `warmup` events are sent but not timed.
 */
export class OpenLoop {
  readonly total: number;
  /** When each event's publish call was made; NaN until then. */
  readonly sentAt: Float64Array;
  readonly #arrived: Uint8Array;
  /** Publish call → first arrival, in ms, of each timed event that has arrived. */
  readonly delivery: number[] = [];
  /** When the schedule started (performance.now()). */
  started = 0;

  constructor(
    readonly warmup: number,
    measured: number,
  ) {
    this.total = warmup + measured;
    this.sentAt = new Float64Array(this.total).fill(Number.NaN);
    this.#arrived = new Uint8Array(this.total);
  }

  /** Timed events: those after the warm-up. */
  get expected(): number {
    return this.total - this.warmup;
  }

  /** Event `i` arrived; only its first arrival counts, and only after the warm-up. */
  arrive(i: number): void {
    const sent = this.sentAt[i];
    if (i >= this.warmup && sent !== undefined && !Number.isNaN(sent) && this.#arrived[i] === 0) {
      this.#arrived[i] = 1;
      this.delivery.push(performance.now() - sent);
    }
  }

  /**
   * Calls `publish(i)` for every event at `ratePerS`; resolves once all are
   * sent or `failed()` says to stop. A 1 ms timer fires late now and then:
   * each tick sends whatever is due.
   */
  run(ratePerS: number, publish: (i: number) => void, failed: () => boolean): Promise<void> {
    this.started = performance.now();
    let sent = 0;
    return new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        const elapsed = performance.now() - this.started;
        const due = Math.min(this.total, Math.floor((elapsed * ratePerS) / 1000));
        while (sent < due && !failed()) {
          const i = sent++;
          this.sentAt[i] = performance.now();
          publish(i);
        }
        if (sent >= this.total || failed()) {
          clearInterval(tick);
          resolve();
        }
      }, 1);
    });
  }

  /** Waits up to `waitMs` for every timed event to arrive. */
  async settle(waitMs: number, failed: () => boolean): Promise<void> {
    const deadline = performance.now() + waitMs;
    while (this.delivery.length < this.expected && performance.now() < deadline && !failed()) {
      await sleep(10);
    }
  }

  /**
   * Counts the timed events still missing and adds each to `delivery` with
   * the time waited so far: a lower bound, never left out.
   */
  missing(): number {
    const lost = this.expected - this.delivery.length;
    const now = performance.now();
    for (let i = this.warmup; i < this.total; i++) {
      if (this.#arrived[i] === 0) this.delivery.push(now - (this.sentAt[i] as number));
    }
    return lost;
  }
}
