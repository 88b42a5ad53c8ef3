// Loaded with `node --require` by the bench: prints the process's CPU seconds (user + system)
// to stderr as it exits, so the bench can say where the time went without a profiler.
/* global process */
'use strict';
process.on('exit', () => {
  const usage = process.cpuUsage();
  process.stderr.write(`cpu-seconds=${((usage.user + usage.system) / 1e6).toFixed(2)}\n`);
});
