/*
 * The benchmark's client: drives one Unix-socket path (direct, socat, or
 * wsl2proxy) and prints one JSON line of results. Written in C with blocking
 * sockets and one thread per flow, so that the client is never what limits
 * the direct path. Every echoed byte is compared with what was sent.
 *
 *   load conn   PATH MS THREADS       connect, echo 64 B, close; THREADS loops for MS
 *   load rtt    PATH COUNT            64 B round trips on one connection
 *   load bulk   PATH MS STREAMS       each stream writes for MS, then FIN; reads the echo to EOF
 *   load mixed  PATH MS               one bulk stream, 64 B round trips on another meanwhile
 *   load hold   PATH N                open N connections, echo 64 B on each, hold them until stdin closes
 *   load stall  PATH N                N connections to the source socket; read its hello ("idle"),
 *                                     on a line from stdin send one byte each and never read ("stalled")
 *
 * Bulk data is a pseudo-random table with a prime period, read at a
 * per-stream offset, so a reordered, lost or doubled chunk cannot compare
 * equal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MSG 64
#define CHUNK (64 * 1024)
#define PERIOD 1048573 /* prime, so the pattern never lines up with power-of-two chunks */

static const char *path;
static unsigned char *table; /* PERIOD + CHUNK bytes, so any CHUNK window is contiguous */

static void die(const char *what) {
  fprintf(stderr, "load: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void fail(const char *what) {
  fprintf(stderr, "load: %s\n", what);
  exit(1);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int dial(void) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strncpy(a.sun_path, path, sizeof a.sun_path - 1);
  while (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    if (errno != EAGAIN && errno != EINTR) die("connect");
    usleep(100); /* backlog full */
  }
  return fd;
}

static void write_all(int fd, const void *p, size_t n) {
  const char *b = p;
  while (n) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("send");
    }
    b += w;
    n -= (size_t)w;
  }
}

static void read_exact(int fd, void *p, size_t n) {
  char *b = p;
  while (n) {
    ssize_t r = recv(fd, b, n, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("recv");
    }
    if (r == 0) fail("unexpected EOF");
    b += r;
    n -= (size_t)r;
  }
}

/* One 64-byte round trip with a message that differs every time; returns seconds. */
static double round_trip(int fd, uint64_t seq) {
  unsigned char out[MSG], in[MSG];
  for (int i = 0; i < MSG; i++) out[i] = (unsigned char)(seq * 31 + i * 7);
  double t0 = now();
  write_all(fd, out, MSG);
  read_exact(fd, in, MSG);
  double t = now() - t0;
  if (memcmp(in, out, MSG) != 0) fail("echo mismatch (64 B)");
  return t;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p) {
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);
  return v[i];
}

static void print_latency(const char *name, double *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_double);
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += v[i];
  printf("\"%s\":{\"samples\":%zu,\"p50Us\":%.1f,\"p90Us\":%.1f,\"p99Us\":%.1f,\"maxUs\":%.1f,\"meanUs\":%.1f}",
         name, n, pct(v, n, .5) * 1e6, pct(v, n, .9) * 1e6, pct(v, n, .99) * 1e6, v[n - 1] * 1e6,
         sum / (double)n * 1e6);
}

/* ---- conn ---------------------------------------------------------------- */

static double deadline;
static atomic_long conns_done;

static void *conn_worker(void *arg) {
  uint64_t seq = (uint64_t)(uintptr_t)arg << 32;
  while (now() < deadline) {
    int fd = dial();
    round_trip(fd, seq++);
    close(fd);
    atomic_fetch_add(&conns_done, 1);
  }
  return NULL;
}

static void run_conn(int ms, int threads) {
  pthread_t t[256];
  double t0 = now();
  deadline = t0 + ms / 1e3;
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, conn_worker, (void *)(uintptr_t)i);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  double s = now() - t0;
  long n = atomic_load(&conns_done);
  printf("{\"mode\":\"conn\",\"threads\":%d,\"count\":%ld,\"seconds\":%.3f,\"perSec\":%.1f}\n", threads, n, s,
         (double)n / s);
}

/* ---- rtt ----------------------------------------------------------------- */

static void run_rtt(int count) {
  int fd = dial();
  for (int i = 0; i < 200; i++) round_trip(fd, (uint64_t)i); /* warm-up */
  double *v = malloc(sizeof *v * (size_t)count);
  for (int i = 0; i < count; i++) v[i] = round_trip(fd, (uint64_t)i + 1000);
  shutdown(fd, SHUT_WR);
  char b;
  if (recv(fd, &b, 1, 0) != 0) fail("expected EOF after FIN");
  close(fd);
  printf("{\"mode\":\"rtt\",");
  print_latency("rtt", v, (size_t)count);
  printf("}\n");
}

/* ---- bulk ---------------------------------------------------------------- */

struct flow {
  int fd;
  size_t seed;       /* start offset into the table */
  double stop_at;    /* the writer stops at this time */
  atomic_long sent;  /* bytes written */
  long received;     /* bytes read back and verified */
  double finished;   /* when the reader saw EOF */
};

static void *bulk_writer(void *arg) {
  struct flow *f = arg;
  size_t off = f->seed;
  while (now() < f->stop_at) {
    write_all(f->fd, table + off, CHUNK);
    atomic_fetch_add(&f->sent, CHUNK);
    off = (off + CHUNK) % PERIOD;
  }
  shutdown(f->fd, SHUT_WR);
  return NULL;
}

