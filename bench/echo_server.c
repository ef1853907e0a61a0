/*
 * The benchmark's target: a single-threaded epoll echo server on a Unix
 * socket, fast enough that it never limits the direct path (a).
 *
 *   echo_server ECHO_PATH SOURCE_PATH
 *
 * ECHO_PATH echoes every byte and is half-close aware: after the client's
 * FIN it flushes what it holds, then shuts down its write side, and closes
 * once both directions are done. It holds at most BUF bytes per connection
 * and stops reading while they are unsent, so a client that stops reading
 * backs up its own writes instead of this process's memory.
 *
 * SOURCE_PATH models a download whose client has stalled: on accept it sends
 * a 64-byte hello, and once the client sends anything it streams bytes for as
 * long as the socket takes them, ignoring further input.
 *
 * Prints "ready" once both sockets listen. Exits when its stdin closes, so it
 * never outlives the benchmark that started it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BUF (64 * 1024)
#define MAX_EVENTS 256

enum kind { LISTEN_ECHO, LISTEN_SOURCE, STDIN, ECHO, SOURCE };

struct conn {
  enum kind kind;
  int fd;
  unsigned events;   /* current epoll interest */
  int rd_eof;        /* echo: the client sent FIN */
  int streaming;     /* source: the client asked for data */
  size_t off, len;   /* echo: unsent bytes are buf[off, len) */
  char buf[];
};

static int ep;
static char pattern[BUF];

static void die(const char *what) {
  perror(what);
  exit(1);
}

static struct conn *new_conn(enum kind kind, int fd, size_t bufsize) {
  struct conn *c = calloc(1, sizeof *c + bufsize);
  if (!c) die("calloc");
  c->kind = kind;
  c->fd = fd;
  return c;
}

static void watch(struct conn *c, unsigned events) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  int op = c->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  if (c->events == events) return;
  if (epoll_ctl(ep, op, c->fd, &ev) < 0) die("epoll_ctl");
  c->events = events;
}

static void drop(struct conn *c) {
  close(c->fd); /* also removes it from the epoll set */
  free(c);
}

static int listen_on(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof a.sun_path) {
    fprintf(stderr, "path too long: %s\n", path);
    exit(1);
  }
  strcpy(a.sun_path, path);
  unlink(path);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  if (listen(fd, 4096) < 0) die("listen");
  return fd;
}

/* Send what is pending; returns -1 when the connection is dead. */
static int flush_echo(struct conn *c) {
  while (c->off < c->len) {
    ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    c->off += (size_t)n;
  }
  c->off = c->len = 0;
  return 0;
}

static void on_echo(struct conn *c, unsigned events) {
  if (events & EPOLLERR) return drop(c);
  if (flush_echo(c) < 0) return drop(c);
  /* Read only while nothing is pending: one buffer per connection at most. */
  while (!c->rd_eof && c->len == 0) {
    ssize_t n = recv(c->fd, c->buf, BUF, 0);
    if (n < 0) {
      if (errno == EAGAIN) break;
      return drop(c);
    }
    if (n == 0) {
      c->rd_eof = 1;
      break;
    }
    c->len = (size_t)n;
    if (flush_echo(c) < 0) return drop(c);
  }
  if (c->rd_eof && c->len == 0) {
    shutdown(c->fd, SHUT_WR);
    return drop(c); /* both directions are done */
  }
  watch(c, c->len ? EPOLLOUT : EPOLLIN | EPOLLRDHUP);
}

static void on_source(struct conn *c, unsigned events) {
  if (events & (EPOLLERR | EPOLLHUP)) return drop(c);
  if (events & (EPOLLIN | EPOLLRDHUP)) {
    char sink[4096];
    for (;;) {
      ssize_t n = recv(c->fd, sink, sizeof sink, 0);
      if (n == 0) return drop(c);
      if (n < 0) {
        if (errno == EAGAIN) break;
        return drop(c);
      }
      c->streaming = 1;
    }
  }
  while (c->streaming) {
    ssize_t n = send(c->fd, pattern, BUF, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) break;
      return drop(c);
    }
  }
  watch(c, c->streaming ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

static void on_accept(struct conn *l) {
  for (;;) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      if (errno == EMFILE || errno == ENFILE) die("accept4");
      continue; /* the client gave up already */
    }
    if (l->kind == LISTEN_ECHO) {
      struct conn *c = new_conn(ECHO, fd, BUF);
      watch(c, EPOLLIN | EPOLLRDHUP);
    } else {
      struct conn *c = new_conn(SOURCE, fd, 0);
      char hello[64];
      memset(hello, 'h', sizeof hello);
      if (send(fd, hello, sizeof hello, MSG_NOSIGNAL) != sizeof hello) {
        drop(c);
        continue;
      }
      watch(c, EPOLLIN);
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: echo_server ECHO_PATH SOURCE_PATH\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  for (int i = 0; i < BUF; i++) pattern[i] = (char)(i * 131 + (i >> 8));
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  struct conn *le = new_conn(LISTEN_ECHO, listen_on(argv[1]), 0);
  struct conn *ls = new_conn(LISTEN_SOURCE, listen_on(argv[2]), 0);
  struct conn *in = new_conn(STDIN, 0, 0);
  watch(le, EPOLLIN);
  watch(ls, EPOLLIN);
  watch(in, EPOLLIN);
  printf("ready\n");
  fflush(stdout);
  struct epoll_event evs[MAX_EVENTS];
  for (;;) {
    int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      switch (c->kind) {
        case LISTEN_ECHO:
        case LISTEN_SOURCE:
          on_accept(c);
          break;
        case STDIN: {
          char b[256];
          if (read(0, b, sizeof b) <= 0) {
            unlink(argv[1]);
            unlink(argv[2]);
            return 0;
          }
          break;
        }
        case ECHO:
          on_echo(c, evs[i].events);
          break;
        case SOURCE:
          on_source(c, evs[i].events);
          break;
      }
    }
  }
}
