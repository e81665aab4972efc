/*
 * daemon.h - the one life every child daemon lives.
 *
 * daemon_main(): log init -> HELLO on fd 3 -> CONFIG frames (and fds) until
 * CONFIG_END -> ops->pre_drop() -> sandbox_enter() -> ops->post_drop() ->
 * READY -> event loop.  EOF on fd 3 (routerd gone) or RF_SHUTDOWN:
 * ops->shutdown(), exit 0.  PING is answered here; every other frame goes
 * to ops->dispatch().
 *
 * Config arrives as RF_CONFIG frames: a key and one or more string values.
 * Keys starting with "sandbox-", "log-level", "debug-triggers" and
 * "max-frame-size" are consumed here; the rest go to ops->configure().
 */
#ifndef RAMPART_DAEMON_H
#define RAMPART_DAEMON_H

#include "frame.h"

struct event_base;
struct link;
struct sandbox_policy;

struct daemon_ops {
	const char	*name;
	/* One CONFIG key with argc values; return -1 for an unknown key. */
	int		(*configure)(const char *key, int argc, const char **argv);
	/* A passed fd (listener) with its name; the daemon owns it. */
	void		(*config_fd)(const char *name, int fd);
	void		(*pre_drop)(void);	/* open LMDB, load certificates */
	void		(*post_drop)(void);	/* start listeners, timers */
	void		(*dispatch)(struct link *, struct frame *);
	void		(*shutdown)(void);
	const struct sandbox_policy *policy;
	uint32_t	 caps;		/* RCAP_* announced in READY */
};

extern struct event_base *daemon_base;	/* the process's event loop */
extern struct link	 *daemon_link;	/* the link to routerd (fd 3) */
extern size_t		  daemon_store_max; /* store-max-size, for store_open */
/* Write out what is queued for routerd now (a store's before_sync). */
void	daemon_flush_link(void *);


int	daemon_main(int argc, char *argv[], const struct daemon_ops *);
/* Convenience for configure(): parse an unsigned size/number value. */
int	daemon_conf_u64(const char *value, unsigned long long *out);

#endif
