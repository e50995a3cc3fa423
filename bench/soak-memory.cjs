/**
 * Loaded into the tsload process of a soak by NODE_OPTIONS=--require (which,
 * unlike --import or execArgv, reaches the piscina load threads too): every
 * TSLOAD_SOAK_MEMORY_MS each thread appends one JSON line to the file
 * TSLOAD_SOAK_MEMORY with its own V8 heap and the process's RSS, so the soak
 * can say which thread's heap the memory is in. CommonJS, because --require
 * takes nothing else.
 */
'use strict';
const { appendFileSync } = require('node:fs');
const { getHeapStatistics } = require('node:v8');
const { isMainThread, threadId } = require('node:worker_threads');

const file = process.env.TSLOAD_SOAK_MEMORY;
/*
 * TSLOAD_SOAK_GC=1: a full collection in the thread before each sample, so
 * that RSS follows live memory rather than V8's own rhythm of collecting,
 * whose sawtooth (MB over a minute or more) is longer than a CI soak.
 */
let collect;
if (process.env.TSLOAD_SOAK_GC === '1') {
  require('node:v8').setFlagsFromString('--expose-gc');
  collect = require('node:vm').runInNewContext('gc');
}
const periodMs = Number(process.env.TSLOAD_SOAK_MEMORY_MS ?? 10_000);
if (file !== undefined && file !== '' && periodMs > 0) {
  const sample = () => {
    collect?.();
    const heap = getHeapStatistics();
    const m = process.memoryUsage();
    const line = {
      t: Date.now(),
      thread: isMainThread ? 'main' : `worker ${threadId}`,
      rss: m.rss,
      heapUsed: heap.used_heap_size,
      heapTotal: heap.total_heap_size,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
    };
    // One short line per append: O_APPEND keeps the threads' lines whole.
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  };
  setInterval(sample, periodMs).unref();
}
