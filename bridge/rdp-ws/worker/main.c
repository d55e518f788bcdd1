/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-hmos-rdp: one RDP session, in its own process (guacd's lesson: a
 * hostile or crashing RDP server must never take the daemon down). The
 * daemon forks it with a socket as fd 3 and speaks the Guacamole protocol
 * (VERSION_1_5_0) on it: the daemon performs the handshake (select, args,
 * size, audio, video, image, connect) with values from the VM's config and
 * the browser's URL; after that every byte both ways is the browser's.
 *
 * This file: the process (arguments, set-up, teardown), the connection and
 * the main loop. The loop waits on FreeRDP's event handles, the socket and
 * chan.ev; a frame (display.c) is sent only when the browser has
 * acknowledged all but MAX_UNACKED of the previous frames' syncs and
 * MIN_FRAME_MS have passed: a slow browser lowers the frame rate, nothing
 * queues. The rest: see worker.h.
 *
 * Exit status: 0 after a disconnect from either side, 1 after an error
 * (reported first as a Guacamole `error` instruction), 2 for bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <freerdp/freerdp.h>
#include <freerdp/gdi/gdi.h>
#include <freerdp/primitives.h>
#include <freerdp/settings.h>
#include <winpr/synch.h>
#include <winpr/wlog.h>

#include "worker.h"

#define MIN_FRAME_MS 16   /* at most ~60 frames per second */
#define KEEPALIVE_MS 5000 /* guacamole-common-js closes a tunnel silent for 15 s */
#define MAX_WAIT_MS 250   /* see run() */

struct worker *the_worker; /* one session per process; rdpsnd and audin devices have no context */

/*
 * FreeRDP 2's connection sequence (rdp_client_connect) reads what the server sent, then calls
 * Sleep(100) before it looks again: every round trip of the sequence (MCS attach, channel joins,
 * licensing, capabilities, finalization) costs up to 100 ms, ~1 s in all against a server on
 * this machine. The worker defines WinPR's Sleep itself (exported, so libfreerdp2 binds to it
 * rather than to libwinpr2's): on the main thread while freerdp_connect() runs, a sleep ends as
 * soon as the connection has something to read. Everywhere else it sleeps like WinPR's.
 * Sleep gets no context: what it needs is in the two globals below (this file's only).
 */
static pthread_t main_thread;
static rdpContext *connecting; /* read and written by the main thread only */

