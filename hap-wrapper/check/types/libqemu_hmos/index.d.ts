// SPDX-License-Identifier: GPL-2.0-or-later
// The N-API module's contract (issue 15), for type-checking the ArkTS sources while
// the real declaration (entry/src/main/cpp/types/libqemu_hmos/index.d.ts, written with
// the C module) is not in this tree. gen-tsconfig.mjs prefers the real one.
export interface StartOptions { dataDir: string; bind?: string; port?: number; wsPort?: number; uiDir?: string; qemu?: string; launcher?: string; childDir?: string; }
export interface StartResult { url: string; wsUrl: string; token: string; }
export interface DownloadProgress { id: string; name: string; state: string; doneBytes: number; totalBytes: number; }
export interface DaemonStatus { running: boolean; url: string; vmsRunning: number; downloads: DownloadProgress[]; }
export interface DaemonEvent { type: string; vmsRunning: number; downloads: DownloadProgress[]; json: string; }
export const start: (options: StartOptions) => StartResult;
export const stop: () => void;
export const status: () => DaemonStatus;
export const onEvent: (callback: (event: DaemonEvent) => void) => void;
