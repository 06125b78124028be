/** One verified property of a fault scenario. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** What a scenario did and what it checked. */
export interface FaultReport {
  scenario: string;
  did: string[];
  checks: Check[];
  seconds: number;
  details: Record<string, unknown>;
}

export interface FaultOptions {
  short: boolean;
  log: (line: string) => void;
}

export type FaultScenario = (options: FaultOptions) => Promise<FaultReport>;

/** Collects a scenario's actions and checks, printing each as it happens. */
export class FaultRecorder {
  readonly did: string[] = [];
  readonly checks: Check[] = [];
  readonly details: Record<string, unknown> = {};
  readonly #started = performance.now();

  constructor(
    readonly scenario: string,
    private readonly log: (line: string) => void,
  ) {}

  action(text: string): void {
    this.did.push(text);
    this.log(`did: ${text}`);
  }

  check(name: string, ok: boolean, detail: string): boolean {
    this.checks.push({ name, ok, detail });
    this.log(`${ok ? 'ok  ' : 'FAIL'}: ${name} — ${detail}`);
    return ok;
  }

  report(): FaultReport {
    return {
      scenario: this.scenario,
      did: this.did,
      checks: this.checks,
      seconds: (performance.now() - this.#started) / 1000,
      details: this.details,
    };
  }
}