static void *bulk_reader(void *arg) {
  struct flow *f = arg;
  unsigned char *buf = malloc(CHUNK);
  size_t off = f->seed;
  for (;;) {
    ssize_t r = recv(f->fd, buf, CHUNK, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("recv (bulk)");
    }
    if (r == 0) break;
    /* The table is PERIOD + CHUNK long, so [off, off + r) is contiguous. */
    if (memcmp(buf, table + off, (size_t)r) != 0) fail("echo mismatch (bulk)");
    off = (off + (size_t)r) % PERIOD;
    f->received += r;
  }
  f->finished = now();
  free(buf);
  return NULL;
}

static void start_flow(struct flow *f, int index, double stop_at, pthread_t *w, pthread_t *r) {
  f->fd = dial();
  f->seed = ((size_t)index * 104729u + 17) % PERIOD;
  f->stop_at = stop_at;
  pthread_create(r, NULL, bulk_reader, f);
  pthread_create(w, NULL, bulk_writer, f);
}

static void finish_flow(struct flow *f, pthread_t w, pthread_t r) {
  pthread_join(w, NULL);
  pthread_join(r, NULL);
  if (f->received != atomic_load(&f->sent)) fail("bulk: echoed length differs from sent");
  close(f->fd);
}

static void run_bulk(int ms, int streams) {
  struct flow *f = calloc((size_t)streams, sizeof *f);
  pthread_t *w = calloc((size_t)streams, sizeof *w), *r = calloc((size_t)streams, sizeof *r);
  double t0 = now();
  for (int i = 0; i < streams; i++) start_flow(&f[i], i, t0 + ms / 1e3, &w[i], &r[i]);
  long total = 0;
  double end = t0;
  for (int i = 0; i < streams; i++) {
    finish_flow(&f[i], w[i], r[i]);
    total += f[i].received;
    if (f[i].finished > end) end = f[i].finished;
  }
  double s = end - t0;
  printf("{\"mode\":\"bulk\",\"streams\":%d,\"bytes\":%ld,\"seconds\":%.3f,\"mbPerSec\":%.1f}\n", streams, total, s,
         (double)total / s / 1e6);
}

/* ---- mixed --------------------------------------------------------------- */

static void run_mixed(int ms) {
  struct flow f = {0};
  pthread_t w, r;
  int fd = dial();
  for (int i = 0; i < 200; i++) round_trip(fd, (uint64_t)i); /* warm-up, before the bulk starts */
  double t0 = now();
  start_flow(&f, 7, t0 + ms / 1e3, &w, &r);
  while (now() < t0 + 0.1 && atomic_load(&f.sent) == 0) usleep(1000); /* let the bulk get going */
  size_t cap = 1 << 20, n = 0;
  double *v = malloc(sizeof *v * cap);
  while (now() < f.stop_at - 0.05 && n < cap) {
    v[n] = round_trip(fd, n + 1000);
    n++;
  }
  finish_flow(&f, w, r);
  close(fd);
  if (n == 0) fail("mixed: no samples");
  printf("{\"mode\":\"mixed\",\"bulkMbPerSec\":%.1f,", (double)f.received / (f.finished - t0) / 1e6);
  print_latency("rtt", v, n);
  printf("}\n");
}

/* ---- hold / stall -------------------------------------------------------- */

static void wait_stdin_line(void) {
  char b[64];
  ssize_t n;
  do n = read(0, b, sizeof b);
  while (n < 0 && errno == EINTR);
  if (n <= 0) exit(0);
}

static void wait_stdin_eof(void) {
  char b[64];
  ssize_t n;
  do n = read(0, b, sizeof b);
  while (n > 0 || (n < 0 && errno == EINTR));
}

static void run_hold(int count) {
  int *fds = malloc(sizeof *fds * (size_t)count);
  double t0 = now();
  for (int i = 0; i < count; i++) {
    fds[i] = dial();
    round_trip(fds[i], (uint64_t)i);
  }
  printf("{\"mode\":\"hold\",\"connections\":%d,\"seconds\":%.3f}\n", count, now() - t0);
  fflush(stdout);
  wait_stdin_eof();
  for (int i = 0; i < count; i++) close(fds[i]);
}

static void run_stall(int count) {
  int *fds = malloc(sizeof *fds * (size_t)count);
  unsigned char hello[MSG];
  for (int i = 0; i < count; i++) {
    fds[i] = dial();
    read_exact(fds[i], hello, MSG);
    for (int j = 0; j < MSG; j++)
      if (hello[j] != 'h') fail("bad hello from the source socket");
  }
  printf("idle\n");
  fflush(stdout);
  wait_stdin_line();
  for (int i = 0; i < count; i++) write_all(fds[i], "g", 1);
  printf("stalled\n");
  fflush(stdout);
  wait_stdin_eof();
  for (int i = 0; i < count; i++) close(fds[i]);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: load conn|rtt|bulk|mixed|hold|stall PATH ARGS...\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  path = argv[2];
  table = malloc(PERIOD + CHUNK);
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (size_t i = 0; i < PERIOD; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    table[i] = (unsigned char)x;
  }
  memcpy(table + PERIOD, table, CHUNK);
  const char *mode = argv[1];
  int a = atoi(argv[3]);
  if (!strcmp(mode, "conn") && argc == 5) run_conn(a, atoi(argv[4]) > 256 ? 256 : atoi(argv[4]));
  else if (!strcmp(mode, "rtt")) run_rtt(a);
  else if (!strcmp(mode, "bulk") && argc == 5) run_bulk(a, atoi(argv[4]));
  else if (!strcmp(mode, "mixed")) run_mixed(a);
  else if (!strcmp(mode, "hold")) run_hold(a);
  else if (!strcmp(mode, "stall")) run_stall(a);
  else fail("bad arguments");
  fflush(stdout);
  return 0;
}
