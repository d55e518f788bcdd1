/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-wsclient: a fast RFC 6455 client (or a direct unix-socket client) for bench/bridge.py,
 * talking to bench-vncsrc (see vncsrc.c for the 16-byte command it understands).
 *
 *   bench-wsclient [-s] ws://HOST:PORT/PATH?QUERY  MODE ARG
 *   bench-wsclient [-s] unix:/path/to/socket       MODE ARG
 *   bench-wsclient [-s] tcp:HOST:PORT               MODE ARG   (raw bytes, no WebSocket)
 *     MODE down N   read N bytes from the source, report the time
 *     MODE up N     send N bytes (masked binary frames of 64 KiB), report the time until the source
 *                   has counted them all (it writes the count back)
 *     MODE rtt K    send one small frame and wait for its echo, K times (after 200 warm-up rounds);
 *                   report p50/p90/p99/max in microseconds
 *   -s   synchronise with the harness: print "ready" once the RFB greeting has arrived and wait for a
 *        line on stdin before starting; after the result line, wait for a line (or EOF) on stdin
 *        before closing (so the harness can sample CPU counters of the relay while it still lives).
 *
 * WebSocket side: HTTP/1.1 upgrade with a random key, checks 101, Sec-WebSocket-Accept and the
 * "binary" subprotocol; every client frame is masked with a fresh key; server frames are parsed
 * (7/16/64-bit lengths, fragments reassembled into one byte stream, pings answered, text frames and
 * masked server frames refused, a close frame reported with its code and reason).
 * The result is one JSON line on stdout. Exit 0 on success, 1 on any error (message on stderr).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define RBUF_SIZE (1024 * 1024)
#define UP_FRAME (64 * 1024)
#define RTT_WARMUP 200

static void die(const char *fmt, const char *a) {
  fprintf(stderr, "bench-wsclient: ");
  fprintf(stderr, fmt, a);
  fprintf(stderr, "\n");
  exit(1);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- SHA-1 and base64 (for the handshake only) ---- */

static uint32_t rol(uint32_t x, int n) {
  return (x << n) | (x >> (32 - n));
}

static void sha1(const unsigned char *msg, size_t len, unsigned char out[20]) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  size_t total = ((len + 8) / 64 + 1) * 64;
  unsigned char *m = calloc(1, total);
  memcpy(m, msg, len);
  m[len] = 0x80;
  uint64_t bits = (uint64_t)len * 8;
  for (int i = 0; i < 8; i++)
    m[total - 1 - i] = (unsigned char)(bits >> (8 * i));
  for (size_t off = 0; off < total; off += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
      w[i] = (uint32_t)m[off + 4 * i] << 24 | (uint32_t)m[off + 4 * i + 1] << 16 |
             (uint32_t)m[off + 4 * i + 2] << 8 | m[off + 4 * i + 3];
    for (int i = 16; i < 80; i++)
      w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
      uint32_t f, k;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDC;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6;
      }
      uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rol(b, 30);
      b = a;
      a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  free(m);
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 4; j++)
      out[4 * i + j] = (unsigned char)(h[i] >> (24 - 8 * j));
}

static void b64(const unsigned char *in, size_t n, char *out) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v =
        (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
    out[o++] = t[(v >> 18) & 63];
    out[o++] = t[(v >> 12) & 63];
    out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? t[v & 63] : '=';
  }
  out[o] = 0;
}

/* ---- connection ---- */

struct conn {
  int fd;
  bool ws;
  unsigned char *rbuf;
  size_t rpos, rlen;
  uint64_t payload_left; /* of the current server frame */
  bool in_frame;
  uint64_t rng;
  unsigned char *wbuf; /* masked payload scratch */
};

static uint32_t rnd32(struct conn *c) {
  c->rng ^= c->rng << 13;
  c->rng ^= c->rng >> 7;
  c->rng ^= c->rng << 17;
  return (uint32_t)(c->rng >> 16);
}

static void write_all(int fd, const void *p, size_t n) {
  const unsigned char *b = p;
  while (n) {
    ssize_t w = write(fd, b, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      die("write: %s", strerror(errno));
    }
    b += w;
    n -= (size_t)w;
  }
}

static void writev_all(int fd, struct iovec *iov, int cnt) {
  while (cnt) {
    ssize_t w = writev(fd, iov, cnt);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      die("write: %s", strerror(errno));
    }
    size_t left = (size_t)w;
    while (cnt && left >= iov->iov_len) {
      left -= iov->iov_len;
      iov++;
      cnt--;
    }
    if (cnt) {
      iov->iov_base = (char *)iov->iov_base + left;
      iov->iov_len -= left;
    }
  }
}

