/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * libqemu_hmos.so: the daemon (libqemu-hmos) behind Node-API (../../napi_init.c).
 * One daemon per process; it serves the web UI and the REST API on loopback.
 */

export interface StartOptions {
  /** Absolute; created when missing (the app's filesDir + '/qemu-hmos'). */
  dataDir: string;
  /** A loopback IPv4 address; default '127.0.0.1'. */
  bind?: string;
  /** REST API and UI; 0 or absent: a free port. */
  port?: number;
  /** WebSocket consoles and events; 0 or absent: a free port. */
  wsPort?: number;
  /** The web UI's files on disk; absent: the UI is not served. */
  uiDir?: string;
  /** Which QEMU: 'system', 'built[:tcg|:tci]' or the path of a qemu-build manifest.json. */
  qemu?: string;
  /** How children start: 'child' (the default on HarmonyOS: OH_Ability_StartNativeChildProcess) or 'exec'. */
  launcher?: string;
  /** Where the program libraries of the child launcher are (the app's native library directory). */
  childDir?: string;
  /** Host directories requests may name (ISOs, kernels, shared folders) besides dataDir's own; at most 32. */
  allowPaths?: string[];
}

export interface StartResult {
  /** 'http://127.0.0.1:PORT': load url + '/?token=' + token in the Web component. */
  url: string;
  /** 'ws://127.0.0.1:PORT' */
  wsUrl: string;
  /** The API secret (Bearer, the UI's ?token=); keep it in memory only. */
  token: string;
}

export interface DownloadProgress {
  id: string;
  /** The file's name, e.g. 'debian-12.iso'. */
  name: string;
  /** 'starting', 'running', 'paused' or 'verifying' (finished downloads are not listed). */
  state: string;
  doneBytes: number;
  /** -1 when the server did not say. */
  totalBytes: number;
}

export interface DaemonStatus {
  /** start() succeeded and stop() has not been called. */
  running: boolean;
  /** As start() answered; '' when not running. */
  url: string;
  /** VMs with a QEMU of theirs: starting, running, paused or shutting down (after stop(): when it stopped). */
  vmsRunning: number;
  /** Downloads not finished yet. */
  downloads: DownloadProgress[];
}

export interface DaemonEvent {
  /** The event's type: 'vm.state', 'vm.created', 'vm.deleted', 'download.progress', 'download.state', ... (docs/api.md). */
  type: string;
  /** As in DaemonStatus, read when the event was sent. */
  vmsRunning: number;
  downloads: DownloadProgress[];
  /** The event as the /events WebSocket sends it (JSON text). */
  json: string;
}

/** Starts the daemon on a thread of its own. Throws an Error whose message has the reason and the log lines of this start. */
export const start: (options: StartOptions) => StartResult;
/** Stops the daemon and frees it (a no-op when not running); running VMs are not stopped. start() may follow. */
export const stop: () => void;
export const status: () => DaemonStatus;
/** Every event, on the UI thread; replaces the previous callback. */
export const onEvent: (callback: (event: DaemonEvent) => void) => void;
