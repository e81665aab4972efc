/*
 * routerd.h - private to routerd: the supervisor's children, the routing
 * table and the control socket.
 *
 * routerd reads frame headers only.  It never parses XML: a stanza is
 * routed by the `to` JID in its header, and its `from` is checked against
 * what the sending link may speak for.
 */
#ifndef RAMPART_ROUTERD_H
#define RAMPART_ROUTERD_H

#include <sys/queue.h>
#include <sys/types.h>

#include <stdint.h>
#include <time.h>

#include "config.h"
#include "frame.h"

struct fout;

struct event;
struct event_base;
struct link;

/* Link ids stamped in `origin`: children 1..D_COUNT, control clients above. */
#define ORIGIN_CHILD(d)		((uint16_t)((d) + 1))
#define ORIGIN_CTL_FIRST	256

struct session;

#define RD_MAX_LISTEN		64

struct child {
	enum daemon_id	 id;
	const char	*name;
	pid_t		 pid;		/* 0 when not running */
	struct link	*link;
	int		 ready;		/* said READY; routes may go to it */
	int		 ever_ready;	/* this incarnation reached READY */
	uint32_t	 caps;		/* RCAP_* from its READY */
	int		 stopping;	/* asked to exit (restart or shutdown) */
	int		 restart_now;	/* respawn without backoff (admin restart) */
	int		 pong_due;	/* pings outstanding */
	unsigned	 restarts;
	unsigned	 backoff_ms;
	struct timespec	 started;
	struct event	*respawn_ev;
	struct event	*stop_ev;	/* SIGKILL if it has not left */
	uid_t		 uid;
	gid_t		 gid;
	TAILQ_HEAD(, session) sessions;	/* bound through this child (c2sd) */
	size_t		 cfg_hash;	/* of the CONFIG it was sent (reload) */
	int		 draining;	/* reading what a dead child wrote */
};

struct routerd {
	struct event_base *base;
	struct conf	*conf;
	const char	*conf_path;
	struct child	 children[D_COUNT];
	int		 listen_fds[RD_MAX_LISTEN];
	struct conf_listen listens[RD_MAX_LISTEN];	/* what each fd is */
	int		 nlisten;
	int		 all_ready_once;
	int		 shutting_down;
	uint32_t	 max_frame;
	unsigned	 max_resources;
	int		 debug_triggers;
	const char	*child_wrapper;	/* RAMPART_CHILD_WRAPPER, or NULL */
};

extern struct routerd rd;

/* supervise.c */
void	supervise_init(void);
void	supervise_start_all(void);
void	supervise_restart(struct child *);
void	supervise_shutdown(void);
int	supervise_all_ready(void);
struct child *child_by_origin(uint16_t);
struct child *child_by_name(const char *);
void	supervise_reload_children(void);
int	supervise_ping(void);
int	supervise_prepare_dirs(struct conf *);

/* route.c */
void	route_frame(struct child *, struct frame *);
void	route_child_gone(struct child *);
void	route_status(char *buf, size_t len);
void	route_list(char *buf, size_t len);
void	route_replay_sessions(void);
void	route_pep_resync(void);
void	route_sm_hand_over(struct child *);
size_t	route_count(void);
int	route_is_local_domain(const char *domain, size_t len);

/* holdq.c: frames for a daemon that is down (docs/routing.md, "Restarts"). */
int	holdq_push(struct child *, struct fout *);
int	holdq_busy(const struct child *);
size_t	holdq_count(const struct child *);
void	holdq_child_down(struct child *, struct link *);
void	holdq_release(struct child *);
void	holdq_clear(void);

/* route.c, for holdq.c */
int	route_holdable(const struct child *);
void	route_hold_failed(struct child *, struct fout *, enum rf_bounce);
void	route_orphaned(struct child *, struct fout *chain);

/* control.c */
int	control_init(const char *run_dir);
void	control_close(void);
void	control_reply_acct(struct frame *);
void	control_debug_reply(struct frame *);
void	control_child_died(struct child *, const char *how);

/* routerd.c */
int	routerd_reload(char *err, size_t errlen);

/* notify.c: sd_notify(3) spoken directly. */
void	notify_send(const char *);
void	notify_watchdog_init(void);

#endif