/* Fill the read buffer; returns false on EOF. */
static bool fill(struct conn *c) {
  if (c->rpos == c->rlen)
    c->rpos = c->rlen = 0;
  else if (c->rpos > RBUF_SIZE / 2) {
    memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
    c->rlen -= c->rpos;
    c->rpos = 0;
  }
  for (;;) {
    ssize_t r = read(c->fd, c->rbuf + c->rlen, RBUF_SIZE - c->rlen);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      die("read: %s", strerror(errno));
    if (r == 0)
      return false;
    c->rlen += (size_t)r;
    return true;
  }
}

static void need(struct conn *c, size_t n) {
  while (c->rlen - c->rpos < n)
    if (!fill(c))
      die("%s", "connection closed by the peer");
}

/* Send a frame with OPCODE (masked); LEN bytes of P. */
static void send_frame(struct conn *c, int opcode, const unsigned char *p, size_t len) {
  unsigned char h[14];
  size_t hl = 0;
  h[hl++] = (unsigned char)(0x80 | opcode);
  if (len < 126) {
    h[hl++] = (unsigned char)(0x80 | len);
  } else if (len < 65536) {
    h[hl++] = 0x80 | 126;
    h[hl++] = (unsigned char)(len >> 8);
    h[hl++] = (unsigned char)len;
  } else {
    h[hl++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--)
      h[hl++] = (unsigned char)((uint64_t)len >> (8 * i));
  }
  uint32_t key = rnd32(c);
  unsigned char k[4];
  memcpy(k, &key, 4);
  memcpy(h + hl, k, 4);
  hl += 4;
  /* Mask 8 bytes at a time (the key repeats every 4 bytes, so an 8-byte word of it works). */
  uint64_t k8 = (uint64_t)key | (uint64_t)key << 32;
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t v;
    memcpy(&v, p + i, 8);
    v ^= k8;
    memcpy(c->wbuf + i, &v, 8);
  }
  for (; i < len; i++)
    c->wbuf[i] = p[i] ^ k[i & 3];
  struct iovec iov[2] = {{h, hl}, {c->wbuf, len}};
  writev_all(c->fd, iov, len ? 2 : 1);
}

static void send_data(struct conn *c, const unsigned char *p, size_t len) {
  if (c->ws)
    send_frame(c, 2, p, len);
  else
    write_all(c->fd, p, len);
}

/* Receive up to MAX payload bytes into OUT (or discard them if OUT is NULL); returns how many
 * (> 0), blocking as needed. */
static size_t recv_data(struct conn *c, unsigned char *out, size_t max) {
  if (!c->ws) {
    if (c->rpos == c->rlen && !fill(c))
      die("%s", "connection closed by the peer");
    size_t n = c->rlen - c->rpos;
    if (n > max)
      n = max;
    if (out)
      memcpy(out, c->rbuf + c->rpos, n);
    c->rpos += n;
    return n;
  }
  for (;;) {
    if (c->in_frame && c->payload_left) {
      if (c->rpos == c->rlen && !fill(c))
        die("%s", "connection closed by the peer");
      size_t n = c->rlen - c->rpos;
      if (n > c->payload_left)
        n = (size_t)c->payload_left;
      if (n > max)
        n = max;
      if (out)
        memcpy(out, c->rbuf + c->rpos, n);
      c->rpos += n;
      c->payload_left -= n;
      return n;
    }
    c->in_frame = false;
    need(c, 2);
    unsigned char b0 = c->rbuf[c->rpos], b1 = c->rbuf[c->rpos + 1];
    int opcode = b0 & 0x0f;
    if (b1 & 0x80)
      die("%s", "the server sent a masked frame");
    size_t hl = 2;
    uint64_t len = b1 & 0x7f;
    if (len == 126)
      hl += 2;
    else if (len == 127)
      hl += 8;
    need(c, hl);
    const unsigned char *h = c->rbuf + c->rpos;
    if (len == 126)
      len = (uint64_t)h[2] << 8 | h[3];
    else if (len == 127) {
      len = 0;
      for (int i = 0; i < 8; i++)
        len = len << 8 | h[2 + i];
    }
    c->rpos += hl;
    if (opcode == 0 || opcode == 2) { /* binary and its continuations: one byte stream */
      c->in_frame = true;
      c->payload_left = len;
      continue;
    }
    if (opcode == 1)
      die("%s", "the server sent a text frame");
    if (len > 125)
      die("%s", "control frame over 125 bytes");
    need(c, (size_t)len);
    unsigned char ctl[126];
    memcpy(ctl, c->rbuf + c->rpos, (size_t)len);
    c->rpos += (size_t)len;
    if (opcode == 9) {
      send_frame(c, 10, ctl, (size_t)len);
    } else if (opcode == 8) {
      char msg[200];
      int code = len >= 2 ? ctl[0] << 8 | ctl[1] : 1005;
      ctl[len] = 0;
      snprintf(msg, sizeof(msg), "closed by the server: %d %s", code, len > 2 ? (char *)ctl + 2 : "");
      die("%s", msg);
    } else if (opcode != 10) {
      die("%s", "unknown opcode");
    }
  }
}

