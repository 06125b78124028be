import test from 'ava';
import { FAULT_SCENARIOS } from '../../bench/faults/runFaults.ts';
import { stopAllChildren } from '../../bench/lib/nodeChild.ts';

// The fault harness of `npm run faults`, in its short form (3 kill -9 rounds, 20 resuming clients, 10 stuck
// clients): each scenario runs real servers as child processes on 127.0.0.1 and every one of its checks
// must hold.
// Serial: each test ends by killing every child this process started (stopAllChildren), others' too.
test.afterEach.always(() => stopAllChildren());

for (const [name, scenario] of Object.entries(FAULT_SCENARIOS)) {
  test.serial(`faults --short: ${name}`, async (t) => {
    t.timeout(120_000);
    const report = await scenario({ short: true, log: (line) => t.log(line) });
    t.true(report.checks.length > 0, 'the scenario checked something');
    for (const check of report.checks) t.true(check.ok, `${check.name}: ${check.detail}`);
  });
}
