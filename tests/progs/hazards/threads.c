/* threads.c - many threads pooling at once: no reply may cross over. */
#include <pthread.h>
#include <stdio.h>

#include "common.h"

struct worker {
	pthread_t th;
	char tag[16];
	struct tally t;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	run_into(&w->t, M_KV, w->tag, n_cycles);
	return NULL;
}

static void sc_threads(void)
{
	static struct worker w[N_THREADS];
	struct tally all = { 0 };
	int started = 0;
	for (int i = 0; i < N_THREADS; i++) {
		snprintf(w[i].tag, sizeof(w[i].tag), "t%d", i);
		if (pthread_create(&w[i].th, NULL, worker_run, &w[i]) != 0)
			break;
		started++;
	}
	check(started == N_THREADS, "threads: started %d of %d threads", started, N_THREADS);
	for (int i = 0; i < started; i++) {
		pthread_join(w[i].th, NULL);
		char prefix[32];
		snprintf(prefix, sizeof(prefix), "thread %d: ", i);
		tally_merge(&all, &w[i].t, prefix);
	}
	tally_report("threads: SET/GET cycles in 16 threads", &all, n_cycles * started);
}

const struct scenario hazards_threads[] = {
	{ "threads", sc_threads },
	{ NULL, NULL },
};
