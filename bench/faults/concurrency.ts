import { benchDir } from '../lib/benchConfig.ts';
import type { FaultOptions, FaultReport } from './faultReport.ts';
import { FaultRecorder } from './faultReport.ts';
import { api, jobAtGate, startServe } from './serveChild.ts';
import { readStoreJobs } from './verifyProjections.ts';

/**
 * 50 concurrent approvals of one gate give exactly one gate_approved; 100 concurrent `POST /jobs` with the same
 * client id give one job.
 */
export async function concurrencyScenario(options: FaultOptions): Promise<FaultReport> {
  const rec = new FaultRecorder('concurrency', options.log);
  const dir = await benchDir('faults-concurrency');
  try {
    const served = await startServe(dir.configPath);
    let approvals: number[];
    let creates: number[];
    try {
      const id = 'contested';
      await jobAtGate(served.url, id);
      approvals = (
        await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            api(served.url, 'POST', `/jobs/${id}/gates/work/approve`, { comment: `approval ${i}` }),
          ),
        )
      ).map((r) => r.status);
      creates = (
        await Promise.all(
          Array.from({ length: 100 }, () =>
            api(served.url, 'POST', '/jobs', { id: 'same-id', pipeline: 'cycle' }),
          ),
        )
      ).map((r) => r.status);
    } finally {
      served.child.kill('SIGTERM');
      await served.child.exited;
    }
    const count = (list: number[], status: number) => list.filter((s) => s === status).length;
    const statuses = (list: number[]) =>
      [...new Set(list)]
        .sort()
        .map((s) => `${count(list, s)}× ${s}`)
        .join(', ');
    rec.action(`50 concurrent POST .../gates/work/approve on a paused job: ${statuses(approvals)}`);
    rec.action(`100 concurrent POST /jobs with id same-id: ${statuses(creates)}`);
    const stored = await readStoreJobs(dir.dataDir);
    const contested = stored.jobs.get('contested') ?? [];
    const approved = contested.filter((e) => e.type === 'gate_approved');
    rec.check(
      'exactly one gate_approved',
      approved.length === 1 && count(approvals, 200) === 1 && count(approvals, 409) === 49,
      `${approved.length} gate_approved in the store; answers ${statuses(approvals)}`,
    );
    const same = stored.jobs.get('same-id') ?? [];
    rec.check(
      'one job for 100 creates with the same id',
      same.filter((e) => e.type === 'job_created').length === 1 &&
        count(creates, 201) === 1 &&
        creates.every((s) => s === 201 || s === 200),
      `${same.filter((e) => e.type === 'job_created').length} job_created in stream job-same-id (${same.length} events); answers ${statuses(creates)}`,
    );
  } finally {
    await dir.remove();
  }
  return rec.report();
}
