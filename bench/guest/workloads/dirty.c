/*
 * pp-dirty: dirties guest memory at a set rate, for migration tests.
 *   pp-dirty MIB RATE_MIB_PER_S bytes|random READY_FILE
 * Allocates MIB MiB, fills every page with text-like content, creates READY_FILE, then every
 * 10 ms dirties RATE/100 MiB worth of pages, walking the area in order: "bytes" writes a
 * 16-byte counter stamp at a moving offset (the page changes by a few bytes), "random"
 * rewrites the whole page with random bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

static uint64_t s = 0x243f6a8885a308d3ull;
static uint64_t rnd(void) {
  s ^= s << 13; s ^= s >> 7; s ^= s << 17;
  return s;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 5) { fprintf(stderr, "usage: pp-dirty MIB RATE bytes|random READY_FILE\n"); return 2; }
  size_t pages = strtoul(argv[1], 0, 10) * 1048576 / PAGE;
  double rate = atof(argv[2]);
  int random_mode = strcmp(argv[3], "random") == 0;
  uint8_t *area = malloc(pages * PAGE);
  if (!area) { perror("malloc"); return 1; }
  for (size_t p = 0; p < pages; p++) {
    char *pg = (char *)area + p * PAGE;
    int at = 0;
    while (at < PAGE - 64) at += snprintf(pg + at, 64, "page %zu line %d value %llu\n", p, at, (unsigned long long)(rnd() % 100000));
    memset(pg + at, '.', PAGE - at);
  }
  FILE *f = fopen(argv[4], "w");
  if (f) fclose(f);
  double per_tick = rate * 1048576.0 / PAGE / 100.0, owed = 0;
  size_t next = 0;
  uint64_t stamp = 0;
  double t0 = now_s();
  for (uint64_t tick = 1;; tick++) {
    double wait = t0 + (double)tick / 100.0 - now_s();
    if (wait > 0) usleep((useconds_t)(wait * 1e6));
    owed += per_tick;
    while (owed >= 1) {
      uint8_t *pg = area + next * PAGE;
      if (random_mode) {
        for (int i = 0; i < PAGE; i += 8) { uint64_t v = rnd(); memcpy(pg + i, &v, 8); }
      } else {
        char st[17];
        snprintf(st, sizeof st, "%016llx", (unsigned long long)++stamp);
        memcpy(pg + (stamp * 16) % PAGE, st, 16);
      }
      next = (next + 1) % pages;
      owed -= 1;
    }
  }
}
