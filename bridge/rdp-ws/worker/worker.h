/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * worker.h: the RDP worker's (qemu-hmos-rdp) internal header — struct worker,
 * split by concern, and what each file of bridge/rdp-ws/worker/ offers the
 * others. Nothing outside worker/ includes it.
 *
 * One session per process. Threads:
 *  - the main thread: the daemon's socket (both ways), the handshake, the
 *    FreeRDP connection and its event loop, the legacy drawing path, input;
 *  - FreeRDP's channel threads: cliprdr, rdpsnd, rail and drdynvc (disp,
 *    audin, the graphics pipeline). They never write to the socket: what the
 *    browser must get goes into `chan.out` under `lock` (chan_put) and
 *    `chan.ev` wakes the main loop, which moves it to `link.out`.
 * A field marked (lock) is shared with a channel thread and read or written
 * under `lock` only; everything else belongs to the thread its part names.
 *
 * Files: main.c (process entry, connection, loop), io.c (the daemon's socket),
 * input.c (handshake, instructions from the browser, keys and mouse),
 * settings.c (FreeRDP settings and questions answered from the daemon's
 * arguments), display.c (frames, the remote pointer), channels.c (loading and
 * attaching channels), and one file per channel: cliprdr.c, rdpsnd.c, audin.c,
 * disp.c, rail.c, rdpgfx.c. rdpdr (the shared folder) is FreeRDP's own drive
 * channel: settings.c only turns it on.
 */
#ifndef QHM_RDP_WORKER_H
#define QHM_RDP_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <freerdp/client/audin.h>
#include <freerdp/client/cliprdr.h>
#include <freerdp/client/disp.h>
#include <freerdp/client/rail.h>
#include <freerdp/client/rdpgfx.h>
#include <freerdp/client/rdpsnd.h>
#include <freerdp/freerdp.h>

#include "guac.h"
#include "rdp_display.h"
#include "rdp_pcm.h"

#define MAX_UNACKED 2 /* frames sent but not yet acknowledged by the browser's sync */
#define MAX_PRESSED 32
#define RDPGFX_CODECS 9 /* the codecs counted: see gfx_codec_names (rdpgfx.c) */

/* Guacamole status codes (protocol reference, "Status codes"). */
#define GUAC_S_SERVER_ERROR 0x0200
#define GUAC_S_UPSTREAM_TIMEOUT 0x0202
#define GUAC_S_UPSTREAM_ERROR 0x0203
#define GUAC_S_UPSTREAM_NOT_FOUND 0x0207
#define GUAC_S_CLIENT_BAD_REQUEST 0x0300
#define GUAC_S_CLIENT_UNAUTHORIZED 0x0301

/* The arguments this worker asks for, in the order `connect` gives their values (names: input.c). */
enum {
  ARG_VERSION,
  ARG_HOSTNAME,
  ARG_PORT,
  ARG_USERNAME,
  ARG_PASSWORD,
  ARG_DOMAIN,
  ARG_SECURITY,
  ARG_IGNORE_CERT,
  ARG_CERT_FINGERPRINTS,
  ARG_DRIVE_PATH, /* the VM's shared folder (validated by the daemon), "" = no drive */
  ARG_DRIVE_NAME,
  ARG_REMOTE_APP, /* the VM's rdp.remote_app program, "" = the full desktop */
  ARG_REMOTE_APP_ARGS,
  ARG_REMOTE_APP_MODE, /* "rail" (RemoteApp) or "shell" (alternate shell) */
  ARG_GRAPHICS,        /* "gfx-h264" (default), "gfx" (no H.264) or "legacy" (no graphics pipeline) */
  ARG__N
};

/* The daemon's socket (io.c, input.c). Main thread only. */
struct wk_link {
  int fd;
  struct guac_buf in, out;
  struct guac_instr *ins;
  uint64_t last_out;
  unsigned long long bytes_out; /* statistics */
};

/* What the handshake gave (input.c) and the command line. Written by the main thread before the
 * connection, read-only afterwards (channel threads read `args`). */
struct wk_handshake {
  const char *config_dir; /* FreeRDP's ConfigPath: its known_hosts must not decide for our policy */
  const char *args[ARG__N];
  char *arg_store[ARG__N];
  long width, height, dpi;
  bool allow_jpeg;
  bool allow_webp; /* the handshake's `image` listed image/webp: photo-like rectangles as WebP */
  bool audio_l16;  /* the handshake's `audio` offered audio/L16: rdpsnd is turned on */
};

/* The session (main.c, settings.c). Main thread. */
struct wk_session {
  char id[40];
  freerdp *instance;
  bool connected, quit, failed;
  char cert_seen[256]; /* fingerprint of a certificate refused by the policy */
  uint64_t connected_at;
};

/* Channel threads -> main loop: at most CHAN_OUT_MAX bytes for the browser (io.c). */
struct wk_chan {
  struct guac_buf out; /* (lock) */
  HANDLE ev;
};

/* Display (display.c). The legacy path (bitmaps, orders, surface bits) draws on the main thread,
 * the graphics pipeline (rdpgfx: planar, RemoteFX, progressive, H.264) on drdynvc's thread. Both
 * draw between FreeRDP's update_begin_paint and update_end_paint, which hold update->mux: the
 * main thread holds it too (fb_lock) while it reads the framebuffer, so a frame never shows a
 * half-decoded surface. Everything not marked (lock) is the main thread's. */
struct wk_display {
  struct rdp_dirty dirty; /* (lock) */
  bool resized;           /* (lock) the GDI framebuffer changed size: the main loop tells the browser */
  uint64_t t0, last_flush;
  uint64_t unacked[MAX_UNACKED + 2];
  size_t n_unacked;
  uint64_t last_sync;
  unsigned stream;
  uint8_t *prev; /* what the browser shows (same layout as the GDI buffer), for scroll detection */
  size_t prev_size;
  /* statistics, logged at exit */
  unsigned long frames, rects, png_rects, jpeg_rects, webp_rects, copies, cursors;
};

struct pressed {
  uint32_t keysym;
  bool unicode; /* sent as a Unicode event (release it the same way) */
  uint16_t code;
  uint16_t flags;
};

/* Keys and mouse from the browser (input.c). Main thread. */
struct wk_input {
  long mx, my, mmask;
  bool shift_down;
  struct pressed pressed[MAX_PRESSED];
  size_t n_pressed;
};

/* Display control (disp.c): the browser's `size` -> monitor layout, else a reconnection. Main
 * thread, but for what drdynvc's thread sets. */
struct wk_disp {
  DispClientContext *ctx; /* (lock) */
  bool ready;             /* (lock) the server sent its Display Control capabilities */
  long want_w, want_h;    /* a resize asked for by the browser and not done yet (0 = none) */
  uint64_t last_resize;
  unsigned long resizes, reconnects;
  bool size_fixed; /* a reconnection did not get the size asked for: the server imposes its own */
};

/* Audio out (rdpsnd.c, rdpsnd's thread): PCM as audio/L16. */
struct wk_audio {
  bool open;                    /* (lock) the `audio` stream was opened and not ended */
  bool refused;                 /* (lock) the browser answered it with an error ack */
  unsigned rate, channels;      /* (lock) of the open stream */
  size_t pending;               /* (lock) PCM bytes in chan.out not yet taken by the main loop */
  unsigned long bytes, dropped; /* (lock) statistics */
};

/* Microphone (audin.c): the browser's audio/L16 stream (main thread) -> the server (audin on
 * drdynvc's thread). */
struct wk_mic {
  long stream; /* the browser's open audio stream, or -1 */
  unsigned rate, channels;
  struct rdp_pcm conv;  /* (lock) the browser's rate/channels -> the server's, when they differ */
  AudinReceive receive; /* (lock) set while the server records */
  void *user;           /* (lock) */
  AUDIO_FORMAT format;  /* (lock) what the server chose */
  unsigned long bytes, dropped;
};

/* Clipboard (cliprdr.c): the browser's side on the main thread, the server's on cliprdr's. */
struct wk_clip {
  CliprdrClientContext *ctx;
  bool ready;         /* (lock) the server's Monitor Ready came: format lists may be sent */
  uint8_t *local;     /* (lock) the browser's text as CF_UNICODETEXT, served on request */
  size_t local_len;   /* (lock) */
  long in_stream;     /* the browser's open clipboard stream, or -1 */
  struct guac_buf in; /* its UTF-8 so far, at most RDP_CLIP_MAX bytes */
};

enum wk_gfx_mode { GFX_OFF, GFX_NO_H264, GFX_ON };

/* The graphics pipeline (rdpgfx.c). `mode` is set before connecting (settings.c); the rest is
 * drdynvc's thread's. */
struct wk_gfx {
  enum wk_gfx_mode mode;                    /* `graphics`, or QHM_RDP_GFX: see settings.c */
  pcRdpgfxSurfaceCommand surface_command;   /* GDI's, wrapped to count the codecs used */
  pcRdpgfxCapsConfirm caps_confirm;         /* rdpgfx's, wrapped to log the version chosen */
  unsigned long codec_count[RDPGFX_CODECS]; /* surface commands per codec */
};

struct worker {
  pthread_mutex_t lock; /* guards every field marked (lock) */
  struct wk_link link;
  struct wk_handshake hs;
  struct wk_session s;
  struct wk_chan chan;
  struct wk_display d;
  struct wk_input input;
  struct wk_disp disp;
  struct wk_audio snd;
  struct wk_mic mic;
  struct wk_clip clip;
  struct wk_gfx gfx;
};

/* FreeRDP's context, with our worker: callbacks that get a context (or an instance, a channel's
 * `custom`) find the worker through it. */
struct wctx {
  rdpContext ctx; /* first: FreeRDP allocates ContextSize bytes and casts */
  struct worker *w;
};

static inline struct worker *W(rdpContext *ctx) {
  return ((struct wctx *)ctx)->w;
}

/* The audio formats both directions carry (audio/L16): 16-bit PCM, mono or stereo, 8..48 kHz. Any
 * thread (rdpsnd.c, audin.c). */
static inline BOOL pcm16_supported(const AUDIO_FORMAT *f) {
  return f->wFormatTag == WAVE_FORMAT_PCM && f->wBitsPerSample == 16 &&
         (f->nChannels == 1 || f->nChannels == 2) && f->nSamplesPerSec >= 8000 && f->nSamplesPerSec <= 48000;
}

/* The one global (main.c): rdpsnd and audin devices are created by an entry point that gets no
 * context pointer (rdpsnd.c, audin.c). Everything else reaches the worker through W() or a
 * channel's `custom`. */
extern struct worker *the_worker;

/* io.c: the daemon's socket, logging, the channel threads' queue */
uint64_t mono_ms(void);
void wlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int flush_out(struct worker *w);
void send_error(struct worker *w, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int read_some(struct worker *w, bool block);
void chan_put(struct worker *w, const struct guac_buf *b);
void chan_collect(struct worker *w);

/* input.c */
int handshake(struct worker *w);
void drain_input(struct worker *w);

/* settings.c */
int settings_apply(struct worker *w, const char *host, long port);
BOOL on_authenticate(freerdp *instance, char **username, char **password, char **domain);
DWORD on_verify_certificate(freerdp *instance, const char *host, UINT16 port, const char *common_name,
                            const char *subject, const char *issuer, const char *fingerprint, DWORD flags);
DWORD on_verify_changed_certificate(freerdp *instance, const char *host, UINT16 port, const char *common_name,
                                    const char *subject, const char *issuer, const char *new_fingerprint,
                                    const char *old_subject, const char *old_issuer,
                                    const char *old_fingerprint, DWORD flags);

/* display.c */
BOOL on_post_connect(freerdp *instance);
void fb_lock(struct worker *w);
void fb_unlock(struct worker *w);
void send_size(struct worker *w);
void mark_resized(struct worker *w);
void apply_resize(struct worker *w);
void reset_prev(struct worker *w);
bool dirty_pending(struct worker *w);
int flush_frame(struct worker *w);
void on_sync_ack(struct worker *w, const char *arg);

/* channels.c */
BOOL on_pre_connect(freerdp *instance);

/* cliprdr.c */
void clip_attach(struct worker *w, CliprdrClientContext *c);
void on_clipboard(struct worker *w, struct guac_instr *in);
bool on_clip_blob(struct worker *w, struct guac_instr *in, long sid);
bool on_clip_end(struct worker *w, long sid);

/* rdpsnd.c */
UINT snd_entry(PFREERDP_RDPSND_DEVICE_ENTRY_POINTS ep);
void on_ack(struct worker *w, struct guac_instr *in);

/* audin.c */
UINT mic_entry(PFREERDP_AUDIN_DEVICE_ENTRY_POINTS ep);
void on_audio_in(struct worker *w, struct guac_instr *in);
bool on_mic_blob(struct worker *w, struct guac_instr *in, long sid);

/* disp.c */
UINT32 desktop_scale(long dpi);
UINT32 device_scale(long dpi);
void disp_attach(struct worker *w, DispClientContext *d);
void on_size(struct worker *w, struct guac_instr *in);
int resize_step(struct worker *w, uint64_t now);

/* rail.c */
void rail_attach(struct worker *w, RailClientContext *r);

/* rdpgfx.c */
void gfx_attach(struct worker *w, rdpContext *ctx, RdpgfxClientContext *g);
void gfx_codecs_used(struct worker *w, char *out, size_t len);

/* main.c */
int reconnect(struct worker *w, long width, long height);

/* main.c: one RDP session, given the daemon's arguments; the process's exit status. */
int qhm_rdp_main(int argc, char **argv);

#endif
