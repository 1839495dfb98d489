#ifndef EXOREC_CSYSTEM_SHIMS_H
#define EXOREC_CSYSTEM_SHIMS_H
/*
 * Linux calls that Swift's Glibc module does not export (epoll) or that sit behind _GNU_SOURCE
 * and macros (CPU affinity, thread names, close-on-exec pipes, closing descriptors in a spawned
 * child). Used by the load generator, and by ExorecTesting's ChildProcess (pipe2 and
 * posix_spawn_file_actions_addclosefrom_np, glibc 2.34 or later).
 */
#include <sys/epoll.h>
#include <sys/types.h>
#include <pthread.h>
#include <spawn.h>

int sched_setaffinity(pid_t pid, size_t cpusetsize, const void *mask);
int pthread_setname_np(pthread_t thread, const char *name);
int pipe2(int pipefd[2], int flags);
int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);

/* Names the calling thread (at most 15 characters show in top and ps). */
static inline int csys_name_current_thread(const char *name) { return pthread_setname_np(pthread_self(), name); }

/* Pins the calling thread to one CPU; returns 0 or -1 with errno set. */
static inline int csys_pin_current_thread(int cpu)
{
	unsigned long mask[16] = {0};
	if (cpu < 0 || cpu >= (int)(sizeof(mask) * 8))
		return -1;
	mask[cpu / (8 * sizeof(unsigned long))] |= 1UL << (cpu % (8 * sizeof(unsigned long)));
	return sched_setaffinity(0, sizeof(mask), mask);
}

#endif