static void recv_exact(struct conn *c, unsigned char *out, size_t n) {
  while (n) {
    size_t k = recv_data(c, out, n);
    if (out)
      out += k;
    n -= k;
  }
}

static void ws_handshake(struct conn *c, const char *url) {
  char host[256], path[2048];
  int port = 80;
  const char *p = url + 5; /* after ws:// */
  const char *slash = strchr(p, '/');
  if (!slash)
    slash = p + strlen(p);
  size_t hl = (size_t)(slash - p);
  if (hl >= sizeof(host))
    die("bad URL %s", url);
  memcpy(host, p, hl);
  host[hl] = 0;
  snprintf(path, sizeof(path), "%s", *slash ? slash : "/");
  char hostport[256];
  snprintf(hostport, sizeof(hostport), "%s", host);
  char *colon = strrchr(host, ':');
  if (colon) {
    *colon = 0;
    port = atoi(colon + 1);
  }
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
  char ps[16];
  snprintf(ps, sizeof(ps), "%d", port);
  if (getaddrinfo(host, ps, &hints, &ai) != 0)
    die("cannot resolve %s", host);
  c->fd = socket(ai->ai_family, ai->ai_socktype, 0);
  if (c->fd < 0 || connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0)
    die("connect: %s", strerror(errno));
  freeaddrinfo(ai);
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  unsigned char nonce[16];
  for (int i = 0; i < 16; i += 4) {
    uint32_t r = rnd32(c);
    memcpy(nonce + i, &r, 4);
  }
  char key[32], req[4096];
  b64(nonce, 16, key);
  int n = snprintf(req, sizeof(req),
                   "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Protocol: binary\r\n\r\n",
                   path, hostport, key);
  write_all(c->fd, req, (size_t)n);
  char *end;
  for (;;) {
    c->rbuf[c->rlen] = 0;
    if ((end = strstr((char *)c->rbuf, "\r\n\r\n")))
      break;
    if (c->rlen > 8192 || !fill(c))
      die("%s", "no complete HTTP answer to the upgrade");
  }
  *end = 0;
  char *resp = (char *)c->rbuf;
  if (strncmp(resp, "HTTP/1.1 101", 12) != 0) {
    char *eol = strstr(resp, "\r\n");
    if (eol)
      *eol = 0;
    die("upgrade refused: %s", resp);
  }
  /* Expected accept value. */
  char cat[128];
  unsigned char dig[20];
  char want[40];
  snprintf(cat, sizeof(cat), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
  sha1((unsigned char *)cat, strlen(cat), dig);
  b64(dig, 20, want);
  bool accept_ok = false, proto_ok = false;
  for (char *line = strstr(resp, "\r\n"); line; line = strstr(line, "\r\n")) {
    line += 2;
    if (strncasecmp(line, "Sec-WebSocket-Accept:", 21) == 0) {
      char *v = line + 21;
      while (*v == ' ')
        v++;
      accept_ok = strncmp(v, want, strlen(want)) == 0;
    } else if (strncasecmp(line, "Sec-WebSocket-Protocol:", 23) == 0) {
      char *v = line + 23;
      while (*v == ' ')
        v++;
      proto_ok = strncmp(v, "binary", 6) == 0;
    }
  }
  if (!accept_ok)
    die("%s", "bad or missing Sec-WebSocket-Accept");
  if (!proto_ok)
    die("%s", "the server did not select the \"binary\" subprotocol");
  c->rpos = (size_t)(end + 4 - (char *)c->rbuf);
}

static void unix_connect(struct conn *c, const char *path) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(a.sun_path))
    die("path too long: %s", path);
  strcpy(a.sun_path, path);
  c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0)
    die("connect: %s", strerror(errno));
}

