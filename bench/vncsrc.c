/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-vncsrc: a fast stand-in for a VM's VNC server, for bench/bridge.py.
 *
 *   bench-vncsrc PATH      listen on the unix socket PATH, print "ready" once listening
 *   bench-vncsrc --relay PORT PATH
 *                          the floor any relay can reach here: listen on 127.0.0.1:PORT (0 = pick;
 *                          prints "ready PORT") and join each TCP client to a new connection to the
 *                          unix socket PATH with two threads doing blocking read()/write() of 256 KiB
 *                          (no WebSocket framing, no event loop)
 *
 * Per accepted connection (one thread each, so hundreds of idle consoles are cheap):
 *   1. write the RFB greeting "RFB 003.008\n" (the bridge refuses clients that speak first);
 *   2. read a 16-byte command from the client: 1 byte mode, 7 bytes padding, N (u64, little endian)
 *        'D'  down: write N bytes as fast as possible
 *        'U'  up:   read and count N bytes, then write the count back (8 bytes, u64 LE)
 *        'E'  echo: echo every byte read (round-trip latency)
 *      no command: the connection stays idle (memory per idle console);
 *   3. hold the connection until the peer closes it (so the relay never sees the server go first).
 * Exits on SIGTERM/SIGINT (default action). Linux, C11 + pthreads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define GREETING "RFB 003.008\n"
#define BUF_SIZE (256 * 1024)

static unsigned char down_buf[BUF_SIZE];

static int write_all(int fd, const void *p, size_t n) {
  const unsigned char *b = p;
  while (n) {
    ssize_t w = write(fd, b, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

static int read_all(int fd, void *p, size_t n) {
  unsigned char *b = p;
  while (n) {
    ssize_t r = read(fd, b, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    b += r;
    n -= (size_t)r;
  }
  return 0;
}

static void *serve(void *arg) {
  int fd = (int)(intptr_t)arg;
  unsigned char cmd[16];
  unsigned char *buf = NULL;
  if (write_all(fd, GREETING, 12) < 0 || read_all(fd, cmd, sizeof(cmd)) < 0)
    goto out;
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--)
    n = (n << 8) | cmd[8 + i];
  buf = malloc(BUF_SIZE);
  if (!buf)
    goto out;
  if (cmd[0] == 'D') {
    while (n) {
      size_t k = n < BUF_SIZE ? (size_t)n : BUF_SIZE;
      if (write_all(fd, down_buf, k) < 0)
        goto out;
      n -= k;
    }
  } else if (cmd[0] == 'U') {
    uint64_t got = 0;
    while (got < n) {
      ssize_t r = read(fd, buf, BUF_SIZE);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        goto out;
      got += (uint64_t)r;
    }
    unsigned char ack[8];
    for (int i = 0; i < 8; i++)
      ack[i] = (unsigned char)(got >> (8 * i));
    if (write_all(fd, ack, 8) < 0)
      goto out;
  } else if (cmd[0] == 'E') {
    for (;;) {
      ssize_t r = read(fd, buf, BUF_SIZE);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0 || write_all(fd, buf, (size_t)r) < 0)
        goto out;
    }
  } else {
    goto out;
  }
  /* Hold until the peer closes. */
  while (read(fd, buf, BUF_SIZE) > 0)
    ;
out:
  free(buf);
  close(fd);
  return NULL;
}

/* --relay: one direction of a joined pair; the first to see EOF shuts both down. */
struct pump {
  int from, to;
};

static void *pump(void *arg) {
  struct pump *p = arg;
  unsigned char *buf = malloc(BUF_SIZE);
  for (;;) {
    ssize_t r = buf ? read(p->from, buf, BUF_SIZE) : -1;
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0 || write_all(p->to, buf, (size_t)r) < 0)
      break;
  }
  shutdown(p->from, SHUT_RDWR);
  shutdown(p->to, SHUT_RDWR);
  free(buf);
  return NULL;
}

static const char *relay_path;

static void *relay(void *arg) {
  int tcp = (int)(intptr_t)arg;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strcpy(a.sun_path, relay_path);
  int u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (u < 0 || connect(u, (struct sockaddr *)&a, sizeof(a)) < 0) {
    close(tcp);
    if (u >= 0)
      close(u);
    return NULL;
  }
  int one = 1;
  setsockopt(tcp, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  struct pump up = {tcp, u}, down = {u, tcp};
  pthread_t t;
  if (pthread_create(&t, NULL, pump, &up) == 0) {
    pump(&down);
    pthread_join(t, NULL);
  }
  close(u);
  close(tcp);
  return NULL;
}

static int relay_main(const char *port, const char *path) {
  if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
    fprintf(stderr, "bench-vncsrc: path too long: %s\n", path);
    return 2;
  }
  relay_path = path;
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)atoi(port)),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof(a);
  int one = 1;
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 128) < 0 ||
      getsockname(ls, (struct sockaddr *)&a, &al) < 0) {
    fprintf(stderr, "bench-vncsrc: relay listen: %s\n", strerror(errno));
    return 1;
  }
  printf("ready %u\n", ntohs(a.sin_port));
  fflush(stdout);
  for (;;) {
    int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      return 1;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, relay, (void *)(intptr_t)fd) != 0)
      close(fd);
    else
      pthread_detach(t);
  }
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc == 4 && strcmp(argv[1], "--relay") == 0)
    return relay_main(argv[2], argv[3]);
  if (argc != 2) {
    fprintf(stderr, "usage: %s SOCKET_PATH | --relay PORT SOCKET_PATH\n", argv[0]);
    return 2;
  }
  for (size_t i = 0; i < BUF_SIZE; i++)
    down_buf[i] = (unsigned char)(i * 131u + 7u);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(argv[1]) >= sizeof(a.sun_path)) {
    fprintf(stderr, "bench-vncsrc: path too long: %s\n", argv[1]);
    return 2;
  }
  strcpy(a.sun_path, argv[1]);
  int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  unlink(argv[1]);
  if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 1024) < 0) {
    fprintf(stderr, "bench-vncsrc: %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  for (;;) {
    int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)
        continue;
      fprintf(stderr, "bench-vncsrc: accept: %s\n", strerror(errno));
      return 1;
    }
    pthread_t t;
    if (pthread_create(&t, &attr, serve, (void *)(intptr_t)fd) != 0)
      close(fd);
  }
}