VOID Sleep(DWORD ms) {
  if (pthread_equal(pthread_self(), main_thread) && connecting) {
    HANDLE h[MAXIMUM_WAIT_OBJECTS];
    DWORD n = freerdp_get_event_handles(connecting, h, MAXIMUM_WAIT_OBJECTS);
    /* The transport's handles come first, then two of the channels' (freerdp_get_event_handles),
     * which are not serviced while connecting. A descriptor that is already readable when the
     * sequence sleeps is one it does not read now (after a reconnection, one stays readable):
     * waking on it would end every sleep at once, and the sequence counts its sleeps to time
     * out. So wait only for descriptors that become readable. */
    struct pollfd p[MAXIMUM_WAIT_OBJECTS];
    nfds_t k = 0;
    for (DWORD i = 0; n > 2 && i < n - 2; i++) {
      int fd = GetEventFileDescriptor(h[i]);
      struct pollfd one = {.fd = fd, .events = POLLIN};
      if (fd >= 0 && poll(&one, 1, 0) == 0)
        p[k++] = one;
    }
    if (k > 0) {
      poll(p, k, (int)ms);
      return;
    }
  }
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

static BOOL connect_now(freerdp *instance) {
  connecting = instance->context;
  BOOL ok = freerdp_connect(instance);
  connecting = NULL;
  return ok;
}

static void on_post_disconnect(freerdp *instance) {
  gdi_free(instance);
}

/* A FreeRDP instance with our callbacks, its context pointing to W. */
static int new_instance(struct worker *w) {
  freerdp *instance = freerdp_new();
  if (!instance)
    return -1;
  w->s.instance = instance;
  instance->ContextSize = sizeof(struct wctx);
  instance->PreConnect = on_pre_connect;
  instance->PostConnect = on_post_connect;
  instance->PostDisconnect = on_post_disconnect;
  instance->Authenticate = on_authenticate;
  instance->VerifyCertificateEx = on_verify_certificate;
  instance->VerifyChangedCertificateEx = on_verify_changed_certificate;
  if (!freerdp_context_new(instance))
    return -1;
  ((struct wctx *)instance->context)->w = w;
  return 0;
}

/* The first connection failed: tell the browser why, in the words that let the user act. */
static void connect_failed(struct worker *w, const char *host, long port) {
  UINT32 e = freerdp_get_last_error(w->s.instance->context);
  if (w->s.cert_seen[0])
    send_error(w, GUAC_S_UPSTREAM_ERROR, "the certificate of %s:%ld is not trusted; its fingerprint is %s",
               host, port, w->s.cert_seen);
  else if (e == FREERDP_ERROR_AUTHENTICATION_FAILED || e == FREERDP_ERROR_CONNECT_LOGON_FAILURE ||
           e == FREERDP_ERROR_CONNECT_WRONG_PASSWORD || e == FREERDP_ERROR_CONNECT_NO_OR_MISSING_CREDENTIALS)
    send_error(w, GUAC_S_CLIENT_UNAUTHORIZED, "%s:%ld refused the credentials: %s", host, port,
               freerdp_get_last_error_string(e));
  else if (e == FREERDP_ERROR_CONNECT_TRANSPORT_FAILED || e == FREERDP_ERROR_DNS_NAME_NOT_FOUND ||
           e == FREERDP_ERROR_CONNECT_FAILED)
    send_error(w, GUAC_S_UPSTREAM_NOT_FOUND, "cannot connect to %s:%ld: %s", host, port,
               freerdp_get_last_error_string(e));
  else
    send_error(w, GUAC_S_UPSTREAM_ERROR, "RDP connection to %s:%ld failed: %s", host, port,
               e ? freerdp_get_last_error_string(e) : "protocol error");
}

/* The session: an instance, its settings (settings.c), the connection. 0, or -1 (reported). */
static int connect_rdp(struct worker *w) {
  long port;
  const char *host = w->hs.args[ARG_HOSTNAME];
  if (!host[0] || !guac_arg_int(w->hs.args[ARG_PORT], 1, 65535, &port)) {
    send_error(w, GUAC_S_CLIENT_BAD_REQUEST, "hostname and port (1..65535) are required");
    return -1;
  }
  if (new_instance(w) < 0 || settings_apply(w, host, port) < 0)
    return -1;
  if (!connect_now(w->s.instance)) {
    connect_failed(w, host, port);
    return -1;
  }
  w->s.connected = true;
  w->s.connected_at = mono_ms();
  return 0;
}

/* Resize without disp: a new connection at the new size (the server may not honour it; the browser
 * learns the size it got from `size`). The channels come back with their ChannelConnected events. */
int reconnect(struct worker *w, long width, long height) {
  freerdp *instance = w->s.instance;
  rdpSettings *s = instance->settings;
  wlog("the server has no Display Control channel: reconnecting at %ldx%ld", width, height);
  freerdp_disconnect(instance);
  w->s.connected = false;
  freerdp_settings_set_uint32(s, FreeRDP_DesktopWidth, (UINT32)width);
  freerdp_settings_set_uint32(s, FreeRDP_DesktopHeight, (UINT32)height);
  freerdp_settings_set_uint32(s, FreeRDP_DesktopPhysicalWidth, (UINT32)(width * 254 / (w->hs.dpi * 10)));
  freerdp_settings_set_uint32(s, FreeRDP_DesktopPhysicalHeight, (UINT32)(height * 254 / (w->hs.dpi * 10)));
  if (!connect_now(instance)) {
    UINT32 e = freerdp_get_last_error(instance->context);
    send_error(w, GUAC_S_UPSTREAM_ERROR, "reconnecting at %ldx%ld failed: %s", width, height,
               e ? freerdp_get_last_error_string(e) : "protocol error");
    return -1;
  }
  w->s.connected = true;
  w->s.connected_at = mono_ms();
  w->disp.reconnects++;
  rdpGdi *gdi = instance->context->gdi;
  if ((long)gdi->width != width || (long)gdi->height != height) {
    w->disp.size_fixed = true;
    wlog("the server chose %ux%u instead: no more reconnections to resize", (unsigned)gdi->width,
         (unsigned)gdi->height);
  }
  mark_resized(w);
  return 0;
}

/* How long the main loop may wait for events: MAX_WAIT_MS, or until the next frame may go when
 * one is due. */
static DWORD wait_timeout(struct worker *w) {
  uint64_t now = mono_ms();
  DWORD timeout = MAX_WAIT_MS;
  bool can_send = w->d.n_unacked < MAX_UNACKED && dirty_pending(w);
  if (can_send)
    timeout = now - w->d.last_flush >= MIN_FRAME_MS ? 0 : (DWORD)(MIN_FRAME_MS - (now - w->d.last_flush));
  return timeout;
}

/* The server ended the session (or FreeRDP failed): tell the browser. */
static void session_ended(struct worker *w) {
  UINT32 e = freerdp_get_last_error(w->s.instance->context);
  if (e && e != FREERDP_ERROR_SUCCESS)
    send_error(w, GUAC_S_UPSTREAM_ERROR, "the RDP server ended the session: %s",
               freerdp_get_last_error_string(e));
  else
    send_error(w, GUAC_S_UPSTREAM_ERROR, "the RDP server ended the session");
}

/* A frame when the browser is ready for one and MIN_FRAME_MS passed; else what is queued, or a
 * `nop` after KEEPALIVE_MS of silence. 0, or -1 when the daemon cannot be written to. */
static int send_step(struct worker *w) {
  uint64_t now = mono_ms();
  if (w->d.n_unacked < MAX_UNACKED && now - w->d.last_flush >= MIN_FRAME_MS && dirty_pending(w))
    return flush_frame(w);
  if (w->link.out.len > 0 || now - w->link.last_out >= KEEPALIVE_MS) {
    if (w->link.out.len == 0)
      guac_putl(&w->link.out, "nop", NULL);
    return flush_out(w);
  }
  return 0;
}

/* The main loop: FreeRDP's events, the daemon's socket and the channel threads' queue. */
static void run(struct worker *w) {
  rdpContext *ctx = w->s.instance->context;
  HANDLE sock_ev = CreateFileDescriptorEvent(NULL, FALSE, FALSE, w->link.fd, WINPR_FD_READ);
  /* Nothing is drawn until the server's first update: an all-black first frame would only cost
   * bytes and flash. That update may already sit in FreeRDP's TLS buffer, read during the
   * connection, where no handle signals it: process it before the first wait, and never wait
   * longer than MAX_WAIT_MS for the same reason. */
  if (!freerdp_check_event_handles(ctx)) {
    send_error(w, GUAC_S_UPSTREAM_ERROR, "the RDP server ended the session");
    CloseHandle(sock_ev);
    return;
  }
  reset_prev(w);
  while (!w->s.quit) {
    HANDLE h[MAXIMUM_WAIT_OBJECTS];
    DWORD n = freerdp_get_event_handles(ctx, h, MAXIMUM_WAIT_OBJECTS - 2);
    if (n == 0) {
      send_error(w, GUAC_S_SERVER_ERROR, "FreeRDP gave no event handles");
      break;
    }
    h[n++] = sock_ev;
    h[n++] = w->chan.ev;
    DWORD st = WaitForMultipleObjects(n, h, FALSE, wait_timeout(w));
    if (st == WAIT_FAILED) {
      send_error(w, GUAC_S_SERVER_ERROR, "waiting for events failed");
      break;
    }
    if (!freerdp_check_event_handles(ctx) || freerdp_shall_disconnect(w->s.instance)) {
      session_ended(w);
      break;
    }
    chan_collect(w);
    if (resize_step(w, mono_ms()) < 0)
      break;
    int r = read_some(w, false);
    if (r < 0) {
      w->s.quit = true; /* the daemon closed: the browser went away */
      break;
    }
    drain_input(w);
    if (w->s.quit)
      break;
    apply_resize(w); /* `size` goes out at once, even while frames wait for acks */
    if (send_step(w) < 0)
      break;
  }
  CloseHandle(sock_ev);
}

/* The command line into W. -1 to go on, else the exit status. */
static int parse_args(struct worker *w, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--fd") == 0 && i + 1 < argc) {
      long fd;
      if (!guac_arg_int(argv[++i], 0, 1 << 20, &fd)) {
        fprintf(stderr, "qemu-hmos-rdp: --fd needs a file descriptor number\n");
        return 2;
      }
      w->link.fd = (int)fd;
    } else if (strcmp(argv[i], "--config-dir") == 0 && i + 1 < argc) {
      w->hs.config_dir = argv[++i];
    } else if (strcmp(argv[i], "--version") == 0) {
      printf("qemu-hmos-rdp %s (FreeRDP %s)\n", QHM_VERSION, freerdp_get_version_string());
      return 0;
    } else {
      fprintf(stderr,
              "usage: qemu-hmos-rdp [--fd N] [--config-dir DIR]\n"
              "  Guacamole protocol on fd N (default 3); DIR: FreeRDP's own files (default: ~/.config)\n");
      return 2;
    }
  }
  return -1;
}

