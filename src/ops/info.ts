import { cpus, freemem, hostname, loadavg, platform, release, arch, totalmem, uptime } from 'node:os';
import type { OpsDeps } from './context.js';
import { dataDirBytes, diskSpace } from './disk.js';

/** Kunlun node_mgr's get_info: this machine and this process. */
export function getInfo(deps: OpsDeps): Record<string, unknown> {
  const cpu = cpus();
  const mem = process.memoryUsage();
  const disk = diskSpace(deps.node.dataDir);
  return {
    node_name: deps.node.name(),
    node_id: deps.node.id,
    machine: {
      hostname: hostname(),
      platform: platform(),
      release: release(),
      arch: arch(),
      cpus: cpu.length,
      cpu_model: cpu[0]?.model ?? null,
      loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
      mem_total: totalmem(),
      mem_free: freemem(),
      uptime_seconds: Math.round(uptime()),
    },
    data_dir: {
      path: deps.node.dataDir,
      bytes: dataDirBytes(deps.node.dataDir),
      disk_total: disk.total,
      disk_free: disk.free,
    },
    process: {
      pid: process.pid,
      rss: mem.rss,
      heap_used: mem.heapUsed,
      heap_total: mem.heapTotal,
      external: mem.external,
      uptime_seconds: Math.round((Date.now() - deps.node.startedAt) / 1000),
    },
    node_version: process.version,
    version: deps.node.version,
  };
}
