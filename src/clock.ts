// Every time-dependent rule (expiry, token lifetimes, retry schedules) reads this clock,
// so tests move time forward instead of sleeping.
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export class ManualClock implements Clock {
  private offset_ms = 0;
  now(): Date {
    return new Date(Date.now() + this.offset_ms);
  }
  advance(ms: number): void {
    this.offset_ms += ms;
  }
}