/* The handshake, the connection, the main loop: whatever ends them was reported already. */
static void session(struct worker *w) {
  if (handshake(w) != 0)
    return;
  /* The tunnel's id (guacamole-common-js's WebSocketTunnel reads it as the first instruction). */
  const char *idv[1] = {w->s.id};
  guac_put(&w->link.out, "", 1, idv);
  if (flush_out(w) != 0 || connect_rdp(w) != 0)
    return;
  guac_putl(&w->link.out, "ready", w->s.id, NULL);
  send_size(w);
  w->link.last_out = mono_ms();
  if (flush_out(w) != 0)
    return;
  wlog("connected to %s:%s, %ux%u", w->hs.args[ARG_HOSTNAME], w->hs.args[ARG_PORT],
       w->s.instance->context->gdi->width, w->s.instance->context->gdi->height);
  run(w);
}

/* Disconnect, log the session's statistics, free what W holds. */
static void teardown(struct worker *w) {
  uint64_t t_end = mono_ms();
  if (w->s.instance) {
    if (w->s.connected)
      freerdp_disconnect(w->s.instance);
    if (w->s.instance->context)
      freerdp_context_free(w->s.instance);
    freerdp_free(w->s.instance);
  }
  char codecs[256];
  gfx_codecs_used(w, codecs, sizeof(codecs));
  wlog("exit: %lu frames, %lu rectangles (%lu png, %lu jpeg, %lu webp), %lu scroll copies, %lu cursors, %llu "
       "bytes out, "
       "%lu disp resizes, %lu reconnections, %lu audio bytes (%lu dropped), %lu microphone bytes (%lu "
       "dropped); gfx codecs: %s; "
       "teardown %llu ms",
       w->d.frames, w->d.rects, w->d.png_rects, w->d.jpeg_rects, w->d.webp_rects, w->d.copies, w->d.cursors,
       w->link.bytes_out, w->disp.resizes, w->disp.reconnects, w->snd.bytes, w->snd.dropped, w->mic.bytes,
       w->mic.dropped, codecs, (unsigned long long)(mono_ms() - t_end));
  free(w->d.prev);
  for (size_t i = 0; i < ARG__N; i++)
    free(w->hs.arg_store[i]);
  guac_buf_free(&w->link.in);
  guac_buf_free(&w->link.out);
  free(w->link.ins);
  free(w->clip.local);
  guac_buf_free(&w->clip.in);
  guac_buf_free(&w->chan.out);
  CloseHandle(w->chan.ev);
}

