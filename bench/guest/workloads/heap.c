/*
 * pp-heap: an application heap that changes over time, for the pagepress guest.
 *   pp-heap MIB INTERVAL_MS MUTATE_FRACTION READY_FILE
 * Fills about MIB MiB with customer-like records (fixed fields, names and e-mail addresses
 * from a word list, a JSON-ish text blob per record, a hash index), creates READY_FILE, then
 * every INTERVAL_MS changes MUTATE_FRACTION of the records: counters, timestamps and scores,
 * and for a quarter of them a new text blob (free + malloc of another size, so the heap churns).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct rec {
  uint64_t id;
  uint32_t created, updated, visits, flags;
  double score[4];
  char name[32];
  char email[48];
  char *doc;
  uint32_t doclen;
  struct rec *next; /* hash chain */
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static const char *words[] = {
  "alpha", "berlin", "cedar", "delta", "ember", "falcon", "garnet", "harbor", "indigo", "juniper",
  "kepler", "lumen", "marble", "nectar", "onyx", "pepper", "quartz", "raven", "saffron", "tundra",
  "umber", "velvet", "willow", "xenon", "yarrow", "zephyr", "anna", "bruno", "clara", "david",
  "elena", "felix", "greta", "hugo", "ines", "jonas", "karla", "lukas", "maria", "noah",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))
static const char *domains[] = { "example.com", "mail.test", "corp.invalid", "shop.example" };
static const char *states[] = { "active", "suspended", "trial", "closed", "pending" };

static char *make_doc(struct rec *r, uint32_t *len) {
  char buf[1024];
  int n = snprintf(buf, sizeof buf,
    "{\"id\":%llu,\"name\":\"%s\",\"email\":\"%s\",\"state\":\"%s\",\"visits\":%u,"
    "\"tags\":[\"%s\",\"%s\",\"%s\"],\"score\":%.4f,\"updated\":%u,\"note\":\"%s %s %s %s\"}",
    (unsigned long long)r->id, r->name, r->email, states[rnd() % 5], r->visits,
    words[rnd() % NWORDS], words[rnd() % NWORDS], words[rnd() % NWORDS], r->score[0], r->updated,
    words[rnd() % NWORDS], words[rnd() % NWORDS], words[rnd() % NWORDS], words[rnd() % NWORDS]);
  size_t extra = rnd() % 160; /* padding text of varying length */
  char *d = malloc((size_t)n + extra + 1);
  if (!d) { perror("malloc"); exit(1); }
  memcpy(d, buf, (size_t)n);
  for (size_t i = 0; i < extra; i++) d[n + i] = "lorem ipsum dolor sit amet "[(i + r->id) % 27];
  d[n + extra] = 0;
  *len = (uint32_t)(n + extra);
  return d;
}

static void fill(struct rec *r, uint64_t id, uint32_t now) {
  r->id = id;
  r->created = r->updated = now;
  r->visits = (uint32_t)(rnd() % 1000);
  r->flags = (uint32_t)(rnd() & 0xff);
  for (int k = 0; k < 4; k++) r->score[k] = (double)(rnd() % 100000) / 1000.0;
  snprintf(r->name, sizeof r->name, "%s %s", words[rnd() % NWORDS], words[rnd() % NWORDS]);
  snprintf(r->email, sizeof r->email, "%s.%s%u@%s", words[rnd() % NWORDS], words[rnd() % NWORDS],
           (unsigned)(id % 997), domains[rnd() % 4]);
  r->doc = make_doc(r, &r->doclen);
}

int main(int argc, char **argv) {
  if (argc != 5) { fprintf(stderr, "usage: pp-heap MIB INTERVAL_MS MUTATE READY_FILE\n"); return 2; }
  size_t mib = strtoul(argv[1], 0, 10);
  unsigned interval = (unsigned)strtoul(argv[2], 0, 10);
  double mutate = atof(argv[3]);
  /* about 140 bytes of struct + ~330 bytes of doc + malloc overhead per record */
  size_t n = mib * 1048576 / 520;
  struct rec **recs = calloc(n, sizeof *recs);
  size_t nbuckets = n / 2 + 1;
  struct rec **index = calloc(nbuckets, sizeof *index);
  if (!recs || !index) { perror("calloc"); return 1; }
  uint32_t now = (uint32_t)time(0);
  for (size_t i = 0; i < n; i++) {
    struct rec *r = malloc(sizeof *r);
    if (!r) { perror("malloc"); return 1; }
    fill(r, 100000 + i, now);
    size_t b = (size_t)(r->id * 2654435761u) % nbuckets;
    r->next = index[b];
    index[b] = r;
    recs[i] = r;
  }
  FILE *f = fopen(argv[4], "w");
  if (f) fclose(f);
  size_t per = (size_t)(mutate * (double)n);
  for (uint32_t tick = 1;; tick++) {
    usleep(interval * 1000u);
    now = (uint32_t)time(0);
    for (size_t k = 0; k < per; k++) {
      struct rec *r = recs[rnd() % n];
      r->updated = now;
      r->visits++;
      r->flags ^= 1u << (tick % 8);
      r->score[tick % 4] = (double)(rnd() % 100000) / 1000.0;
      if ((k & 3) == 0) {
        free(r->doc);
        r->doc = make_doc(r, &r->doclen);
      }
    }
  }
}
