/* broker_int.h - twpool-broker's modules: the loop and its clients
 * (broker.c), the held connections (broker_hold.c). Single-threaded. */
#ifndef TWP_BROKER_INT_H
#define TWP_BROKER_INT_H

#include <stdint.h>

#define TWP_BROKER_DAEMON
#include "broker.h"
#include "twpool.h"

extern int tb_epoll;                /* the one epoll set */
extern unsigned tb_max_idle;        /* held connections per target */
extern unsigned tb_idle_timeout_ms; /* 0: none */
extern int tb_verbose;

/* twpool-broker's whole program (main, or `twpool broker`). */
int tb_main(int argc, char **argv);

void tb_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define tb_log_debug(...) do { if (tb_verbose) tb_log(__VA_ARGS__); } while (0)

/* Room for fds entries, total held at most. 0 or -1. */
int tb_hold_init(int fds, int total);
int tb_held(void);
int tb_is_held(int fd);
void tb_put(int fd, const struct twp_bmsg *m, uint64_t now);
int tb_get(const struct twp_bmsg *m, struct twp_bmsg *out);
void tb_evict(int fd, const char *why);
void tb_sweep(uint64_t now);

#endif
