/**
 * The machine a bench ran on, for its report: CPU, cores, the versions of
 * everything measured or measuring, and how busy the machine was when the
 * run began (a comparison on a loaded machine is labelled as such).
 *
 * @module
 */

import { wrkVersion } from "./wrk.ts";

/** The machine and tool versions. */
export interface Machine {
  /** CPU model name. */
  cpu: string;
  /** Logical cores. */
  cores: number;
  /** Operating system and kernel. */
  os: string;
  /** Deno's version. */
  deno: string;
  /** etcd's version, when installed. */
  etcd?: string;
  /** wrk's version, when installed. */
  wrk?: string;
  /** The 1, 5 and 15 minute load averages at the start. */
  loadAverage: [number, number, number];
}

async function readOr(file: string, fallback: string): Promise<string> {
  return await Deno.readTextFile(file).catch(() => fallback);
}

/** etcd's version (`etcd --version`), or undefined when it is not installed. */
export async function etcdVersion(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("etcd", {
      args: ["--version"],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!out.success) return undefined;
    return new TextDecoder().decode(out.stdout).match(
      /etcd Version:\s*(\S+)/,
    )?.[1] ?? "unknown";
  } catch {
    return undefined;
  }
}

/**
 * Describes this machine.
 *
 * @example
 * ```ts
 * import { describeMachine, machineLine } from "./machine.ts";
 *
 * console.log(machineLine(await describeMachine()));
 * ```
 */
export async function describeMachine(): Promise<Machine> {
  const cpuinfo = await readOr("/proc/cpuinfo", "");
  const load = (await readOr("/proc/loadavg", "0 0 0")).split(" ").slice(0, 3)
    .map(Number) as [number, number, number];
  const kernel = (await readOr("/proc/sys/kernel/osrelease", "")).trim();
  const [etcd, wrk] = await Promise.all([etcdVersion(), wrkVersion()]);
  return {
    cpu: cpuinfo.match(/model name\s*:\s*(.*)/)?.[1]?.trim() ?? "unknown",
    cores: navigator.hardwareConcurrency,
    os: kernel ? `${Deno.build.os} ${kernel}` : Deno.build.os,
    deno: Deno.version.deno,
    etcd,
    wrk,
    loadAverage: load,
  };
}

/** One line: `2 cores, AMD EPYC, linux 6.1; Deno 2.9.6, etcd 3.4.23, wrk 4.1.0; load 0.12 0.30 0.41 at start`. */
export function machineLine(m: Machine): string {
  const tools = [
    `Deno ${m.deno}`,
    m.etcd ? `etcd ${m.etcd}` : "no etcd",
    m.wrk ? `wrk ${m.wrk}` : "no wrk",
  ];
  return `${m.cores} cores, ${m.cpu}, ${m.os}; ${tools.join(", ")}; load ${
    m.loadAverage.map((x) => x.toFixed(2)).join(" ")
  } at start`;
}
