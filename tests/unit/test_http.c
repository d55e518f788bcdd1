/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_http: see test_http.h. */
#include "test_http.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int test_http(const char *url, const char *method, const char *path, const char *body, const char *token,
              char *out, size_t outlen) {
  unsigned port = 0;
  if (sscanf(url, "http://127.0.0.1:%u", &port) != 1)
    return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  char req[2048];
  int n = snprintf(req, sizeof(req),
                   "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nAuthorization: Bearer %s\r\nConnection: close\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                   method, path, port, token, body ? strlen(body) : 0, body ? body : "");
  char resp[8192];
  size_t got = 0;
  ssize_t r;
  if (n < 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n) {
    close(fd);
    return -1;
  }
  while (got < sizeof(resp) - 1 && (r = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
    got += (size_t)r;
  close(fd);
  resp[got] = 0;
  int status = -1;
  sscanf(resp, "HTTP/1.1 %d", &status);
  const char *b = strstr(resp, "\r\n\r\n");
  if (out)
    snprintf(out, outlen, "%s", b ? b + 4 : "");
  return status;
}
