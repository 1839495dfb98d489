#ifndef EXOREC_CLWS_SHIM_H
#define EXOREC_CLWS_SHIM_H
/*
 * The only C that exorec carries: one-line accessors for what Swift cannot import
 * (sizeof-based macros, libev's macro API). No ingest logic lives here.
 */
#include <libwebsockets.h>
#include <ev.h>

/* LWS_PRE is a sizeof()-based macro, so Swift cannot see it. */
static inline size_t clws_pre(void) { return LWS_PRE; }

/* libev: lws runs on a foreign epoll loop (poll() costs O(connections) per wakeup). */
static inline void *clws_ev_loop_new_epoll(void) { return ev_loop_new(EVBACKEND_EPOLL); }
static inline int clws_ev_run(void *loop) { return ev_run((struct ev_loop *)loop, 0); }
static inline void clws_ev_break_all(void *loop) { ev_break((struct ev_loop *)loop, EVBREAK_ALL); }
static inline void clws_ev_run_nowait(void *loop) { ev_run((struct ev_loop *)loop, EVRUN_NOWAIT); }
static inline void clws_ev_loop_destroy(void *loop) { ev_loop_destroy((struct ev_loop *)loop); }

#endif