/* The worker's entry: the program's main (exe.c), and libqemu-hmos-rdp.so's for the child launcher
 * (one RDP session a native child process). */
__attribute__((visibility("default"))) int qhm_rdp_main(int argc, char **argv) {
  struct worker wk = {.link.fd = 3,
                      .hs = {.width = 1024, .height = 768, .dpi = 96},
                      .d.stream = 1,
                      .clip.in_stream = -1,
                      .mic.stream = -1};
  struct worker *w = &wk;
  main_thread = pthread_self();
  int rc = parse_args(w, argc, argv);
  if (rc >= 0)
    return rc;
  if (fcntl(w->link.fd, F_GETFD) < 0) {
    fprintf(stderr, "qemu-hmos-rdp: fd %d is not open\n", w->link.fd);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  fcntl(w->link.fd, F_SETFL, fcntl(w->link.fd, F_GETFL) | O_NONBLOCK);
  fcntl(w->link.fd, F_SETFD, FD_CLOEXEC);
  /* FreeRDP otherwise benchmarks its generic against its SIMD primitives at first use: 0.3 s of
   * CPU before every first frame, to choose what is always the SIMD one on a CPU. */
  primitives_set_hints(PRIMITIVES_ONLY_CPU);
  if (!getenv("WLOG_LEVEL")) /* FreeRDP's own variable: more detail in rdp.log when asked for */
    WLog_SetLogLevel(WLog_GetRoot(), WLOG_WARN);
  the_worker = w;
  w->link.ins = malloc(sizeof(*w->link.ins));
  pthread_mutex_init(&w->lock, NULL);
  w->chan.ev = CreateEvent(NULL, TRUE, FALSE, NULL);
  if (!w->link.ins || !w->chan.ev)
    return 1;
  snprintf(w->s.id, sizeof(w->s.id), "$qhm-rdp-%d-%llu", (int)getpid(), (unsigned long long)time(NULL));
  w->d.t0 = mono_ms();
  session(w);
  teardown(w);
  return w->s.failed ? 1 : 0;
}