static void tcp_connect(struct conn *c, const char *hostport) {
  char host[256];
  snprintf(host, sizeof(host), "%s", hostport);
  char *colon = strrchr(host, ':');
  if (!colon)
    die("bad tcp target %s", hostport);
  *colon = 0;
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
  if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
    die("cannot resolve %s", host);
  c->fd = socket(ai->ai_family, ai->ai_socktype, 0);
  if (c->fd < 0 || connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0)
    die("connect: %s", strerror(errno));
  freeaddrinfo(ai);
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void wait_line(void) {
  char line[64];
  if (!fgets(line, sizeof(line), stdin))
    return;
}

static void send_cmd(struct conn *c, char mode, uint64_t n) {
  unsigned char cmd[16] = {(unsigned char)mode};
  for (int i = 0; i < 8; i++)
    cmd[8 + i] = (unsigned char)(n >> (8 * i));
  send_data(c, cmd, sizeof(cmd));
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p) {
  size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
  return v[i < n ? i : n - 1];
}

int main(int argc, char **argv) {
  bool sync = false;
  int ai = 1;
  if (ai < argc && strcmp(argv[ai], "-s") == 0) {
    sync = true;
    ai++;
  }
  if (argc - ai != 3) {
    fprintf(stderr, "usage: %s [-s] ws://HOST:PORT/PATH|unix:PATH|tcp:HOST:PORT down|up|rtt N\n", argv[0]);
    return 2;
  }
  const char *target = argv[ai], *mode = argv[ai + 1];
  uint64_t n = strtoull(argv[ai + 2], NULL, 0);
  struct conn c = {.fd = -1};
  c.rbuf = malloc(RBUF_SIZE + 1);
  c.wbuf = malloc(UP_FRAME > 4096 ? UP_FRAME : 4096);
  c.rng = ((uint64_t)getpid() << 32) ^ (uint64_t)(now_s() * 1e9) ^ 0x9E3779B97F4A7C15ull;
  if (!c.rbuf || !c.wbuf)
    die("%s", "out of memory");
  if (strncmp(target, "ws://", 5) == 0) {
    c.ws = true;
    ws_handshake(&c, target);
  } else if (strncmp(target, "unix:", 5) == 0) {
    unix_connect(&c, target + 5);
  } else if (strncmp(target, "tcp:", 4) == 0) {
    tcp_connect(&c, target + 4);
  } else {
    die("unknown target %s", target);
  }
  unsigned char greet[12];
  recv_exact(&c, greet, 12);
  if (memcmp(greet, "RFB 003.008\n", 12) != 0)
    die("%s", "no RFB 003.008 greeting");
  if (sync) {
    printf("ready\n");
    fflush(stdout);
    wait_line();
  }
  char result[512];
  if (strcmp(mode, "down") == 0) {
    double t0 = now_s();
    send_cmd(&c, 'D', n);
    recv_exact(&c, NULL, n);
    double dt = now_s() - t0;
    snprintf(result, sizeof(result),
             "{\"mode\": \"down\", \"bytes\": %llu, \"seconds\": %.6f, \"mb_per_s\": %.1f}",
             (unsigned long long)n, dt, (double)n / dt / 1e6);
  } else if (strcmp(mode, "up") == 0) {
    unsigned char *data = malloc(UP_FRAME);
    for (size_t i = 0; i < UP_FRAME; i++)
      data[i] = (unsigned char)(i * 37u + 1u);
    double t0 = now_s();
    send_cmd(&c, 'U', n);
    uint64_t left = n;
    while (left) {
      size_t k = left < UP_FRAME ? (size_t)left : UP_FRAME;
      send_data(&c, data, k);
      left -= k;
    }
    unsigned char ack[8];
    recv_exact(&c, ack, 8);
    double dt = now_s() - t0;
    uint64_t got = 0;
    for (int i = 7; i >= 0; i--)
      got = got << 8 | ack[i];
    if (got != n)
      die("%s", "the source counted a different number of bytes");
    free(data);
    snprintf(result, sizeof(result),
             "{\"mode\": \"up\", \"bytes\": %llu, \"seconds\": %.6f, \"mb_per_s\": %.1f}",
             (unsigned long long)n, dt, (double)n / dt / 1e6);
  } else if (strcmp(mode, "rtt") == 0) {
    if (n < 1)
      die("%s", "rtt needs K >= 1");
    send_cmd(&c, 'E', 0);
    double *v = malloc(sizeof(double) * (size_t)n);
    unsigned char ping[16], echo[16];
    memset(ping, 'r', sizeof(ping));
    for (uint64_t i = 0; i < RTT_WARMUP + n; i++) {
      double t0 = now_s();
      send_data(&c, ping, sizeof(ping));
      recv_exact(&c, echo, sizeof(echo));
      double dt = now_s() - t0;
      if (i >= RTT_WARMUP)
        v[i - RTT_WARMUP] = dt * 1e6;
    }
    double sum = 0;
    for (uint64_t i = 0; i < n; i++)
      sum += v[i];
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    snprintf(result, sizeof(result),
             "{\"mode\": \"rtt\", \"rounds\": %llu, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
             "\"max_us\": %.1f, \"mean_us\": %.1f}",
             (unsigned long long)n, pct(v, (size_t)n, 50), pct(v, (size_t)n, 90), pct(v, (size_t)n, 99),
             v[n - 1], sum / (double)n);
    free(v);
  } else {
    die("unknown mode %s", mode);
  }
  printf("%s\n", result);
  fflush(stdout);
  if (sync)
    wait_line();
  if (c.ws) {
    unsigned char bye[2] = {1000 >> 8, 1000 & 0xff};
    send_frame(&c, 8, bye, 2);
  }
  close(c.fd);
  return 0;
}
