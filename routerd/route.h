/*
 * route.h - the session table, shared by route.c (routing) and park.c
 * (resumable sessions of a dead c2sd); nothing else includes it.
 *
 * A session is on its bare JID's list while it is bound, and on exactly
 * one of: its child's `sessions` list (by_child), or park.c's list of
 * parked sessions (then `parked` is set and its c2sd is not running the
 * session; see docs/routing.md, "Restarts").
 */
#ifndef RAMPART_ROUTE_H
#define RAMPART_ROUTE_H

#include <sys/queue.h>

#include <stdint.h>

struct child;
struct fout;
struct frame;
struct smrec;

struct session {
	TAILQ_ENTRY(session) by_child;	/* child->sessions, or parked */
	struct session	*next;		/* in bare->sessions */
	struct bare	*bare;
	struct child	*child;
	uint64_t	 sid;
	int		 priority;
	int		 available;
	struct smrec	*sm;		/* resumable across a c2sd restart */
	int		 parked;	/* its c2sd died (park.c) */
	char		 resource[];
};

struct bare {
	struct session	*sessions;
	unsigned	 count;
	char		 jid[];
};

/* route.c */
void	route_session_remove(struct session *);
struct session *route_own_session(struct child *, struct frame *);
void	route_undeliver(struct child *, struct fout *chain, int skip_kept);

/* park.c */
void	park_session(struct session *);
void	park_unlink(struct session *);
int	park_deliver(struct frame *, struct session *);
void	park_stanza_in(struct child *, struct frame *);
void	park_on_sm(struct child *, struct frame *);
void	park_drop_record(struct session *);
void	park_foreach(void (*)(const struct session *));
struct session *park_first(void);	/* then TAILQ_NEXT(s, by_child) */

#endif
