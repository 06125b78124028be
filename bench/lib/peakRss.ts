// Loaded with `node --import ./bench/lib/peakRss.ts ...`: on exit, prints on stderr the process's peak RSS
// (getrusage ru_maxrss) and the peaks of its anonymous and file-backed parts, sampled from
// /proc/self/status every 20 ms. LMDB maps its file, so pages read from the store count as RSS (file-backed,
// reclaimable by the kernel); the anonymous part is the process's own memory (heap, buffers).
import { readFileSync } from 'node:fs';

let peakAnonKiB = 0;
let peakFileKiB = 0;
const field = (status: string, name: string) =>
  Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
const sample = () => {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    peakAnonKiB = Math.max(peakAnonKiB, field(status, 'RssAnon'));
    peakFileKiB = Math.max(peakFileKiB, field(status, 'RssFile'));
  } catch {
    // not Linux: only ru_maxrss is reported
  }
};
setInterval(sample, 20).unref();
process.on('exit', () => {
  sample();
  process.stderr.write(
    `@@peak_rss_kib=${process.resourceUsage().maxRSS} anon=${peakAnonKiB} file=${peakFileKiB}\n`,
  );
});
