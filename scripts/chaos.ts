// `npm run chaos [-- --kills N --seconds S --workers W]`: the crash-safety run of
// test/reliability/chaos-lib.ts against a `paygate serve` child (PGlite data dir, or the
// database of DATABASE_URL). Prints the report as JSON; exits 1 if anything was lost.
import { parseArgs } from 'node:util';
import { runChaos } from '../test/reliability/chaos-lib.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { kills: { type: 'string' }, seconds: { type: 'string' }, workers: { type: 'string' } },
  strict: true,
});
const int = (v: string | undefined, d: number, name: string) => {
  if (v === undefined) return d;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
  return n;
};
const kills = int(values.kills, 20, 'kills');
const seconds = int(values.seconds, 120, 'seconds');
const started = Date.now();
console.log(`chaos: ${kills} SIGKILLs over ${seconds} s on ${process.env.DATABASE_URL ? 'Postgres' : 'PGlite'}`);
const report = await runChaos({
  kills, seconds, workers: int(values.workers, 6, 'workers'),
  databaseUrl: process.env.DATABASE_URL || undefined,
  log: (l) => console.log(l),
});
console.log(JSON.stringify({ ...report, seconds: Math.round((Date.now() - started) / 1000) }, null, 2));
console.log(report.ok ? `ok: ${report.kills} kills survived, ${report.acknowledged} acknowledged operations, nothing lost` : `FAILED: ${report.lost.length} problems`);
process.exit(report.ok ? 0 : 1);
