import { request } from 'node:http';
import { AUTH, benchDir } from '../lib/benchConfig.ts';
import { startBenchServer } from '../lib/children.ts';
import { sleep } from '../lib/stats.ts';
import type { FaultOptions, FaultReport } from './faultReport.ts';
import { FaultRecorder } from './faultReport.ts';
import { readStoreJobs } from './verifyProjections.ts';

const JOB = 'fuzz';

/**
 * An SSE client that disconnects itself at random and reconnects with Last-Event-ID after every cut
 * (its own or the server's), until the job's `event: end`. It parses frames as the spec says: fields
 * up to a blank line; a frame cut before its blank line is dropped.
 */
class ResumingClient {
  readonly received: { seq: number; id: string; eventId: string }[] = [];
  lastEventId: string | null = null;
  connects = 0;
  ownAborts = 0;
  cutsSeen = 0;
  ended = false;

  constructor(
    private readonly url: string,
    private readonly abortChance: number,
  ) {}

  async run(deadline: number): Promise<void> {
    while (!this.ended && Date.now() < deadline) {
      await this.#connectOnce();
      if (!this.ended) await sleep(5 + Math.random() * 40);
    }
  }

  #connectOnce(): Promise<void> {
    return new Promise((resolve) => {
      this.connects++;
      const headers: Record<string, string> = { accept: 'text/event-stream', ...AUTH };
      if (this.lastEventId !== null) headers['last-event-id'] = this.lastEventId;
      const url = this.lastEventId === null ? `${this.url}?after=-1` : this.url;
      const req = request(url, { agent: false, headers });
      let abortedByUs = false;
      let settled = false;
      const timer =
        Math.random() < this.abortChance
          ? setTimeout(
              () => {
                abortedByUs = true;
                this.ownAborts++;
                req.destroy();
              },
              20 + Math.random() * 400,
            )
          : undefined;
      const done = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!this.ended && !abortedByUs) this.cutsSeen++;
        resolve();
      };
      req.on('error', done);
      req.on('response', (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          res.on('end', done);
          return;
        }
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (chunk: string) => {
          buffer += chunk;
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            this.#dispatch(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
            if (this.ended) {
              req.destroy();
              return;
            }
          }
        });
        res.on('close', done);
      });
      req.end();
    });
  }

  #dispatch(frame: string): void {
    let id: string | null = null;
    let event = 'message';
    let data = '';
    for (const line of frame.split('\n')) {
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data += data ? `\n${value}` : value;
    }
    if (id !== null) this.lastEventId = id;
    if (event === 'end') this.ended = true;
    // Only event frames: control frames (`end` carries the last seq as its id) and heartbeats are not events.
    if (id === null || !data || event !== 'message') return;
    const parsed = JSON.parse(data) as { seq: number; id: string };
    this.received.push({ seq: parsed.seq, id: parsed.id, eventId: id });
  }
}

/**
 * Clients on one job that drop their connection at random (their own aborts, and server-side socket
 * destroys) and reconnect with Last-Event-ID while events flow, until the job ends: every client's
 * sequence must equal the stored stream exactly.
 */
export async function resumeFuzzScenario(options: FaultOptions): Promise<FaultReport> {
  const clientCount = options.short ? 20 : 200;
  const driveMs = options.short ? 3000 : 8000;
  const rec = new FaultRecorder('SSE resume fuzz', options.log);
  const dir = await benchDir('faults-resume', { heartbeatSeconds: 1 });
  try {
    const server = await startBenchServer(dir);
    let serverCuts = 0;
    let clients: ResumingClient[];
    try {
      await server.child.request('seed', { jobId: JOB, events: 5 });
      const url = `${server.url}/api/v1/jobs/${JOB}/events/stream`;
      clients = Array.from({ length: clientCount }, () => new ResumingClient(url, 0.5));
      const deadline = Date.now() + driveMs + 60_000;
      const running = clients.map((c) => c.run(deadline));
      const drive = server.child.request<{ events: number }>('drive', {
        jobId: JOB,
        eventsPerSecond: 200,
        durationMs: driveMs,
      });
      let driving = true;
      void drive.finally(() => {
        driving = false;
      });
      while (driving) {
        const cut = await server.child.request<{ cut: number }>('cutRandom', {
          count: Math.max(1, Math.ceil(clientCount / 40)),
        });
        serverCuts += cut.cut;
        await sleep(100);
      }
      const driven = await drive;
      const finished = await server.child.request<{ seq: number }>('finish', { jobId: JOB });
      await Promise.all(running);
      rec.action(
        `${clientCount} clients on one job while ${driven.events} events were appended at 200/s and the job then finished (last seq ${finished.seq}); ${clients.reduce((a, c) => a + c.ownAborts, 0)} client-side aborts, ${serverCuts} server-side socket destroys, ${clients.reduce((a, c) => a + c.connects, 0)} connections in all, every reconnect with Last-Event-ID`,
      );
    } finally {
      await server.child.stop();
    }
    const stored = await readStoreJobs(dir.dataDir);
    const stream = stored.jobs.get(JOB) ?? [];
    const mismatched = clients.filter(
      (c) =>
        c.received.length !== stream.length ||
        c.received.some((r, i) => r.seq !== i || r.id !== stream[i]?.id || r.eventId !== String(i)),
    );
    const gaps = clients.reduce(
      (a, c) => a + c.received.filter((r, i) => i > 0 && r.seq > (c.received[i - 1]?.seq ?? -1) + 1).length,
      0,
    );
    const duplicates = clients.reduce(
      (a, c) => a + c.received.length - new Set(c.received.map((r) => r.seq)).size,
      0,
    );
    rec.check(
      'every client ended with event: end',
      clients.every((c) => c.ended),
      `${clients.filter((c) => c.ended).length} of ${clientCount}`,
    );
    rec.check(
      "every client's sequence equals the stream exactly (0 gaps, 0 duplicates)",
      mismatched.length === 0,
      `stream of ${stream.length} events; ${mismatched.length} clients differ; ${gaps} gaps, ${duplicates} duplicates in all`,
    );
    rec.check(
      'both kinds of disconnect happened',
      serverCuts > 0 && clients.some((c) => c.ownAborts > 0),
      `${serverCuts} server-side destroys, ${clients.reduce((a, c) => a + c.ownAborts, 0)} client aborts`,
    );
    rec.details['clients'] = clients.map((c) => ({
      connects: c.connects,
      aborts: c.ownAborts,
      cuts: c.cutsSeen,
      events: c.received.length,
    }));
  } finally {
    await dir.remove();
  }
  return rec.report();
}
